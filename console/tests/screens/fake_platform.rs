//! A minimal HTTP/1.1 platform for client and runtime tests: it answers `GET /vps/fleet?page=N`
//! with whatever the test's function returns for that page, closes every connection after one
//! answer, and can be stopped and started again on the same port.

use std::net::SocketAddr;
use std::sync::Arc;

use control_plane::api::types::FleetResponse;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpSocket;
use tokio::task::JoinHandle;

pub type Pages = Arc<dyn Fn(i64) -> FleetResponse + Send + Sync>;

pub struct FakePlatform {
    pub addr: SocketAddr,
    task: JoinHandle<()>,
}

impl FakePlatform {
    /// Listens on `addr` (port 0 for any) and serves `pages`.
    pub async fn start(addr: SocketAddr, pages: Pages) -> Self {
        let socket = TcpSocket::new_v4().unwrap();
        // The same port again right after a stop.
        socket.set_reuseaddr(true).unwrap();
        socket.bind(addr).unwrap();
        let listener = socket.listen(64).unwrap();
        let addr = listener.local_addr().unwrap();
        let task = tokio::spawn(async move {
            let mut conns = tokio::task::JoinSet::new();
            loop {
                let Ok((mut stream, _)) = listener.accept().await else {
                    return;
                };
                let pages = pages.clone();
                conns.spawn(async move {
                    let mut buf = Vec::new();
                    let mut chunk = [0u8; 4096];
                    while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
                        match stream.read(&mut chunk).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => buf.extend_from_slice(&chunk[..n]),
                        }
                    }
                    let head = String::from_utf8_lossy(&buf);
                    let target = head.split_whitespace().nth(1).unwrap_or("/");
                    let page = target
                        .split(['?', '&'])
                        .find_map(|kv| kv.strip_prefix("page="))
                        .and_then(|v| v.parse().ok())
                        .unwrap_or(1);
                    let (status, body) = if target.starts_with("/vps/fleet") {
                        ("200 OK", serde_json::to_string(&pages(page)).unwrap())
                    } else {
                        ("404 Not Found", r#"{"error":"not found"}"#.to_owned())
                    };
                    let answer = format!(
                        "HTTP/1.1 {status}\r\ncontent-type: application/json\r\n\
                         content-length: {}\r\nconnection: close\r\n\r\n{body}",
                        body.len()
                    );
                    let _ = stream.write_all(answer.as_bytes()).await;
                    let _ = stream.shutdown().await;
                });
            }
        });
        Self { addr, task }
    }

    pub fn url(&self) -> url::Url {
        url::Url::parse(&format!("http://{}", self.addr)).unwrap()
    }

    /// Stops listening and drops every open connection (the task owns them all).
    pub async fn stop(self) {
        self.task.abort();
        let _ = self.task.await;
    }
}
