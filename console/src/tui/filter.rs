//! The `/` filter language: what an operator types to narrow the fleet table.
//!
//! Grammar: whitespace-separated terms, all of which must match (AND). A term is an optional `!`
//! (negation) followed by one of
//! - `status:failed,recovering` — the machine's status is one of the listed values;
//! - `slot:primary` — the runtime slot is one of the listed values;
//! - `hb:late,unreachable` / `backup:stale,critical` — heartbeat health / backup freshness as the
//!   platform classified them;
//! - `hb>5m`, `hb<30s`, `backup>2h`, `backup<1d` — the age of the last heartbeat / of the latest
//!   verified backup snapshot, with durations made of `<number><s|m|h|d>` parts (`1h30m`);
//! - anything else: a case-insensitive substring of the handle, user id, machine id or IPv4.
//!
//! Unknown ages: a machine never heard from, or with no backup snapshot, is treated as infinitely
//! old, so `hb>5m` and `backup>2h` match it and `hb<5m` / `backup<2h` do not. "Show me everything
//! older than X" then never hides the worst cases.
//!
//! [`Filter`]'s `Display` prints the canonical form, which parses back to the same filter.

use std::fmt;

use control_plane::health::{BackupFreshness, HeartbeatHealth};
use control_plane::status::MachineStatus;

use crate::strings::tui as s;
use crate::tui::fleet::{FleetRow, FleetSnapshot, Hot};

/// The longest duration accepted (ten years), so age arithmetic never overflows.
const MAX_DURATION_SECS: u64 = 3650 * 86_400;

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Filter {
    pub terms: Vec<Term>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Term {
    pub negated: bool,
    pub atom: Atom,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AgeOf {
    Heartbeat,
    Backup,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cmp {
    Older,
    Younger,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Atom {
    /// Lower-cased substring.
    Text(String),
    Status(Vec<MachineStatus>),
    Slot(Vec<String>),
    Health(Vec<HeartbeatHealth>),
    Freshness(Vec<BackupFreshness>),
    Age {
        of: AgeOf,
        cmp: Cmp,
        secs: u64,
    },
}

/// Why a filter was refused; the message names the offending term.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FilterError {
    EmptyNegation,
    UnknownField(String),
    EmptyValue(String),
    UnknownValue { field: String, value: String },
    BadDuration(String),
    BadComparison(String),
}

impl fmt::Display for FilterError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::EmptyNegation => f.write_str(s::FILTER_ERR_EMPTY_NEGATION),
            Self::UnknownField(field) => write!(f, "{} `{field}`", s::FILTER_ERR_UNKNOWN_FIELD),
            Self::EmptyValue(field) => write!(f, "{} `{field}:`", s::FILTER_ERR_EMPTY_VALUE),
            Self::UnknownValue { field, value } => {
                write!(f, "`{value}` {} `{field}`", s::FILTER_ERR_UNKNOWN_VALUE)
            }
            Self::BadDuration(d) => write!(f, "{} `{d}`", s::FILTER_ERR_BAD_DURATION),
            Self::BadComparison(t) => write!(f, "{} `{t}`", s::FILTER_ERR_BAD_COMPARISON),
        }
    }
}

impl std::error::Error for FilterError {}

impl Filter {
    pub fn parse(input: &str) -> Result<Self, FilterError> {
        let terms = input
            .split_whitespace()
            .map(parse_term)
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Self { terms })
    }

    pub fn is_empty(&self) -> bool {
        self.terms.is_empty()
    }

    /// True when the result depends on the clock (ages), so it must be re-evaluated as time passes.
    pub fn depends_on_time(&self) -> bool {
        self.terms
            .iter()
            .any(|t| matches!(t.atom, Atom::Age { .. }))
    }

    /// Whether `row` passes every term, with the platform's clock at `now_ms` (Unix milliseconds).
    pub fn matches(&self, row: &FleetRow, now_ms: i64) -> bool {
        self.terms
            .iter()
            .all(|t| t.atom.matches(row, now_ms) != t.negated)
    }
}

/// A term prepared against one snapshot: text terms become a per-row hit list (one scan of the
/// snapshot's haystack), lists become bit masks over the enums' ordinals.
enum Test {
    Hits(Vec<bool>),
    Status(u8),
    Slot(Vec<bool>),
    Health(u8),
    Freshness(u8),
    Age { of: AgeOf, cmp: Cmp, limit_ms: i64 },
}

fn mask<T: PartialEq>(all: &[T], list: &[T]) -> u8 {
    all.iter()
        .enumerate()
        .filter(|(_, x)| list.contains(x))
        .fold(0, |m, (i, _)| m | (1 << i))
}

