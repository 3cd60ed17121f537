//! Cloud-init rendering: everything a customer host needs to boot, restore, register, heartbeat and
//! back up, in one `user_data` document.
//!
//! The template lives in `templates/cloud-init.yaml` and is embedded at build time. Values are
//! substituted by name only; each is already validated (typed ids, URLs, hex tokens) and is written
//! single-quoted, so no value can break out of its line. The result is a [`Secret`]: it holds the
//! registration token, the heartbeat token, the Postgres password and the R2 credentials, so it is
//! never logged. The size limit is checked here, before any provider call.

use std::collections::BTreeMap;

use hmac::{Hmac, Mac};
use sha2::Sha256;
use url::Url;

use crate::ids::{ClerkUserId, Handle, ImageVersion, MachineId, RuntimeSlot};
use crate::r2::keys;
use crate::secret::Secret;

const TEMPLATE: &str = include_str!("../templates/cloud-init.yaml");

/// Everything that varies per machine.
#[derive(Debug, Clone)]
pub struct HostBootstrap<'a> {
    pub machine_id: MachineId,
    pub clerk_user_id: &'a ClerkUserId,
    pub handle: &'a Handle,
    pub runtime_slot: &'a RuntimeSlot,
    pub image_version: &'a ImageVersion,
    pub registration_token: &'a Secret,
    pub heartbeat_token: &'a Secret,
    pub postgres_password: &'a Secret,
}

