//! The fake R2's HTTP/1.1 listener: a hyper accept loop around the s3s service, with the two
//! things `s3s` alone does not give:
//!
//! - **connection control**: each request carries a [`ConnectionKill`] in its extensions; firing
//!   it makes the connection task drop the hyper connection (closing the socket) while the request
//!   is still pending, so no byte of a response is written (the `Reset` faults);
//! - **the request log**: each request carries a [`RequestNote`] that the gate and the operations
//!   fill in (operation, bucket, key, fault), and the log entry is written when the response
//!   leaves — or, through a drop guard, when the connection is killed (status `None`).

use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper_util::rt::TokioIo;
use s3s::service::S3Service;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Notify;
use tokio::task::JoinSet;

use super::{R2RequestRecord, Shared};

/// Closes the connection a request arrived on, without a response.
#[derive(Clone, Debug)]
pub(crate) struct ConnectionKill(Arc<Notify>);

impl ConnectionKill {
    pub(crate) fn fire(&self) {
        // `notify_one` stores a permit if the connection task is not waiting yet.
        self.0.notify_one();
    }
}

/// What the gate and the operations learn about a request, for its log entry.
#[derive(Clone, Debug, Default)]
pub(crate) struct RequestNote(Arc<Mutex<NoteData>>);

#[derive(Debug, Default)]
pub(crate) struct NoteData {
    pub(crate) op: Option<String>,
    pub(crate) bucket: Option<String>,
    pub(crate) key: Option<String>,
    pub(crate) fault: Option<String>,
}

impl RequestNote {
    pub(crate) fn update(&self, f: impl FnOnce(&mut NoteData)) {
        f(&mut self.0.lock().unwrap_or_else(PoisonError::into_inner));
    }
}

/// Writes the request's log entry when dropped: after the response (status set), or when the
/// connection is killed mid-request (status `None`).
struct RecordGuard {
    shared: Arc<Shared>,
    record: Option<R2RequestRecord>,
    note: RequestNote,
}

impl Drop for RecordGuard {
    fn drop(&mut self) {
        if let Some(mut record) = self.record.take() {
            let note =
                std::mem::take(&mut *self.note.0.lock().unwrap_or_else(PoisonError::into_inner));
            record.op = note.op;
            record.bucket = note.bucket;
            record.key = note.key;
            record.fault = note.fault;
            self.shared.record(record);
        }
    }
}

/// Accepts connections until the task running it is aborted (by dropping or stopping the fake).
/// Connection tasks live in a `JoinSet` owned by this future, so aborting it aborts them all.
pub(crate) async fn serve(listener: TcpListener, service: S3Service, shared: Arc<Shared>) {
    let mut connections = JoinSet::new();
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => {
                    connections.spawn(serve_connection(stream, service.clone(), shared.clone()));
                }
                Err(e) => {
                    // E.g. out of file descriptors: back off briefly instead of spinning.
                    tracing::warn!(error = %e, "fake r2: accept failed");
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
            },
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
        }
    }
}

fn header(request: &hyper::Request<Incoming>, name: &str) -> Option<String> {
    request
        .headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
}

async fn serve_connection(stream: TcpStream, service: S3Service, shared: Arc<Shared>) {
    let _ = stream.set_nodelay(true);
    let kill = ConnectionKill(Arc::new(Notify::new()));
    let handle = kill.clone();
    let svc = hyper::service::service_fn(move |mut request: hyper::Request<Incoming>| {
        let note = RequestNote::default();
        let mut guard = RecordGuard {
            shared: shared.clone(),
            record: Some(R2RequestRecord {
                seq: 0, // assigned when logged
                method: request.method().to_string(),
                path: request.uri().path().to_owned(),
                op: None,
                bucket: None,
                key: None,
                status: None,
                at: shared.now(),
                invocation_id: header(&request, "amz-sdk-invocation-id"),
                attempt: header(&request, "amz-sdk-request").and_then(|v| parse_attempt(&v)),
                fault: None,
            }),
            note: note.clone(),
        };
        request.extensions_mut().insert(handle.clone());
        request.extensions_mut().insert(note);
        let service = service.clone();
        async move {
            let response = service.call(request.map(s3s::Body::from)).await;
            if let (Some(record), Ok(response)) = (guard.record.as_mut(), &response) {
                record.status = Some(response.status().as_u16());
            }
            drop(guard);
            response
        }
    });
    let connection = http1::Builder::new().serve_connection(TokioIo::new(stream), svc);
    tokio::select! {
        result = connection => {
            if let Err(e) = result {
                tracing::debug!(error = %e, "fake r2: connection ended with an error");
            }
        }
        () = kill.0.notified() => {
            tracing::debug!("fake r2: dropped a connection without responding (fault)");
        }
    }
}

/// The attempt number from `amz-sdk-request: attempt=2; max=3`.
fn parse_attempt(value: &str) -> Option<u32> {
    value
        .split(';')
        .find_map(|part| part.trim().strip_prefix("attempt="))
        .and_then(|n| n.trim().parse().ok())
}

#[cfg(test)]
mod tests {
    use super::parse_attempt;

    #[test]
    fn attempt_numbers_are_read_from_the_sdk_request_header() {
        assert_eq!(parse_attempt("attempt=2; max=3"), Some(2));
        assert_eq!(
            parse_attempt("ttl=20250101T000000Z; attempt=3; max=3"),
            Some(3)
        );
        assert_eq!(parse_attempt("max=3"), None);
    }
}
