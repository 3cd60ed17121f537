//! Authentication extractors.
//!
//! - [`PlatformAuth`]: `Authorization: Bearer <PLATFORM_SECRET>`, compared in constant time. With no
//!   secret configured every platform route answers 503 (the service cannot authenticate anyone).
//! - [`BearerToken`]: the raw bearer token of a host route (register, heartbeat); the flow checks it.

use axum::extract::FromRequestParts;
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;

use super::ApiState;
use crate::error::{Error, ErrorKind, msg};
use crate::secret::{Secret, constant_time_eq};

fn bearer(parts: &Parts) -> Option<Secret> {
    let value = parts.headers.get(AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty() && token.len() <= 1024)
        .then(|| Secret::new(token))
}

/// Proof that the caller holds the platform secret.
pub struct PlatformAuth;

impl FromRequestParts<ApiState> for PlatformAuth {
    type Rejection = Error;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &ApiState,
    ) -> Result<Self, Self::Rejection> {
        let Some(secret) = state.app.settings.platform_secret.as_ref() else {
            return Err(Error::new(
                ErrorKind::Unavailable,
                msg::NOT_CONFIGURED,
                "platform secret not configured",
            ));
        };
        match bearer(parts) {
            Some(token)
                if constant_time_eq(token.expose().as_bytes(), secret.expose().as_bytes()) =>
            {
                Ok(Self)
            }
            Some(_) => Err(Error::unauthorized("platform token does not match")),
            None => Err(Error::unauthorized("no bearer token")),
        }
    }
}

/// A host's bearer token, unchecked.
pub struct BearerToken(pub Secret);

impl<S: Send + Sync> FromRequestParts<S> for BearerToken {
    type Rejection = Error;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        bearer(parts)
            .map(Self)
            .ok_or_else(|| Error::unauthorized("no bearer token"))
    }
}
