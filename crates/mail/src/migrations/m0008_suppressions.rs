//! The suppression list: one row per address or domain per workspace.

use salesos_platform::store::migrations::{Migration as Step, Schema};

pub struct Migration;

const SUPPRESSIONS: &str = r#"
CREATE TABLE suppressions (
    id {uuid} PRIMARY KEY,
    workspace_id {uuid} NOT NULL REFERENCES workspaces(id) ON DELETE CASCADE,
    kind text NOT NULL,
    value text NOT NULL,
    reason text NOT NULL,
    source text NOT NULL,
    note text,
    created_by {uuid} REFERENCES users(id) ON DELETE SET NULL,
    created_at {ts} NOT NULL
);
CREATE UNIQUE INDEX suppressions_value ON suppressions (workspace_id, kind, value);
CREATE INDEX suppressions_workspace ON suppressions (workspace_id, id);
"#;

#[async_trait::async_trait]
impl Step for Migration {
    fn name(&self) -> &'static str {
        "m0008_suppressions"
    }

    async fn up(&self, schema: &Schema<'_>) -> Result<(), sea_orm::DbErr> {
        schema.run(SUPPRESSIONS).await
    }
}
