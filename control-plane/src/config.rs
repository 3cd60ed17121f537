//! Configuration from the environment (the upstream variable names), validated once at start.
//!
//! [`Config::from_env`] collects every problem instead of stopping at the first, and its messages
//! name the variable and the rule but never echo a value (values can be secrets). Durations the
//! reference lists as constants are configurable too (`MATRIX_*` names), so the simulator can
//! compress time.

use std::time::Duration;

use url::Url;

use crate::ids::ImageVersion;
use crate::secret::Secret;

/// Everything the flows need besides the clients.
#[derive(Debug, Clone)]
pub struct Settings {
    /// `None` → platform-auth routes answer 503.
    pub platform_secret: Option<Secret>,
    /// Base URL hosts use to reach the platform (register, heartbeat).
    pub public_url: Url,
    pub server_type: String,
    pub image: String,
    pub location: String,
    pub image_version: ImageVersion,
    /// Value of the `app` label put on every server we create; the orphan sweep selects on it.
    pub app_label: String,
    pub registration_ttl: Duration,
    pub stale_after: Duration,
    pub reconcile_interval: Duration,
    pub reconcile_batch: i64,
    pub max_attempts: i32,
    pub heartbeat_interval: Duration,
    pub provision_eta: Duration,
    pub user_data_limit: usize,
    pub orphan_grace: Duration,
    pub orphan_sweep_interval: Duration,
    pub backup_scan_interval: Duration,
    pub backup_scan_concurrency: usize,
    pub vps_meta_interval: Duration,
    /// How long a replica's claim on a row or queue entry lasts before another may take over.
    pub claim_ttl: Duration,
    /// Bound on one provider call's wait for Hetzner rate-limit budget. Zero by default: a call
    /// without budget returns `RateLimited` at once and its step is rescheduled.
    pub provider_rate_limit_wait: Duration,
}

impl Settings {
    /// Reference defaults (§9); `public_url`, `platform_secret` and image version must still be set.
    pub fn with_defaults(
        public_url: Url,
        image_version: ImageVersion,
        platform_secret: Option<Secret>,
    ) -> Self {
        Self {
            platform_secret,
            public_url,
            server_type: "cpx22".into(),
            image: "ubuntu-24.04".into(),
            location: "nbg1".into(),
            image_version,
            app_label: "matrix-customer-vps".into(),
            registration_ttl: Duration::from_secs(15 * 60),
            stale_after: Duration::from_secs(10 * 60),
            reconcile_interval: Duration::from_secs(60),
            reconcile_batch: 50,
            max_attempts: 3,
            heartbeat_interval: Duration::from_secs(5 * 60),
            provision_eta: Duration::from_secs(90),
            user_data_limit: 32 * 1024,
            orphan_grace: Duration::from_secs(30 * 60),
            // A sweep lists every server (200 requests for 10,000 machines): hourly keeps it well
            // inside Hetzner's 3,600 requests/hour budget.
            orphan_sweep_interval: Duration::from_secs(60 * 60),
            backup_scan_interval: Duration::from_secs(15 * 60),
            backup_scan_concurrency: 8,
            vps_meta_interval: Duration::from_secs(60 * 60),
            claim_ttl: Duration::from_secs(5 * 60),
            provider_rate_limit_wait: Duration::ZERO,
        }
    }
}

/// The whole process configuration.
#[derive(Debug, Clone)]
pub struct Config {
    pub database_url: Secret,
    pub listen: std::net::SocketAddr,
    pub hetzner_api_url: Url,
    pub hetzner_token: Secret,
    pub r2_endpoint: Url,
    pub r2_bucket: String,
    pub r2_access_key_id: Secret,
    pub r2_secret_access_key: Secret,
    pub db_max_connections: u32,
    pub settings: Settings,
}

/// Every problem found, one line each.
#[derive(Debug, thiserror::Error)]
#[error("invalid configuration:\n  - {}", .0.join("\n  - "))]
pub struct ConfigError(pub Vec<String>);

struct Reader<'a> {
    get: &'a dyn Fn(&str) -> Option<String>,
    problems: Vec<String>,
}