impl Test {
    fn prepare(atom: &Atom, snap: &FleetSnapshot) -> Self {
        match atom {
            Atom::Text(text) => {
                let mut hits = vec![false; snap.rows.len()];
                // The separator cannot be typed into a filter; a text holding it matches nothing.
                if !text.contains('\0') {
                    for (pos, _) in snap.haystack.match_indices(text.as_str()) {
                        let row = snap.starts.partition_point(|&s| s as usize <= pos) - 1;
                        hits[row] = true;
                    }
                }
                Test::Hits(hits)
            }
            Atom::Status(l) => Test::Status(mask(&MachineStatus::ALL, l)),
            Atom::Slot(l) => Test::Slot(
                snap.slot_names
                    .iter()
                    .map(|name| l.iter().any(|s| s == name))
                    .collect(),
            ),
            Atom::Health(l) => Test::Health(mask(&HeartbeatHealth::ALL, l)),
            Atom::Freshness(l) => Test::Freshness(mask(&BackupFreshness::ALL, l)),
            Atom::Age { of, cmp, secs } => Test::Age {
                of: *of,
                cmp: *cmp,
                limit_ms: (*secs as i64) * 1000,
            },
        }
    }

    fn passes(&self, i: usize, h: &Hot, now_ms: i64) -> bool {
        match self {
            Test::Hits(hits) => hits[i],
            Test::Status(m) => m & (1 << h.status) != 0,
            Test::Slot(allowed) => allowed.get(h.slot_rank as usize).copied().unwrap_or(false),
            Test::Health(m) => m & (1 << h.health) != 0,
            Test::Freshness(m) => m & (1 << h.freshness) != 0,
            Test::Age { of, cmp, limit_ms } => {
                let at = match of {
                    AgeOf::Heartbeat => h.hb_at,
                    AgeOf::Backup => h.backup_at,
                };
                match (at, cmp) {
                    (None, Cmp::Older) => true,
                    (None, Cmp::Younger) => false,
                    (Some(at), Cmp::Older) => now_ms - at > *limit_ms,
                    (Some(at), Cmp::Younger) => now_ms - at < *limit_ms,
                }
            }
        }
    }
}

impl Filter {
    /// The rows of `order` that pass the filter (and faults-only), in the same order. The fast path
    /// of [`Filter::matches`] (same answers; a test checks it) over the snapshot's packed columns.
    pub fn select(
        &self,
        snap: &FleetSnapshot,
        order: impl Iterator<Item = u32>,
        faults_only: bool,
        now_ms: i64,
    ) -> Vec<u32> {
        let tests: Vec<(bool, Test)> = self
            .terms
            .iter()
            .map(|t| (t.negated, Test::prepare(&t.atom, snap)))
            .collect();
        order
            .filter(|&i| {
                let h = &snap.hot[i as usize];
                (!faults_only || h.fault)
                    && tests
                        .iter()
                        .all(|(negated, t)| t.passes(i as usize, h, now_ms) != *negated)
            })
            .collect()
    }
}

impl Atom {
    fn matches(&self, row: &FleetRow, now_ms: i64) -> bool {
        let m = &row.machine;
        match self {
            Atom::Text(text) => row.search.contains(text.as_str()),
            Atom::Status(list) => list.contains(&m.status),
            Atom::Slot(list) => list.iter().any(|s| s == m.runtime_slot.as_str()),
            Atom::Health(list) => list.contains(&m.heartbeat.health),
            Atom::Freshness(list) => list.contains(&m.backup.freshness),
            Atom::Age { of, cmp, secs } => {
                let at = match of {
                    AgeOf::Heartbeat => row.hb_at,
                    AgeOf::Backup => row.backup_at,
                };
                let limit_ms = (*secs as i64) * 1000;
                match (at, cmp) {
                    // Unknown age: infinitely old (see the module docs).
                    (None, Cmp::Older) => true,
                    (None, Cmp::Younger) => false,
                    (Some(at), Cmp::Older) => now_ms - at > limit_ms,
                    (Some(at), Cmp::Younger) => now_ms - at < limit_ms,
                }
            }
        }
    }
}

fn parse_term(token: &str) -> Result<Term, FilterError> {
    let (negated, body) = match token.strip_prefix('!') {
        Some(rest) => (true, rest),
        None => (false, token),
    };
    if body.is_empty() || body.starts_with('!') {
        return Err(FilterError::EmptyNegation);
    }
    Ok(Term {
        negated,
        atom: parse_atom(body)?,
    })
}

