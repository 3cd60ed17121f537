//! Injected time and identity.
//!
//! The control plane never reads the wall clock or the OS random generator directly: it asks a
//! [`Clock`] and an [`IdSource`]. Production uses [`SystemClock`] and [`RandomIds`]; the simulator
//! uses [`ManualClock`] and [`SeededIds`] so that a run can be replayed exactly from a seed.

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, Utc};
use rand::{Rng, RngCore, SeedableRng};
use rand_chacha::ChaCha20Rng;
use tokio::sync::watch;
use uuid::Uuid;

use crate::ids::MachineId;

pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// A source of "now" and of timers on the same time line.
pub trait Clock: Send + Sync + 'static {
    fn now(&self) -> DateTime<Utc>;
    /// Resolves once `now()` has moved forward by at least `d`.
    fn sleep(&self, d: Duration) -> BoxFuture<'static, ()>;
}

/// The wall clock and tokio's timers.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    #[allow(clippy::disallowed_methods)] // the one place the wall clock is read
    fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }
    fn sleep(&self, d: Duration) -> BoxFuture<'static, ()> {
        Box::pin(tokio::time::sleep(d))
    }
}

/// A clock that only moves when told to. Sleepers wake when `advance`/`set` passes their deadline.
///
/// Real sockets keep real timeouts (tokio's paused time would fire them spuriously); only the control
/// plane's notion of "now" — token TTLs, staleness, backoff schedules, rate-limit refill — is manual.
#[derive(Clone)]
pub struct ManualClock {
    /// The sender side lives here; every `sleep` holds a receiver and re-checks on each change.
    now: Arc<watch::Sender<DateTime<Utc>>>,
}

impl ManualClock {
    pub fn new(start: DateTime<Utc>) -> Self {
        let (tx, _rx) = watch::channel(start);
        Self { now: Arc::new(tx) }
    }
    pub fn advance(&self, d: Duration) {
        let step = chrono::Duration::from_std(d).expect("duration fits");
        self.now.send_modify(|now| *now += step);
    }
    /// Moves to `t`; never backwards.
    pub fn set(&self, t: DateTime<Utc>) {
        self.now.send_modify(|now| {
            if t > *now {
                *now = t;
            }
        });
    }
}

impl Clock for ManualClock {
    fn now(&self) -> DateTime<Utc> {
        *self.now.borrow()
    }
    fn sleep(&self, d: Duration) -> BoxFuture<'static, ()> {
        let deadline = self.now() + chrono::Duration::from_std(d).unwrap_or(chrono::Duration::MAX);
        let mut rx = self.now.subscribe();
        Box::pin(async move {
            // wait_for returns an error only when the sender is gone; then time stops for good and
            // the sleeper is released rather than hanging forever.
            let _ = rx.wait_for(|now| *now >= deadline).await;
        })
    }
}

/// Where new machine ids and secret tokens come from.
pub trait IdSource: Send + Sync + 'static {
    fn machine_id(&self) -> MachineId;
    /// 32 random bytes for a registration token or a generated password.
    fn secret_bytes(&self) -> [u8; 32];
}

/// Operating-system randomness.
#[derive(Debug, Default, Clone, Copy)]
pub struct RandomIds;

impl IdSource for RandomIds {
    fn machine_id(&self) -> MachineId {
        MachineId::from_uuid(Uuid::new_v4())
    }
    fn secret_bytes(&self) -> [u8; 32] {
        let mut b = [0u8; 32];
        rand::rng().fill_bytes(&mut b);
        b
    }
}

/// A deterministic stream from a seed: the same seed gives the same ids in the same order.
pub struct SeededIds {
    /// std mutex: held for a few nanoseconds, never across an await.
    rng: Mutex<ChaCha20Rng>,
}

impl SeededIds {
    pub fn new(seed: u64) -> Self {
        Self {
            rng: Mutex::new(ChaCha20Rng::seed_from_u64(seed)),
        }
    }
}

impl IdSource for SeededIds {
    fn machine_id(&self) -> MachineId {
        let bytes: [u8; 16] = self.rng.lock().expect("rng lock").random();
        MachineId::from_uuid(uuid::Builder::from_random_bytes(bytes).into_uuid())
    }
    fn secret_bytes(&self) -> [u8; 32] {
        self.rng.lock().expect("rng lock").random()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn manual_clock_sleep_wakes_only_when_advanced_past_the_deadline() {
        let clock = ManualClock::new(DateTime::UNIX_EPOCH);
        let sleeper = tokio::spawn(clock.sleep(Duration::from_secs(10)));
        clock.advance(Duration::from_secs(5));
        tokio::task::yield_now().await;
        assert!(!sleeper.is_finished());
        clock.advance(Duration::from_secs(5));
        tokio::time::timeout(Duration::from_secs(1), sleeper)
            .await
            .unwrap()
            .unwrap();
    }

    #[test]
    fn seeded_ids_repeat_for_the_same_seed() {
        let (a, b) = (SeededIds::new(7), SeededIds::new(7));
        assert_eq!(a.machine_id(), b.machine_id());
        assert_eq!(a.secret_bytes(), b.secret_bytes());
        assert_ne!(
            SeededIds::new(8).machine_id(),
            SeededIds::new(7).machine_id()
        );
    }
}
