//! The fake's routes and the gate every request passes first.
//!
//! Gate order: correlation id → bearer token (401) → token bucket (429) → fault rules → handler.
//! Every response, errors included, carries `X-Correlation-Id` and the `RateLimit-*` headers, and
//! every request is recorded (path without query string). Unauthenticated and throttled calls
//! take no token and never trigger faults.
//!
//! Handlers parse the raw body and query themselves so that every malformed input gets the API's
//! error envelope (`json_error`, `invalid_input`) instead of a framework default.

use std::collections::BTreeSet;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, RawQuery, Request, State};
use axum::http::header::AUTHORIZATION;
use axum::http::{HeaderValue, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Extension, Json, Router};
use serde_json::{Map, Value, json};

use super::catalog;
use super::faults::{FaultEffect, FaultOp};
use super::labels::{Labels, Selector, validate_labels};
use super::model::{ActionRec, ActionStatus, NewServer, ServerRec, ServerStatus};
use super::transport::ConnectionKill;
use super::wire::{ApiError, DEFAULT_PER_PAGE, MAX_PER_PAGE, Page, action_json, server_json};
use super::{RequestRecord, Shared};

/// Largest accepted `user_data`, in bytes.
pub(crate) const MAX_USER_DATA: usize = 32 * 1024;

/// Set by the gate for every admitted request: whether an `ActionError` fault fired on it.
#[derive(Clone, Copy, Debug)]
pub(crate) struct ActionFault(bool);

type ApiResult = Result<Response, ApiError>;

pub(crate) fn router(shared: Arc<Shared>) -> Router {
    Router::new()
        .route("/v1/servers", get(list_servers).post(create_server))
        .route("/v1/servers/{id}", get(get_server).delete(delete_server))
        .route("/v1/servers/{id}/actions/{command}", post(server_action))
        .route("/v1/actions", get(list_actions))
        .route("/v1/actions/{id}", get(get_action))
        .route("/v1/server_types", get(list_server_types))
        .route("/v1/server_types/{id}", get(get_server_type))
        .route("/v1/images", get(list_images))
        .route("/v1/images/{id}", get(get_image))
        .route("/v1/locations", get(list_locations))
        .route("/v1/locations/{id}", get(get_location))
        .route("/v1/datacenters", get(list_datacenters))
        .route("/v1/datacenters/{id}", get(get_datacenter))
        .fallback(|| async { ApiError::not_found("route") })
        .layer(middleware::from_fn_with_state(shared.clone(), gate))
        .with_state(shared)
}