fn parse_atom(body: &str) -> Result<Atom, FilterError> {
    if let Some((field, values)) = body.split_once(':') {
        let field_lc = field.to_lowercase();
        let values: Vec<String> = values.split(',').map(|v| v.to_lowercase()).collect();
        if values.iter().any(|v| v.is_empty()) {
            return Err(FilterError::EmptyValue(field_lc));
        }
        let unknown = |value: &str| FilterError::UnknownValue {
            field: field_lc.clone(),
            value: value.to_owned(),
        };
        return match field_lc.as_str() {
            "status" => values
                .iter()
                .map(|v| v.parse::<MachineStatus>().map_err(|_| unknown(v)))
                .collect::<Result<_, _>>()
                .map(Atom::Status),
            "hb" => values
                .iter()
                .map(|v| HeartbeatHealth::parse(v).ok_or_else(|| unknown(v)))
                .collect::<Result<_, _>>()
                .map(Atom::Health),
            "backup" => values
                .iter()
                .map(|v| BackupFreshness::parse(v).ok_or_else(|| unknown(v)))
                .collect::<Result<_, _>>()
                .map(Atom::Freshness),
            "slot" => Ok(Atom::Slot(values)),
            _ => Err(FilterError::UnknownField(field_lc)),
        };
    }
    if let Some(pos) = body.find(['>', '<']) {
        let (field, rest) = body.split_at(pos);
        let of = match field.to_lowercase().as_str() {
            "hb" => AgeOf::Heartbeat,
            "backup" => AgeOf::Backup,
            _ => return Err(FilterError::BadComparison(body.to_owned())),
        };
        let cmp = if rest.starts_with('>') {
            Cmp::Older
        } else {
            Cmp::Younger
        };
        let secs = parse_duration(&rest[1..])?;
        return Ok(Atom::Age { of, cmp, secs });
    }
    Ok(Atom::Text(body.to_lowercase()))
}

/// `30s`, `5m`, `2h`, `1d`, or a sequence of them (`1h30m`).
pub fn parse_duration(input: &str) -> Result<u64, FilterError> {
    let bad = || FilterError::BadDuration(input.to_owned());
    if input.is_empty() {
        return Err(bad());
    }
    let mut total: u64 = 0;
    let mut number: Option<u64> = None;
    for c in input.chars() {
        if let Some(d) = c.to_digit(10) {
            let n = number
                .unwrap_or(0)
                .checked_mul(10)
                .and_then(|n| n.checked_add(u64::from(d)))
                .ok_or_else(bad)?;
            number = Some(n);
        } else {
            let unit = match c.to_ascii_lowercase() {
                's' => 1,
                'm' => 60,
                'h' => 3600,
                'd' => 86_400,
                _ => return Err(bad()),
            };
            let n = number.take().ok_or_else(bad)?;
            total = n
                .checked_mul(unit)
                .and_then(|v| total.checked_add(v))
                .ok_or_else(bad)?;
        }
    }
    if number.is_some() || total > MAX_DURATION_SECS {
        return Err(bad());
    }
    Ok(total)
}

/// The canonical spelling of a duration: largest units first, zero parts left out.
pub fn fmt_duration(secs: u64) -> String {
    if secs == 0 {
        return "0s".into();
    }
    let mut out = String::new();
    let mut rest = secs;
    for (unit, name) in [(86_400, 'd'), (3600, 'h'), (60, 'm'), (1, 's')] {
        if rest >= unit {
            out.push_str(&format!("{}{name}", rest / unit));
            rest %= unit;
        }
    }
    out
}

fn join<T>(items: &[T], name: impl Fn(&T) -> &str) -> String {
    items.iter().map(name).collect::<Vec<_>>().join(",")
}

impl fmt::Display for Atom {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Atom::Text(t) => f.write_str(t),
            Atom::Status(l) => write!(f, "status:{}", join(l, |s| s.as_str())),
            Atom::Slot(l) => write!(f, "slot:{}", join(l, |s| s.as_str())),
            Atom::Health(l) => write!(f, "hb:{}", join(l, |h| h.as_str())),
            Atom::Freshness(l) => write!(f, "backup:{}", join(l, |b| b.as_str())),
            Atom::Age { of, cmp, secs } => {
                let of = match of {
                    AgeOf::Heartbeat => "hb",
                    AgeOf::Backup => "backup",
                };
                let cmp = match cmp {
                    Cmp::Older => '>',
                    Cmp::Younger => '<',
                };
                write!(f, "{of}{cmp}{}", fmt_duration(*secs))
            }
        }
    }
}

impl fmt::Display for Filter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, t) in self.terms.iter().enumerate() {
            if i > 0 {
                f.write_str(" ")?;
            }
            if t.negated {
                f.write_str("!")?;
            }
            write!(f, "{}", t.atom)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn text(t: &str) -> Term {
        Term {
            negated: false,
            atom: Atom::Text(t.into()),
        }
    }

    #[test]
    fn terms_split_on_whitespace_and_text_is_lower_cased() {
        let f = Filter::parse("  Alice   10.0 ").unwrap();
        assert_eq!(f.terms, vec![text("alice"), text("10.0")]);
        assert!(Filter::parse("").unwrap().is_empty());
    }

