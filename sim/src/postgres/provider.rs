//! Which Postgres provider to use, decided as a pure function of an environment snapshot, so that
//! the rules ("an explicit URL wins; a forced provider never falls back") can be tested without
//! mutating the environment of a shared test process or needing a Docker engine.
//!
//! The snapshot ([`PgEnv`]) holds the variables and, once probed, what the Docker engine said
//! ([`DockerStatus`]); only [`PgEnv::from_process`] and [`PgEnv::probe_docker`] look outside.

use std::fmt;

use super::PgError;
use super::docker;
use super::error::redact_url;

/// Admin URL of an existing server; when set (and no other provider is forced) it is used.
pub const DATABASE_URL_VAR: &str = "MATRIX_SIM_DATABASE_URL";
/// Forces one provider: `url`, `docker` (alias `testcontainers`) or `local`.
pub const PROVIDER_VAR: &str = "MATRIX_SIM_PG_PROVIDER";
/// The image the `docker` provider runs, as `name:tag` (default [`DEFAULT_IMAGE`]).
pub const IMAGE_VAR: &str = "MATRIX_SIM_PG_IMAGE";
/// Built offline by `scripts/build-postgres-image.sh`; `postgres:15` works the same way.
pub const DEFAULT_IMAGE: &str = "matrix-fleet/postgres:15-local";

/// The environment that chooses a provider, captured once.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct PgEnv {
    /// `MATRIX_SIM_DATABASE_URL`, if set and not blank.
    pub database_url: Option<String>,
    /// `MATRIX_SIM_PG_PROVIDER`, if set and not blank.
    pub provider: Option<String>,
    /// `MATRIX_SIM_PG_IMAGE`, if set and not blank.
    pub image: Option<String>,
    /// What the Docker engine said, once [`PgEnv::probe_docker`] asked it.
    pub docker: DockerStatus,
}

/// What a probe of the Docker engine found.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum DockerStatus {
    /// Not probed yet. Never chosen automatically; `PgCluster::start_with` probes when the
    /// decision depends on it.
    #[default]
    Unknown,
    /// No engine: the client could not be initialised (no socket at `DOCKER_HOST` or
    /// `/var/run/docker.sock`) or the engine did not answer a ping.
    Unavailable { reason: String },
    /// The engine answers; `image_present` says whether the provider's image is in its store.
    Answers { image_present: bool },
}

impl PgEnv {
    /// Reads the variables from this process's environment; `docker` stays
    /// [`DockerStatus::Unknown`].
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
            image: read(IMAGE_VAR),
            docker: DockerStatus::Unknown,
        }
    }

    /// The image the `docker` provider would run.
    pub fn image(&self) -> &str {
        self.image.as_deref().unwrap_or(DEFAULT_IMAGE)
    }

    /// Asks the Docker engine whether it answers and has [`PgEnv::image`] (bounded: a missing
    /// socket fails at once, a silent engine after a few seconds).
    pub async fn probe_docker(mut self) -> Self {
        self.docker = docker::probe(self.image()).await;
        self
    }

    /// Whether the provider decision depends on a Docker probe that has not been made.
    pub fn docker_probe_needed(&self) -> bool {
        if self.docker != DockerStatus::Unknown {
            return false;
        }
        match forced(self) {
            Some(Forced::Docker) => true,
            Some(_) => false,
            None => self.database_url.is_none(),
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
            .field("image", &self.image)
            .field("docker", &self.docker)
            .finish()
    }
}

/// The provider to start, as decided by [`resolve_provider`].
#[derive(Clone, PartialEq, Eq)]
pub enum ProviderPlan {
    /// Use an existing server through this admin URL.
    Url { admin_url: String, forced: bool },
    /// Run `image` in a container through testcontainers.
    Docker { image: String, forced: bool },
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
            ProviderPlan::Docker { image, forced } => f
                .debug_struct("Docker")
                .field("image", image)
                .field("forced", forced)
                .finish(),
            ProviderPlan::Local { forced } => {
                f.debug_struct("Local").field("forced", forced).finish()
            }
        }
    }
}

enum Forced {
    Url,
    Docker,
    Local,
    Unknown,
}

fn forced(env: &PgEnv) -> Option<Forced> {
    let value = env.provider.as_deref()?.to_ascii_lowercase();
    Some(match value.as_str() {
        "url" => Forced::Url,
        "docker" | "testcontainers" => Forced::Docker,
        "local" => Forced::Local,
        _ => Forced::Unknown,
    })
}

