//! The error type of [`crate::postgres`]: one enum, each variant carrying the context a developer
//! needs to fix the problem (which tool is missing, what the server log said), with the
//! underlying cause as `#[source]` rather than in the message.

use std::path::PathBuf;
use std::time::Duration;

use super::PgProviderKind;

/// Why a Postgres provider, server or database could not be made ready.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PgError {
    #[error(
        "MATRIX_SIM_PG_PROVIDER={value:?} is not a known Postgres provider \
         (expected `url`, `local` or `docker`)"
    )]
    UnknownProvider { value: String },

    #[error(
        "MATRIX_SIM_PG_PROVIDER=url but MATRIX_SIM_DATABASE_URL is not set: set it to an admin URL \
         of an existing server (e.g. postgres://postgres:secret@127.0.0.1:5432/postgres), or unset \
         MATRIX_SIM_PG_PROVIDER to use the local PostgreSQL binaries"
    )]
    UrlProviderWithoutUrl,

    #[error(
        "MATRIX_SIM_PG_PROVIDER=docker but no Docker engine answers: {reason}; start the engine \
         (`docker info` must succeed; set DOCKER_HOST if its socket is not \
         /var/run/docker.sock), or unset MATRIX_SIM_PG_PROVIDER to use the local PostgreSQL \
         binaries"
    )]
    DockerNotAvailable {
        /// What the probe or the client initialisation said.
        reason: String,
    },

    #[error(
        "Postgres image `{image}` is not in the Docker engine's image store and could not be \
         pulled; build it offline with scripts/build-postgres-image.sh, or set \
         MATRIX_SIM_PG_IMAGE to an image the engine has (e.g. postgres:15 after \
         `docker pull postgres:15`)"
    )]
    ImageUnavailable {
        image: String,
        #[source]
        source: testcontainers::TestcontainersError,
    },

    #[error(
        "the Postgres container {container} (image `{image}`) did not become ready; \
         tail of its log:\n{log_tail}"
    )]
    ContainerStart {
        image: String,
        container: String,
        log_tail: String,
        #[source]
        source: Box<dyn std::error::Error + Send + Sync + 'static>,
    },

    #[error("{what}")]
    Docker {
        what: String,
        #[source]
        source: testcontainers::TestcontainersError,
    },

    #[error(
        "PostgreSQL tool `{tool}` not found (searched {searched}); install postgresql-15: \
         apt-get install -y postgresql-15, or set MATRIX_SIM_DATABASE_URL to an existing server"
    )]
    BinaryNotFound { tool: String, searched: String },

    #[error(
        "running as root, but there is no `postgres` user to run initdb/postgres as (they refuse \
         to run as root); install postgresql-15 (apt-get install -y postgresql-15 creates the \
         user), run as a non-root user, or set MATRIX_SIM_DATABASE_URL"
    )]
    NoPostgresUser,

    #[error("invalid Postgres URL {url}")]
    InvalidUrl {
        /// The URL with any password replaced by `***`.
        url: String,
        #[source]
        source: url::ParseError,
    },

    #[error("could not connect to Postgres at {url}")]
    Connect {
        /// The URL with any password replaced by `***`.
        url: String,
        #[source]
        source: sqlx::Error,
    },

    #[error("timed out after {waited:?} connecting to Postgres at {url}")]
    ConnectTimeout { url: String, waited: Duration },

    #[error("{what}")]
    Sql {
        what: String,
        #[source]
        source: sqlx::Error,
    },

    #[error("{what}")]
    Io {
        what: String,
        #[source]
        source: std::io::Error,
    },

    #[error("initdb into {data_dir} failed ({status}); its output:\n{output}")]
    Initdb {
        data_dir: PathBuf,
        status: String,
        output: String,
    },

    #[error(
        "postgres on port {port} did not accept connections within {waited:?}; \
         tail of {log}:\n{log_tail}"
    )]
    StartTimeout {
        port: u16,
        waited: Duration,
        log: PathBuf,
        log_tail: String,
    },

    #[error(
        "postgres on port {port} exited during start-up ({status}); tail of {log}:\n{log_tail}"
    )]
    ServerExited {
        port: u16,
        status: String,
        log: PathBuf,
        log_tail: String,
    },

    #[error("initialising template database `{template}` failed")]
    TemplateInit {
        template: String,
        #[source]
        source: Box<dyn std::error::Error + Send + Sync + 'static>,
    },

    #[error("{operation} is not supported by the {kind:?} Postgres provider")]
    Unsupported {
        operation: &'static str,
        kind: PgProviderKind,
    },
}

impl PgError {
    pub(crate) fn io(what: impl Into<String>, source: std::io::Error) -> Self {
        PgError::Io {
            what: what.into(),
            source,
        }
    }

    pub(crate) fn sql(what: impl Into<String>, source: sqlx::Error) -> Self {
        PgError::Sql {
            what: what.into(),
            source,
        }
    }
}

/// `url` with its password (if any) replaced by `***`, for error messages and logs.
pub(crate) fn redact_url(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut parsed) => {
            if parsed.password().is_some() {
                // Cannot fail: a URL that has a password can have it replaced.
                let _ = parsed.set_password(Some("***"));
            }
            parsed.to_string()
        }
        Err(_) => "<unparseable URL>".to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redact_url_hides_the_password_only() {
        assert_eq!(
            redact_url("postgres://admin:hunter2@db.example:5432/postgres"),
            "postgres://admin:***@db.example:5432/postgres"
        );
        assert_eq!(
            redact_url("postgres://admin@db.example/postgres"),
            "postgres://admin@db.example/postgres"
        );
        assert_eq!(redact_url("not a url"), "<unparseable URL>");
    }
}
