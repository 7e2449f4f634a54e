//! Platform core: tenancy, people and access, contacts and accounts with their timeline,
//! the audit log and idempotent POST replies.

use sea_orm::DbBackend;
use sea_orm_migration::prelude::*;

use super::run_script;

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m0001_core"
    }
}

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

const SALES: &str = r#"
CREATE TABLE accounts (
    id {uuid} PRIMARY KEY,
    workspace_id {uuid} NOT NULL REFERENCES workspaces(id) ON DELETE CASCADE,
    name text NOT NULL,
    domain text,
    industry text,
    company_size text,
    annual_revenue_micros {bigint},
    location text,
    fit_score {float},
    intent_score {float},
    status text NOT NULL,
    owner_id {uuid} REFERENCES users(id) ON DELETE SET NULL,
    crm_ids {json} NOT NULL,
    metadata {json} NOT NULL,
    search_text text NOT NULL,
    created_at {ts} NOT NULL,
    updated_at {ts} NOT NULL
);
CREATE UNIQUE INDEX accounts_domain ON accounts (workspace_id, domain);
CREATE INDEX accounts_created ON accounts (workspace_id, created_at, id);
CREATE INDEX accounts_updated ON accounts (workspace_id, updated_at, id);
CREATE INDEX accounts_name ON accounts (workspace_id, name, id);
CREATE INDEX accounts_owner ON accounts (workspace_id, owner_id, status, created_at, id);
CREATE TABLE contacts (
    {contact_key},
    workspace_id {uuid} NOT NULL REFERENCES workspaces(id) ON DELETE CASCADE,
    account_id {uuid} REFERENCES accounts(id) ON DELETE SET NULL,
    owner_id {uuid} REFERENCES users(id) ON DELETE SET NULL,
    first_name text,
    last_name text,
    email text,
    phone text,
    linkedin_url text,
    title text,
    seniority text,
    company text,
    status text NOT NULL,
    tier integer,
    engagement_score integer NOT NULL,
    intent_score integer NOT NULL,
    timezone text,
    country text,
    city text,
    source text,
    consent_basis text,
    consent_at {ts},
    consent_source text,
    do_not_contact {bool} NOT NULL,
    custom_fields {json} NOT NULL,
    crm_ids {json} NOT NULL,
    search_text text NOT NULL,
    created_at {ts} NOT NULL,
    updated_at {ts} NOT NULL
);
CREATE UNIQUE INDEX contacts_email ON contacts (workspace_id, email);
CREATE INDEX contacts_created ON contacts (workspace_id, created_at, id);
CREATE INDEX contacts_updated ON contacts (workspace_id, updated_at, id);
CREATE INDEX contacts_status ON contacts (workspace_id, status, created_at, id);
CREATE INDEX contacts_owner ON contacts (workspace_id, owner_id, status, created_at, id);
CREATE INDEX contacts_tier ON contacts (workspace_id, tier, created_at, id);
CREATE INDEX contacts_account ON contacts (workspace_id, account_id, created_at, id);
CREATE INDEX contacts_engagement ON contacts (workspace_id, engagement_score, id);
CREATE TABLE activities (
    id {uuid} PRIMARY KEY,
    workspace_id {uuid} NOT NULL REFERENCES workspaces(id) ON DELETE CASCADE,
    contact_id {uuid} REFERENCES contacts(id) ON DELETE CASCADE,
    account_id {uuid} REFERENCES accounts(id) ON DELETE CASCADE,
    kind text NOT NULL,
    subject text NOT NULL,
    body text,
    actor_type text NOT NULL,
    actor_id text,
    metadata {json} NOT NULL,
    occurred_at {ts} NOT NULL,
    created_at {ts} NOT NULL
);
CREATE INDEX activities_contact ON activities (workspace_id, contact_id, occurred_at, id);
CREATE INDEX activities_account ON activities (workspace_id, account_id, occurred_at, id);
"#;

/// Substring search over name, email, company and title. PostgreSQL: a trigram GIN index
/// on the lower-cased search text. SQLite: an FTS5 trigram index kept by triggers, keyed by
/// the table's stable integer row id.
const SEARCH_POSTGRES: &str = r#"
CREATE EXTENSION IF NOT EXISTS pg_trgm;
CREATE INDEX contacts_search ON contacts USING gin (search_text gin_trgm_ops);
CREATE INDEX accounts_search ON accounts USING gin (search_text gin_trgm_ops);
"#;

const SEARCH_SQLITE: &str = r#"
CREATE VIRTUAL TABLE contacts_fts USING fts5(search_text, content='contacts', content_rowid='rid', tokenize='trigram');
CREATE TRIGGER contacts_fts_insert AFTER INSERT ON contacts BEGIN
  INSERT INTO contacts_fts(rowid, search_text) VALUES (new.rid, new.search_text);
END;
CREATE TRIGGER contacts_fts_delete AFTER DELETE ON contacts BEGIN
  INSERT INTO contacts_fts(contacts_fts, rowid, search_text) VALUES ('delete', old.rid, old.search_text);
END;
CREATE TRIGGER contacts_fts_update AFTER UPDATE OF search_text ON contacts BEGIN
  INSERT INTO contacts_fts(contacts_fts, rowid, search_text) VALUES ('delete', old.rid, old.search_text);
  INSERT INTO contacts_fts(rowid, search_text) VALUES (new.rid, new.search_text);
END;
"#;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let backend = manager.get_database_backend();
        // SQLite needs an INTEGER PRIMARY KEY for the full-text index to point at rows by a
        // row id that VACUUM never renumbers; the UUID stays the identity everywhere else.
        let contact_key = match backend {
            DbBackend::Postgres => "id {uuid} PRIMARY KEY",
            _ => "rid integer PRIMARY KEY, id {uuid} NOT NULL UNIQUE",
        };
        run_script(manager, TENANCY).await?;
        run_script(manager, &SALES.replace("{contact_key}", contact_key)).await?;
        match backend {
            DbBackend::Postgres => run_script(manager, SEARCH_POSTGRES).await,
            _ => run_sqlite_triggers(manager).await,
        }
    }
}

/// Trigger bodies contain `;` themselves, so the SQLite script is split on blank-line-free
/// `END;` boundaries rather than on every statement end.
async fn run_sqlite_triggers(manager: &SchemaManager<'_>) -> Result<(), DbErr> {
    let conn = manager.get_connection();
    let mut current = String::new();
    for line in SEARCH_SQLITE.lines() {
        current.push_str(line);
        current.push('\n');
        let in_trigger = current.trim_start().starts_with("CREATE TRIGGER");
        let done = if in_trigger {
            line.trim() == "END;"
        } else {
            line.trim_end().ends_with(';')
        };
        if done {
            conn.execute_unprepared(current.trim()).await?;
            current.clear();
        }
    }
    Ok(())
}
