//! Object keys of the R2 layout (`shared/reference/control-plane.md` §5), built in one place.
//!
//! Every builder takes plain `&str` (simulated hosts parse user ids and slots out of cloud-init, not
//! out of the typed API) and validates both parts before a key is formed:
//! - user ids: `[A-Za-z0-9_-]{1,256}` — a superset of [`crate::ids::ClerkUserId`], so every typed id
//!   builds a key;
//! - slots: the [`crate::ids::RuntimeSlot`] rule, `^[a-z0-9](?:[a-z0-9-]{0,30}[a-z0-9])?$`.
//!
//! Neither alphabet has `/`, `.`, `\` or `:`, so no accepted input can traverse out of the user's
//! prefix. Errors never echo the input.
//!
//! ```text
//! matrixos-sync/<user>/system/vps-meta.json
//! matrixos-sync/<user>/system/db/{latest,snapshots/YYYY-MM-DDTHHmmZ.dump}                    (primary)
//! matrixos-sync/<user>/system/runtime-slots/<slot>/db/{latest,snapshots/YYYY-MM-DDTHHmmZ.dump}
//! ```

use chrono::{DateTime, Datelike, Utc};

use crate::ids::RuntimeSlot;

/// Every key the platform writes or reads lives under this root.
pub const KEY_ROOT: &str = "matrixos-sync/";

/// `chrono` format of the timestamp in a snapshot file name (`2026-11-24T0400Z`).
pub const SNAPSHOT_TIME_FORMAT: &str = "%Y-%m-%dT%H%MZ";

/// Suffix of every snapshot object.
pub const SNAPSHOT_SUFFIX: &str = ".dump";

const MAX_USER_ID_LEN: usize = 256;

/// Why a key could not be built. Carries no copy of the input.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    #[error("user id is not valid in an object key")]
    InvalidUserId,
    #[error("runtime slot is not valid in an object key")]
    InvalidSlot,
    /// The timestamp cannot be written as four-digit year `YYYY` (before year 0 or after 9999).
    #[error("snapshot time is outside the representable range")]
    TimeOutOfRange,
}

