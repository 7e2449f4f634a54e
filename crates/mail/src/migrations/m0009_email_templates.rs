//! Email templates: one row per template, its declared and used variables as JSON lists.

use salesos_platform::store::migrations::{Migration as Step, Schema};

pub struct Migration;

const EMAIL_TEMPLATES: &str = r#"
CREATE TABLE email_templates (
    id {uuid} PRIMARY KEY,
    workspace_id {uuid} NOT NULL REFERENCES workspaces(id) ON DELETE CASCADE,
    name text NOT NULL,
    subject text NOT NULL,
    html text NOT NULL,
    text_body text,
    variables {json} NOT NULL,
    uses {json} NOT NULL,
    created_by {uuid} REFERENCES users(id) ON DELETE SET NULL,
    created_at {ts} NOT NULL,
    updated_at {ts} NOT NULL
);
CREATE UNIQUE INDEX email_templates_name ON email_templates (workspace_id, name);
CREATE INDEX email_templates_workspace ON email_templates (workspace_id, id);
"#;

#[async_trait::async_trait]
impl Step for Migration {
    fn name(&self) -> &'static str {
        "m0009_email_templates"
    }

    async fn up(&self, schema: &Schema<'_>) -> Result<(), sea_orm::DbErr> {
        schema.run(EMAIL_TEMPLATES).await
    }
}
