-- Matrix Fleet control-plane registry.
-- Times are always written by the application from its injected clock, never by now(): the simulator
-- drives time, and a replayed run must produce the same rows.

CREATE TABLE user_machines (
    machine_id                     UUID PRIMARY KEY,
    clerk_user_id                  TEXT NOT NULL,
    handle                         TEXT NOT NULL,
    runtime_slot                   TEXT NOT NULL DEFAULT 'primary',
    hetzner_server_id              BIGINT,
    public_ipv4                    TEXT,
    public_ipv6                    TEXT,
    status                         TEXT NOT NULL
        CHECK (status IN ('provisioning', 'running', 'failed', 'recovering', 'deleted')),
    image_version                  TEXT NOT NULL,
    server_type                    TEXT NOT NULL,
    location                       TEXT NOT NULL,
    registration_token_hash        TEXT,
    registration_token_expires_at  TIMESTAMPTZ,
    provisioned_at                 TIMESTAMPTZ NOT NULL,
    last_seen_at                   TIMESTAMPTZ,
    deleted_at                     TIMESTAMPTZ,
    failure_code                   TEXT,
    failure_at                     TIMESTAMPTZ,
    attempt                        INTEGER NOT NULL DEFAULT 1 CHECK (attempt >= 1),
    created_at                     TIMESTAMPTZ NOT NULL,
    updated_at                     TIMESTAMPTZ NOT NULL,

    -- Provider step still to do for this row (the server create, or its retry after an ambiguous
    -- outcome). A claim makes one replica the only one acting on the row until it expires.
    pending_step                   TEXT CHECK (pending_step IN ('create_server')),
    step_attempts                  INTEGER NOT NULL DEFAULT 0,
    step_next_at                   TIMESTAMPTZ,
    claim_id                       UUID,
    claim_expires_at               TIMESTAMPTZ,

    -- Recovery in flight: the server the user is still routed to, and the exact previous row.
    recovery_old_machine_id        UUID,
    recovery_old_server_id         BIGINT,
    recovery_old_ipv4              TEXT,
    recovery_old_ipv6              TEXT,
    recovery_previous              JSONB,

    -- What the host last told us (heartbeats), and what the reconciler last concluded.
    heartbeat_healthy              BOOLEAN,
    heartbeat_image_version        TEXT,
    reported_backup_key            TEXT,
    reported_backup_at             TIMESTAMPTZ,
    reported_backup_size           BIGINT,
    heartbeat_state                TEXT,
    vps_meta_written_at            TIMESTAMPTZ,

    CONSTRAINT deleted_rows_have_deleted_at CHECK (status <> 'deleted' OR deleted_at IS NOT NULL),
    CONSTRAINT recovering_rows_remember_previous CHECK (status <> 'recovering' OR recovery_previous IS NOT NULL)
);

-- At most one live row per (user, slot) and per (handle, slot): the last line of defence against
-- concurrent provisions, whatever the application does.
CREATE UNIQUE INDEX user_machines_live_user_slot ON user_machines (clerk_user_id, runtime_slot)
    WHERE deleted_at IS NULL;
CREATE UNIQUE INDEX user_machines_live_handle_slot ON user_machines (handle, runtime_slot)
    WHERE deleted_at IS NULL;
CREATE INDEX user_machines_transient ON user_machines (provisioned_at)
    WHERE deleted_at IS NULL AND status IN ('provisioning', 'recovering');
CREATE INDEX user_machines_pending_step ON user_machines (step_next_at)
    WHERE deleted_at IS NULL AND pending_step IS NOT NULL;
CREATE INDEX user_machines_live_server ON user_machines (hetzner_server_id)
    WHERE deleted_at IS NULL;
CREATE INDEX user_machines_vps_meta_due ON user_machines (vps_meta_written_at NULLS FIRST)
    WHERE deleted_at IS NULL AND status = 'running';
CREATE INDEX user_machines_fleet_order ON user_machines (handle, runtime_slot, machine_id)
    WHERE deleted_at IS NULL;
CREATE INDEX user_machines_user ON user_machines (clerk_user_id, runtime_slot);

-- Servers that must be deleted at the provider. Durable before the provider call is made.
CREATE TABLE provider_deletions (
    id                  BIGSERIAL PRIMARY KEY,
    hetzner_server_id   BIGINT NOT NULL,
    machine_id          UUID,
    reason              TEXT NOT NULL,
    attempts            INTEGER NOT NULL DEFAULT 0,
    next_attempt_at     TIMESTAMPTZ NOT NULL,
    last_error          TEXT,
    claim_id            UUID,
    claim_expires_at    TIMESTAMPTZ,
    created_at          TIMESTAMPTZ NOT NULL,
    done_at             TIMESTAMPTZ
);
CREATE UNIQUE INDEX provider_deletions_one_pending_per_server ON provider_deletions (hetzner_server_id)
    WHERE done_at IS NULL;
CREATE INDEX provider_deletions_due ON provider_deletions (next_attempt_at)
    WHERE done_at IS NULL;

-- Append-only log of every transition and operator action.
CREATE TABLE machine_events (
    id                  BIGSERIAL PRIMARY KEY,
    at                  TIMESTAMPTZ NOT NULL,
    machine_id          UUID NOT NULL,
    clerk_user_id       TEXT NOT NULL,
    runtime_slot        TEXT NOT NULL,
    kind                TEXT NOT NULL,
    from_status         TEXT,
    to_status           TEXT,
    actor               TEXT NOT NULL CHECK (actor IN ('api', 'reconciler', 'operator', 'host')),
    reason              TEXT,
    related_machine_id  UUID
);
CREATE INDEX machine_events_machine ON machine_events (machine_id, id);
CREATE INDEX machine_events_related ON machine_events (related_machine_id, id)
    WHERE related_machine_id IS NOT NULL;

CREATE FUNCTION machine_events_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'machine_events is append-only';
END
$$;
CREATE TRIGGER machine_events_no_update_or_delete BEFORE UPDATE OR DELETE ON machine_events
    FOR EACH ROW EXECUTE FUNCTION machine_events_append_only();

-- What the control plane last verified in R2 for a user's slot (not what a host claimed).
CREATE TABLE backup_observations (
    clerk_user_id   TEXT NOT NULL,
    runtime_slot    TEXT NOT NULL,
    checked_at      TIMESTAMPTZ NOT NULL,
    latest_key      TEXT,
    snapshot_at     TIMESTAMPTZ,
    size_bytes      BIGINT,
    sha256          TEXT,
    problem         TEXT CHECK (problem IN ('missing_pointer', 'invalid_pointer', 'missing_object', 'empty_object')),
    PRIMARY KEY (clerk_user_id, runtime_slot)
);
CREATE INDEX backup_observations_checked ON backup_observations (checked_at);

-- Single-flight leases for whole reconciler tasks across replicas (row claims do the rest).
CREATE TABLE task_leases (
    task        TEXT PRIMARY KEY,
    holder      UUID NOT NULL,
    expires_at  TIMESTAMPTZ NOT NULL
);
