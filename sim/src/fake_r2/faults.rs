//! Fault injection for the fake R2: which calls fail, when, and how.
//!
//! A [`R2FaultRule`] names the operation it watches ([`R2Op`]), optionally a key prefix, when it
//! fires ([`FaultWhen`], shared with the fake Hetzner so scenario files use one vocabulary) and
//! what happens ([`R2FaultEffect`]).
//!
//! # Counting logical calls, not HTTP requests
//! The SDK retries a failing call up to 3 times (botocore, behind the AWS CLI, does the same), and
//! every attempt of one call carries the same `amz-sdk-invocation-id` header. A rule remembers, per
//! invocation id, whether it fired on the call's first attempt:
//! - a retry of a call the rule already saw is **not counted again** (`Nth`, `Times` and
//!   `Probability` count logical calls);
//! - with [`Attempts::All`] (the default) a retry gets the same decision as the first attempt, so
//!   `Times(1)` of a 500 fails one logical call completely, retries included, and the next call
//!   succeeds;
//! - with [`Attempts::First`] only the first attempt is hit and the retries go through: the
//!   transient blip that the SDK's retry hides from the caller.
//!
//! A request without the header counts as a call of its own. That includes the AWS CLI v2 (the
//! Debian `awscli` 2.9 package): its bundled botocore sends no invocation id, so `Times(1)` costs
//! it one attempt and its own retry then succeeds. The memory is bounded
//! ([`MAX_REMEMBERED_CALLS`] ids per rule, oldest forgotten first).
//!
//! # Order and determinism
//! Rules are consulted in injection order for every request that passed the signature check. Each
//! matching rule counts the call; of the rules that fire, the first injected wins. `Probability`
//! rules draw from a generator seeded by the fake's seed and the rule's injection number, so the
//! same seed and the same calls fire the same faults.

use std::collections::{HashMap, VecDeque};
use std::time::Duration;

use rand_chacha::ChaCha8Rng;

pub use crate::fake_hetzner::FaultWhen;
use crate::fake_hetzner::faults::rule_rng;

/// Invocation ids a rule remembers (bounds memory in long runs; a retry comes within seconds).
pub const MAX_REMEMBERED_CALLS: usize = 4096;

/// The S3 operation a rule watches.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum R2Op {
    PutObject,
    GetObject,
    HeadObject,
    ListObjectsV2,
    DeleteObject,
    CopyObject,
    /// Every operation, bucket-level ones (CreateBucket, HeadBucket, ListBuckets) included.
    Any,
}

impl R2Op {
    /// The operation named by s3s (`S3Operation::name`); `None` for the bucket-level ones.
    pub(crate) fn from_s3s_name(name: &str) -> Option<R2Op> {
        Some(match name {
            "PutObject" => R2Op::PutObject,
            "GetObject" => R2Op::GetObject,
            "HeadObject" => R2Op::HeadObject,
            "ListObjectsV2" => R2Op::ListObjectsV2,
            "DeleteObject" => R2Op::DeleteObject,
            "CopyObject" => R2Op::CopyObject,
            _ => return None,
        })
    }

    fn covers(self, op: Option<R2Op>) -> bool {
        self == R2Op::Any || op == Some(self)
    }
}

/// Which attempts of a chosen logical call the effect applies to.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Attempts {
    /// Every attempt (retries included): the call fails as a whole.
    #[default]
    All,
    /// Only the first attempt: a retrying client recovers.
    First,
}

/// What a firing rule does to the call.
#[derive(Clone, Debug, PartialEq)]
pub enum R2FaultEffect {
    /// Answer this status with this S3 error `code` (XML body) without doing anything, e.g.
    /// `500 InternalError` or `503 SlowDown` (see [`R2FaultRule::internal_error`],
    /// [`R2FaultRule::slow_down`]).
    Error { status: u16, code: String },
    /// Wait this long (wall time: it exists to trip client timeouts), then serve normally.
    Latency(Duration),
    /// Close the connection without answering and without doing anything (for a PUT, before its
    /// body is read: nothing is stored).
    Reset,
    /// Perform the operation, then close the connection without answering: the caller cannot
    /// know that the write (or delete) happened.
    CommitThenReset,
    /// Writes (PutObject, CopyObject) answer 200 but store nothing; DeleteObject answers 204 but
    /// deletes nothing. Other operations are served normally.
    LostWrite,
    /// GetObject returns the first half of the body with a matching `Content-Length`: a silently
    /// short object that only a size or digest check catches. Other operations: served normally.
    TruncatedBody,
    /// GetObject returns the body with its middle byte inverted (an empty body becomes one byte):
    /// same length, different digest. Other operations: served normally.
    CorruptedBody,
    /// GetObject announces the full `Content-Length`, sends the first half of the body, then
    /// closes the connection: the caller's body read fails. Other operations: served normally.
    ResetMidBody,
}

