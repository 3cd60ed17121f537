//! `delete MACHINE [--yes]`: delete a machine. The server goes at Hetzner (retried by the platform
//! until confirmed); the user's backups in R2 stay.
//!
//! Without `--yes` the operator types the machine's handle on a terminal; anything else, or no
//! terminal, ends with exit 6 and no call made.

use control_plane::status::MachineStatus;

use super::args::DeleteArgs;
use super::{Exit, Io, lookup, report};
use crate::client::PlatformClient;
use crate::strings::cli as s;

pub async fn run(
    client: &PlatformClient,
    args: &DeleteArgs,
    read_only: bool,
    io: &mut Io<'_>,
) -> Exit {
    // Checked again here, where the action runs, besides at parse time.
    if read_only {
        io.err(&s::error_line(s::READ_ONLY));
        return Exit::Usage;
    }
    let m = match lookup(client, &args.machine, io).await {
        Ok(m) => m,
        Err(exit) => return exit,
    };
    let handle = m.handle.as_str();
    let id = m.machine_id.to_string();
    if m.status == MachineStatus::Deleted {
        io.err(&s::error_line(&s::already_deleted(handle)));
        return Exit::NotFound;
    }
    io.err(&s::delete_plan(
        handle,
        m.clerk_user_id.as_str(),
        m.runtime_slot.as_str(),
        &id,
        m.status.as_str(),
    ));
    io.err(s::DELETE_NOTE);
    if !args.yes {
        if !io.prompt.is_interactive() {
            io.err(&s::error_line(s::CONFIRM_NEEDS_TTY));
            return Exit::NotConfirmed;
        }
        let typed = io.prompt.ask(&s::ask_delete(handle));
        if typed.as_deref().map(str::trim) != Some(handle) {
            io.err(s::DECLINED);
            return Exit::NotConfirmed;
        }
    }
    tracing::info!(machine_id = %id, handle, "operator delete");
    match client.delete(&id).await {
        Ok(r) => {
            if args.json {
                match serde_json::to_string_pretty(&r) {
                    Ok(text) => io.out(&text),
                    Err(_) => return Exit::Failed,
                }
            } else {
                io.out(&s::deleted(
                    handle,
                    &r.machine_id.to_string(),
                    r.status.as_str(),
                ));
            }
            io.err(s::DELETED_NOTE);
            Exit::Ok
        }
        Err(e) => report(client, &e, true, io),
    }
}
