//! `target = "r2"`: a rule for the fake R2 (an S3 error, latency, reset, commit-then-reset, lost
//! write, truncated / corrupted / reset-mid body), optionally only under one user's keys.

use serde::{Deserialize, Serialize};

use super::{When, check_effect_keys};
use crate::fake_r2::{R2FaultEffect, R2FaultRule, R2Op};
use crate::scenario::duration::SimDuration;
use crate::scenario::format::check_user;
use crate::scenario::run::Run;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum R2OpName {
    PutObject,
    GetObject,
    HeadObject,
    ListObjects,
    DeleteObject,
    CopyObject,
    Any,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum R2EffectName {
    Error,
    Latency,
    Reset,
    CommitThenReset,
    LostWrite,
    TruncatedBody,
    CorruptedBody,
    ResetMidBody,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct R2Fault {
    pub op: R2OpName,
    pub effect: R2EffectName,
    /// Only keys under `matrixos-sync/<user>/`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    /// With `user`: only keys under `matrixos-sync/<user>/<path>` (e.g. `system/db/snapshots/`
    /// hits the snapshots but not the `latest` pointer).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    /// For `error` (default 500 `InternalError`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<u16>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub latency: Option<SimDuration>,
    /// Hit only the first attempt of a call (the SDK's retry then succeeds).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub first_attempt_only: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nth: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub times: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub probability: Option<f64>,
}

impl R2Fault {
    fn when(&self) -> When {
        When {
            nth: self.nth,
            times: self.times,
            probability: self.probability,
        }
    }

    pub fn validate(&self) -> Result<(), String> {
        self.when().validate()?;
        if let Some(u) = &self.user {
            check_user(u)?;
        }
        if let Some(p) = &self.path {
            if self.user.is_none() {
                return Err("path needs a user".into());
            }
            if p.contains("..") || p.starts_with('/') || p.len() > 200 {
                return Err(format!("path {p:?} must be relative, without `..`"));
            }
        }
        check_effect_keys(
            self.effect == R2EffectName::Latency,
            self.effect == R2EffectName::Error,
            self.latency,
            self.status,
            self.code.is_some(),
        )?;
        Ok(())
    }

    pub fn rule(&self) -> R2FaultRule {
        let op = match self.op {
            R2OpName::PutObject => R2Op::PutObject,
            R2OpName::GetObject => R2Op::GetObject,
            R2OpName::HeadObject => R2Op::HeadObject,
            R2OpName::ListObjects => R2Op::ListObjectsV2,
            R2OpName::DeleteObject => R2Op::DeleteObject,
            R2OpName::CopyObject => R2Op::CopyObject,
            R2OpName::Any => R2Op::Any,
        };
        let effect = match self.effect {
            R2EffectName::Error => R2FaultEffect::Error {
                status: self.status.unwrap_or(500),
                code: self.code.clone().unwrap_or_else(|| "InternalError".into()),
            },
            R2EffectName::Latency => {
                R2FaultEffect::Latency(self.latency.map(|d| d.0).unwrap_or_default())
            }
            R2EffectName::Reset => R2FaultEffect::Reset,
            R2EffectName::CommitThenReset => R2FaultEffect::CommitThenReset,
            R2EffectName::LostWrite => R2FaultEffect::LostWrite,
            R2EffectName::TruncatedBody => R2FaultEffect::TruncatedBody,
            R2EffectName::CorruptedBody => R2FaultEffect::CorruptedBody,
            R2EffectName::ResetMidBody => R2FaultEffect::ResetMidBody,
        };
        let mut rule = R2FaultRule::new(op, self.when().to_rule(), effect);
        if let Some(u) = &self.user {
            let path = self.path.as_deref().unwrap_or_default();
            rule = rule.with_prefix(format!("matrixos-sync/{u}/{path}"));
        }
        if self.first_attempt_only {
            rule = rule.first_attempt_only();
        }
        rule
    }

    pub fn apply(&self, run: &mut Run<'_>) {
        run.fleet.r2.inject(self.rule());
    }
}