impl R2FaultEffect {
    /// A short label for request records and histories.
    pub fn label(&self) -> String {
        match self {
            R2FaultEffect::Error { status, code } => format!("error {status} {code}"),
            R2FaultEffect::Latency(d) => format!("latency {d:?}"),
            R2FaultEffect::Reset => "reset".into(),
            R2FaultEffect::CommitThenReset => "commit_then_reset".into(),
            R2FaultEffect::LostWrite => "lost_write".into(),
            R2FaultEffect::TruncatedBody => "truncated_body".into(),
            R2FaultEffect::CorruptedBody => "corrupted_body".into(),
            R2FaultEffect::ResetMidBody => "reset_mid_body".into(),
        }
    }
}

/// One injected fault.
#[derive(Clone, Debug, PartialEq)]
pub struct R2FaultRule {
    pub op: R2Op,
    /// Only calls whose object key (for ListObjectsV2: whose `prefix` parameter) starts with this.
    /// `None` matches every call, bucket-level ones included.
    pub key_prefix: Option<String>,
    pub when: FaultWhen,
    pub effect: R2FaultEffect,
    pub attempts: Attempts,
}

impl R2FaultRule {
    pub fn new(op: R2Op, when: FaultWhen, effect: R2FaultEffect) -> Self {
        R2FaultRule {
            op,
            key_prefix: None,
            when,
            effect,
            attempts: Attempts::All,
        }
    }

    /// Shorthand for an S3 error, e.g. `R2FaultRule::error(PutObject, Nth(1), 500, "InternalError")`.
    pub fn error(op: R2Op, when: FaultWhen, status: u16, code: &str) -> Self {
        R2FaultRule::new(
            op,
            when,
            R2FaultEffect::Error {
                status,
                code: code.to_owned(),
            },
        )
    }

    /// `500 InternalError`.
    pub fn internal_error(op: R2Op, when: FaultWhen) -> Self {
        R2FaultRule::error(op, when, 500, "InternalError")
    }

    /// `503 SlowDown`, R2's (and S3's) throttling answer.
    pub fn slow_down(op: R2Op, when: FaultWhen) -> Self {
        R2FaultRule::error(op, when, 503, "SlowDown")
    }

    /// Restricts the rule to keys under `prefix`.
    pub fn with_prefix(mut self, prefix: impl Into<String>) -> Self {
        self.key_prefix = Some(prefix.into());
        self
    }

    /// Hits only the first attempt of each chosen call; see [`Attempts::First`].
    pub fn first_attempt_only(mut self) -> Self {
        self.attempts = Attempts::First;
        self
    }

    fn matches(&self, op: Option<R2Op>, key: Option<&str>) -> bool {
        self.op.covers(op)
            && self
                .key_prefix
                .as_deref()
                .is_none_or(|p| key.is_some_and(|k| k.starts_with(p)))
    }
}

#[derive(Debug)]
struct ActiveRule {
    rule: R2FaultRule,
    /// Logical calls counted since injection.
    seen: u32,
    rng: ChaCha8Rng,
    /// Decision per invocation id, and the ids in arrival order (to forget the oldest).
    decided: HashMap<String, bool>,
    order: VecDeque<String>,
}

