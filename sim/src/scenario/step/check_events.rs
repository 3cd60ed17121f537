//! `check_events`: `GET /vps/:id/events` of the user's live machine (the operator's timeline)
//! must hold an event with the given `kind` (and, with `reason`, that reason) — matched as
//! fields of one event — and/or mention `contains` anywhere in the JSON (an event kind, status or
//! failure code; a substring search).

use reqwest::Method;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::expect_code;
use crate::scenario::format::check_user;
use crate::scenario::run::Run;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CheckEvents {
    pub user: String,
    /// A substring of the whole events JSON.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub contains: Option<String>,
    /// One event's `kind` must be exactly this…
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    /// …and (when given) that same event's `reason` exactly this.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// Whether one event of an events response has `kind` and, when given, `reason`.
pub fn has_event(body: &Value, kind: &str, reason: Option<&str>) -> bool {
    body.get("events")
        .and_then(Value::as_array)
        .is_some_and(|events| {
            events.iter().any(|e| {
                e.get("kind").and_then(Value::as_str) == Some(kind)
                    && reason.is_none_or(|r| e.get("reason").and_then(Value::as_str) == Some(r))
            })
        })
}

impl CheckEvents {
    pub fn validate(&self) -> Result<(), String> {
        check_user(&self.user)?;
        for (key, value) in [
            ("contains", &self.contains),
            ("kind", &self.kind),
            ("reason", &self.reason),
        ] {
            if let Some(v) = value
                && (v.is_empty() || v.len() > 200)
            {
                return Err(format!("{key} must be 1-200 characters"));
            }
        }
        if self.reason.is_some() && self.kind.is_none() {
            return Err("reason needs kind (both are matched on one event)".into());
        }
        if self.contains.is_none() && self.kind.is_none() {
            return Err("check_events needs kind (and reason) or contains".into());
        }
        Ok(())
    }

    pub async fn apply(&self, run: &mut Run<'_>) -> anyhow::Result<()> {
        let row = run
            .live_row(&self.user)
            .await?
            .ok_or_else(|| anyhow::anyhow!("{} has no live machine", self.user))?;
        let r = run
            .call(
                Method::GET,
                &format!("/vps/{}/events", row.machine_id),
                None,
            )
            .await;
        expect_code(&format!("events of {}", self.user), 200, r.status, &r.body)?;
        if let Some(contains) = &self.contains {
            anyhow::ensure!(
                r.body.to_string().contains(contains.as_str()),
                "{}'s events do not mention {contains:?}",
                self.user,
            );
        }
        if let Some(kind) = &self.kind {
            anyhow::ensure!(
                has_event(&r.body, kind, self.reason.as_deref()),
                "{} has no event of kind {kind:?}{}",
                self.user,
                self.reason
                    .as_deref()
                    .map(|r| format!(" with reason {r:?}"))
                    .unwrap_or_default()
            );
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn kind_and_reason_match_fields_of_one_event() {
        let body = json!({"events": [
            {"kind": "boot_failed", "reason": "snapshot_empty"},
            {"kind": "recover_rollback", "reason": "snapshot_checksum_mismatch"},
        ]});
        assert!(has_event(&body, "boot_failed", None));
        assert!(has_event(&body, "boot_failed", Some("snapshot_empty")));
        // Both strings are in the JSON, but not on one event: no match.
        assert!(!has_event(
            &body,
            "boot_failed",
            Some("snapshot_checksum_mismatch")
        ));
        // A kind mentioned only inside another field is not an event of that kind.
        let body = json!({"events": [{"kind": "fail", "reason": "boot_failed"}]});
        assert!(!has_event(&body, "boot_failed", None));
    }

    #[test]
    fn check_events_needs_a_matcher_and_reason_needs_kind() {
        let step = |contains: Option<&str>, kind: Option<&str>, reason: Option<&str>| CheckEvents {
            user: "user_a".into(),
            contains: contains.map(Into::into),
            kind: kind.map(Into::into),
            reason: reason.map(Into::into),
        };
        assert!(step(None, None, None).validate().is_err());
        assert!(step(None, None, Some("x")).validate().is_err());
        assert!(step(Some("x"), None, None).validate().is_ok());
        assert!(
            step(None, Some("boot_failed"), Some("x"))
                .validate()
                .is_ok()
        );
        assert!(step(None, Some(""), None).validate().is_err());
    }
}
