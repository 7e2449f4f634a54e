//! Cron schedules, stored so that every node sees the same ones and each tick fires once.

use super::{Migration as Step, Schema};

pub struct Migration;

const CRON: &str = r#"
CREATE TABLE cron_schedules (
    id {uuid} PRIMARY KEY,
    schedule_key text NOT NULL UNIQUE,
    workspace_id {uuid} REFERENCES workspaces(id) ON DELETE CASCADE,
    expression text NOT NULL,
    timezone text NOT NULL,
    job_kind text NOT NULL,
    payload {json} NOT NULL,
    enabled {bool} NOT NULL,
    next_run_at {ts} NOT NULL,
    last_run_at {ts},
    created_at {ts} NOT NULL,
    updated_at {ts} NOT NULL
);
CREATE INDEX cron_schedules_due ON cron_schedules (next_run_at) WHERE enabled;
"#;

#[async_trait::async_trait]
impl Step for Migration {
    fn name(&self) -> &'static str {
        "m0004_cron"
    }

    async fn up(&self, schema: &Schema<'_>) -> Result<(), sea_orm::DbErr> {
        schema.run(CRON).await
    }
}