/// Decides the provider: a forced one (`MATRIX_SIM_PG_PROVIDER`) if given; else the URL if given;
/// else Docker when the engine answers and already has the image; else local binaries.
///
/// Guarantees: a forced provider that cannot be used is an error here or at start, never a
/// fallback to another provider. A URL, once given, is used (an unreachable URL is an error at
/// start rather than a silent switch). Assumption: without a forced provider, Docker is chosen
/// only when the image is already local, since pulling may be impossible (no registry) or slow;
/// a forced `docker` does try to pull a missing image.
pub fn resolve_provider(env: &PgEnv) -> Result<ProviderPlan, PgError> {
    let docker = |forced| ProviderPlan::Docker {
        image: env.image().to_string(),
        forced,
    };
    match forced(env) {
        None => Ok(match (&env.database_url, &env.docker) {
            (Some(url), _) => ProviderPlan::Url {
                admin_url: url.clone(),
                forced: false,
            },
            (
                None,
                DockerStatus::Answers {
                    image_present: true,
                },
            ) => docker(false),
            (None, _) => ProviderPlan::Local { forced: false },
        }),
        Some(Forced::Url) => match &env.database_url {
            Some(url) => Ok(ProviderPlan::Url {
                admin_url: url.clone(),
                forced: true,
            }),
            None => Err(PgError::UrlProviderWithoutUrl),
        },
        Some(Forced::Docker) => match &env.docker {
            DockerStatus::Unavailable { reason } => Err(PgError::DockerNotAvailable {
                reason: reason.clone(),
            }),
            DockerStatus::Unknown | DockerStatus::Answers { .. } => Ok(docker(true)),
        },
        Some(Forced::Local) => Ok(ProviderPlan::Local { forced: true }),
        Some(Forced::Unknown) => Err(PgError::UnknownProvider {
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
            ..PgEnv::default()
        }
    }

    fn with_docker(mut env: PgEnv, docker: DockerStatus) -> PgEnv {
        env.docker = docker;
        env
    }

    fn no_engine() -> DockerStatus {
        DockerStatus::Unavailable {
            reason: "failed to initialize a docker client: Socket not found: /var/run/docker.sock"
                .into(),
        }
    }

    const ENGINE_WITH_IMAGE: DockerStatus = DockerStatus::Answers {
        image_present: true,
    };
    const ENGINE_WITHOUT_IMAGE: DockerStatus = DockerStatus::Answers {
        image_present: false,
    };

    #[test]
    fn no_variables_and_no_engine_means_local_binaries() {
        for docker in [DockerStatus::Unknown, no_engine(), ENGINE_WITHOUT_IMAGE] {
            assert_eq!(
                resolve_provider(&with_docker(env(None, None), docker.clone())).unwrap(),
                ProviderPlan::Local { forced: false },
                "{docker:?}"
            );
        }
    }

    #[test]
    fn a_url_is_preferred_over_docker_and_local_binaries() {
        let e = with_docker(
            env(Some("postgres://a@h/postgres"), None),
            ENGINE_WITH_IMAGE,
        );
        assert_eq!(
            resolve_provider(&e).unwrap(),
            ProviderPlan::Url {
                admin_url: "postgres://a@h/postgres".into(),
                forced: false
            }
        );
        assert!(!e.docker_probe_needed());
    }

    #[test]
    fn an_engine_with_the_image_is_preferred_over_local_binaries() {
        assert_eq!(
            resolve_provider(&with_docker(env(None, None), ENGINE_WITH_IMAGE)).unwrap(),
            ProviderPlan::Docker {
                image: DEFAULT_IMAGE.into(),
                forced: false
            }
        );
    }

    #[test]
    fn the_image_comes_from_matrix_sim_pg_image() {
        let mut e = with_docker(env(None, Some("docker")), ENGINE_WITHOUT_IMAGE);
        e.image = Some("postgres:15".into());
        assert_eq!(
            resolve_provider(&e).unwrap(),
            ProviderPlan::Docker {
                image: "postgres:15".into(),
                forced: true
            }
        );
    }

    #[test]
    fn forcing_docker_without_an_engine_is_a_clear_error_naming_the_fix() {
        let e = with_docker(
            env(Some("postgres://a@h/postgres"), Some("docker")),
            no_engine(),
        );
        let err = resolve_provider(&e).unwrap_err();
        assert!(matches!(err, PgError::DockerNotAvailable { .. }), "{err:?}");
        let msg = err.to_string();
        assert!(msg.contains("Socket not found"), "the cause is kept: {msg}");
        assert!(msg.contains("docker info"), "names the check: {msg}");
        assert!(
            msg.contains("unset MATRIX_SIM_PG_PROVIDER"),
            "names the way out: {msg}"
        );
    }

    #[test]
    fn forcing_docker_never_falls_back_to_the_url_or_local_binaries() {
        for docker in [
            DockerStatus::Unknown,
            ENGINE_WITHOUT_IMAGE,
            ENGINE_WITH_IMAGE,
        ] {
            let e = with_docker(env(Some("postgres://a@h/postgres"), Some("Docker")), docker);
            assert_eq!(
                resolve_provider(&e).unwrap(),
                ProviderPlan::Docker {
                    image: DEFAULT_IMAGE.into(),
                    forced: true
                }
            );
        }
        assert!(matches!(
            resolve_provider(&env(None, Some("testcontainers"))).unwrap(),
            ProviderPlan::Docker { forced: true, .. }
        ));
    }

    #[test]
    fn the_engine_is_probed_only_when_the_decision_depends_on_it() {
        assert!(env(None, None).docker_probe_needed());
        assert!(env(Some("postgres://a@h/postgres"), Some("docker")).docker_probe_needed());
        assert!(!env(Some("postgres://a@h/postgres"), None).docker_probe_needed());
        assert!(!env(None, Some("local")).docker_probe_needed());
        assert!(!env(None, Some("url")).docker_probe_needed());
        assert!(!with_docker(env(None, None), no_engine()).docker_probe_needed());
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
    fn forcing_local_ignores_a_url_and_an_engine() {
        let e = with_docker(
            env(Some("postgres://a@h/postgres"), Some("LOCAL")),
            ENGINE_WITH_IMAGE,
        );
        assert_eq!(
            resolve_provider(&e).unwrap(),
            ProviderPlan::Local { forced: true }
        );
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
