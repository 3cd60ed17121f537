//! Which Postgres provider to use, decided as a pure function of an environment snapshot, so that
//! the rules ("an explicit URL wins; a forced provider never falls back") can be tested without
//! mutating the environment of a shared test process.

use std::fmt;

use super::PgError;
use super::error::redact_url;

/// Admin URL of an existing server; when set (and no other provider is forced) it is used.
pub const DATABASE_URL_VAR: &str = "MATRIX_SIM_DATABASE_URL";
/// Forces one provider: `url`, `local` (or, later, `docker`).
pub const PROVIDER_VAR: &str = "MATRIX_SIM_PG_PROVIDER";

/// The environment variables that choose a provider, captured once.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct PgEnv {
    /// `MATRIX_SIM_DATABASE_URL`, if set and not blank.
    pub database_url: Option<String>,
    /// `MATRIX_SIM_PG_PROVIDER`, if set and not blank.
    pub provider: Option<String>,
}

impl PgEnv {
    /// Reads the two variables from this process's environment.
    pub fn from_process() -> Self {
        let read = |name: &str| {
            std::env::var(name)
                .ok()
                .map(|v| v.trim().to_string())
                .filter(|v| !v.is_empty())
        };
        PgEnv {
            database_url: read(DATABASE_URL_VAR),
            provider: read(PROVIDER_VAR),
        }
    }
}

impl fmt::Debug for PgEnv {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PgEnv")
            .field(
                "database_url",
                &self.database_url.as_deref().map(redact_url),
            )
            .field("provider", &self.provider)
            .finish()
    }
}

/// The provider to start, as decided by [`resolve_provider`].
#[derive(Clone, PartialEq, Eq)]
pub enum ProviderPlan {
    /// Use an existing server through this admin URL.
    Url { admin_url: String, forced: bool },
    /// Start a private server from the local PostgreSQL binaries.
    Local { forced: bool },
}

impl fmt::Debug for ProviderPlan {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ProviderPlan::Url { admin_url, forced } => f
                .debug_struct("Url")
                .field("admin_url", &redact_url(admin_url))
                .field("forced", forced)
                .finish(),
            ProviderPlan::Local { forced } => {
                f.debug_struct("Local").field("forced", forced).finish()
            }
        }
    }
}

/// Decides the provider: a forced one (`MATRIX_SIM_PG_PROVIDER`) if given, else the URL if
/// given, else local binaries.
///
/// Guarantees: a forced provider that cannot be used is an error here or at start, never a
/// fallback to another provider. A URL, once given, is used (an unreachable URL is an error at
/// start rather than a silent switch to local binaries).
pub fn resolve_provider(env: &PgEnv) -> Result<ProviderPlan, PgError> {
    match env
        .provider
        .as_deref()
        .map(str::to_ascii_lowercase)
        .as_deref()
    {
        None => Ok(match &env.database_url {
            Some(url) => ProviderPlan::Url {
                admin_url: url.clone(),
                forced: false,
            },
            None => ProviderPlan::Local { forced: false },
        }),
        Some("url") => match &env.database_url {
            Some(url) => Ok(ProviderPlan::Url {
                admin_url: url.clone(),
                forced: true,
            }),
            None => Err(PgError::UrlProviderWithoutUrl),
        },
        Some("local") => Ok(ProviderPlan::Local { forced: true }),
        Some("docker" | "testcontainers") => Err(PgError::DockerNotAvailable),
        Some(_) => Err(PgError::UnknownProvider {
            value: env.provider.clone().unwrap_or_default(),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(url: Option<&str>, provider: Option<&str>) -> PgEnv {
        PgEnv {
            database_url: url.map(str::to_string),
            provider: provider.map(str::to_string),
        }
    }

    #[test]
    fn no_variables_means_local_binaries() {
        assert_eq!(
            resolve_provider(&env(None, None)).unwrap(),
            ProviderPlan::Local { forced: false }
        );
    }

    #[test]
    fn a_url_is_preferred_over_local_binaries() {
        assert_eq!(
            resolve_provider(&env(Some("postgres://a@h/postgres"), None)).unwrap(),
            ProviderPlan::Url {
                admin_url: "postgres://a@h/postgres".into(),
                forced: false
            }
        );
    }

    #[test]
    fn forcing_url_without_a_url_is_a_clear_error() {
        let err = resolve_provider(&env(None, Some("url"))).unwrap_err();
        assert!(matches!(err, PgError::UrlProviderWithoutUrl));
        let msg = err.to_string();
        assert!(msg.contains("MATRIX_SIM_DATABASE_URL"), "{msg}");
        assert!(msg.contains("MATRIX_SIM_PG_PROVIDER=url"), "{msg}");
    }

    #[test]
    fn forcing_local_ignores_a_url() {
        assert_eq!(
            resolve_provider(&env(Some("postgres://a@h/postgres"), Some("LOCAL"))).unwrap(),
            ProviderPlan::Local { forced: true }
        );
    }

    #[test]
    fn forcing_docker_says_it_is_not_available_yet() {
        let err = resolve_provider(&env(None, Some("docker"))).unwrap_err();
        assert!(matches!(err, PgError::DockerNotAvailable));
        assert!(err.to_string().contains("not available yet"));
    }

    #[test]
    fn an_unknown_provider_is_named_in_the_error() {
        let err = resolve_provider(&env(None, Some("sqlite"))).unwrap_err();
        assert!(err.to_string().contains("\"sqlite\""), "{err}");
    }

    #[test]
    fn debug_output_never_shows_a_password() {
        let e = env(Some("postgres://a:hunter2@h/postgres"), Some("url"));
        assert!(!format!("{e:?}").contains("hunter2"));
        let plan = resolve_provider(&e).unwrap();
        assert!(!format!("{plan:?}").contains("hunter2"));
    }
}
