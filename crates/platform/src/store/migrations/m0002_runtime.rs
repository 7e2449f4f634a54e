//! Runtime spine: the job queue, the per-workspace event log (outbox) and the positions of
//! its durable consumers.

use super::{Migration as Step, Schema};

pub struct Migration;

const RUNTIME: &str = r#"
CREATE TABLE jobs (
    id {uuid} PRIMARY KEY,
    workspace_id {uuid} REFERENCES workspaces(id) ON DELETE CASCADE,
    kind text NOT NULL,
    payload {json} NOT NULL,
    priority integer NOT NULL,
    state text NOT NULL,
    run_at {ts} NOT NULL,
    attempts integer NOT NULL,
    max_attempts integer NOT NULL,
    unique_key text,
    last_error text,
    result {json},
    progress integer NOT NULL,
    progress_message text,
    lease_owner text,
    lease_expires_at {ts},
    created_at {ts} NOT NULL,
    started_at {ts},
    finished_at {ts},
    updated_at {ts} NOT NULL
);
CREATE INDEX jobs_claim ON jobs (priority DESC, run_at, id) WHERE state = 'queued';
CREATE INDEX jobs_leases ON jobs (lease_expires_at) WHERE state = 'running';
CREATE UNIQUE INDEX jobs_unique_pending ON jobs (kind, unique_key)
    WHERE unique_key IS NOT NULL AND state IN ('queued', 'running');
CREATE INDEX jobs_workspace ON jobs (workspace_id, created_at, id);
CREATE INDEX jobs_workspace_state ON jobs (workspace_id, state, created_at, id);
CREATE TABLE workspace_counters (
    workspace_id {uuid} PRIMARY KEY REFERENCES workspaces(id) ON DELETE CASCADE,
    event_seq {bigint} NOT NULL
);
CREATE TABLE events (
    id {uuid} PRIMARY KEY,
    workspace_id {uuid} NOT NULL REFERENCES workspaces(id) ON DELETE CASCADE,
    seq {bigint} NOT NULL,
    event_type text NOT NULL,
    entity_type text NOT NULL,
    entity_id text,
    source text NOT NULL,
    data {json} NOT NULL,
    metadata {json} NOT NULL,
    created_at {ts} NOT NULL
);
CREATE UNIQUE INDEX events_position ON events (workspace_id, seq);
CREATE TABLE consumer_offsets (
    consumer text NOT NULL,
    workspace_id {uuid} NOT NULL REFERENCES workspaces(id) ON DELETE CASCADE,
    last_seq {bigint} NOT NULL,
    updated_at {ts} NOT NULL,
    PRIMARY KEY (consumer, workspace_id)
);
"#;

#[async_trait::async_trait]
impl Step for Migration {
    fn name(&self) -> &'static str {
        "m0002_runtime"
    }

    async fn up(&self, schema: &Schema<'_>) -> Result<(), sea_orm::DbErr> {
        schema.run(RUNTIME).await
    }
}
