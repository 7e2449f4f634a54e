//! Imports: each file's options, progress and counts; the uploaded file itself (in chunks,
//! so any node can run the import); one outcome per input row.

use salesos_platform::store::migrations::{Migration as Step, Schema};

pub struct Migration;

const IMPORTS: &str = r#"
CREATE TABLE imports (
    id {uuid} PRIMARY KEY,
    workspace_id {uuid} NOT NULL REFERENCES workspaces(id) ON DELETE CASCADE,
    job_id {uuid},
    created_by {uuid} REFERENCES users(id) ON DELETE SET NULL,
    file_name text NOT NULL,
    file_size {bigint} NOT NULL,
    source_path text,
    options {json} NOT NULL,
    dry_run {bool} NOT NULL,
    state text NOT NULL,
    detected text,
    mapping {json},
    last_row {bigint} NOT NULL,
    rows_read {bigint} NOT NULL,
    created {bigint} NOT NULL,
    updated {bigint} NOT NULL,
    merged {bigint} NOT NULL,
    unchanged {bigint} NOT NULL,
    rejected {bigint} NOT NULL,
    warnings {bigint} NOT NULL,
    accounts_created {bigint} NOT NULL,
    accounts_updated {bigint} NOT NULL,
    progress integer NOT NULL,
    error text,
    created_at {ts} NOT NULL,
    started_at {ts},
    finished_at {ts},
    updated_at {ts} NOT NULL
);
CREATE INDEX imports_workspace ON imports (workspace_id, created_at, id);
CREATE TABLE import_files (
    import_id {uuid} NOT NULL REFERENCES imports(id) ON DELETE CASCADE,
    seq integer NOT NULL,
    data {blob} NOT NULL,
    PRIMARY KEY (import_id, seq)
);
CREATE TABLE import_rows (
    import_id {uuid} NOT NULL REFERENCES imports(id) ON DELETE CASCADE,
    row_number {bigint} NOT NULL,
    outcome text NOT NULL,
    entity_type text,
    entity_id {uuid},
    column_name text,
    value text,
    reason text,
    fields {json},
    PRIMARY KEY (import_id, row_number)
);
"#;

#[async_trait::async_trait]
impl Step for Migration {
    fn name(&self) -> &'static str {
        "m0005_import_tables"
    }

    fn replaces(&self) -> Option<&'static str> {
        Some("m0005_imports")
    }

    async fn up(&self, schema: &Schema<'_>) -> Result<(), sea_orm::DbErr> {
        schema.run(IMPORTS).await
    }
}
