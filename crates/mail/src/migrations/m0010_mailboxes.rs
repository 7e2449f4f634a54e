//! Mailboxes: one row per sending address per workspace, the SMTP secret sealed.

use salesos_platform::store::migrations::{Migration as Step, Schema};

pub struct Migration;

const MAILBOXES: &str = r#"
CREATE TABLE mailboxes (
    id {uuid} PRIMARY KEY,
    workspace_id {uuid} NOT NULL REFERENCES workspaces(id) ON DELETE CASCADE,
    from_name text NOT NULL,
    from_address text NOT NULL,
    reply_to text,
    signature text,
    transport text NOT NULL,
    smtp_host text,
    smtp_port integer,
    smtp_security text,
    smtp_auth text,
    smtp_username text,
    secret text,
    daily_cap integer NOT NULL,
    hourly_cap integer NOT NULL,
    warmup_start integer,
    warmup_step integer,
    warmup_started_at {ts},
    status text NOT NULL,
    status_reason text,
    last_error text,
    last_error_at {ts},
    consecutive_failures integer NOT NULL,
    pause_after_failures integer NOT NULL,
    last_tested_at {ts},
    created_at {ts} NOT NULL,
    updated_at {ts} NOT NULL
);
CREATE UNIQUE INDEX mailboxes_address ON mailboxes (workspace_id, from_address);
CREATE INDEX mailboxes_workspace ON mailboxes (workspace_id, id);
"#;

#[async_trait::async_trait]
impl Step for Migration {
    fn name(&self) -> &'static str {
        "m0010_mailboxes"
    }

    async fn up(&self, schema: &Schema<'_>) -> Result<(), sea_orm::DbErr> {
        schema.run(MAILBOXES).await
    }
}