impl Reader<'_> {
    fn raw(&self, name: &str) -> Option<String> {
        (self.get)(name)
            .map(|v| v.trim().to_owned())
            .filter(|v| !v.is_empty())
    }
    fn required(&mut self, name: &str, hint: &str) -> Option<String> {
        let v = self.raw(name);
        if v.is_none() {
            self.problems.push(format!("{name} is required ({hint})"));
        }
        v
    }
    fn url(&mut self, name: &str, value: Option<String>) -> Option<Url> {
        let value = value?;
        match Url::parse(&value) {
            Ok(u) if matches!(u.scheme(), "http" | "https") && u.host().is_some() => Some(u),
            _ => {
                self.problems.push(format!("{name} must be an http(s) URL"));
                None
            }
        }
    }
    fn secs(&mut self, name: &str, default: Duration) -> Duration {
        match self.raw(name) {
            None => default,
            Some(v) => match v.parse::<u64>() {
                Ok(n) if n > 0 => Duration::from_secs(n),
                _ => {
                    self.problems
                        .push(format!("{name} must be a positive number of seconds"));
                    default
                }
            },
        }
    }
    fn number<T: std::str::FromStr + PartialOrd + Copy>(
        &mut self,
        name: &str,
        default: T,
        min: T,
        max: T,
    ) -> T {
        match self.raw(name) {
            None => default,
            Some(v) => match v.parse::<T>() {
                Ok(n) if n >= min && n <= max => n,
                _ => {
                    self.problems.push(format!("{name} is out of range"));
                    default
                }
            },
        }
    }
    fn word(&mut self, name: &str, default: &str) -> String {
        let v = self.raw(name).unwrap_or_else(|| default.to_owned());
        if v.len() > 64
            || !v
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
        {
            self.problems
                .push(format!("{name} must be 1-64 characters of [A-Za-z0-9-_.]"));
        }
        v
    }
    /// A secret that lands in env files on hosts: no quotes, newlines or control characters.
    fn secret(&mut self, name: &str, value: Option<String>) -> Option<Secret> {
        let value = value?;
        if value
            .chars()
            .any(|c| c.is_control() || c == '\'' || c == '"' || c == '\\')
        {
            self.problems.push(format!(
                "{name} contains characters that are not allowed (quotes, backslash, control)"
            ));
            return None;
        }
        Some(Secret::new(value))
    }
}

impl Config {
    pub fn from_process_env() -> Result<Self, ConfigError> {
        Self::from_env(&|name| std::env::var(name).ok())
    }

    pub fn from_env(get: &dyn Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let mut r = Reader {
            get,
            problems: Vec::new(),
        };
        let database_url = r.required("DATABASE_URL", "postgres://user:pass@host/db");
        let platform_secret = r.raw("PLATFORM_SECRET");
        if platform_secret.as_ref().is_some_and(|s| s.len() < 16) {
            r.problems
                .push("PLATFORM_SECRET must be at least 16 characters".into());
        }
        let platform_secret = r.secret("PLATFORM_SECRET", platform_secret);
        let public_url = r.required(
            "PLATFORM_PUBLIC_URL",
            "the URL customer hosts use to reach this service",
        );
        let public_url = r.url("PLATFORM_PUBLIC_URL", public_url);
        let hetzner_token = r.required("HETZNER_API_TOKEN", "a Hetzner Cloud project API token");
        let hetzner_token = r.secret("HETZNER_API_TOKEN", hetzner_token);
        let hetzner_url = r
            .raw("HETZNER_API_URL")
            .or_else(|| Some("https://api.hetzner.cloud/v1".into()));
        let hetzner_api_url = r.url("HETZNER_API_URL", hetzner_url);
        let server_type = r.word("HETZNER_SERVER_TYPE", "cpx22");
        let image = r.word("HETZNER_IMAGE", "ubuntu-24.04");
        let location = r.word("HETZNER_LOCATION", "nbg1");
        let bucket = r.raw("R2_BUCKET").or_else(|| r.raw("S3_BUCKET"));
        if bucket.is_none() {
            r.problems
                .push("R2_BUCKET (or S3_BUCKET) is required".into());
        }
        let bucket_ok = bucket.as_deref().is_some_and(|b| {
            (3..=63).contains(&b.len())
                && b.chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '.')
        });
        if bucket.is_some() && !bucket_ok {
            r.problems
                .push("R2_BUCKET must be a valid bucket name (3-63 of [a-z0-9.-])".into());
        }
        let r2_endpoint = r.required("R2_ENDPOINT", "https://<account>.r2.cloudflarestorage.com");
        let r2_endpoint = r.url("R2_ENDPOINT", r2_endpoint);
        let access_key = r.required("AWS_ACCESS_KEY_ID", "R2 access key id");
        let access_key = r.secret("AWS_ACCESS_KEY_ID", access_key);
        let secret_key = r.required("AWS_SECRET_ACCESS_KEY", "R2 secret access key");
        let secret_key = r.secret("AWS_SECRET_ACCESS_KEY", secret_key);
        let image_version = r.required(
            "CUSTOMER_VPS_IMAGE_VERSION",
            "the host-bundle version new machines boot",
        );
        let image_version = image_version.and_then(|v| match ImageVersion::parse(&v) {
            Ok(v) => Some(v),
            Err(_) => {
                r.problems.push(
                    "CUSTOMER_VPS_IMAGE_VERSION must be ≤128 characters of [A-Za-z0-9._+-]".into(),
                );
                None
            }
        });
        let listen = r
            .raw("MATRIX_LISTEN")
            .unwrap_or_else(|| "127.0.0.1:9000".into());
        let listen = match listen.parse() {
            Ok(a) => Some(a),
            Err(_) => {
                r.problems
                    .push("MATRIX_LISTEN must be an address like 127.0.0.1:9000".into());
                None
            }
        };
        let db_max_connections = r.number("MATRIX_DB_MAX_CONNECTIONS", 16u32, 1, 500);

