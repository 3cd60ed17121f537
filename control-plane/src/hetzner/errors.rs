//! What a failed Hetzner call means for its caller: the provider outcome classes as types.
//!
//! The classes follow `control-plane.md` §4 ("Provider outcome classes"):
//! - *definitive*: Hetzner answered and refused; the same call will not succeed (a create leaves no
//!   server behind, so the row can fail);
//! - *ambiguous*: we cannot tell whether Hetzner acted (timeout, 5xx, lost connection, an answer we
//!   cannot read); a create must be settled by looking the server up by label;
//! - *not found*; and *rate limited*, which means the request was never processed.
//!
//! An error carries Hetzner's `error.code` — a short identifier, checked to look like one — and never
//! its `message`, `details` or any other body text, so nothing a provider writes reaches a client, a
//! machine row or a log line.

use std::fmt;

use chrono::{DateTime, Utc};
use serde::Deserialize;

use crate::status::FailureCode;

/// Why Hetzner refused a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DefinitiveKind {
    /// 403 `resource_limit_exceeded` (project limits) or 412 `resource_unavailable` (type or location
    /// sold out). Never a 429: that is the request rate, see [`ProviderError::RateLimited`].
    Quota,
    /// 400 `json_error`, 422 `invalid_input` / `service_error`: our request was wrong.
    InvalidInput,
    /// 422 `invalid_input` whose `details.fields` names `user_data`.
    UserDataTooLarge,
    /// 401 `unauthorized` / `token_readonly`: the token is wrong, revoked or read-only.
    Unauthorized,
    /// 403 `forbidden` / `maintenance`.
    Forbidden,
    /// 409 `uniqueness_error` (e.g. the server name is taken) or `conflict`.
    Conflict,
    /// 423 `locked` (another action is running) or `protected` (delete protection).
    Locked,
    /// Any other refusal, including a client configuration Hetzner never saw (status 0).
    Other,
}

impl DefinitiveKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Quota => "quota",
            Self::InvalidInput => "invalid_input",
            Self::UserDataTooLarge => "user_data_too_large",
            Self::Unauthorized => "unauthorized",
            Self::Forbidden => "forbidden",
            Self::Conflict => "conflict",
            Self::Locked => "locked",
            Self::Other => "other",
        }
    }
}

impl fmt::Display for DefinitiveKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why the outcome of a request is unknown.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AmbiguousKind {
    /// Our per-request timeout fired (`HetznerConfig::timeout`).
    Timeout,
    /// A 5xx from Hetzner or a proxy in front of it, whatever its body.
    ServerError,
    /// The connection failed: refused, reset, or closed before a whole answer arrived.
    ConnectionLost,
    /// An answer we cannot read: a success body that does not parse, a status we do not expect, or a
    /// listing that does not end.
    BadResponse,
}

impl AmbiguousKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Timeout => "timeout",
            Self::ServerError => "server_error",
            Self::ConnectionLost => "connection_lost",
            Self::BadResponse => "bad_response",
        }
    }
}

impl fmt::Display for AmbiguousKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The outcome of a Hetzner call that did not succeed.
///
/// `Debug` and `Display` show only the kind, the HTTP status and Hetzner's error code.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProviderError {
    /// The provider answered and refused; retrying the same call will not help.
    #[error("hetzner refused the request: {kind} (http {status}, code {code:?})")]
    Definitive {
        kind: DefinitiveKind,
        /// The HTTP status; 0 when the client refused before sending (bad configuration).
        status: u16,
        /// Hetzner's `error.code` only, never its message text; empty when the body had none.
        code: String,
    },
    /// Outcome unknown: timeout, 5xx, connection lost/reset, unparseable response to a mutating call.
    #[error("hetzner call outcome unknown: {kind} (http {})", display_status(*.status))]
    Ambiguous {
        kind: AmbiguousKind,
        status: Option<u16>,
    },
    #[error("hetzner resource not found")]
    NotFound,
    /// Rate-limit budget did not come back within `max_rate_limit_wait`. The request was NOT processed.
    #[error("hetzner rate-limit budget not available before {retry_at}")]
    RateLimited {
        /// When budget is estimated to be back.
        retry_at: DateTime<Utc>,
    },
}

fn display_status(status: Option<u16>) -> String {
    status.map_or_else(|| "none".to_owned(), |s| s.to_string())
}

