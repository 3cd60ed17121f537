//! The fake's wire format: full server and action objects, pagination metadata and the error
//! envelope, as `hetzner-api.md` and Hetzner's strict generated clients require them.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::{Value, json};

use super::catalog;
use super::model::{ActionRec, ServerRec};

pub(crate) fn timestamp(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Secs, false)
}

/// A server object with every field a strict client requires.
pub(crate) fn server_json(s: &ServerRec) -> Value {
    let [a, b, c, d] = s.ipv4.octets();
    json!({
        "id": s.id,
        "name": s.name,
        "status": s.status.as_str(),
        "created": timestamp(s.created),
        "labels": s.labels,
        "public_net": {
            "ipv4": {
                "id": s.ipv4_id,
                "ip": s.ipv4.to_string(),
                "blocked": false,
                "dns_ptr": format!("static.{d}.{c}.{b}.{a}.clients.your-server.de"),
            },
            "ipv6": {
                "id": s.ipv6_id,
                "ip": s.ipv6_prefix,
                "blocked": false,
                "dns_ptr": [],
            },
            "floating_ips": [],
            "firewalls": [],
        },
        "private_net": [],
        "server_type": catalog::server_type_json(s.server_type),
        "datacenter": catalog::datacenter_json(s.location),
        "location": catalog::location_json(s.location),
        "image": catalog::image_json(s.image, s.server_type.architecture),
        "iso": null,
        "rescue_enabled": false,
        "locked": s.is_locked(),
        "backup_window": null,
        "outgoing_traffic": 0,
        "ingoing_traffic": 0,
        "included_traffic": catalog::included_traffic(),
        "protection": { "delete": false, "rebuild": false },
        "primary_disk_size": s.server_type.disk,
        "volumes": [],
        "load_balancers": [],
        "placement_group": null,
    })
}

pub(crate) fn action_json(a: &ActionRec) -> Value {
    json!({
        "id": a.id,
        "command": a.command,
        "status": a.status.as_str(),
        "progress": a.progress,
        "started": timestamp(a.started),
        "finished": a.finished.map(timestamp),
        "resources": [{ "id": a.server_id, "type": "server" }],
        "error": a.error.map(|(code, message)| json!({ "code": code, "message": message })),
    })
}

/// Hetzner's `page`/`per_page` rules.
pub(crate) struct Page {
    pub page: usize,
    pub per_page: usize,
}

pub(crate) const DEFAULT_PER_PAGE: usize = 25;
pub(crate) const MAX_PER_PAGE: usize = 50;

impl Page {
    /// The slice of `total` items on this page, and the `meta` object describing it.
    pub(crate) fn apply(&self, total: usize) -> (std::ops::Range<usize>, Value) {
        let last_page = total.div_ceil(self.per_page).max(1);
        let start = (self.page - 1).saturating_mul(self.per_page).min(total);
        let end = start.saturating_add(self.per_page).min(total);
        let meta = json!({
            "pagination": {
                "page": self.page,
                "per_page": self.per_page,
                "previous_page": (self.page > 1).then(|| (self.page - 1).min(last_page)),
                "next_page": (self.page < last_page).then_some(self.page + 1),
                "last_page": last_page,
                "total_entries": total,
            }
        });
        (start..end, meta)
    }
}

/// An error in Hetzner's envelope: `{"error": {"code", "message", "details"}}`.
#[derive(Debug)]
pub(crate) struct ApiError {
    pub status: StatusCode,
    pub code: String,
    pub message: String,
    pub details: Value,
}

impl ApiError {
    pub(crate) fn new(status: StatusCode, code: &str, message: impl Into<String>) -> Self {
        ApiError {
            status,
            code: code.to_string(),
            message: message.into(),
            details: Value::Null,
        }
    }

    /// An error a fault asked for. The codes whose clients read `details` get the usual shape.
    pub(crate) fn injected(status: u16, code: &str) -> Self {
        let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let details = match code {
            "invalid_input" | "uniqueness_error" => json!({ "fields": [] }),
            "resource_limit_exceeded" => json!({ "limits": [] }),
            _ => Value::Null,
        };
        ApiError {
            status,
            code: code.to_string(),
            message: format!("{code} (injected by the fake)"),
            details,
        }
    }

    pub(crate) fn unauthorized() -> Self {
        ApiError::new(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "unable to authenticate",
        )
    }

    pub(crate) fn rate_limited() -> Self {
        ApiError::new(
            StatusCode::TOO_MANY_REQUESTS,
            "rate_limit_exceeded",
            "limit of requests per hour reached",
        )
    }

    pub(crate) fn not_found(what: &str) -> Self {
        ApiError::new(
            StatusCode::NOT_FOUND,
            "not_found",
            format!("{what} not found"),
        )
    }

    pub(crate) fn json_error(message: impl Into<String>) -> Self {
        ApiError::new(StatusCode::BAD_REQUEST, "json_error", message)
    }

    /// 400 `invalid_input` for a bad query parameter.
    pub(crate) fn invalid_query(name: &str, message: impl Into<String>) -> Self {
        let message = message.into();
        ApiError {
            details: json!({ "fields": [{ "name": name, "messages": [message.clone()] }] }),
            ..ApiError::new(StatusCode::BAD_REQUEST, "invalid_input", message)
        }
    }

    /// 422 `invalid_input` naming every invalid body field.
    pub(crate) fn invalid_fields(fields: Vec<(&'static str, String)>) -> Self {
        let fields: Vec<Value> = fields
            .iter()
            .map(|(name, message)| json!({ "name": name, "messages": [message] }))
            .collect();
        ApiError {
            details: json!({ "fields": fields }),
            ..ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "invalid_input",
                "invalid input in fields",
            )
        }
    }

    pub(crate) fn uniqueness(field: &str) -> Self {
        ApiError {
            details: json!({ "fields": [{ "name": field }] }),
            ..ApiError::new(
                StatusCode::CONFLICT,
                "uniqueness_error",
                format!("{field} is already used"),
            )
        }
    }

    pub(crate) fn locked() -> Self {
        ApiError::new(
            StatusCode::LOCKED,
            "locked",
            "server is locked by another action",
        )
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = json!({
            "error": { "code": self.code, "message": self.message, "details": self.details }
        });
        (self.status, Json(body)).into_response()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pagination(page: usize, per_page: usize, total: usize) -> (std::ops::Range<usize>, Value) {
        let (range, meta) = Page { page, per_page }.apply(total);
        (range, meta["pagination"].clone())
    }

    #[test]
    fn pages_cover_the_items_and_next_page_is_null_at_the_end() {
        let (range, p) = pagination(1, 25, 60);
        assert_eq!(range, 0..25);
        assert_eq!(p["next_page"], 2);
        assert_eq!(p["previous_page"], Value::Null);
        assert_eq!(p["last_page"], 3);
        let (range, p) = pagination(3, 25, 60);
        assert_eq!(range, 50..60);
        assert_eq!(p["next_page"], Value::Null);
        assert_eq!(p["previous_page"], 2);
        let (range, p) = pagination(1, 25, 0);
        assert_eq!(range, 0..0);
        assert_eq!(p["last_page"], 1);
        assert_eq!(p["next_page"], Value::Null);
        let (range, p) = pagination(9, 25, 30);
        assert!(range.is_empty());
        assert_eq!(p["next_page"], Value::Null);
        assert_eq!(p["previous_page"], 2);
    }
}
