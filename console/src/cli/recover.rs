//! `recover USER [--slot S] [--allow-empty] [--yes]`: replace a user's server from the latest backup.
//!
//! Flow: find the user's live machine in the fleet (404 → exit 4), show it and the backup the
//! replacement will restore from, with a loud warning when that backup is stale, critical, broken,
//! missing or not verified yet; refuse at once if a recovery is already in flight; then confirm
//! (`--yes`, or `y` on a terminal, plus typing `empty` when `--allow-empty`; with no terminal and
//! no `--yes`, exit 6 without calling anything); then `POST /vps/recover` and print the old and new
//! machine ids on stdout.
//!
//! The platform re-checks everything (this console's view may be seconds old): it refuses a recovery
//! without a valid backup unless `allowEmpty`, and a second recovery in flight.

use control_plane::api::types::BackupView;
use control_plane::health::BackupFreshness;
use control_plane::status::MachineStatus;

use super::args::RecoverArgs;
use super::format::compact_age;
use super::prompt::is_yes;
use super::{Exit, Io, report};
use crate::client::{ClientError, FleetQuery, PlatformClient};
use crate::strings::cli as s;

pub async fn run(
    client: &PlatformClient,
    args: &RecoverArgs,
    read_only: bool,
    io: &mut Io<'_>,
) -> Exit {
    // Checked again here, where the action runs, besides at parse time.
    if read_only {
        io.err(&s::error_line(s::READ_ONLY));
        return Exit::Usage;
    }
    let fleet = match client.fleet_all(&FleetQuery::default()).await {
        Ok(fleet) => fleet,
        Err(e) => return report(client, &e, false, io),
    };
    let Some(m) = fleet
        .machines
        .into_iter()
        .find(|m| m.clerk_user_id == args.user && m.runtime_slot == args.slot)
    else {
        io.err(&s::error_line(&s::no_live_machine(
            args.user.as_str(),
            args.slot.as_str(),
        )));
        return Exit::NotFound;
    };
    let handle = m.handle.as_str();
    io.err(&s::recover_plan(
        handle,
        args.user.as_str(),
        args.slot.as_str(),
        &m.machine_id.to_string(),
        m.status.as_str(),
    ));
    for line in backup_assessment(&m.backup) {
        io.err(&line);
    }
    if args.allow_empty {
        io.err(s::NOTE_ALLOW_EMPTY);
    }
    if m.status == MachineStatus::Recovering {
        io.err(&s::error_line(&s::already_recovering(handle)));
        return Exit::Failed;
    }
    if !args.yes {
        if !io.prompt.is_interactive() {
            io.err(&s::error_line(s::CONFIRM_NEEDS_TTY));
            return Exit::NotConfirmed;
        }
        let question = s::ask_recover(handle, args.user.as_str(), args.slot.as_str());
        if !is_yes(io.prompt.ask(&question).as_deref()) {
            io.err(s::DECLINED);
            return Exit::NotConfirmed;
        }
        if args.allow_empty {
            let typed = io.prompt.ask(&s::ask_recover_empty(handle));
            if typed.as_deref().map(str::trim) != Some(s::EMPTY_CONFIRM_WORD) {
                io.err(s::DECLINED);
                return Exit::NotConfirmed;
            }
        }
    }
    tracing::info!(
        user = args.user.as_str(),
        slot = args.slot.as_str(),
        allow_empty = args.allow_empty,
        "operator recover"
    );
    match client
        .recover(&args.user, &args.slot, args.allow_empty)
        .await
    {
        Ok(r) => {
            if args.json {
                match serde_json::to_string_pretty(&r) {
                    Ok(text) => io.out(&text),
                    Err(_) => return Exit::Failed,
                }
            } else {
                io.out(&s::recover_started(handle, r.eta_seconds));
                io.out(&s::old_machine(&r.old_machine_id.to_string()));
                io.out(&s::new_machine(&r.machine_id.to_string()));
            }
            io.err(&s::follow_with(&r.machine_id.to_string()));
            Exit::Ok
        }
        Err(e) => {
            let exit = report(client, &e, true, io);
            if let Some(hint) = hint(&e) {
                io.err(hint);
            }
            exit
        }
    }
}