/// True when `user` may appear as the user segment of a key.
pub fn is_valid_user_id(user: &str) -> bool {
    (1..=MAX_USER_ID_LEN).contains(&user.len())
        && user
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

/// True when `slot` is a valid runtime slot.
pub fn is_valid_slot(slot: &str) -> bool {
    RuntimeSlot::parse(slot).is_ok()
}

fn check_user(user: &str) -> Result<(), KeyError> {
    if is_valid_user_id(user) {
        Ok(())
    } else {
        Err(KeyError::InvalidUserId)
    }
}

fn check_slot(slot: &str) -> Result<(), KeyError> {
    if is_valid_slot(slot) {
        Ok(())
    } else {
        Err(KeyError::InvalidSlot)
    }
}

/// `matrixos-sync/<user>/`
pub fn user_prefix(user: &str) -> Result<String, KeyError> {
    check_user(user)?;
    Ok(format!("{KEY_ROOT}{user}/"))
}

/// `matrixos-sync/<user>/system/vps-meta.json`
pub fn vps_meta_key(user: &str) -> Result<String, KeyError> {
    Ok(format!("{}system/vps-meta.json", user_prefix(user)?))
}

/// The slot's database directory relative to the user root: `system/db/` for `primary`,
/// `system/runtime-slots/<slot>/db/` otherwise. The slot must already be valid.
pub(crate) fn relative_db_dir(slot: &str) -> String {
    if slot == RuntimeSlot::PRIMARY {
        "system/db/".to_owned()
    } else {
        format!("system/runtime-slots/{slot}/db/")
    }
}

/// `matrixos-sync/<user>/system/db/` (primary) or `.../system/runtime-slots/<slot>/db/`.
pub fn db_prefix(user: &str, slot: &str) -> Result<String, KeyError> {
    let root = user_prefix(user)?;
    check_slot(slot)?;
    Ok(format!("{root}{}", relative_db_dir(slot)))
}

/// `<db prefix>latest`: the plain-text pointer to the newest snapshot.
pub fn latest_key(user: &str, slot: &str) -> Result<String, KeyError> {
    Ok(format!("{}latest", db_prefix(user, slot)?))
}

/// `<db prefix>snapshots/`
pub fn snapshots_prefix(user: &str, slot: &str) -> Result<String, KeyError> {
    Ok(format!("{}snapshots/", db_prefix(user, slot)?))
}

/// `<db prefix>snapshots/YYYY-MM-DDTHHmmZ.dump`. Seconds and below are dropped: one snapshot per
/// minute at most, which hourly backups never approach.
pub fn snapshot_key(user: &str, slot: &str, at: DateTime<Utc>) -> Result<String, KeyError> {
    Ok(format!(
        "{}{}",
        snapshots_prefix(user, slot)?,
        snapshot_file_name(at)?
    ))
}

/// `YYYY-MM-DDTHHmmZ.dump` for `at`.
pub fn snapshot_file_name(at: DateTime<Utc>) -> Result<String, KeyError> {
    if !(0..=9999).contains(&at.year()) {
        return Err(KeyError::TimeOutOfRange);
    }
    Ok(format!(
        "{}{SNAPSHOT_SUFFIX}",
        at.format(SNAPSHOT_TIME_FORMAT)
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;
    use proptest::prelude::*;

    fn t(y: i32, mo: u32, d: u32, h: u32, mi: u32, s: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(y, mo, d, h, mi, s).unwrap()
    }

    #[test]
    fn primary_and_other_slots_follow_the_reference_layout() {
        let at = t(2026, 11, 24, 4, 0, 59);
        assert_eq!(
            user_prefix("user_2abc").unwrap(),
            "matrixos-sync/user_2abc/"
        );
        assert_eq!(
            vps_meta_key("user_2abc").unwrap(),
            "matrixos-sync/user_2abc/system/vps-meta.json"
        );
        assert_eq!(
            db_prefix("u", "primary").unwrap(),
            "matrixos-sync/u/system/db/"
        );
        assert_eq!(
            latest_key("u", "primary").unwrap(),
            "matrixos-sync/u/system/db/latest"
        );
        assert_eq!(
            snapshots_prefix("u", "primary").unwrap(),
            "matrixos-sync/u/system/db/snapshots/"
        );
        assert_eq!(
            snapshot_key("u", "primary", at).unwrap(),
            "matrixos-sync/u/system/db/snapshots/2026-11-24T0400Z.dump"
        );
        assert_eq!(
            db_prefix("u", "dev").unwrap(),
            "matrixos-sync/u/system/runtime-slots/dev/db/"
        );
        assert_eq!(
            latest_key("u", "dev").unwrap(),
            "matrixos-sync/u/system/runtime-slots/dev/db/latest"
        );
        assert_eq!(
            snapshot_key("u", "dev-2", at).unwrap(),
            "matrixos-sync/u/system/runtime-slots/dev-2/db/snapshots/2026-11-24T0400Z.dump"
        );
    }

    #[test]
    fn traversal_and_bad_slots_are_refused() {
        for bad in [
            "",
            "..",
            "../x",
            "a/b",
            "a b",
            "a:b",
            "a\\b",
            "a.b",
            "ü",
            "a\n",
            &"a".repeat(257),
        ] {
            assert_eq!(user_prefix(bad), Err(KeyError::InvalidUserId), "{bad:?}");
        }
        for bad in [
            "",
            "..",
            "a/b",
            "-a",
            "a-",
            "Primary",
            "a.b",
            &"a".repeat(33),
        ] {
            assert_eq!(latest_key("u", bad), Err(KeyError::InvalidSlot), "{bad:?}");
        }
        assert_eq!(
            snapshot_file_name(t(10000, 1, 1, 0, 0, 0)),
            Err(KeyError::TimeOutOfRange)
        );
    }

    #[test]
    fn key_errors_never_echo_the_input() {
        let secret = "sk_live_secret..";
        let e = user_prefix(secret).unwrap_err();
        assert!(!format!("{e} {e:?}").contains("sk_live"));
    }

    proptest! {
        #[test]
        fn key_builders_accept_exactly_the_user_alphabet(user in "\\PC{0,300}") {
            let expected = (1..=256).contains(&user.len())
                && user.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
            prop_assert_eq!(user_prefix(&user).is_ok(), expected);
            prop_assert_eq!(vps_meta_key(&user).is_ok(), expected);
            prop_assert_eq!(latest_key(&user, "primary").is_ok(), expected);
            prop_assert_eq!(snapshots_prefix(&user, "dev").is_ok(), expected);
        }

        #[test]
        fn key_builders_reject_user_ids_with_any_foreign_character(
            head in "[A-Za-z0-9_-]{0,20}",
            bad in "[^A-Za-z0-9_-]",
            tail in "[A-Za-z0-9_-]{0,20}",
        ) {
            let user = format!("{head}{bad}{tail}");
            prop_assert_eq!(user_prefix(&user), Err(KeyError::InvalidUserId));
            prop_assert_eq!(snapshot_key(&user, "primary", t(2026, 1, 1, 0, 0, 0)), Err(KeyError::InvalidUserId));
        }

        #[test]
        fn every_built_key_stays_under_the_user_prefix(
            user in "[A-Za-z0-9_-]{1,64}",
            slot in "[a-z0-9][a-z0-9-]{0,30}[a-z0-9]",
            secs in 0i64..253_402_300_799,
        ) {
            let at = DateTime::from_timestamp(secs, 0).unwrap();
            let prefix = user_prefix(&user).unwrap();
            for key in [latest_key(&user, &slot).unwrap(), snapshot_key(&user, &slot, at).unwrap()] {
                prop_assert!(key.starts_with(&prefix));
                prop_assert!(!key.contains(".."));
                prop_assert!(!key.contains(':'));
                prop_assert!(!key.contains("//"));
            }
        }
    }
}
