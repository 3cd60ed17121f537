//! Fault injection for the fake Hetzner API: which calls fail, when, and how.
//!
//! A [`FaultRule`] names the operation it watches ([`FaultOp`]), when it fires ([`FaultWhen`]),
//! and what happens ([`FaultEffect`]). Rules are consulted in the order they were injected, for
//! authenticated calls that the rate limiter admitted. Each rule counts the matching calls it has
//! seen since it was injected, independently of other rules; of the rules that fire on a call,
//! the first one injected wins. `Probability` rules draw from a generator seeded by the fake's
//! seed and the rule's injection number, so the same seed and the same calls fire the same faults.

use std::time::Duration;

use axum::http::Method;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// The API operation a rule watches.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum FaultOp {
    /// `POST /servers`.
    CreateServer,
    /// `GET /servers/{id}`.
    GetServer,
    /// `GET /servers`.
    ListServers,
    /// `DELETE /servers/{id}`.
    DeleteServer,
    /// `POST /servers/{id}/actions/{poweron|poweroff|shutdown|reboot}`.
    ServerAction,
    /// `GET /actions/{id}`.
    GetAction,
    /// `GET /actions`.
    ListActions,
    /// Every call, including unknown routes.
    Any,
}

impl FaultOp {
    /// The operation a request is, `None` for routes the fake does not serve.
    pub(crate) fn classify(method: &Method, path: &str) -> Option<FaultOp> {
        let rest = path.strip_prefix("/v1/")?;
        let segments: Vec<&str> = rest.trim_end_matches('/').split('/').collect();
        match (method, segments.as_slice()) {
            (&Method::POST, ["servers"]) => Some(FaultOp::CreateServer),
            (&Method::GET, ["servers"]) => Some(FaultOp::ListServers),
            (&Method::GET, ["servers", _]) => Some(FaultOp::GetServer),
            (&Method::DELETE, ["servers", _]) => Some(FaultOp::DeleteServer),
            (&Method::POST, ["servers", _, "actions", _]) => Some(FaultOp::ServerAction),
            (&Method::GET, ["actions"]) => Some(FaultOp::ListActions),
            (&Method::GET, ["actions", _]) => Some(FaultOp::GetAction),
            _ => None,
        }
    }

    fn covers(self, op: Option<FaultOp>) -> bool {
        self == FaultOp::Any || op == Some(self)
    }
}

/// When a rule fires, counting matching calls from the moment it was injected.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum FaultWhen {
    /// On the n-th matching call only (1-based).
    Nth(u32),
    /// On each of the next n matching calls.
    Times(u32),
    /// On every matching call.
    Always,
    /// On each matching call with probability `p` (0.0..=1.0), drawn from the seeded generator.
    Probability { p: f64 },
}

impl FaultWhen {
    /// Whether the `seen`-th matching call since injection (1-based) fires. Shared by every fake, so
    /// a scenario's `nth`/`times`/`probability` mean the same thing whichever component they target.
    pub(crate) fn fires(self, seen: u32, rng: &mut ChaCha8Rng) -> bool {
        match self {
            FaultWhen::Nth(n) => seen == n,
            FaultWhen::Times(n) => seen <= n,
            FaultWhen::Always => true,
            FaultWhen::Probability { p } => rng.random_bool(p.clamp(0.0, 1.0)),
        }
    }
}

/// The random stream of the `injected`-th rule of a fault table seeded with `seed`: each rule draws
/// from its own stream, so adding a rule never shifts the choices of another.
pub(crate) fn rule_rng(seed: u64, injected: u64) -> ChaCha8Rng {
    ChaCha8Rng::seed_from_u64(seed ^ injected.wrapping_mul(0x9E37_79B9_7F4A_7C15))
}

/// What a firing rule does to the call.
#[derive(Clone, Debug, PartialEq)]
pub enum FaultEffect {
    /// Answer with this status and error `code` (in the API's envelope) without doing anything.
    Error { status: u16, code: String },
    /// Wait this long (wall time: it exists to trip client timeouts), then serve normally.
    Latency(Duration),
    /// Perform the operation, then close the connection without any response: the caller cannot
    /// know the outcome.
    CommitThenDrop,
    /// Close the connection without doing anything or responding.
    DropBeforeCommit,
    /// Perform the operation, but the action it starts ends in status `error` (calls that start
    /// no action are served normally).
    ActionError,
    /// Perform the operation, then hold the response until [`super::FakeHetzner::release_held`]:
    /// the call is deterministically in flight with its effect committed, and
    /// [`super::FakeHetzner::wait_held`] tells whoever waits that it got there (no wall-time race).
    CommitThenHold,
}

impl FaultEffect {
    /// A short label for request records and histories.
    pub fn label(&self) -> String {
        match self {
            FaultEffect::Error { status, code } => format!("error {status} {code}"),
            FaultEffect::Latency(d) => format!("latency {d:?}"),
            FaultEffect::CommitThenDrop => "commit_then_drop".into(),
            FaultEffect::DropBeforeCommit => "drop_before_commit".into(),
            FaultEffect::ActionError => "action_error".into(),
            FaultEffect::CommitThenHold => "commit_then_hold".into(),
        }
    }
}

/// One injected fault.
#[derive(Clone, Debug, PartialEq)]
pub struct FaultRule {
    pub op: FaultOp,
    pub when: FaultWhen,
    pub effect: FaultEffect,
}