/// Platform-wide values rendered into every host.
#[derive(Debug, Clone)]
pub struct PlatformBootstrap {
    pub public_url: Url,
    pub heartbeat_interval_seconds: u64,
    pub r2_endpoint: Url,
    pub r2_bucket: String,
    pub r2_access_key_id: Secret,
    pub r2_secret_access_key: Secret,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RenderError {
    #[error("rendered user_data is {size} bytes, over the {limit}-byte limit")]
    TooLarge { size: usize, limit: usize },
    #[error("a value cannot be rendered safely")]
    UnsafeValue,
}

fn quote(value: &str) -> Result<String, RenderError> {
    if value
        .chars()
        .any(|c| c.is_control() || c == '\'' || c == '\\')
    {
        return Err(RenderError::UnsafeValue);
    }
    Ok(format!("'{value}'"))
}

fn join(base: &Url, path: &str) -> String {
    format!(
        "{}/{}",
        base.as_str().trim_end_matches('/'),
        path.trim_start_matches('/')
    )
}

/// The per-host heartbeat token: HMAC-SHA256 of the machine id under the platform secret, hex. The
/// control plane can verify it without storing anything; it is useless for any other machine.
pub fn heartbeat_token(platform_secret: &Secret, machine_id: MachineId) -> Secret {
    let mut mac = Hmac::<Sha256>::new_from_slice(platform_secret.expose().as_bytes())
        .expect("hmac takes any key");
    mac.update(b"matrix-heartbeat:");
    mac.update(machine_id.to_string().as_bytes());
    Secret::new(hex::encode(mac.finalize().into_bytes()))
}

/// Renders the template and enforces `limit` (bytes).
pub fn render(
    platform: &PlatformBootstrap,
    host: &HostBootstrap<'_>,
    limit: usize,
) -> Result<Secret, RenderError> {
    let user = host.clerk_user_id.as_str();
    let prefix = keys::user_prefix(user).map_err(|_| RenderError::UnsafeValue)?;
    let database_url = format!(
        "postgres://matrix:{}@127.0.0.1:5432/matrix",
        host.postgres_password.expose()
    );
    let bundle = format!(
        "system-bundles/{}/matrix-host-bundle.tar.gz",
        host.image_version
    );
    let values: BTreeMap<&str, String> = BTreeMap::from([
        ("machine_id", host.machine_id.to_string()),
        ("clerk_user_id", user.to_owned()),
        ("handle", host.handle.to_string()),
        ("runtime_slot", host.runtime_slot.to_string()),
        ("image_version", host.image_version.to_string()),
        (
            "platform_url",
            platform
                .public_url
                .as_str()
                .trim_end_matches('/')
                .to_owned(),
        ),
        ("register_url", join(&platform.public_url, "vps/register")),
        ("heartbeat_url", join(&platform.public_url, "vps/heartbeat")),
        (
            "boot_failure_url",
            join(&platform.public_url, "vps/boot-failure"),
        ),
        (
            "registration_token",
            host.registration_token.expose().to_owned(),
        ),
        ("heartbeat_token", host.heartbeat_token.expose().to_owned()),
        (
            "heartbeat_interval_seconds",
            platform.heartbeat_interval_seconds.to_string(),
        ),
        ("bundle_url", join(&platform.public_url, &bundle)),
        (
            "postgres_password",
            host.postgres_password.expose().to_owned(),
        ),
        ("database_url", database_url),
        (
            "r2_endpoint",
            platform
                .r2_endpoint
                .as_str()
                .trim_end_matches('/')
                .to_owned(),
        ),
        ("r2_bucket", platform.r2_bucket.clone()),
        ("r2_prefix", prefix),
        (
            "r2_access_key_id",
            platform.r2_access_key_id.expose().to_owned(),
        ),
        (
            "r2_secret_access_key",
            platform.r2_secret_access_key.expose().to_owned(),
        ),
    ]);
    let mut out = String::with_capacity(TEMPLATE.len() + 1024);
    let mut rest = TEMPLATE;
    while let Some(start) = rest.find("{{") {
        let end = rest[start..].find("}}").ok_or(RenderError::UnsafeValue)? + start;
        let name = &rest[start + 2..end];
        let value = values.get(name).ok_or(RenderError::UnsafeValue)?;
        out.push_str(&rest[..start]);
        out.push_str(&quote(value)?);
        rest = &rest[end + 2..];
    }
    out.push_str(rest);
    if out.len() > limit {
        return Err(RenderError::TooLarge {
            size: out.len(),
            limit,
        });
    }
    Ok(Secret::new(out))
}

/// Reads back the `KEY='value'` lines of a rendered document (what a host's shell would source).
/// Used by the simulated hosts, which boot from exactly what the provider received.
pub fn parse_env_lines(user_data: &str) -> BTreeMap<String, String> {
    user_data
        .lines()
        .filter_map(|line| {
            let (k, v) = line.trim().split_once('=')?;
            if k.is_empty()
                || !k
                    .chars()
                    .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_')
            {
                return None;
            }
            let v = v.strip_prefix('\'')?.strip_suffix('\'')?;
            Some((k.to_owned(), v.to_owned()))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn platform() -> PlatformBootstrap {
        PlatformBootstrap {
            public_url: Url::parse("https://platform.example.com/").unwrap(),
            heartbeat_interval_seconds: 300,
            r2_endpoint: Url::parse("https://acct.r2.cloudflarestorage.com").unwrap(),
            r2_bucket: "backups".into(),
            r2_access_key_id: Secret::new("AKID"),
            r2_secret_access_key: Secret::new("r2-secret"),
        }
    }

    #[test]
    fn renders_every_value_the_host_needs_and_reads_back() {
        let user = ClerkUserId::parse("user_abc").unwrap();
        let handle = Handle::parse("alice").unwrap();
        let slot = RuntimeSlot::primary();
        let version = ImageVersion::parse("2026.11.1").unwrap();
        let id = MachineId::parse("6f1c1f1e-8a4b-4c39-9a53-0b5f3c2d1e0f").unwrap();
        let (reg, hb, pw) = (
            Secret::new("regtoken"),
            Secret::new("hbtoken"),
            Secret::new("pgpass"),
        );
        let host = HostBootstrap {
            machine_id: id,
            clerk_user_id: &user,
            handle: &handle,
            runtime_slot: &slot,
            image_version: &version,
            registration_token: &reg,
            heartbeat_token: &hb,
            postgres_password: &pw,
        };
        let rendered = render(&platform(), &host, 32 * 1024).unwrap();
        assert!(rendered.expose().starts_with("#cloud-config\n"));
        let env = parse_env_lines(rendered.expose());
        assert_eq!(env["MATRIX_MACHINE_ID"], id.to_string());
        assert_eq!(
            env["MATRIX_REGISTER_URL"],
            "https://platform.example.com/vps/register"
        );
        assert_eq!(env["MATRIX_REGISTRATION_TOKEN"], "regtoken");
        assert_eq!(env["R2_PREFIX"], "matrixos-sync/user_abc/");
        assert_eq!(env["AWS_SECRET_ACCESS_KEY"], "r2-secret");
        assert_eq!(
            env["DATABASE_URL"],
            "postgres://matrix:pgpass@127.0.0.1:5432/matrix"
        );
        assert!(!rendered.expose().contains("{{"));
        assert_eq!(format!("{rendered:?}"), "Secret([redacted])");
        assert_eq!(
            render(&platform(), &host, 100),
            Err(RenderError::TooLarge {
                size: rendered.len(),
                limit: 100
            })
        );
    }

    #[test]
    fn heartbeat_tokens_differ_per_machine_and_secret() {
        let a = MachineId::parse("6f1c1f1e-8a4b-4c39-9a53-0b5f3c2d1e0f").unwrap();
        let b = MachineId::parse("7f1c1f1e-8a4b-4c39-9a53-0b5f3c2d1e0f").unwrap();
        let s = Secret::new("platform-secret-0123");
        assert_ne!(heartbeat_token(&s, a), heartbeat_token(&s, b));
        assert_ne!(
            heartbeat_token(&s, a),
            heartbeat_token(&Secret::new("other-secret-01234"), a)
        );
        assert_eq!(heartbeat_token(&s, a).len(), 64);
    }
}