impl ProviderError {
    /// The operator-facing code recorded on a machine row.
    ///
    /// | outcome | failure code | why |
    /// |---|---|---|
    /// | `Definitive(Quota)` | `quota_exceeded` | project limit or capacity sold out |
    /// | `Definitive(UserDataTooLarge)` | `user_data_too_large` | |
    /// | `Definitive(Unauthorized)` | `provider_unavailable` | the provider is unusable until an operator fixes the token |
    /// | `Definitive(Forbidden)` | `provider_unavailable` | forbidden or under maintenance |
    /// | `Definitive(Locked)` | `invalid_state` | the server is busy with another action or protected |
    /// | `Definitive(Conflict)` | `invalid_state` | the provider holds a conflicting resource (name taken) |
    /// | `Definitive(InvalidInput)` | `unknown` | our request was malformed: a bug or bad configuration |
    /// | `Definitive(Other)` | `unknown` | |
    /// | `Ambiguous(Timeout)` | `provider_timeout` | |
    /// | `Ambiguous(ServerError / ConnectionLost / BadResponse)` | `provider_unavailable` | |
    /// | `NotFound` | `not_found` | |
    /// | `RateLimited` | `provider_unavailable` | not processed; the budget comes back by itself |
    pub fn failure_code(&self) -> FailureCode {
        match self {
            Self::Definitive { kind, .. } => match kind {
                DefinitiveKind::Quota => FailureCode::QuotaExceeded,
                DefinitiveKind::UserDataTooLarge => FailureCode::UserDataTooLarge,
                DefinitiveKind::Unauthorized | DefinitiveKind::Forbidden => {
                    FailureCode::ProviderUnavailable
                }
                DefinitiveKind::Locked | DefinitiveKind::Conflict => FailureCode::InvalidState,
                DefinitiveKind::InvalidInput | DefinitiveKind::Other => FailureCode::Unknown,
            },
            Self::Ambiguous {
                kind: AmbiguousKind::Timeout,
                ..
            } => FailureCode::ProviderTimeout,
            Self::Ambiguous { .. } => FailureCode::ProviderUnavailable,
            Self::NotFound => FailureCode::NotFound,
            Self::RateLimited { .. } => FailureCode::ProviderUnavailable,
        }
    }

    pub fn is_definitive(&self) -> bool {
        matches!(self, Self::Definitive { .. })
    }

    pub fn is_ambiguous(&self) -> bool {
        matches!(self, Self::Ambiguous { .. })
    }

    pub fn is_not_found(&self) -> bool {
        matches!(self, Self::NotFound)
    }

    /// The HTTP status the provider answered with, when there was one.
    pub fn http_status(&self) -> Option<u16> {
        match self {
            Self::Definitive { status, .. } => Some(*status).filter(|s| *s != 0),
            Self::Ambiguous { status, .. } => *status,
            Self::NotFound | Self::RateLimited { .. } => None,
        }
    }

    /// The `outcome` label of `matrix_provider_calls_total`.
    pub fn metric_outcome(&self) -> &'static str {
        match self {
            Self::Definitive { .. } => "definitive",
            Self::Ambiguous { .. } => "ambiguous",
            Self::NotFound => "not_found",
            Self::RateLimited { .. } => "rate_limited",
        }
    }

    pub(super) fn ambiguous(kind: AmbiguousKind, status: Option<u16>) -> Self {
        Self::Ambiguous { kind, status }
    }

    /// A refusal by the client itself, before anything was sent.
    pub(super) fn config(code: &'static str) -> Self {
        Self::Definitive {
            kind: DefinitiveKind::Other,
            status: 0,
            code: code.to_owned(),
        }
    }
}

/// How a non-success answer is to be handled.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// A 429: Hetzner did not process the request; wait for budget and send it again.
    RateLimited,
    Failed(ProviderError),
}

/// Hetzner's error envelope, reduced to what is safe to keep. `message` is deliberately not a field:
/// serde skips it, so it is never held, let alone printed.
#[derive(Deserialize)]
struct Envelope {
    error: EnvelopeError,
}

#[derive(Deserialize)]
struct EnvelopeError {
    code: String,
    #[serde(default)]
    details: Option<serde_json::Value>,
}

/// Longest `error.code` kept; Hetzner's are short snake_case identifiers.
const MAX_CODE_LEN: usize = 64;

/// Stands in for a code that does not look like an identifier (it might be text).
pub const UNRECOGNIZED_CODE: &str = "unrecognized";

fn sanitize_code(raw: &str) -> String {
    let is_identifier = !raw.is_empty()
        && raw.len() <= MAX_CODE_LEN
        && raw
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'.');
    if is_identifier {
        raw.to_owned()
    } else {
        UNRECOGNIZED_CODE.to_owned()
    }
}

/// Whether `details.fields[].name` includes `user_data`.
fn names_user_data(details: Option<&serde_json::Value>) -> bool {
    details
        .and_then(|d| d.get("fields"))
        .and_then(|f| f.as_array())
        .is_some_and(|fields| {
            fields
                .iter()
                .any(|f| f.get("name").and_then(|n| n.as_str()) == Some("user_data"))
        })
}

