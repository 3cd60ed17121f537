//! The `latest` pointer: a plain-text object naming the newest snapshot of one slot.
//!
//! The pointer is written by the host, so the control plane treats it as untrusted input. A body is a
//! valid pointer only if, after at most one trailing `\n` or `\r\n`, it is exactly
//! `<slot db dir>snapshots/YYYY-MM-DDTHHmmZ.dump` for the slot that was asked about, the timestamp is a
//! real calendar time, and it is at most [`MAX_POINTER_LEN`] bytes. Anything else — traversal, a
//! scheme, an absolute path, whitespace, control characters, another slot's key — is a
//! [`PointerError`], which never echoes the body: a host could have written anything there.

use std::fmt;
use std::sync::LazyLock;

use chrono::{DateTime, NaiveDate, Utc};
use regex::Regex;
use serde::{Serialize, Serializer};

use crate::ids::RuntimeSlot;
use crate::r2::keys::{self, KeyError};

/// Longest pointer body accepted, terminator included. The longest valid pointer (a 32-char slot) is
/// about 90 bytes; anything far longer is not a pointer and is not worth reading.
pub const MAX_POINTER_LEN: usize = 512;

/// `YYYY-MM-DDTHHmmZ.dump`. ASCII classes on purpose: `\d` would also match non-ASCII digits.
static SNAPSHOT_FILE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"^([0-9]{4})-([0-9]{2})-([0-9]{2})T([0-9]{2})([0-9]{2})Z\.dump$")
        .expect("static regex")
});

/// Why a `latest` body is not a usable pointer. No variant carries any part of the body.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, thiserror::Error)]
pub enum PointerError {
    #[error("pointer is empty")]
    Empty,
    #[error("pointer is too long")]
    TooLong,
    #[error("pointer is not UTF-8")]
    NotUtf8,
    #[error("pointer contains a control character")]
    ControlCharacter,
    #[error("pointer contains whitespace")]
    Whitespace,
    /// `..`, a leading `/` or a backslash.
    #[error("pointer attempts path traversal")]
    Traversal,
    /// A `:` anywhere: URL schemes (`s3://`, `file:`), drive letters.
    #[error("pointer contains a scheme or colon")]
    Scheme,
    /// A well-formed snapshot key, but of another runtime slot.
    #[error("pointer names another slot's snapshot")]
    WrongSlot,
    #[error("pointer is not a snapshot key")]
    WrongForm,
    /// The form matches but the timestamp is not a calendar time (`2026-02-30T2561Z`).
    #[error("pointer timestamp is not a valid time")]
    InvalidTime,
    /// The slot asked about is itself invalid (a caller bug, not a host fault).
    #[error("runtime slot is invalid")]
    InvalidSlot,
}

/// A validated snapshot key relative to the user root (`matrixos-sync/<user>/`), e.g.
/// `system/db/snapshots/2026-11-24T0400Z.dump` or
/// `system/runtime-slots/dev/db/snapshots/2026-11-24T0400Z.dump`.
///
/// Holding one means: the slot is valid, the key has the canonical form for that slot, and
/// `taken_at` is the minute the file name states.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SnapshotKey {
    relative: String,
    slot: String,
    taken_at: DateTime<Utc>,
}

impl SnapshotKey {
    /// The key a backup taken at `at` gets (seconds dropped).
    pub fn for_time(slot: &str, at: DateTime<Utc>) -> Result<SnapshotKey, KeyError> {
        if !keys::is_valid_slot(slot) {
            return Err(KeyError::InvalidSlot);
        }
        let file = keys::snapshot_file_name(at)?;
        let relative = format!("{}snapshots/{file}", keys::relative_db_dir(slot));
        let taken_at = parse_file_name(&file).ok_or(KeyError::TimeOutOfRange)?;
        Ok(SnapshotKey {
            relative,
            slot: slot.to_owned(),
            taken_at,
        })
    }

