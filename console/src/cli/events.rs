//! `events MACHINE`: the machine's timeline, oldest first (the last `--limit` events). An id works
//! after the machine was replaced or deleted: its events outlive the row.

use control_plane::api::types::EventView;

use super::args::MachineRef;
use super::format::{or_none, table};
use super::{Exit, Io, lookup, report};
use crate::client::PlatformClient;
use crate::strings::cli as s;

pub async fn run(
    client: &PlatformClient,
    machine: &MachineRef,
    json: bool,
    limit: u32,
    io: &mut Io<'_>,
) -> Exit {
    let id = match machine {
        MachineRef::Id(id) => id.to_string(),
        MachineRef::Handle(_) => match lookup(client, machine, io).await {
            Ok(m) => m.machine_id.to_string(),
            Err(exit) => return exit,
        },
    };
    let events = match client.events(&id, limit).await {
        Ok(events) => events,
        Err(e) => return report(client, &e, false, io),
    };
    if json {
        match serde_json::to_string_pretty(&events) {
            Ok(text) => io.out(&text),
            Err(_) => return Exit::Failed,
        }
    } else if events.events.is_empty() {
        io.out(s::NO_EVENTS);
    } else {
        io.out(table(&s::EVENTS_HEADERS, &rows(&events.events)).trim_end());
    }
    Exit::Ok
}

pub fn rows(events: &[EventView]) -> Vec<Vec<String>> {
    events
        .iter()
        .map(|e| {
            let change = match (&e.from, &e.to) {
                (None, None) => s::NONE.to_owned(),
                (from, to) => format!(
                    "{} -> {}",
                    from.as_deref().unwrap_or(s::NONE),
                    to.as_deref().unwrap_or(s::NONE)
                ),
            };
            vec![
                e.at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
                e.kind.clone(),
                change,
                e.actor.clone(),
                or_none(e.reason.as_deref()),
                or_none(e.related_machine_id),
            ]
        })
        .collect()
}