async fn gate(State(shared): State<Arc<Shared>>, mut request: Request, next: Next) -> Response {
    let at = shared.now();
    let correlation_id = shared.next_correlation_id();
    let method = request.method().clone();
    let path = request.uri().path().to_string();
    let op = FaultOp::classify(&method, &path);
    let authorized = request
        .headers()
        .get(AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .is_some_and(|token| token.trim() == shared.token);
    let mut record = RequestRecord {
        seq: 0, // assigned when logged
        method: method.to_string(),
        path,
        status: None,
        at,
        correlation_id: correlation_id.clone(),
        fault: None,
    };

    let (rate, mut response) = if authorized {
        let admitted = shared.bucket().try_take(at);
        match admitted {
            Err(rate) => (rate, ApiError::rate_limited().into_response()),
            Ok(rate) => {
                let effect = shared.faults().decide(op);
                record.fault = effect.as_ref().map(FaultEffect::label);
                let action_fault = matches!(effect, Some(FaultEffect::ActionError));
                request.extensions_mut().insert(ActionFault(action_fault));
                let response = match effect {
                    None | Some(FaultEffect::ActionError) => next.run(request).await,
                    Some(FaultEffect::Latency(delay)) => {
                        tokio::time::sleep(delay).await;
                        next.run(request).await
                    }
                    Some(FaultEffect::Error { status, code }) => {
                        ApiError::injected(status, &code).into_response()
                    }
                    Some(FaultEffect::CommitThenDrop) => {
                        let kill = request.extensions().get::<ConnectionKill>().cloned();
                        let committed = next.run(request).await;
                        tracing::debug!(status = %committed.status(), "fake hetzner: committed, dropping");
                        return drop_connection(&shared, record, kill).await;
                    }
                    Some(FaultEffect::CommitThenHold) => {
                        let committed = next.run(request).await;
                        // Recorded now (with the committed status), since the caller may be gone
                        // (and this future dropped with its connection) before the release.
                        let mut held = record.clone();
                        held.status = Some(committed.status().as_u16());
                        shared.record(held);
                        shared.hold_until_released().await;
                        return committed;
                    }
                    Some(FaultEffect::DropBeforeCommit) => {
                        let kill = request.extensions().get::<ConnectionKill>().cloned();
                        return drop_connection(&shared, record, kill).await;
                    }
                };
                (rate, response)
            }
        }
    } else {
        let rate = shared.bucket().peek(at);
        (rate, ApiError::unauthorized().into_response())
    };

    if response.status() == StatusCode::METHOD_NOT_ALLOWED {
        response = ApiError::not_found("route").into_response();
    }
    let headers = response.headers_mut();
    if let Ok(value) = HeaderValue::from_str(&correlation_id) {
        headers.insert("x-correlation-id", value);
    }
    headers.insert("ratelimit-limit", HeaderValue::from(rate.limit));
    headers.insert("ratelimit-remaining", HeaderValue::from(rate.remaining));
    headers.insert("ratelimit-reset", HeaderValue::from(rate.reset));
    record.status = Some(response.status().as_u16());
    tracing::debug!(
        method = %record.method,
        path = %record.path,
        status = response.status().as_u16(),
        fault = record.fault.as_deref(),
        "fake hetzner request"
    );
    shared.record(record);
    response
}

/// Records the request as unanswered and closes its connection; never returns a response.
async fn drop_connection(
    shared: &Shared,
    record: RequestRecord,
    kill: Option<ConnectionKill>,
) -> Response {
    shared.record(record);
    match kill {
        Some(kill) => {
            kill.fire();
            // The connection task drops this future together with the connection.
            std::future::pending().await
        }
        // Only when the router is driven without the fake's own listener (e.g. `oneshot`).
        None => ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "server_error",
            "connection faults need the fake's own listener",
        )
        .into_response(),
    }
}

fn parse_id(raw: &str, what: &str) -> Result<i64, ApiError> {
    raw.parse::<i64>()
        .ok()
        .filter(|id| *id > 0)
        .ok_or_else(|| ApiError::not_found(what))
}

// ---- servers -------------------------------------------------------------------------------

async fn create_server(
    State(shared): State<Arc<Shared>>,
    Extension(ActionFault(fail)): Extension<ActionFault>,
    body: Bytes,
) -> ApiResult {
    let value: Value = serde_json::from_slice(&body)
        .map_err(|e| ApiError::json_error(format!("invalid JSON in request body: {e}")))?;
    let Value::Object(fields) = value else {
        return Err(ApiError::json_error("request body must be a JSON object"));
    };
    let new = validate_create(&fields)?;
    let now = shared.now();
    let created = {
        let mut store = shared.store();
        if store.name_taken(&new.name) {
            return Err(ApiError::uniqueness("name"));
        }
        store.create(new, now, fail).map_err(|message| {
            ApiError::new(
                StatusCode::PRECONDITION_FAILED,
                "resource_unavailable",
                message,
            )
        })?
    };
    // No receiver is fine: nothing simulates hosts in this run.
    let _ = shared.created_tx.send(created.server.snapshot());
    let body = json!({
        "server": server_json(&created.server),
        "action": action_json(&created.action),
        "next_actions": created.next_actions.iter().map(action_json).collect::<Vec<_>>(),
        "root_password": created.root_password,
    });
    Ok((StatusCode::CREATED, Json(body)).into_response())
}