        let (
            Some(database_url),
            Some(public_url),
            Some(hetzner_token),
            Some(hetzner_api_url),
            Some(r2_endpoint),
        ) = (
            database_url,
            public_url,
            hetzner_token,
            hetzner_api_url,
            r2_endpoint,
        )
        else {
            return Err(ConfigError(r.problems));
        };
        let (Some(access_key), Some(secret_key), Some(image_version), Some(listen), Some(bucket)) =
            (access_key, secret_key, image_version, listen, bucket)
        else {
            return Err(ConfigError(r.problems));
        };
        let mut settings = Settings::with_defaults(public_url, image_version, platform_secret);
        settings.server_type = server_type;
        settings.image = image;
        settings.location = location;
        settings.app_label = r.word("MATRIX_APP_LABEL", "matrix-customer-vps");
        settings.registration_ttl =
            r.secs("MATRIX_REGISTRATION_TTL_SECONDS", settings.registration_ttl);
        settings.stale_after = r.secs("MATRIX_STALE_AFTER_SECONDS", settings.stale_after);
        settings.reconcile_interval = r.secs(
            "MATRIX_RECONCILE_INTERVAL_SECONDS",
            settings.reconcile_interval,
        );
        settings.reconcile_batch = r.number("MATRIX_RECONCILE_BATCH", 50i64, 1, 10_000);
        settings.max_attempts = r.number("MATRIX_MAX_PROVISION_ATTEMPTS", 3i32, 1, 100);
        settings.heartbeat_interval = r.secs(
            "MATRIX_HEARTBEAT_INTERVAL_SECONDS",
            settings.heartbeat_interval,
        );
        settings.orphan_grace = r.secs("MATRIX_ORPHAN_GRACE_SECONDS", settings.orphan_grace);
        settings.backup_scan_interval = r.secs(
            "MATRIX_BACKUP_SCAN_INTERVAL_SECONDS",
            settings.backup_scan_interval,
        );
        if !r.problems.is_empty() {
            return Err(ConfigError(r.problems));
        }
        Ok(Config {
            database_url: Secret::new(database_url),
            listen,
            hetzner_api_url,
            hetzner_token,
            r2_endpoint,
            r2_bucket: bucket,
            r2_access_key_id: access_key,
            r2_secret_access_key: secret_key,
            db_max_connections,
            settings,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn env(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |k| map.get(k).cloned()
    }

    const GOOD: &[(&str, &str)] = &[
        ("DATABASE_URL", "postgres://u:p@127.0.0.1/db"),
        ("PLATFORM_SECRET", "0123456789abcdef-secret"),
        ("PLATFORM_PUBLIC_URL", "https://platform.example.com"),
        ("HETZNER_API_TOKEN", "tok"),
        ("R2_BUCKET", "matrix-backups"),
        ("R2_ENDPOINT", "https://acct.r2.cloudflarestorage.com"),
        ("AWS_ACCESS_KEY_ID", "AKID"),
        ("AWS_SECRET_ACCESS_KEY", "very-secret-key"),
        ("CUSTOMER_VPS_IMAGE_VERSION", "2026.11.1"),
    ];

    #[test]
    fn a_complete_environment_parses_with_reference_defaults() {
        let c = Config::from_env(&env(GOOD)).unwrap();
        assert_eq!(c.settings.server_type, "cpx22");
        assert_eq!(c.settings.location, "nbg1");
        assert_eq!(c.hetzner_api_url.as_str(), "https://api.hetzner.cloud/v1");
        assert_eq!(c.settings.registration_ttl, Duration::from_secs(900));
    }

    #[test]
    fn every_problem_is_reported_and_no_value_is_echoed() {
        let err = Config::from_env(&env(&[
            ("PLATFORM_SECRET", "short"),
            ("R2_ENDPOINT", "not a url secret-ish"),
            ("HETZNER_API_TOKEN", "tok'en"),
        ]))
        .unwrap_err()
        .to_string();
        for needle in [
            "DATABASE_URL",
            "PLATFORM_SECRET",
            "R2_ENDPOINT",
            "R2_BUCKET",
            "CUSTOMER_VPS_IMAGE_VERSION",
            "HETZNER_API_TOKEN",
        ] {
            assert!(err.contains(needle), "{needle} missing from {err}");
        }
        assert!(
            !err.contains("secret-ish") && !err.contains("tok'en") && !err.contains("short"),
            "{err}"
        );
    }

    #[test]
    fn s3_bucket_is_accepted_as_the_upstream_alias() {
        let mut pairs: Vec<(&str, &str)> = GOOD
            .iter()
            .filter(|(k, _)| *k != "R2_BUCKET")
            .copied()
            .collect();
        pairs.push(("S3_BUCKET", "other-bucket"));
        assert_eq!(
            Config::from_env(&env(&pairs)).unwrap().r2_bucket,
            "other-bucket"
        );
    }

    #[test]
    fn every_matrix_override_reaches_the_settings() {
        let mut pairs = GOOD.to_vec();
        pairs.extend([
            ("MATRIX_LISTEN", "127.0.0.1:9100"),
            ("MATRIX_DB_MAX_CONNECTIONS", "7"),
            ("MATRIX_APP_LABEL", "matrix-test_vps.1"),
            ("MATRIX_REGISTRATION_TTL_SECONDS", "301"),
            ("MATRIX_STALE_AFTER_SECONDS", "302"),
            ("MATRIX_RECONCILE_INTERVAL_SECONDS", "303"),
            ("MATRIX_RECONCILE_BATCH", "304"),
            ("MATRIX_MAX_PROVISION_ATTEMPTS", "5"),
            ("MATRIX_HEARTBEAT_INTERVAL_SECONDS", "306"),
            ("MATRIX_ORPHAN_GRACE_SECONDS", "307"),
            ("MATRIX_BACKUP_SCAN_INTERVAL_SECONDS", "308"),
        ]);
        let c = Config::from_env(&env(&pairs)).unwrap();
        assert_eq!(c.listen.to_string(), "127.0.0.1:9100");
        assert_eq!(c.db_max_connections, 7);
        let s = &c.settings;
        assert_eq!(s.app_label, "matrix-test_vps.1");
        assert_eq!(s.registration_ttl, Duration::from_secs(301));
        assert_eq!(s.stale_after, Duration::from_secs(302));
        assert_eq!(s.reconcile_interval, Duration::from_secs(303));
        assert_eq!(s.reconcile_batch, 304);
        assert_eq!(s.max_attempts, 5);
        assert_eq!(s.heartbeat_interval, Duration::from_secs(306));
        assert_eq!(s.orphan_grace, Duration::from_secs(307));
        assert_eq!(s.backup_scan_interval, Duration::from_secs(308));
    }

    #[test]
    fn out_of_range_overrides_are_refused_by_name() {
        for (name, value) in [
            ("MATRIX_LISTEN", "not-an-address"),
            ("MATRIX_DB_MAX_CONNECTIONS", "0"),
            ("MATRIX_APP_LABEL", "has spaces"),
            ("MATRIX_REGISTRATION_TTL_SECONDS", "0"),
            ("MATRIX_STALE_AFTER_SECONDS", "-5"),
            ("MATRIX_RECONCILE_INTERVAL_SECONDS", "soon"),
            ("MATRIX_RECONCILE_BATCH", "10001"),
            ("MATRIX_MAX_PROVISION_ATTEMPTS", "0"),
            ("MATRIX_HEARTBEAT_INTERVAL_SECONDS", "1.5"),
            ("MATRIX_ORPHAN_GRACE_SECONDS", "forever"),
            ("MATRIX_BACKUP_SCAN_INTERVAL_SECONDS", "0"),
        ] {
            let mut pairs = GOOD.to_vec();
            pairs.push((name, value));
            let err = Config::from_env(&env(&pairs))
                .err()
                .unwrap_or_else(|| panic!("{name}={value:?} was accepted"))
                .to_string();
            assert!(err.contains(name), "{name}: {err}");
        }
    }
}