    /// Parses the body of a `latest` object read for `slot`. See the module doc for the rules.
    pub fn parse_pointer(body: &[u8], slot: &str) -> Result<SnapshotKey, PointerError> {
        if !keys::is_valid_slot(slot) {
            return Err(PointerError::InvalidSlot);
        }
        if body.is_empty() {
            return Err(PointerError::Empty);
        }
        if body.len() > MAX_POINTER_LEN {
            return Err(PointerError::TooLong);
        }
        let text = std::str::from_utf8(body).map_err(|_| PointerError::NotUtf8)?;
        // Exactly one terminator may go; a second one stays and is refused as a control character.
        let text = text
            .strip_suffix("\r\n")
            .or_else(|| text.strip_suffix('\n'))
            .unwrap_or(text);
        if text.is_empty() {
            return Err(PointerError::Empty);
        }
        if text.chars().any(char::is_control) {
            return Err(PointerError::ControlCharacter);
        }
        if text.chars().any(char::is_whitespace) {
            return Err(PointerError::Whitespace);
        }
        if text.contains("..") || text.starts_with('/') || text.contains('\\') {
            return Err(PointerError::Traversal);
        }
        if text.contains(':') {
            return Err(PointerError::Scheme);
        }
        let (pointer_slot, file) = split_canonical(text).ok_or(PointerError::WrongForm)?;
        if !SNAPSHOT_FILE.is_match(file) {
            return Err(PointerError::WrongForm);
        }
        if pointer_slot != slot {
            return Err(PointerError::WrongSlot);
        }
        let taken_at = parse_file_name(file).ok_or(PointerError::InvalidTime)?;
        Ok(SnapshotKey {
            relative: text.to_owned(),
            slot: slot.to_owned(),
            taken_at,
        })
    }

    /// The key relative to the user root: exactly what a `latest` object holds.
    pub fn relative(&self) -> &str {
        &self.relative
    }

    /// The bucket key, `matrixos-sync/<user>/<relative>`.
    pub fn full_key(&self, user: &str) -> Result<String, KeyError> {
        Ok(format!("{}{}", keys::user_prefix(user)?, self.relative))
    }

    pub fn slot(&self) -> &str {
        &self.slot
    }

    /// When the snapshot was taken, to the minute, as its file name says.
    pub fn taken_at(&self) -> DateTime<Utc> {
        self.taken_at
    }
}

impl fmt::Display for SnapshotKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.relative)
    }
}

impl fmt::Debug for SnapshotKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SnapshotKey({:?})", self.relative)
    }
}

impl Serialize for SnapshotKey {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.relative)
    }
}

/// Splits a canonical `<db dir>snapshots/<file>` into `(slot, file)`. `system/runtime-slots/primary/…`
/// is not canonical (primary lives in `system/db/`), and the slot segment must be a valid slot.
fn split_canonical(text: &str) -> Option<(&str, &str)> {
    if let Some(file) = text.strip_prefix("system/db/snapshots/") {
        return Some((RuntimeSlot::PRIMARY, file));
    }
    let rest = text.strip_prefix("system/runtime-slots/")?;
    let (slot, rest) = rest.split_once('/')?;
    let file = rest.strip_prefix("db/snapshots/")?;
    (slot != RuntimeSlot::PRIMARY && keys::is_valid_slot(slot)).then_some((slot, file))
}

