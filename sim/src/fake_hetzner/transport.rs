//! The fake's HTTP/1.1 listener, with connection-level control that `axum::serve` does not give:
//! a handler can make its connection close without any response (the `CommitThenDrop` and
//! `DropBeforeCommit` faults), which is how a client experiences a lost response.
//!
//! Each connection gets a [`ConnectionKill`] in its requests' extensions. Firing it makes the
//! connection task drop the hyper connection (closing the socket) while the handler's future is
//! still pending, so no byte of a response is written.

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper_util::rt::TokioIo;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Notify;
use tokio::task::JoinSet;
use tower::ServiceExt;

/// Closes the connection a request arrived on, without a response.
#[derive(Clone, Debug)]
pub(crate) struct ConnectionKill(Arc<Notify>);

impl ConnectionKill {
    pub(crate) fn fire(&self) {
        // `notify_one` stores a permit if the connection task is not waiting yet.
        self.0.notify_one();
    }
}

/// Accepts connections until the task running it is aborted (by dropping the `FakeHetzner`).
/// Connection tasks live in a `JoinSet` owned by this future, so aborting it aborts them all.
pub(crate) async fn serve(listener: TcpListener, router: Router) {
    let mut connections = JoinSet::new();
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => {
                    connections.spawn(serve_connection(stream, router.clone()));
                }
                Err(e) => {
                    // E.g. out of file descriptors: back off briefly instead of spinning.
                    tracing::warn!(error = %e, "fake hetzner: accept failed");
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
            },
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
        }
    }
}

async fn serve_connection(stream: TcpStream, router: Router) {
    let _ = stream.set_nodelay(true);
    let kill = ConnectionKill(Arc::new(Notify::new()));
    let handle = kill.clone();
    let service = hyper::service::service_fn(move |request: hyper::Request<Incoming>| {
        let mut request = request.map(Body::new);
        request.extensions_mut().insert(handle.clone());
        router.clone().oneshot(request)
    });
    let connection = http1::Builder::new().serve_connection(TokioIo::new(stream), service);
    tokio::select! {
        result = connection => {
            if let Err(e) = result {
                tracing::debug!(error = %e, "fake hetzner: connection ended with an error");
            }
        }
        () = kill.0.notified() => {
            tracing::debug!("fake hetzner: dropped a connection without responding (fault)");
        }
    }
}
