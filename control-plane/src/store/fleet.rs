//! Fleet listing: live machines with heartbeat health and backup freshness, filtered and paged, plus a
//! summary over the whole fleet. Health is computed in SQL from the same thresholds as
//! [`crate::health::HealthPolicy`] so that filters and paging agree with what is shown.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use sqlx::PgPool;

use crate::error::Error;
use crate::health::HealthPolicy;
use crate::store::backups::BackupObservation;
use crate::store::machines::{Machine, MachineRecord, into_machine};

/// Filters; `None` means "any".
#[derive(Debug, Clone, Default)]
pub struct FleetQuery {
    pub statuses: Option<Vec<String>>,
    pub heartbeat: Option<Vec<String>>,
    pub backup: Option<Vec<String>>,
    pub runtime_slot: Option<String>,
    pub search: Option<String>,
    pub include_deleted: bool,
    pub page: i64,
    pub per_page: i64,
}

#[derive(Debug, Clone)]
pub struct FleetEntry {
    pub machine: Machine,
    pub heartbeat: String,
    pub backup: String,
    pub observation: Option<BackupObservation>,
}

#[derive(Debug, Clone, Default)]
pub struct FleetSummary {
    pub total: i64,
    pub by_status: BTreeMap<String, i64>,
    pub by_heartbeat: BTreeMap<String, i64>,
    pub by_backup: BTreeMap<String, i64>,
}

/// The shared CTE: every live (or also deleted) row with its computed health columns.
const FLEET_CTE: &str = "
WITH f AS (
    SELECT m.*,
        CASE WHEN m.status <> 'running' THEN 'unknown'
             WHEN m.last_seen_at IS NULL OR m.last_seen_at < $2 THEN 'unreachable'
             WHEN m.last_seen_at < $1 THEN 'late' ELSE 'ok' END AS hb_health,
        CASE WHEN o.checked_at IS NULL THEN 'unknown'
             WHEN o.problem = 'missing_pointer' AND m.provisioned_at >= $3 THEN 'unknown'
             WHEN o.problem IS NOT NULL OR o.snapshot_at IS NULL THEN 'critical'
             WHEN o.snapshot_at >= $3 THEN 'fresh'
             WHEN o.snapshot_at >= $4 THEN 'aging'
             WHEN o.snapshot_at >= $5 THEN 'stale' ELSE 'critical' END AS backup_freshness,
        o.checked_at AS o_checked_at, o.latest_key AS o_latest_key, o.snapshot_at AS o_snapshot_at,
        o.size_bytes AS o_size_bytes, o.sha256 AS o_sha256, o.problem AS o_problem
    FROM user_machines m
    LEFT JOIN backup_observations o ON o.clerk_user_id = m.clerk_user_id AND o.runtime_slot = m.runtime_slot
    WHERE (m.deleted_at IS NULL OR $6)
)";

#[derive(sqlx::FromRow)]
struct FleetRow {
    #[sqlx(flatten)]
    record: MachineRecord,
    hb_health: String,
    backup_freshness: String,
    o_checked_at: Option<DateTime<Utc>>,
    o_latest_key: Option<String>,
    o_snapshot_at: Option<DateTime<Utc>>,
    o_size_bytes: Option<i64>,
    o_sha256: Option<String>,
    o_problem: Option<String>,
    total: i64,
}

fn thresholds(policy: &HealthPolicy, now: DateTime<Utc>) -> [DateTime<Utc>; 5] {
    [
        now - policy.heartbeat_late_after(),
        now - policy.heartbeat_unreachable_after(),
        now - policy.backup_fresh,
        now - policy.backup_stale,
        now - policy.backup_critical,
    ]
}

pub async fn fleet_list(
    pool: &PgPool,
    q: &FleetQuery,
    policy: &HealthPolicy,
    now: DateTime<Utc>,
) -> Result<(Vec<FleetEntry>, i64), Error> {
    let t = thresholds(policy, now);
    let sql = format!(
        "{FLEET_CTE}
        SELECT *, count(*) OVER () AS total FROM f
        WHERE ($7::text[] IS NULL OR status = ANY($7))
          AND ($8::text[] IS NULL OR hb_health = ANY($8))
          AND ($9::text[] IS NULL OR backup_freshness = ANY($9))
          AND ($10::text IS NULL OR runtime_slot = $10)
          AND ($11::text IS NULL OR strpos(handle, $11) > 0 OR strpos(lower(clerk_user_id), $11) > 0
               OR strpos(machine_id::text, $11) > 0)
        ORDER BY handle, runtime_slot, machine_id
        LIMIT $12 OFFSET $13"
    );
    let search = q.search.as_ref().map(|s| s.to_lowercase());
    let rows: Vec<FleetRow> = sqlx::query_as(&sql)
        .bind(t[0])
        .bind(t[1])
        .bind(t[2])
        .bind(t[3])
        .bind(t[4])
        .bind(q.include_deleted)
        .bind(&q.statuses)
        .bind(&q.heartbeat)
        .bind(&q.backup)
        .bind(&q.runtime_slot)
        .bind(search)
        .bind(q.per_page)
        .bind((q.page - 1).max(0) * q.per_page)
        .fetch_all(pool)
        .await?;
    let total = rows.first().map(|r| r.total).unwrap_or(0);
    let mut entries = Vec::with_capacity(rows.len());
    for r in rows {
        let observation = r.o_checked_at.map(|checked_at| BackupObservation {
            clerk_user_id: r.record.clerk_user_id.clone(),
            runtime_slot: r.record.runtime_slot.clone(),
            checked_at,
            latest_key: r.o_latest_key,
            snapshot_at: r.o_snapshot_at,
            size_bytes: r.o_size_bytes,
            sha256: r.o_sha256,
            problem: r.o_problem,
        });
        entries.push(FleetEntry {
            machine: into_machine(r.record)?,
            heartbeat: r.hb_health,
            backup: r.backup_freshness,
            observation,
        });
    }
    // A page past the end still reports the real total.
    let total = if entries.is_empty() && q.page > 1 {
        fleet_count(pool, q, policy, now).await?
    } else {
        total
    };
    Ok((entries, total))
}

async fn fleet_count(
    pool: &PgPool,
    q: &FleetQuery,
    policy: &HealthPolicy,
    now: DateTime<Utc>,
) -> Result<i64, Error> {
    let first = FleetQuery {
        page: 1,
        per_page: 1,
        ..q.clone()
    };
    Ok(Box::pin(fleet_list(pool, &first, policy, now)).await?.1)
}

/// Counts over the whole live fleet (unfiltered), for the header pulse and `/metrics`.
pub async fn fleet_summary(
    pool: &PgPool,
    policy: &HealthPolicy,
    now: DateTime<Utc>,
) -> Result<FleetSummary, Error> {
    let t = thresholds(policy, now);
    let sql = format!(
        "{FLEET_CTE}
        SELECT status, hb_health, backup_freshness, count(*) FROM f GROUP BY 1, 2, 3"
    );
    let rows: Vec<(String, String, String, i64)> = sqlx::query_as(&sql)
        .bind(t[0])
        .bind(t[1])
        .bind(t[2])
        .bind(t[3])
        .bind(t[4])
        .bind(false)
        .fetch_all(pool)
        .await?;
    let mut s = FleetSummary::default();
    for (status, hb, backup, n) in rows {
        s.total += n;
        *s.by_status.entry(status).or_default() += n;
        *s.by_heartbeat.entry(hb).or_default() += n;
        *s.by_backup.entry(backup).or_default() += n;
    }
    Ok(s)
}