impl ActiveRule {
    /// Whether the rule fires on this request, counting it if it starts a new logical call.
    fn observe(&mut self, invocation: Option<&str>) -> bool {
        if let Some(id) = invocation
            && let Some(&fired) = self.decided.get(id)
        {
            // A retry of a call already counted.
            return fired && self.rule.attempts == Attempts::All;
        }
        self.seen = self.seen.saturating_add(1);
        let fired = self.rule.when.fires(self.seen, &mut self.rng);
        if let Some(id) = invocation {
            if self.order.len() >= MAX_REMEMBERED_CALLS
                && let Some(old) = self.order.pop_front()
            {
                self.decided.remove(&old);
            }
            self.decided.insert(id.to_owned(), fired);
            self.order.push_back(id.to_owned());
        }
        fired
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

    pub(crate) fn inject(&mut self, rule: R2FaultRule) {
        let rng = rule_rng(self.seed, self.injected);
        self.injected += 1;
        self.rules.push(ActiveRule {
            rule,
            seen: 0,
            rng,
            decided: HashMap::new(),
            order: VecDeque::new(),
        });
    }

    pub(crate) fn clear(&mut self) {
        self.rules.clear();
    }

    /// The effect to apply to a request of `op` on `key`, if a rule fires.
    pub(crate) fn decide(
        &mut self,
        op: Option<R2Op>,
        key: Option<&str>,
        invocation: Option<&str>,
    ) -> Option<R2FaultEffect> {
        let mut fired = None;
        for active in self.rules.iter_mut().filter(|r| r.rule.matches(op, key)) {
            if active.observe(invocation) && fired.is_none() {
                fired = Some(active.rule.effect.clone());
            }
        }
        fired
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table(rules: impl IntoIterator<Item = R2FaultRule>) -> FaultTable {
        let mut t = FaultTable::new(1);
        rules.into_iter().for_each(|r| t.inject(r));
        t
    }

    #[test]
    fn retries_of_a_counted_call_repeat_its_decision_without_counting_again() {
        let mut t = table([R2FaultRule::internal_error(
            R2Op::GetObject,
            FaultWhen::Times(1),
        )]);
        let get = Some(R2Op::GetObject);
        // Three attempts of call "a": all fail, and count once.
        for _ in 0..3 {
            assert!(t.decide(get, Some("k"), Some("a")).is_some());
        }
        // Call "b" is the second logical call: served, on every attempt.
        for _ in 0..3 {
            assert!(t.decide(get, Some("k"), Some("b")).is_none());
        }
    }

    #[test]
    fn first_attempt_only_lets_the_retry_through() {
        let mut t =
            table(
                [R2FaultRule::slow_down(R2Op::PutObject, FaultWhen::Always).first_attempt_only()],
            );
        let put = Some(R2Op::PutObject);
        assert!(t.decide(put, Some("k"), Some("a")).is_some());
        assert!(t.decide(put, Some("k"), Some("a")).is_none());
        assert!(t.decide(put, Some("k"), Some("b")).is_some());
    }

    #[test]
    fn requests_without_an_invocation_id_count_one_call_each() {
        let mut t = table([R2FaultRule::internal_error(R2Op::Any, FaultWhen::Nth(2))]);
        let fired: Vec<bool> = (0..4)
            .map(|_| t.decide(None, None, None).is_some())
            .collect();
        assert_eq!(fired, [false, true, false, false]);
    }

    #[test]
    fn rules_match_by_operation_and_key_prefix() {
        let mut t =
            table([
                R2FaultRule::new(R2Op::PutObject, FaultWhen::Always, R2FaultEffect::LostWrite)
                    .with_prefix("snapshots/"),
            ]);
        let put = Some(R2Op::PutObject);
        assert!(t.decide(put, Some("snapshots/a"), None).is_some());
        assert!(t.decide(put, Some("latest"), None).is_none());
        assert!(t.decide(put, None, None).is_none());
        assert!(
            t.decide(Some(R2Op::GetObject), Some("snapshots/a"), None)
                .is_none()
        );
        t.clear();
        assert!(t.decide(put, Some("snapshots/a"), None).is_none());
    }

    #[test]
    fn the_first_injected_firing_rule_wins_and_every_matching_rule_counts() {
        let mut t = table([
            R2FaultRule::internal_error(R2Op::Any, FaultWhen::Times(1)),
            R2FaultRule::slow_down(R2Op::HeadObject, FaultWhen::Nth(2)),
        ]);
        let head = Some(R2Op::HeadObject);
        assert_eq!(
            t.decide(head, Some("k"), None).map(|e| e.label()),
            Some("error 500 InternalError".to_owned())
        );
        assert_eq!(
            t.decide(head, Some("k"), None).map(|e| e.label()),
            Some("error 503 SlowDown".to_owned())
        );
        assert_eq!(t.decide(head, Some("k"), None), None);
    }

    #[test]
    fn probability_is_reproducible_from_the_seed() {
        let run = |seed| {
            let mut t = FaultTable::new(seed);
            t.inject(R2FaultRule::internal_error(
                R2Op::Any,
                FaultWhen::Probability { p: 0.3 },
            ));
            (0..200)
                .map(|i| t.decide(None, None, Some(&i.to_string())).is_some())
                .collect::<Vec<_>>()
        };
        assert_eq!(run(7), run(7));
        assert_ne!(run(7), run(8));
    }

    #[test]
    fn remembered_calls_are_bounded() {
        let mut t = table([R2FaultRule::internal_error(R2Op::Any, FaultWhen::Always)]);
        for i in 0..(MAX_REMEMBERED_CALLS + 10) {
            t.decide(None, None, Some(&i.to_string()));
        }
        assert_eq!(t.rules[0].decided.len(), MAX_REMEMBERED_CALLS);
        assert_eq!(t.rules[0].order.len(), MAX_REMEMBERED_CALLS);
    }
}
