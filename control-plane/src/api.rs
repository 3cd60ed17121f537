//! The platform HTTP API (axum): routes, middleware, and the conversion of flows' results into the
//! wire types of [`types`]. Handlers only parse, authorise, call [`crate::app`] and convert.
//!
//! Middleware, outermost first: request logging (one line per request inside its span, with the
//! internal error context when there is one — never headers or bodies), the 4096-byte body limit
//! (413 by `Content-Length` before any parsing, and again while reading a body without one), and a
//! request timeout.

pub mod auth;
pub mod extract;
pub mod handlers;
pub mod types;

use std::time::Duration;

use axum::Router;
use axum::extract::{DefaultBodyLimit, MatchedPath, Request};
use axum::http::header::CONTENT_LENGTH;
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use tracing::{Instrument, error, info, info_span, warn};

use crate::app::App;
use crate::error::{Error, ErrorContext, ErrorKind, msg};
use crate::reconciler::Reconciler;

pub const BODY_LIMIT: usize = 4096;

/// Shared by every handler.
#[derive(Clone)]
pub struct ApiState {
    pub app: App,
    pub reconciler: Reconciler,
}

pub fn router(state: ApiState) -> Router {
    Router::new()
        .route("/health", get(handlers::health))
        .route("/metrics", get(handlers::metrics))
        .route("/vps/provision", post(handlers::provision))
        .route("/vps/register", post(handlers::register))
        .route("/vps/boot-failure", post(handlers::boot_failure))
        .route("/vps/heartbeat", post(handlers::heartbeat))
        .route("/vps/recover", post(handlers::recover))
        .route("/vps/fleet", get(handlers::fleet))
        .route("/vps/route", get(handlers::route))
        .route("/vps/{machine_id}/status", get(handlers::status))
        .route("/vps/{machine_id}/events", get(handlers::events))
        .route("/vps/{machine_id}", delete(handlers::delete))
        .fallback(|| async { Error::not_found("no such route") })
        .method_not_allowed_fallback(|| async {
            Error::new(
                ErrorKind::MethodNotAllowed,
                msg::METHOD_NOT_ALLOWED,
                "method not allowed",
            )
        })
        .layer(DefaultBodyLimit::max(BODY_LIMIT))
        .layer(middleware::from_fn(request_timeout))
        .layer(middleware::from_fn(reject_oversize))
        .layer(middleware::from_fn(log_request))
        .with_state(state)
}

/// How long one request may take before it is answered 503 (a provider call is bounded at 10 s, so
/// only a stuck dependency reaches this).
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(60);

/// Bounds every request, answering with the generic JSON error shape like every other error.
async fn request_timeout(req: Request, next: Next) -> Response {
    match tokio::time::timeout(REQUEST_TIMEOUT, next.run(req)).await {
        Ok(response) => response,
        Err(_) => Error::unavailable("request timed out").into_response(),
    }
}

/// 413 before parsing when the declared length is over the limit.
async fn reject_oversize(req: Request, next: Next) -> Response {
    let declared = req
        .headers()
        .get(CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > BODY_LIMIT as u64) {
        return Error::new(
            ErrorKind::PayloadTooLarge,
            msg::TOO_LARGE,
            "declared body over the limit",
        )
        .into_response();
    }
    next.run(req).await
}

/// One log line per request; the internal error context of an error response goes here and only here.
async fn log_request(req: Request, next: Next) -> Response {
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_owned())
        .unwrap_or_else(|| "unmatched".into());
    let method = req.method().clone();
    let span = info_span!("request", %method, route = %route);
    async move {
        let started = std::time::Instant::now();
        let response = next.run(req).await;
        let status = response.status().as_u16();
        let elapsed_ms = started.elapsed().as_millis() as u64;
        match response.extensions().get::<ErrorContext>() {
            Some(ctx) if ctx.kind == ErrorKind::Internal => {
                error!(status, elapsed_ms, context = %ctx.context, "request failed")
            }
            Some(ctx) => warn!(status, elapsed_ms, context = %ctx.context, "request refused"),
            None => info!(status, elapsed_ms, "request"),
        }
        response
    }
    .instrument(span)
    .await
}