/// What the operator should know about the backup before confirming, worst news first.
pub fn backup_assessment(b: &BackupView) -> Vec<String> {
    let age = b.age_seconds.map(compact_age);
    let mut lines = Vec::new();
    if let Some(key) = &b.key {
        lines.push(s::backup_line(
            b.freshness.as_str(),
            key,
            age.as_deref().unwrap_or(s::NONE),
        ));
    }
    if let Some(problem) = &b.problem {
        lines.push(if problem == "missing_pointer" {
            s::warn_backup_absent(problem)
        } else {
            s::warn_backup_problem(problem)
        });
        return lines;
    }
    match (b.freshness, &b.key) {
        (BackupFreshness::Unknown, _) => lines.push(s::WARN_BACKUP_UNKNOWN.to_owned()),
        (_, None) => lines.push(s::WARN_BACKUP_MISSING.to_owned()),
        (BackupFreshness::Critical, Some(_)) => {
            lines.push(s::warn_backup_critical(age.as_deref().unwrap_or(s::NONE)))
        }
        (BackupFreshness::Stale, Some(_)) => {
            lines.push(s::warn_backup_stale(age.as_deref().unwrap_or(s::NONE)))
        }
        (BackupFreshness::Fresh | BackupFreshness::Aging, Some(_)) => {}
    }
    lines
}

/// The next step for the refusals `docs/api.md` lists for `POST /vps/recover`.
fn hint(error: &ClientError) -> Option<&'static str> {
    match error {
        ClientError::Conflict(message) if message.to_ascii_lowercase().contains("backup") => {
            Some(s::HINT_NO_BACKUP)
        }
        ClientError::Conflict(_) => Some(s::HINT_IN_PROGRESS),
        ClientError::Rejected {
            status: 429 | 503, ..
        } => Some(s::HINT_RETRY_LATER),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn view(freshness: BackupFreshness, key: Option<&str>, problem: Option<&str>) -> BackupView {
        BackupView {
            freshness,
            key: key.map(str::to_owned),
            snapshot_at: None,
            age_seconds: Some(3 * 3600 + 5),
            size_bytes: Some(1024),
            problem: problem.map(str::to_owned),
            checked_at: None,
        }
    }

    #[test]
    fn a_fresh_backup_is_shown_without_a_warning() {
        let lines = backup_assessment(&view(BackupFreshness::Fresh, Some("k1"), None));
        assert_eq!(lines.len(), 1);
        assert!(
            lines[0].contains("k1") && lines[0].contains("3h"),
            "{lines:?}"
        );
    }

    #[test]
    fn stale_critical_broken_missing_and_unverified_backups_warn() {
        let cases = [
            (view(BackupFreshness::Stale, Some("k"), None), "stale"),
            (
                view(BackupFreshness::Critical, Some("k"), None),
                "CRITICALLY OLD",
            ),
            (
                view(BackupFreshness::Critical, None, Some("missing_pointer")),
                "NO BACKUP IN R2 (missing_pointer)",
            ),
            (
                view(BackupFreshness::Critical, Some("k"), Some("empty_object")),
                "BROKEN (empty_object)",
            ),
            (
                view(BackupFreshness::Critical, None, None),
                "NO USABLE BACKUP",
            ),
            (
                view(BackupFreshness::Unknown, None, None),
                "not been verified",
            ),
        ];
        for (b, want) in cases {
            let lines = backup_assessment(&b);
            let warning = lines.last().unwrap();
            assert!(warning.contains("WARNING"), "{lines:?}");
            assert!(warning.contains(want), "{want}: {lines:?}");
        }
    }
}
