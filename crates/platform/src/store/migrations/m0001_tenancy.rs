//! Platform core: tenancy, people and access, the audit log and idempotent POST replies.

use super::{Migration as Step, Schema};

pub struct Migration;

const TENANCY: &str = r#"
CREATE TABLE workspaces (
    id {uuid} PRIMARY KEY,
    slug text NOT NULL UNIQUE,
    name text NOT NULL,
    created_at {ts} NOT NULL
);
CREATE TABLE users (
    id {uuid} PRIMARY KEY,
    email text NOT NULL UNIQUE,
    display_name text NOT NULL,
    password_hash text NOT NULL,
    is_active {bool} NOT NULL,
    created_at {ts} NOT NULL,
    updated_at {ts} NOT NULL
);
CREATE TABLE memberships (
    workspace_id {uuid} NOT NULL REFERENCES workspaces(id) ON DELETE CASCADE,
    user_id {uuid} NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    role text NOT NULL,
    created_at {ts} NOT NULL,
    PRIMARY KEY (workspace_id, user_id)
);
CREATE INDEX memberships_user ON memberships (user_id);
CREATE TABLE sessions (
    id {uuid} PRIMARY KEY,
    token_hash text NOT NULL UNIQUE,
    user_id {uuid} NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    workspace_id {uuid} NOT NULL REFERENCES workspaces(id) ON DELETE CASCADE,
    csrf_token text NOT NULL,
    created_at {ts} NOT NULL,
    last_seen_at {ts} NOT NULL,
    expires_at {ts} NOT NULL
);
CREATE INDEX sessions_user ON sessions (user_id);
CREATE TABLE api_keys (
    id {uuid} PRIMARY KEY,
    workspace_id {uuid} NOT NULL REFERENCES workspaces(id) ON DELETE CASCADE,
    name text NOT NULL,
    prefix text NOT NULL UNIQUE,
    secret_hash text NOT NULL,
    role text NOT NULL,
    created_by {uuid} REFERENCES users(id) ON DELETE SET NULL,
    created_at {ts} NOT NULL,
    expires_at {ts},
    revoked_at {ts},
    last_used_at {ts}
);
CREATE INDEX api_keys_workspace ON api_keys (workspace_id, created_at);
CREATE TABLE setup_tokens (
    token_hash text PRIMARY KEY,
    created_at {ts} NOT NULL,
    expires_at {ts} NOT NULL
);
CREATE TABLE audit_log (
    id {uuid} PRIMARY KEY,
    workspace_id {uuid} REFERENCES workspaces(id) ON DELETE CASCADE,
    actor_type text NOT NULL,
    actor_id text,
    action text NOT NULL,
    entity_type text NOT NULL,
    entity_id text,
    before_state {json},
    after_state {json},
    request_id text,
    created_at {ts} NOT NULL
);
CREATE INDEX audit_log_workspace ON audit_log (workspace_id, id);
CREATE TABLE idempotency_keys (
    workspace_id {uuid} NOT NULL REFERENCES workspaces(id) ON DELETE CASCADE,
    idempotency_key text NOT NULL,
    request_hash text NOT NULL,
    status_code integer,
    content_type text,
    response_body text,
    created_at {ts} NOT NULL,
    PRIMARY KEY (workspace_id, idempotency_key)
);
"#;

#[async_trait::async_trait]
impl Step for Migration {
    fn name(&self) -> &'static str {
        "m0001_tenancy"
    }

    fn replaces(&self) -> Option<&'static str> {
        Some("m0001_core")
    }

    async fn up(&self, schema: &Schema<'_>) -> Result<(), sea_orm::DbErr> {
        schema.run(TENANCY).await
    }
}
