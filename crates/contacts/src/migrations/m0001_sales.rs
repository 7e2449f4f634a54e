//! Contacts and accounts with their timeline, and substring search over them.

use salesos_platform::store::migrations::{Migration as Step, Schema};
use sea_orm::DbBackend;

pub struct Migration;

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
impl Step for Migration {
    fn name(&self) -> &'static str {
        "m0001_sales"
    }

    fn replaces(&self) -> Option<&'static str> {
        Some("m0001_core")
    }

    async fn up(&self, schema: &Schema<'_>) -> Result<(), sea_orm::DbErr> {
        // SQLite needs an INTEGER PRIMARY KEY for the full-text index to point at rows by a
        // row id that VACUUM never renumbers; the UUID stays the identity everywhere else.
        let contact_key = match schema.backend() {
            DbBackend::Postgres => "id {uuid} PRIMARY KEY",
            _ => "rid integer PRIMARY KEY, id {uuid} NOT NULL UNIQUE",
        };
        schema
            .run(&SALES.replace("{contact_key}", contact_key))
            .await?;
        match schema.backend() {
            DbBackend::Postgres => schema.run(SEARCH_POSTGRES).await,
            _ => schema.run(SEARCH_SQLITE).await,
        }
    }
}