impl FaultRule {
    pub fn new(op: FaultOp, when: FaultWhen, effect: FaultEffect) -> Self {
        FaultRule { op, when, effect }
    }

    /// Shorthand for an API error, e.g. `FaultRule::error(CreateServer, Nth(1), 503, "unavailable")`.
    pub fn error(op: FaultOp, when: FaultWhen, status: u16, code: &str) -> Self {
        FaultRule::new(
            op,
            when,
            FaultEffect::Error {
                status,
                code: code.to_string(),
            },
        )
    }
}

#[derive(Debug)]
struct ActiveRule {
    rule: FaultRule,
    /// Matching calls seen since injection.
    seen: u32,
    rng: ChaCha8Rng,
}

impl ActiveRule {
    /// Counts a matching call and says whether the rule fires on it.
    fn observe(&mut self) -> bool {
        self.seen = self.seen.saturating_add(1);
        self.rule.when.fires(self.seen, &mut self.rng)
    }
}

/// The injected rules of one fake.
#[derive(Debug)]
pub(crate) struct FaultTable {
    seed: u64,
    /// Rules injected so far (including cleared ones): seeds each rule's generator.
    injected: u64,
    rules: Vec<ActiveRule>,
}

impl FaultTable {
    pub(crate) fn new(seed: u64) -> Self {
        FaultTable {
            seed,
            injected: 0,
            rules: Vec::new(),
        }
    }

    pub(crate) fn inject(&mut self, rule: FaultRule) {
        let rng = rule_rng(self.seed, self.injected);
        self.injected += 1;
        self.rules.push(ActiveRule { rule, seen: 0, rng });
    }

    pub(crate) fn clear(&mut self) {
        self.rules.clear();
    }

    /// The effect to apply to a call of `op`, if any rule fires.
    pub(crate) fn decide(&mut self, op: Option<FaultOp>) -> Option<FaultEffect> {
        let mut fired = None;
        for active in self.rules.iter_mut().filter(|r| r.rule.op.covers(op)) {
            if active.observe() && fired.is_none() {
                fired = Some(active.rule.effect.clone());
            }
        }
        fired
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(code: &str) -> FaultEffect {
        FaultEffect::Error {
            status: 503,
            code: code.into(),
        }
    }

    #[test]
    fn requests_are_classified_by_method_and_path() {
        let cases = [
            (Method::POST, "/v1/servers", Some(FaultOp::CreateServer)),
            (Method::GET, "/v1/servers", Some(FaultOp::ListServers)),
            (Method::GET, "/v1/servers/42", Some(FaultOp::GetServer)),
            (
                Method::DELETE,
                "/v1/servers/42",
                Some(FaultOp::DeleteServer),
            ),
            (
                Method::POST,
                "/v1/servers/42/actions/reboot",
                Some(FaultOp::ServerAction),
            ),
            (Method::GET, "/v1/actions", Some(FaultOp::ListActions)),
            (Method::GET, "/v1/actions/7", Some(FaultOp::GetAction)),
            (Method::GET, "/v1/images", None),
            (Method::GET, "/servers", None),
        ];
        for (method, path, expected) in cases {
            assert_eq!(
                FaultOp::classify(&method, path),
                expected,
                "{method} {path}"
            );
        }
    }

    #[test]
    fn nth_fires_exactly_once_on_the_nth_matching_call() {
        let mut table = FaultTable::new(1);
        table.inject(FaultRule::new(
            FaultOp::CreateServer,
            FaultWhen::Nth(2),
            err("a"),
        ));
        let fired: Vec<bool> = (0..5)
            .map(|_| {
                // Calls of other operations do not count.
                assert!(table.decide(Some(FaultOp::GetServer)).is_none());
                table.decide(Some(FaultOp::CreateServer)).is_some()
            })
            .collect();
        assert_eq!(fired, [false, true, false, false, false]);
    }

    #[test]
    fn times_fires_on_the_next_n_calls_and_the_first_injected_rule_wins() {
        let mut table = FaultTable::new(1);
        table.inject(FaultRule::new(
            FaultOp::Any,
            FaultWhen::Times(2),
            err("first"),
        ));
        table.inject(FaultRule::new(
            FaultOp::ListServers,
            FaultWhen::Always,
            err("second"),
        ));
        let effects: Vec<_> = (0..3)
            .map(|_| table.decide(Some(FaultOp::ListServers)))
            .collect();
        assert_eq!(
            effects,
            [Some(err("first")), Some(err("first")), Some(err("second"))]
        );
        table.clear();
        assert_eq!(table.decide(Some(FaultOp::ListServers)), None);
    }

    #[test]
    fn probability_is_reproducible_from_the_seed() {
        let run = |seed| {
            let mut table = FaultTable::new(seed);
            table.inject(FaultRule::new(
                FaultOp::Any,
                FaultWhen::Probability { p: 0.3 },
                err("x"),
            ));
            (0..200)
                .map(|_| table.decide(None).is_some())
                .collect::<Vec<_>>()
        };
        assert_eq!(run(7), run(7));
        assert_ne!(run(7), run(8));
        let hits = run(7).iter().filter(|&&f| f).count();
        assert!((30..=90).contains(&hits), "{hits} of 200 at p=0.3");
    }
}
