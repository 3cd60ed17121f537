//! Extractors that turn every malformed input into the same generic error shape.
//!
//! axum's own rejections carry descriptive text (serde messages can quote the input); these wrap
//! them so a client only ever sees `{"error":"Invalid request"}` (or 413 for oversize bodies), and
//! the detail goes to the server log.

use axum::extract::rejection::JsonRejection;
use axum::extract::{FromRequest, FromRequestParts, Path, Request};
use axum::http::StatusCode;
use axum::http::request::Parts;
use serde::de::DeserializeOwned;

use crate::error::{Error, ErrorKind, msg};
use crate::ids::MachineId;

/// JSON body with generic errors.
pub struct ApiJson<T>(pub T);

impl<S, T> FromRequest<S> for ApiJson<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = Error;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        match axum::Json::<T>::from_request(req, state).await {
            Ok(axum::Json(value)) => Ok(Self(value)),
            Err(rejection) => Err(json_rejection(rejection)),
        }
    }
}

fn json_rejection(rejection: JsonRejection) -> Error {
    if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
        return Error::new(
            ErrorKind::PayloadTooLarge,
            msg::TOO_LARGE,
            "body over the limit",
        );
    }
    // The rejection text is for the log only (it may quote input).
    Error::invalid(format!("json body rejected: {}", rejection.status()))
}

/// A `:machineId` path segment that must be a UUID.
pub struct MachineIdPath(pub MachineId);

impl<S: Send + Sync> FromRequestParts<S> for MachineIdPath {
    type Rejection = Error;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let Path(raw) = Path::<String>::from_request_parts(parts, state)
            .await
            .map_err(|_| Error::invalid("machine id path"))?;
        MachineId::parse(&raw)
            .map(Self)
            .map_err(|_| Error::invalid("machine id is not a UUID"))
    }
}

/// Query string with generic errors.
pub struct ApiQuery<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequestParts<S> for ApiQuery<T> {
    type Rejection = Error;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        axum::extract::Query::<T>::from_request_parts(parts, state)
            .await
            .map(|q| Self(q.0))
            .map_err(|_| Error::invalid("query string rejected"))
    }
}