fn definitive_kind(status: u16, code: &str, details: Option<&serde_json::Value>) -> DefinitiveKind {
    match (status, code) {
        (400, _) => DefinitiveKind::InvalidInput,
        (401, _) => DefinitiveKind::Unauthorized,
        (403, "resource_limit_exceeded") => DefinitiveKind::Quota,
        (403, _) => DefinitiveKind::Forbidden,
        (409, _) => DefinitiveKind::Conflict,
        (412, "resource_unavailable") => DefinitiveKind::Quota,
        (422, "invalid_input") if names_user_data(details) => DefinitiveKind::UserDataTooLarge,
        (422, "invalid_input" | "service_error") => DefinitiveKind::InvalidInput,
        (423, _) => DefinitiveKind::Locked,
        _ => DefinitiveKind::Other,
    }
}

/// Classifies an answer whose status is not 2xx.
///
/// - 429 → [`Refusal::RateLimited`], whatever the body: it is never a quota.
/// - 5xx → ambiguous `ServerError`, whatever the body (Hetzner's `unavailable`, a proxy's HTML page).
/// - 404 with Hetzner's `not_found` → [`ProviderError::NotFound`]. A 404 without that envelope (a
///   wrong base URL, a proxy) is `Definitive(Other)`: treating it as "gone" would let a delete be
///   counted as done when it never reached Hetzner.
/// - other 4xx → definitive, kind by status and code.
/// - anything else (1xx, 3xx — redirects are not followed) → ambiguous `BadResponse`.
pub fn classify(status: u16, body: &[u8]) -> Refusal {
    let envelope = serde_json::from_slice::<Envelope>(body).ok();
    let code = envelope
        .as_ref()
        .map(|e| sanitize_code(&e.error.code))
        .unwrap_or_default();
    let details = envelope.as_ref().and_then(|e| e.error.details.as_ref());
    let error = match status {
        429 => return Refusal::RateLimited,
        404 if code == "not_found" => ProviderError::NotFound,
        500..=599 => ProviderError::ambiguous(AmbiguousKind::ServerError, Some(status)),
        400..=499 => ProviderError::Definitive {
            kind: definitive_kind(status, &code, details),
            status,
            code,
        },
        _ => ProviderError::ambiguous(AmbiguousKind::BadResponse, Some(status)),
    };
    Refusal::Failed(error)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body(code: &str, details: serde_json::Value) -> Vec<u8> {
        serde_json::to_vec(&serde_json::json!({
            "error": { "code": code, "message": "text that must not survive", "details": details }
        }))
        .unwrap()
    }

    fn definitive(status: u16, code: &str) -> DefinitiveKind {
        match classify(status, &body(code, serde_json::Value::Null)) {
            Refusal::Failed(ProviderError::Definitive { kind, .. }) => kind,
            other => panic!("{status} {code}: {other:?}"),
        }
    }

    #[test]
    fn hetzner_codes_map_to_the_documented_kinds() {
        assert_eq!(definitive(400, "json_error"), DefinitiveKind::InvalidInput);
        assert_eq!(
            definitive(401, "unauthorized"),
            DefinitiveKind::Unauthorized
        );
        assert_eq!(
            definitive(401, "token_readonly"),
            DefinitiveKind::Unauthorized
        );
        assert_eq!(
            definitive(403, "resource_limit_exceeded"),
            DefinitiveKind::Quota
        );
        assert_eq!(definitive(403, "forbidden"), DefinitiveKind::Forbidden);
        assert_eq!(definitive(403, "maintenance"), DefinitiveKind::Forbidden);
        assert_eq!(
            definitive(409, "uniqueness_error"),
            DefinitiveKind::Conflict
        );
        assert_eq!(definitive(409, "conflict"), DefinitiveKind::Conflict);
        assert_eq!(
            definitive(412, "resource_unavailable"),
            DefinitiveKind::Quota
        );
        assert_eq!(
            definitive(422, "invalid_input"),
            DefinitiveKind::InvalidInput
        );
        assert_eq!(
            definitive(422, "service_error"),
            DefinitiveKind::InvalidInput
        );
        assert_eq!(definitive(423, "locked"), DefinitiveKind::Locked);
        assert_eq!(definitive(423, "protected"), DefinitiveKind::Locked);
        assert_eq!(definitive(418, "teapot"), DefinitiveKind::Other);
    }

    #[test]
    fn invalid_user_data_is_its_own_kind() {
        let details =
            serde_json::json!({ "fields": [{ "name": "user_data", "messages": ["too long"] }] });
        let Refusal::Failed(err) = classify(422, &body("invalid_input", details)) else {
            panic!()
        };
        assert_eq!(
            err,
            ProviderError::Definitive {
                kind: DefinitiveKind::UserDataTooLarge,
                status: 422,
                code: "invalid_input".into()
            }
        );
        assert_eq!(err.failure_code(), FailureCode::UserDataTooLarge);
    }

    #[test]
    fn a_429_is_a_rate_limit_and_never_a_quota() {
        assert_eq!(
            classify(429, &body("rate_limit_exceeded", serde_json::Value::Null)),
            Refusal::RateLimited
        );
        assert_eq!(
            classify(429, b"<html>slow down</html>"),
            Refusal::RateLimited
        );
    }

    #[test]
    fn server_errors_are_ambiguous_whatever_the_body() {
        for (status, raw) in [
            (503, body("unavailable", serde_json::Value::Null)),
            (502, b"<html>bad gw</html>".to_vec()),
        ] {
            assert_eq!(
                classify(status, &raw),
                Refusal::Failed(ProviderError::Ambiguous {
                    kind: AmbiguousKind::ServerError,
                    status: Some(status)
                })
            );
        }
        assert_eq!(
            classify(302, b""),
            Refusal::Failed(ProviderError::Ambiguous {
                kind: AmbiguousKind::BadResponse,
                status: Some(302)
            })
        );
    }

    #[test]
    fn only_hetzners_not_found_means_gone() {
        assert_eq!(
            classify(404, &body("not_found", serde_json::Value::Null)),
            Refusal::Failed(ProviderError::NotFound)
        );
        let Refusal::Failed(err) = classify(404, b"<html>no such route</html>") else {
            panic!()
        };
        assert_eq!(
            err,
            ProviderError::Definitive {
                kind: DefinitiveKind::Other,
                status: 404,
                code: String::new()
            }
        );
    }

    #[test]
    fn codes_that_do_not_look_like_identifiers_are_replaced() {
        assert_eq!(
            sanitize_code("resource_limit_exceeded"),
            "resource_limit_exceeded"
        );
        for bad in [
            "",
            "Token abc is invalid",
            "x".repeat(65).as_str(),
            "a\nb",
            "säure",
        ] {
            assert_eq!(sanitize_code(bad), UNRECOGNIZED_CODE, "{bad:?}");
        }
    }

    #[test]
    fn failure_codes_follow_the_table() {
        let def = |kind| ProviderError::Definitive {
            kind,
            status: 400,
            code: String::new(),
        };
        let amb = |kind| ProviderError::Ambiguous { kind, status: None };
        assert_eq!(
            def(DefinitiveKind::Quota).failure_code(),
            FailureCode::QuotaExceeded
        );
        assert_eq!(
            def(DefinitiveKind::UserDataTooLarge).failure_code(),
            FailureCode::UserDataTooLarge
        );
        assert_eq!(
            def(DefinitiveKind::Unauthorized).failure_code(),
            FailureCode::ProviderUnavailable
        );
        assert_eq!(
            def(DefinitiveKind::Forbidden).failure_code(),
            FailureCode::ProviderUnavailable
        );
        assert_eq!(
            def(DefinitiveKind::Locked).failure_code(),
            FailureCode::InvalidState
        );
        assert_eq!(
            def(DefinitiveKind::Conflict).failure_code(),
            FailureCode::InvalidState
        );
        assert_eq!(
            def(DefinitiveKind::InvalidInput).failure_code(),
            FailureCode::Unknown
        );
        assert_eq!(
            def(DefinitiveKind::Other).failure_code(),
            FailureCode::Unknown
        );
        assert_eq!(
            amb(AmbiguousKind::Timeout).failure_code(),
            FailureCode::ProviderTimeout
        );
        assert_eq!(
            amb(AmbiguousKind::ServerError).failure_code(),
            FailureCode::ProviderUnavailable
        );
        assert_eq!(
            amb(AmbiguousKind::ConnectionLost).failure_code(),
            FailureCode::ProviderUnavailable
        );
        assert_eq!(
            amb(AmbiguousKind::BadResponse).failure_code(),
            FailureCode::ProviderUnavailable
        );
        assert_eq!(
            ProviderError::NotFound.failure_code(),
            FailureCode::NotFound
        );
        let limited = ProviderError::RateLimited {
            retry_at: DateTime::UNIX_EPOCH,
        };
        assert_eq!(limited.failure_code(), FailureCode::ProviderUnavailable);
        assert!(!limited.is_definitive() && !limited.is_ambiguous());
    }

    #[test]
    fn display_shows_kind_status_and_code_only() {
        let Refusal::Failed(err) = classify(403, &body("forbidden", serde_json::Value::Null))
        else {
            panic!()
        };
        let shown = format!("{err} {err:?}");
        assert!(
            shown.contains("forbidden") && shown.contains("403"),
            "{shown}"
        );
        assert!(!shown.contains("must not survive"), "{shown}");
        let amb = ProviderError::Ambiguous {
            kind: AmbiguousKind::Timeout,
            status: None,
        };
        assert_eq!(
            amb.to_string(),
            "hetzner call outcome unknown: timeout (http none)"
        );
    }
}
