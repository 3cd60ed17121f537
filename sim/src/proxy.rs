//! A transport-level fault proxy (toxiproxy's vocabulary) that sits in front of Postgres, the fake
//! Hetzner or the fake R2 on 127.0.0.1.
//!
//! Modes, switchable at any time:
//! - [`ProxyMode::Pass`]: bytes flow both ways;
//! - [`ProxyMode::Latency`]: each chunk is delayed before it is forwarded;
//! - [`ProxyMode::Reset`]: every open connection is cut and new ones are closed on accept;
//! - [`ProxyMode::Blackhole`]: connections are accepted, nothing is forwarded, nothing answers (the
//!   client times out — the "outcome unknown" case);
//! - [`ProxyMode::Down`]: the port refuses connections (the listener is closed until the mode changes).
//!
//! Every connection task is owned by the proxy and aborted when the proxy is dropped.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::JoinHandle;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProxyMode {
    Pass,
    Latency(Duration),
    Reset,
    Blackhole,
    Down,
}

/// A running proxy: `addr()` is what clients dial; `upstream` is where bytes go.
pub struct FaultProxy {
    addr: SocketAddr,
    upstream: SocketAddr,
    mode: watch::Sender<ProxyMode>,
    /// Accept loop; it re-binds the same port after `Down`. Aborted on drop.
    task: JoinHandle<()>,
    accepted: Arc<Mutex<u64>>,
}

impl FaultProxy {
    /// Listens on 127.0.0.1 (a free port) and forwards to `upstream`.
    pub async fn start(upstream: SocketAddr) -> std::io::Result<Self> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let (mode, rx) = watch::channel(ProxyMode::Pass);
        let accepted = Arc::new(Mutex::new(0));
        let task = tokio::spawn(accept_loop(
            Some(listener),
            addr,
            upstream,
            rx,
            accepted.clone(),
        ));
        Ok(Self {
            addr,
            upstream,
            mode,
            task,
            accepted,
        })
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    pub fn upstream(&self) -> SocketAddr {
        self.upstream
    }

    pub fn set_mode(&self, mode: ProxyMode) {
        self.mode.send_replace(mode);
    }

    pub fn mode(&self) -> ProxyMode {
        *self.mode.borrow()
    }

    /// Connections accepted so far (refused ones in `Down` are not counted).
    pub fn accepted(&self) -> u64 {
        *self.accepted.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn accept_loop(
    mut listener: Option<TcpListener>,
    addr: SocketAddr,
    upstream: SocketAddr,
    mut mode: watch::Receiver<ProxyMode>,
    accepted: Arc<Mutex<u64>>,
) {
    // Connection tasks live in this set: aborting the accept loop drops (aborts) them all.
    let mut connections = tokio::task::JoinSet::new();
    loop {
        let current = *mode.borrow_and_update();
        match (current, &listener) {
            (ProxyMode::Down, Some(_)) => {
                listener = None;
                connections.abort_all();
                continue;
            }
            (ProxyMode::Down, None) => {
                if mode.changed().await.is_err() {
                    return;
                }
                continue;
            }
            (_, None) => {
                // Back up: take the same port again (bounded retries: the OS may hold it briefly).
                for _ in 0..50 {
                    if let Ok(l) = TcpListener::bind(addr).await {
                        listener = Some(l);
                        break;
                    }
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
                if listener.is_none() {
                    return;
                }
                continue;
            }
            (ProxyMode::Reset, Some(_)) => connections.abort_all(),
            _ => {}
        }
        let Some(l) = &listener else { continue };
        tokio::select! {
            changed = mode.changed() => {
                if changed.is_err() {
                    return;
                }
            }
            accepted_conn = l.accept() => {
                let Ok((client, _)) = accepted_conn else { continue };
                *accepted.lock().unwrap_or_else(|p| p.into_inner()) += 1;
                let rx = mode.clone();
                connections.spawn(handle(client, upstream, rx));
            }
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
        }
    }
}

async fn handle(client: TcpStream, upstream: SocketAddr, mode: watch::Receiver<ProxyMode>) {
    // Copy the mode out: a `watch::Ref` must not be held across an await.
    let current = *mode.borrow();
    match current {
        ProxyMode::Reset | ProxyMode::Down => return,
        ProxyMode::Blackhole => {
            // Hold the socket open and silent until the mode changes or the proxy goes away.
            let mut mode = mode.clone();
            let _ = mode.wait_for(|m| *m != ProxyMode::Blackhole).await;
            return;
        }
        _ => {}
    }
    let Ok(server) = TcpStream::connect(upstream).await else {
        return;
    };
    let (cr, cw) = client.into_split();
    let (sr, sw) = server.into_split();
    tokio::join!(pump(cr, sw, mode.clone()), pump(sr, cw, mode));
}

/// Copies one direction, applying the current mode to every chunk.
async fn pump(
    mut from: tokio::net::tcp::OwnedReadHalf,
    mut to: tokio::net::tcp::OwnedWriteHalf,
    mode: watch::Receiver<ProxyMode>,
) {
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        let n = match from.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        let current = *mode.borrow();
        match current {
            ProxyMode::Reset | ProxyMode::Down => break,
            ProxyMode::Blackhole => {
                let mut m = mode.clone();
                let _ = m.wait_for(|m| *m != ProxyMode::Blackhole).await;
                break;
            }
            ProxyMode::Latency(d) => tokio::time::sleep(d).await,
            ProxyMode::Pass => {}
        }
        if to.write_all(&buf[..n]).await.is_err() {
            break;
        }
    }
    let _ = to.shutdown().await;
}