    #[test]
    fn fields_take_comma_lists_and_negation() {
        let f = Filter::parse("status:failed,recovering !slot:primary").unwrap();
        assert_eq!(
            f.terms[0].atom,
            Atom::Status(vec![MachineStatus::Failed, MachineStatus::Recovering])
        );
        assert!(f.terms[1].negated);
        assert_eq!(f.terms[1].atom, Atom::Slot(vec!["primary".into()]));
    }

    #[test]
    fn ages_parse_compound_durations() {
        let f = Filter::parse("hb>5m backup<1h30m").unwrap();
        assert_eq!(
            f.terms[0].atom,
            Atom::Age {
                of: AgeOf::Heartbeat,
                cmp: Cmp::Older,
                secs: 300
            }
        );
        assert_eq!(
            f.terms[1].atom,
            Atom::Age {
                of: AgeOf::Backup,
                cmp: Cmp::Younger,
                secs: 5400
            }
        );
        assert!(f.depends_on_time());
    }

    #[test]
    fn bad_filters_say_what_is_wrong() {
        assert_eq!(
            Filter::parse("status:bogus").unwrap_err(),
            FilterError::UnknownValue {
                field: "status".into(),
                value: "bogus".into()
            }
        );
        assert_eq!(
            Filter::parse("colour:red").unwrap_err(),
            FilterError::UnknownField("colour".into())
        );
        assert_eq!(Filter::parse("!").unwrap_err(), FilterError::EmptyNegation);
        assert_eq!(
            Filter::parse("hb>5x").unwrap_err(),
            FilterError::BadDuration("5x".into())
        );
        assert_eq!(
            Filter::parse("hb>").unwrap_err(),
            FilterError::BadDuration("".into())
        );
        assert_eq!(
            Filter::parse("size>5").unwrap_err(),
            FilterError::BadComparison("size>5".into())
        );
        assert_eq!(
            Filter::parse("status:").unwrap_err(),
            FilterError::EmptyValue("status".into())
        );
        assert!(
            Filter::parse("status:bogus")
                .unwrap_err()
                .to_string()
                .contains("bogus")
        );
    }

    #[test]
    fn durations_refuse_overflow_and_trailing_numbers() {
        assert_eq!(parse_duration("90m"), Ok(5400));
        assert!(parse_duration("5").is_err());
        assert!(parse_duration("m").is_err());
        assert!(parse_duration("99999999999999999999s").is_err());
        assert!(parse_duration("3651d").is_err());
        assert_eq!(fmt_duration(5400), "1h30m");
    }

    fn atom() -> impl Strategy<Value = Atom> {
        let statuses = proptest::sample::subsequence(MachineStatus::ALL.to_vec(), 1..=5);
        let health = proptest::sample::subsequence(HeartbeatHealth::ALL.to_vec(), 1..=4);
        let fresh = proptest::sample::subsequence(BackupFreshness::ALL.to_vec(), 1..=5);
        prop_oneof![
            // Text that cannot be mistaken for another atom: no `:`, `<`, `>`, no leading `!`.
            "[a-z0-9.][a-z0-9.!_-]{0,12}".prop_map(Atom::Text),
            statuses.prop_map(Atom::Status),
            proptest::collection::vec("[a-z0-9]{1,8}", 1..3).prop_map(Atom::Slot),
            health.prop_map(Atom::Health),
            fresh.prop_map(Atom::Freshness),
            (
                prop_oneof![Just(AgeOf::Heartbeat), Just(AgeOf::Backup)],
                prop_oneof![Just(Cmp::Older), Just(Cmp::Younger)],
                0..MAX_DURATION_SECS
            )
                .prop_map(|(of, cmp, secs)| Atom::Age { of, cmp, secs }),
        ]
    }

    proptest! {
        #[test]
        fn the_parser_never_panics_on_any_input(input in "\\PC{0,64}") {
            let _ = Filter::parse(&input);
        }

        #[test]
        fn the_parser_never_panics_on_filter_like_input(input in "[!a-z:,<>0-9 ]{0,40}") {
            let _ = Filter::parse(&input);
        }

        #[test]
        fn display_then_parse_gives_back_the_same_filter(
            terms in proptest::collection::vec((any::<bool>(), atom()), 0..6)
        ) {
            let filter = Filter {
                terms: terms.into_iter().map(|(negated, atom)| Term { negated, atom }).collect(),
            };
            let shown = filter.to_string();
            prop_assert_eq!(Filter::parse(&shown), Ok(filter));
        }

        #[test]
        fn a_parsed_filter_displays_to_a_fixed_point(input in "[!a-z:,<>0-9 ]{0,40}") {
            if let Ok(f) = Filter::parse(&input) {
                let again = Filter::parse(&f.to_string()).unwrap();
                prop_assert_eq!(again.to_string(), f.to_string());
            }
        }
    }
}