/// Checks a create request, collecting every invalid field into one 422.
fn validate_create(fields: &Map<String, Value>) -> Result<NewServer, ApiError> {
    let mut invalid: Vec<(&'static str, String)> = Vec::new();

    let name = match fields.get("name") {
        Some(Value::String(name)) if is_hostname(name) => Some(name.clone()),
        Some(Value::String(_)) => {
            invalid.push(("name", "name must be a valid hostname (RFC 1123)".into()));
            None
        }
        None | Some(Value::Null) => {
            invalid.push(("name", "name is required".into()));
            None
        }
        Some(_) => {
            invalid.push(("name", "name must be a string".into()));
            None
        }
    };
    let server_type = lookup(
        fields,
        &mut invalid,
        "server_type",
        true,
        catalog::server_type,
    );
    let image = lookup(fields, &mut invalid, "image", true, catalog::image);
    let location = lookup(fields, &mut invalid, "location", false, catalog::location);
    let datacenter = match fields.get("datacenter") {
        None | Some(Value::Null) => None,
        Some(Value::String(dc)) => {
            let found = catalog::LOCATIONS
                .iter()
                .find(|l| l.datacenter == dc.as_str());
            if found.is_none() {
                invalid.push(("datacenter", format!("datacenter {dc} not found")));
            }
            found
        }
        Some(_) => {
            invalid.push(("datacenter", "datacenter must be a string".into()));
            None
        }
    };

    let user_data = match fields.get("user_data") {
        None | Some(Value::Null) => None,
        Some(Value::String(data)) if data.len() <= MAX_USER_DATA => Some(data.clone()),
        Some(Value::String(data)) => {
            invalid.push((
                "user_data",
                format!(
                    "user_data is {} bytes; at most {MAX_USER_DATA} are allowed",
                    data.len()
                ),
            ));
            None
        }
        Some(_) => {
            invalid.push(("user_data", "user_data must be a string".into()));
            None
        }
    };

    let mut labels = Labels::new();
    match fields.get("labels") {
        None | Some(Value::Null) => {}
        Some(Value::Object(map)) => {
            for (key, value) in map {
                match value {
                    Value::String(v) => {
                        labels.insert(key.clone(), v.clone());
                    }
                    _ => {
                        invalid.push(("labels", format!("label {key:?} must have a string value")))
                    }
                }
            }
            invalid.extend(validate_labels(&labels).into_iter().map(|m| ("labels", m)));
        }
        Some(_) => invalid.push(("labels", "labels must be an object".into())),
    }

    let with_ssh_keys = match fields.get("ssh_keys") {
        None | Some(Value::Null) => false,
        Some(Value::Array(keys)) => !keys.is_empty(),
        Some(_) => {
            invalid.push(("ssh_keys", "ssh_keys must be an array".into()));
            false
        }
    };
    let start_after_create = match fields.get("start_after_create") {
        None | Some(Value::Null) => true,
        Some(Value::Bool(start)) => *start,
        Some(_) => {
            invalid.push((
                "start_after_create",
                "start_after_create must be a boolean".into(),
            ));
            true
        }
    };

    match (name, server_type, image) {
        (Some(name), Some(server_type), Some(image)) if invalid.is_empty() => Ok(NewServer {
            name,
            server_type,
            image,
            location: location
                .or(datacenter)
                .or_else(|| catalog::location(&json!(catalog::DEFAULT_LOCATION)))
                .expect("the default location is in the catalogue"),
            labels,
            user_data,
            start_after_create,
            with_ssh_keys,
        }),
        _ => Err(ApiError::invalid_fields(invalid)),
    }
}

/// A catalogue entry named by `field` (by name or id), noting a missing or unknown one.
fn lookup<T>(
    fields: &Map<String, Value>,
    invalid: &mut Vec<(&'static str, String)>,
    field: &'static str,
    required: bool,
    find: fn(&Value) -> Option<&'static T>,
) -> Option<&'static T> {
    match fields.get(field) {
        None | Some(Value::Null) => {
            if required {
                invalid.push((field, format!("{field} is required")));
            }
            None
        }
        Some(key) => {
            let found = find(key);
            if found.is_none() {
                invalid.push((field, format!("{field} {key} not found")));
            }
            found
        }
    }
}

/// RFC 1123 host name: dot-separated labels of 1–63 letters, digits and inner hyphens.
fn is_hostname(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 253
        && name.split('.').all(|label| {
            let bytes = label.as_bytes();
            !bytes.is_empty()
                && bytes.len() <= 63
                && bytes[0].is_ascii_alphanumeric()
                && bytes[bytes.len() - 1].is_ascii_alphanumeric()
                && bytes
                    .iter()
                    .all(|b| b.is_ascii_alphanumeric() || *b == b'-')
        })
}

/// `GET /servers`'s query: `name`, `label_selector`, `status`*, `sort`*, `page`, `per_page`.
struct ServerQuery {
    name: Option<String>,
    selector: Option<Selector>,
    statuses: Vec<ServerStatus>,
    sort: Vec<(String, bool)>,
    page: Page,
}

fn parse_page(pairs: &[(String, String)]) -> Result<Page, ApiError> {
    let mut page = Page {
        page: 1,
        per_page: DEFAULT_PER_PAGE,
    };
    for (key, value) in pairs {
        let target = match key.as_str() {
            "page" => &mut page.page,
            "per_page" => &mut page.per_page,
            _ => continue,
        };
        *target = value
            .parse::<usize>()
            .ok()
            .filter(|n| *n >= 1)
            .ok_or_else(|| {
                ApiError::invalid_query(key, format!("{key} must be a positive integer"))
            })?;
    }
    page.per_page = page.per_page.min(MAX_PER_PAGE);
    Ok(page)
}

/// `sort=field[:asc|:desc]`, repeatable; `fields` are the sortable ones.
fn parse_sort(
    pairs: &[(String, String)],
    fields: &[&str],
) -> Result<Vec<(String, bool)>, ApiError> {
    pairs
        .iter()
        .filter(|(key, _)| key == "sort")
        .map(|(_, value)| {
            let (field, descending) = match value.split_once(':') {
                None => (value.as_str(), false),
                Some((field, "asc")) => (field, false),
                Some((field, "desc")) => (field, true),
                Some(_) => {
                    return Err(ApiError::invalid_query(
                        "sort",
                        format!("invalid sort {value:?}"),
                    ));
                }
            };
            if !fields.contains(&field) {
                return Err(ApiError::invalid_query(
                    "sort",
                    format!("cannot sort by {field:?}"),
                ));
            }
            Ok((field.to_string(), descending))
        })
        .collect()
}

fn query_pairs(query: Option<&str>) -> Vec<(String, String)> {
    url::form_urlencoded::parse(query.unwrap_or_default().as_bytes())
        .into_owned()
        .collect()
}

fn parse_server_query(query: Option<&str>) -> Result<ServerQuery, ApiError> {
    let pairs = query_pairs(query);
    let mut parsed = ServerQuery {
        name: None,
        selector: None,
        statuses: Vec::new(),
        sort: parse_sort(&pairs, &["id", "name", "created"])?,
        page: parse_page(&pairs)?,
    };
    for (key, value) in &pairs {
        match key.as_str() {
            "name" => parsed.name = Some(value.clone()),
            "label_selector" if value.trim().is_empty() => {}
            "label_selector" => {
                let selector = Selector::parse(value)
                    .map_err(|e| ApiError::invalid_query("label_selector", e.to_string()))?;
                parsed.selector = Some(selector);
            }
            "status" => parsed.statuses.push(
                value
                    .parse()
                    .map_err(|e: String| ApiError::invalid_query("status", e))?,
            ),
            _ => {}
        }
    }
    Ok(parsed)
}

async fn list_servers(State(shared): State<Arc<Shared>>, RawQuery(query): RawQuery) -> ApiResult {
    let query = parse_server_query(query.as_deref())?;
    let store = shared.store();
    let mut servers: Vec<&ServerRec> = store
        .servers
        .values()
        .filter(|s| query.name.as_ref().is_none_or(|n| &s.name == n))
        .filter(|s| query.statuses.is_empty() || query.statuses.contains(&s.status))
        .filter(|s| {
            query
                .selector
                .as_ref()
                .is_none_or(|sel| sel.matches(&s.labels))
        })
        .collect();
    servers.sort_by(|a, b| {
        query
            .sort
            .iter()
            .map(|(field, descending)| {
                let order = match field.as_str() {
                    "name" => a.name.cmp(&b.name),
                    "created" => a.created.cmp(&b.created),
                    _ => a.id.cmp(&b.id),
                };
                if *descending { order.reverse() } else { order }
            })
            .find(|order| order.is_ne())
            .unwrap_or_else(|| a.id.cmp(&b.id))
    });
    let (range, meta) = query.page.apply(servers.len());
    let page: Vec<Value> = servers[range].iter().map(|s| server_json(s)).collect();
    Ok(Json(json!({ "servers": page, "meta": meta })).into_response())
}

async fn get_server(State(shared): State<Arc<Shared>>, Path(id): Path<String>) -> ApiResult {
    let id = parse_id(&id, "server")?;
    let now = shared.now();
    let mut store = shared.store();
    if !store.poll_server(id, now) {
        return Err(ApiError::not_found("server"));
    }
    Ok(Json(json!({ "server": server_json(&store.servers[&id]) })).into_response())
}

async fn delete_server(
    State(shared): State<Arc<Shared>>,
    Extension(ActionFault(fail)): Extension<ActionFault>,
    Path(id): Path<String>,
) -> ApiResult {
    let id = parse_id(&id, "server")?;
    let now = shared.now();
    let action = shared
        .store()
        .delete(id, now, fail)
        .ok_or_else(|| ApiError::not_found("server"))?;
    Ok(Json(json!({ "action": action_json(&action) })).into_response())
}

async fn server_action(
    State(shared): State<Arc<Shared>>,
    Extension(ActionFault(fail)): Extension<ActionFault>,
    Path((id, command)): Path<(String, String)>,
) -> ApiResult {
    let id = parse_id(&id, "server")?;
    let command = match command.as_str() {
        "poweron" => "start_server",
        "poweroff" => "stop_server",
        "shutdown" => "shutdown_server",
        "reboot" => "reboot_server",
        _ => return Err(ApiError::not_found("action")),
    };
    let now = shared.now();
    let mut store = shared.store();
    match store.servers.get(&id) {
        None => return Err(ApiError::not_found("server")),
        Some(server) if server.is_locked() => return Err(ApiError::locked()),
        Some(_) => {}
    }
    let action = store.power(id, command, now, fail);
    Ok((
        StatusCode::CREATED,
        Json(json!({ "action": action_json(&action) })),
    )
        .into_response())
}

// ---- actions -------------------------------------------------------------------------------

async fn get_action(State(shared): State<Arc<Shared>>, Path(id): Path<String>) -> ApiResult {
    let id = parse_id(&id, "action")?;
    let now = shared.now();
    let actions = shared.store().poll_actions(&BTreeSet::from([id]), now);
    match actions.first() {
        Some(action) => Ok(Json(json!({ "action": action_json(action) })).into_response()),
        None => Err(ApiError::not_found("action")),
    }
}

/// `GET /actions?id=…&id=…` polls the named actions (the Go client's wait loop); without `id`
/// it lists every action and advances nothing.
async fn list_actions(State(shared): State<Arc<Shared>>, RawQuery(query): RawQuery) -> ApiResult {
    let pairs = query_pairs(query.as_deref());
    let page = parse_page(&pairs)?;
    let sort = parse_sort(&pairs, &["id", "command", "status", "started", "finished"])?;
    let mut ids = BTreeSet::new();
    let mut statuses = Vec::new();
    for (key, value) in &pairs {
        match key.as_str() {
            "id" => {
                ids.insert(value.parse::<i64>().map_err(|_| {
                    ApiError::invalid_query("id", format!("id {value:?} is not an integer"))
                })?);
            }
            "status" => statuses.push(match value.as_str() {
                "running" => ActionStatus::Running,
                "success" => ActionStatus::Success,
                "error" => ActionStatus::Error,
                _ => {
                    return Err(ApiError::invalid_query(
                        "status",
                        format!("unknown status {value:?}"),
                    ));
                }
            }),
            _ => {}
        }
    }
    let now = shared.now();
    let mut actions: Vec<ActionRec> = {
        let mut store = shared.store();
        if ids.is_empty() {
            store.actions.values().cloned().collect()
        } else {
            store.poll_actions(&ids, now)
        }
    };
    actions.retain(|a| statuses.is_empty() || statuses.contains(&a.status));
    actions.sort_by(|a, b| {
        sort.iter()
            .map(|(field, descending)| {
                let order = match field.as_str() {
                    "command" => a.command.cmp(b.command),
                    "status" => a.status.as_str().cmp(b.status.as_str()),
                    "started" => a.started.cmp(&b.started),
                    "finished" => a.finished.cmp(&b.finished),
                    _ => a.id.cmp(&b.id),
                };
                if *descending { order.reverse() } else { order }
            })
            .find(|order| order.is_ne())
            .unwrap_or_else(|| a.id.cmp(&b.id))
    });
    let (range, meta) = page.apply(actions.len());
    let page: Vec<Value> = actions[range].iter().map(action_json).collect();
    Ok(Json(json!({ "actions": page, "meta": meta })).into_response())
}

// ---- catalogue (read-only; clients such as the hcloud CLI resolve names through these) -------

/// A name-filtered, paginated listing of catalogue objects under `key`.
fn catalogue_page<T>(
    query: Option<&str>,
    key: &str,
    items: &'static [T],
    name: fn(&T) -> &str,
    render: impl Fn(&T) -> Value,
) -> ApiResult {
    let pairs = query_pairs(query);
    let page = parse_page(&pairs)?;
    let wanted = pairs
        .iter()
        .find(|(k, _)| k == "name")
        .map(|(_, v)| v.as_str());
    let matching: Vec<&T> = items
        .iter()
        .filter(|item| wanted.is_none_or(|w| name(item) == w))
        .collect();
    let (range, meta) = page.apply(matching.len());
    let page: Vec<Value> = matching[range].iter().map(|item| render(item)).collect();
    Ok(Json(json!({ key: page, "meta": meta })).into_response())
}

/// One catalogue object by numeric id, under `key`.
fn catalogue_get<T>(
    raw_id: &str,
    key: &str,
    find: fn(&Value) -> Option<&'static T>,
    render: impl Fn(&T) -> Value,
) -> ApiResult {
    let id = parse_id(raw_id, key)?;
    let item = find(&json!(id)).ok_or_else(|| ApiError::not_found(key))?;
    Ok(Json(json!({ key: render(item) })).into_response())
}

async fn list_server_types(RawQuery(query): RawQuery) -> ApiResult {
    catalogue_page(
        query.as_deref(),
        "server_types",
        catalog::SERVER_TYPES,
        |t| t.name,
        catalog::server_type_json,
    )
}

async fn get_server_type(Path(id): Path<String>) -> ApiResult {
    catalogue_get(
        &id,
        "server_type",
        catalog::server_type,
        catalog::server_type_json,
    )
}

/// The catalogue holds one image per OS; it is shown with the architecture asked for
/// (`?architecture=arm`), x86 by default.
async fn list_images(RawQuery(query): RawQuery) -> ApiResult {
    let architecture = if query_pairs(query.as_deref())
        .iter()
        .any(|(k, v)| k == "architecture" && v == "arm")
    {
        "arm"
    } else {
        "x86"
    };
    catalogue_page(
        query.as_deref(),
        "images",
        catalog::IMAGES,
        |i| i.name,
        |i| catalog::image_json(i, architecture),
    )
}

async fn get_image(Path(id): Path<String>) -> ApiResult {
    catalogue_get(&id, "image", catalog::image, |i| {
        catalog::image_json(i, "x86")
    })
}

async fn list_locations(RawQuery(query): RawQuery) -> ApiResult {
    catalogue_page(
        query.as_deref(),
        "locations",
        catalog::LOCATIONS,
        |l| l.name,
        catalog::location_json,
    )
}

async fn get_location(Path(id): Path<String>) -> ApiResult {
    catalogue_get(&id, "location", catalog::location, catalog::location_json)
}

async fn list_datacenters(RawQuery(query): RawQuery) -> ApiResult {
    catalogue_page(
        query.as_deref(),
        "datacenters",
        catalog::LOCATIONS,
        |l| l.datacenter,
        catalog::datacenter_json,
    )
}

async fn get_datacenter(Path(id): Path<String>) -> ApiResult {
    let id = parse_id(&id, "datacenter")?;
    let location = catalog::LOCATIONS
        .iter()
        .find(|l| l.datacenter_id == id)
        .ok_or_else(|| ApiError::not_found("datacenter"))?;
    Ok(Json(json!({ "datacenter": catalog::datacenter_json(location) })).into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hostnames_follow_rfc_1123() {
        for good in [
            "a",
            "matrix-u1",
            "u1.fleet.example",
            "0abc",
            &"a".repeat(63),
        ] {
            assert!(is_hostname(good), "{good}");
        }
        for bad in ["", "-a", "a-", "a_b", "a..b", "a.", "ünï", &"a".repeat(64)] {
            assert!(!is_hostname(bad), "{bad}");
        }
    }

    #[test]
    fn sort_and_page_parameters_are_validated() {
        let pairs = query_pairs(Some("sort=name:desc&sort=id&page=2&per_page=500"));
        assert_eq!(
            parse_sort(&pairs, &["id", "name"]).unwrap(),
            [("name".to_string(), true), ("id".to_string(), false)]
        );
        let page = parse_page(&pairs).unwrap();
        assert_eq!((page.page, page.per_page), (2, MAX_PER_PAGE));
        assert!(parse_sort(&query_pairs(Some("sort=ram")), &["id"]).is_err());
        assert!(parse_sort(&query_pairs(Some("sort=id:up")), &["id"]).is_err());
        assert!(parse_page(&query_pairs(Some("page=0"))).is_err());
        assert!(parse_page(&query_pairs(Some("per_page=x"))).is_err());
    }
}
