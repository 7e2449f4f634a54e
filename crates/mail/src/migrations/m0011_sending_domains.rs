//! Sending domains: one row per domain per workspace, its DKIM keys sealed, and what DNS
//! said of each record at the last check.

use salesos_platform::store::migrations::{Migration as Step, Schema};

pub struct Migration;

const DOMAINS: &str = r#"
CREATE TABLE sending_domains (
    id {uuid} PRIMARY KEY,
    workspace_id {uuid} NOT NULL REFERENCES workspaces(id) ON DELETE CASCADE,
    domain text NOT NULL,
    dkim_selector text NOT NULL,
    dkim_key text NOT NULL,
    dkim_public text NOT NULL,
    ed25519_selector text,
    ed25519_key text,
    ed25519_public text,
    spf_include text,
    dkim_status text NOT NULL,
    dkim_detail text,
    ed25519_status text NOT NULL,
    ed25519_detail text,
    spf_status text NOT NULL,
    spf_detail text,
    dmarc_status text NOT NULL,
    dmarc_detail text,
    mx_status text NOT NULL,
    mx_detail text,
    checked_at {ts},
    created_at {ts} NOT NULL,
    updated_at {ts} NOT NULL
);
CREATE UNIQUE INDEX sending_domains_domain ON sending_domains (workspace_id, domain);
CREATE INDEX sending_domains_workspace ON sending_domains (workspace_id, id);
"#;

#[async_trait::async_trait]
impl Step for Migration {
    fn name(&self) -> &'static str {
        "m0011_sending_domains"
    }

    async fn up(&self, schema: &Schema<'_>) -> Result<(), sea_orm::DbErr> {
        schema.run(DOMAINS).await
    }
}