/// The time in `YYYY-MM-DDTHHmmZ.dump`, if it is a real calendar minute.
fn parse_file_name(file: &str) -> Option<DateTime<Utc>> {
    let caps = SNAPSHOT_FILE.captures(file)?;
    let num = |i: usize| caps.get(i).and_then(|m| m.as_str().parse::<u32>().ok());
    let year = i32::try_from(num(1)?).ok()?;
    let date = NaiveDate::from_ymd_opt(year, num(2)?, num(3)?)?;
    // `and_hms_opt` refuses 24:00 and minute 60; a leap second cannot be written with minutes only.
    Some(date.and_hms_opt(num(4)?, num(5)?, 0)?.and_utc())
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{TimeZone, Timelike};
    use proptest::prelude::*;

    const GOOD: &str = "system/db/snapshots/2026-11-24T0400Z.dump";

    fn slot() -> impl Strategy<Value = String> {
        prop_oneof![
            Just("primary".to_owned()),
            "[a-z0-9]{1,2}",
            "[a-z0-9][a-z0-9-]{0,30}[a-z0-9]"
        ]
    }

    fn time() -> impl Strategy<Value = DateTime<Utc>> {
        // 0000-01-01 .. 9999-12-31, with seconds, to check they are dropped.
        (-62_167_219_200i64..253_402_300_799).prop_map(|s| DateTime::from_timestamp(s, 0).unwrap())
    }

    #[test]
    fn a_well_formed_pointer_parses() {
        let k = SnapshotKey::parse_pointer(GOOD.as_bytes(), "primary").unwrap();
        assert_eq!(k.relative(), GOOD);
        assert_eq!(
            k.taken_at(),
            Utc.with_ymd_and_hms(2026, 11, 24, 4, 0, 0).unwrap()
        );
        assert_eq!(
            k.full_key("user_1").unwrap(),
            format!("matrixos-sync/user_1/{GOOD}")
        );
        let dev = b"system/runtime-slots/dev/db/snapshots/2026-11-24T0400Z.dump\r\n";
        assert_eq!(
            SnapshotKey::parse_pointer(dev, "dev").unwrap().slot(),
            "dev"
        );
    }

    #[test]
    fn each_malformed_pointer_gets_its_reason() {
        let cases: &[(&[u8], PointerError)] = &[
            (b"", PointerError::Empty),
            (b"\n", PointerError::Empty),
            (&[b'a'; 513], PointerError::TooLong),
            (b"system/db/snapshots/\xff.dump", PointerError::NotUtf8),
            (
                b"system/db/snapshots/2026-11-24T0400Z.dump\n\n",
                PointerError::ControlCharacter,
            ),
            (
                b"system/db/snapshots/2026-11-24T0400Z.dump\r",
                PointerError::ControlCharacter,
            ),
            (
                b"system/db/snapshots/2026-11-24T0400Z.dump\0",
                PointerError::ControlCharacter,
            ),
            (
                b" system/db/snapshots/2026-11-24T0400Z.dump",
                PointerError::Whitespace,
            ),
            (
                b"system/db/snapshots/../2026-11-24T0400Z.dump",
                PointerError::Traversal,
            ),
            (
                b"/system/db/snapshots/2026-11-24T0400Z.dump",
                PointerError::Traversal,
            ),
            (
                b"system\\db\\snapshots\\2026-11-24T0400Z.dump",
                PointerError::Traversal,
            ),
            (
                b"s3://bucket/system/db/snapshots/2026-11-24T0400Z.dump",
                PointerError::Scheme,
            ),
            (
                b"system/db/snapshots/2026-11-24T04:00Z.dump",
                PointerError::Scheme,
            ),
            (
                b"system/db/snapshots/2026-11-24T0400Z.sql",
                PointerError::WrongForm,
            ),
            (
                b"system/db/snapshots/2026-11-24T0400Z.dump.bak",
                PointerError::WrongForm,
            ),
            (
                b"matrixos-sync/u/system/db/snapshots/2026-11-24T0400Z.dump",
                PointerError::WrongForm,
            ),
            (
                b"system/runtime-slots/primary/db/snapshots/2026-11-24T0400Z.dump",
                PointerError::WrongForm,
            ),
            (
                b"system/db/snapshots/\xd9\xa2026-11-24T0400Z.dump",
                PointerError::WrongForm,
            ),
            (
                b"system/runtime-slots/dev/db/snapshots/2026-11-24T0400Z.dump",
                PointerError::WrongSlot,
            ),
            (
                b"system/db/snapshots/2026-02-30T0400Z.dump",
                PointerError::InvalidTime,
            ),
            (
                b"system/db/snapshots/2026-11-24T2400Z.dump",
                PointerError::InvalidTime,
            ),
            (
                b"system/db/snapshots/2026-11-24T0460Z.dump",
                PointerError::InvalidTime,
            ),
        ];
        for (body, want) in cases {
            assert_eq!(
                SnapshotKey::parse_pointer(body, "primary"),
                Err(*want),
                "{:?}",
                String::from_utf8_lossy(body)
            );
        }
        assert_eq!(
            SnapshotKey::parse_pointer(GOOD.as_bytes(), "Bad"),
            Err(PointerError::InvalidSlot)
        );
    }

    #[test]
    fn pointer_errors_never_echo_the_body() {
        let body = b"sk_live_token:../../etc/passwd";
        let e = SnapshotKey::parse_pointer(body, "primary").unwrap_err();
        let shown = format!("{e} {e:?}");
        assert!(
            !shown.contains("sk_live") && !shown.contains("passwd"),
            "{shown}"
        );
    }

    proptest! {
        #[test]
        fn for_time_round_trips_through_parse_pointer(
            slot in slot(),
            at in time(),
            term in prop_oneof![Just(""), Just("\n"), Just("\r\n")],
        ) {
            let key = SnapshotKey::for_time(&slot, at).unwrap();
            let body = format!("{}{term}", key.relative());
            let parsed = SnapshotKey::parse_pointer(body.as_bytes(), &slot).unwrap();
            prop_assert_eq!(&parsed, &key);
            prop_assert_eq!(parsed.taken_at(), at.with_second(0).unwrap());
            prop_assert_eq!(parsed.full_key("u1").unwrap(), keys::snapshot_key("u1", &slot, at).unwrap());
        }

        #[test]
        fn a_pointer_for_one_slot_is_refused_for_another(a in slot(), b in slot(), at in time()) {
            prop_assume!(a != b);
            let key = SnapshotKey::for_time(&a, at).unwrap();
            prop_assert_eq!(SnapshotKey::parse_pointer(key.relative().as_bytes(), &b), Err(PointerError::WrongSlot));
        }

        #[test]
        fn two_terminators_are_refused(slot in slot(), at in time(), t1 in "\r?\n", t2 in "\r?\n") {
            let key = SnapshotKey::for_time(&slot, at).unwrap();
            let body = format!("{}{t1}{t2}", key.relative());
            prop_assert_eq!(SnapshotKey::parse_pointer(body.as_bytes(), &slot), Err(PointerError::ControlCharacter));
        }

        /// Inserting any forbidden token anywhere into a valid pointer makes it invalid.
        #[test]
        fn forbidden_tokens_anywhere_are_refused(
            slot in slot(),
            at in time(),
            pos in any::<prop::sample::Index>(),
            bad in prop_oneof![
                Just("..".to_owned()),
                Just(":".to_owned()),
                Just("\\".to_owned()),
                Just("/".to_owned()),
                Just("https://".to_owned()),
                "[a-z]{1,8}://",
                "[\\x00-\\x1f\\x7f]",
                "[\\u{80}-\\u{9f}]",
                "[ \\t\\u{a0}\\u{2028}\\u{3000}]",
            ],
        ) {
            let key = SnapshotKey::for_time(&slot, at).unwrap();
            let rel = key.relative();
            let i = pos.index(rel.len() + 1);
            let body = format!("{}{bad}{}", &rel[..i], &rel[i..]);
            prop_assert!(SnapshotKey::parse_pointer(body.as_bytes(), &slot).is_err(), "{:?}", body);
        }

        #[test]
        fn strings_with_forbidden_content_are_refused(
            prefix in "\\PC{0,40}",
            bad in prop_oneof![Just(".."), Just(":"), Just("\\"), Just("\u{0}"), Just("\u{1b}"), Just("file://")],
            suffix in "\\PC{0,40}",
            slot in slot(),
        ) {
            let body = format!("{prefix}{bad}{suffix}");
            prop_assert!(SnapshotKey::parse_pointer(body.as_bytes(), &slot).is_err());
            let absolute = format!("/{}", SnapshotKey::for_time(&slot, Utc.with_ymd_and_hms(2026, 1, 2, 3, 4, 5).unwrap()).unwrap().relative());
            prop_assert_eq!(SnapshotKey::parse_pointer(absolute.as_bytes(), &slot), Err(PointerError::Traversal));
        }

        #[test]
        fn arbitrary_bytes_never_panic_and_valid_results_are_canonical(body in prop::collection::vec(any::<u8>(), 0..600), slot in slot()) {
            if let Ok(k) = SnapshotKey::parse_pointer(&body, &slot) {
                prop_assert_eq!(SnapshotKey::for_time(&slot, k.taken_at()).unwrap(), k);
            }
        }
    }
}
