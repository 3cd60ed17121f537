//! `machine_events`: the append-only timeline of every transition and operator action.
//!
//! Written in the same transaction as the change it describes, so the log never disagrees with the
//! registry. A trigger in the schema refuses UPDATE and DELETE.

use chrono::{DateTime, Utc};
use serde::Serialize;
use uuid::Uuid;

use crate::ids::{ClerkUserId, MachineId, RuntimeSlot};
use crate::status::{Actor, MachineStatus};
use crate::store::machines::Machine;

/// One event to append.
#[derive(Debug, Clone)]
pub struct NewEvent<'a> {
    pub at: DateTime<Utc>,
    pub machine_id: MachineId,
    pub clerk_user_id: &'a ClerkUserId,
    pub runtime_slot: &'a RuntimeSlot,
    pub kind: &'static str,
    pub from: Option<MachineStatus>,
    pub to: Option<MachineStatus>,
    pub actor: Actor,
    pub reason: Option<&'a str>,
    pub related: Option<MachineId>,
}

impl<'a> NewEvent<'a> {
    /// An event about `m`, with no reason and no related machine (add them with the setters).
    pub fn about(
        m: &'a Machine,
        at: DateTime<Utc>,
        kind: &'static str,
        from: Option<MachineStatus>,
        to: Option<MachineStatus>,
        actor: Actor,
    ) -> Self {
        Self {
            at,
            machine_id: m.machine_id,
            clerk_user_id: &m.clerk_user_id,
            runtime_slot: &m.runtime_slot,
            kind,
            from,
            to,
            actor,
            reason: None,
            related: None,
        }
    }
    pub fn reason(mut self, reason: Option<&'a str>) -> Self {
        self.reason = reason;
        self
    }
    pub fn related(mut self, related: Option<MachineId>) -> Self {
        self.related = related;
        self
    }
    /// The same event filed under another machine id (a recovery writes one on each side).
    pub fn for_machine(mut self, machine_id: MachineId) -> Self {
        self.machine_id = machine_id;
        self
    }
}

#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
#[serde(rename_all = "camelCase")]
pub struct EventRecord {
    pub id: i64,
    pub at: DateTime<Utc>,
    pub machine_id: Uuid,
    pub clerk_user_id: String,
    pub runtime_slot: String,
    pub kind: String,
    pub from_status: Option<String>,
    pub to_status: Option<String>,
    pub actor: String,
    pub reason: Option<String>,
    pub related_machine_id: Option<Uuid>,
}

/// Binds `e` as parameters $1…$10 in column order (at, machine_id, clerk_user_id, runtime_slot,
/// kind, from_status, to_status, actor, reason, related_machine_id).
fn bind_event<'q>(
    query: sqlx::query::Query<'q, sqlx::Postgres, sqlx::postgres::PgArguments>,
    e: &'q NewEvent<'_>,
) -> sqlx::query::Query<'q, sqlx::Postgres, sqlx::postgres::PgArguments> {
    query
        .bind(e.at)
        .bind(e.machine_id.as_uuid())
        .bind(e.clerk_user_id.as_str())
        .bind(e.runtime_slot.as_str())
        .bind(e.kind)
        .bind(e.from.map(|s| s.as_str()))
        .bind(e.to.map(|s| s.as_str()))
        .bind(e.actor.as_str())
        .bind(e.reason)
        .bind(e.related.map(|m| m.as_uuid()))
}

pub async fn event_append<'c, E>(conn: E, e: &NewEvent<'_>) -> Result<(), sqlx::Error>
where
    E: sqlx::PgExecutor<'c>,
{
    bind_event(sqlx::query(
        "INSERT INTO machine_events (at, machine_id, clerk_user_id, runtime_slot, kind, from_status, to_status, actor, reason, related_machine_id)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
    ), e)
    .execute(conn)
    .await?;
    Ok(())
}

/// Appends `e` unless an event of the same kind and reason is already filed under its machine (a
/// report a host may repeat). Returns whether it was appended. The caller holds the row lock, so two
/// identical reports cannot both pass the check.
pub async fn event_append_once<'c, E>(conn: E, e: &NewEvent<'_>) -> Result<bool, sqlx::Error>
where
    E: sqlx::PgExecutor<'c>,
{
    let done = bind_event(sqlx::query(
        "INSERT INTO machine_events (at, machine_id, clerk_user_id, runtime_slot, kind, from_status, to_status, actor, reason, related_machine_id)
         SELECT $1, $2, $3, $4, $5, $6, $7, $8, $9, $10
         WHERE NOT EXISTS (
             SELECT 1 FROM machine_events
              WHERE machine_id = $2 AND kind = $5 AND reason IS NOT DISTINCT FROM $9)",
    ), e)
    .execute(conn)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Events of a machine, oldest first, including those that name it as the related machine (a
/// replacement links back to the machine it replaced, and vice versa).
pub async fn event_list_for_machine(
    pool: &sqlx::PgPool,
    machine_id: MachineId,
    limit: i64,
) -> Result<Vec<EventRecord>, sqlx::Error> {
    sqlx::query_as::<_, EventRecord>(
        "SELECT * FROM (
             SELECT * FROM machine_events WHERE machine_id = $1 OR related_machine_id = $1
             ORDER BY id DESC LIMIT $2
         ) e ORDER BY id",
    )
    .bind(machine_id.as_uuid())
    .bind(limit)
    .fetch_all(pool)
    .await
}

pub async fn event_exists_for_machine(
    pool: &sqlx::PgPool,
    machine_id: MachineId,
) -> Result<bool, sqlx::Error> {
    sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM machine_events WHERE machine_id = $1)")
        .bind(machine_id.as_uuid())
        .fetch_one(pool)
        .await
}
