//! Bounded waiting: poll a condition until it holds, with the last "not yet" reason in the panic.

use std::future::Future;
use std::time::{Duration, Instant};

/// Polls `check` every 20 ms for at most `limit`. `check` returns `Ok(value)` when done, or
/// `Err(reason)` to keep waiting; the last reason is reported when the limit passes.
pub async fn wait_for<T, F, Fut>(what: &str, limit: Duration, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, String>>,
{
    let started = Instant::now();
    loop {
        match check().await {
            Ok(v) => return v,
            Err(reason) if started.elapsed() >= limit => {
                panic!("timed out after {limit:?} waiting for {what}: {reason}")
            }
            Err(_) => tokio::time::sleep(Duration::from_millis(20)).await,
        }
    }
}
