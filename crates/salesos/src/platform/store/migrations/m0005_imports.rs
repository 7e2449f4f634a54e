//! Imports: each file's options, progress and counts; the uploaded file itself (in chunks,
//! so any node can run the import); one outcome per input row. Contacts gain tags, and
//! contacts and accounts a matching key (normalised name) so duplicates are found by index.

use sea_orm::{ConnectionTrait, FromQueryResult};
use sea_orm_migration::prelude::*;
use uuid::Uuid;

use super::run_script;
use crate::{
    domains::{contacts::model::name_key, imports::normalize::company_key},
    platform::store::{exec, statement},
};

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m0005_imports"
    }
}

const IMPORTS: &str = r#"
ALTER TABLE contacts ADD COLUMN tags {json} NOT NULL DEFAULT '[]';
ALTER TABLE contacts ADD COLUMN name_key text;
CREATE INDEX contacts_name_key ON contacts (workspace_id, name_key);
ALTER TABLE accounts ADD COLUMN name_key text;
CREATE INDEX accounts_name_key ON accounts (workspace_id, name_key);
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

/// SQLite: bulk-inserted contacts are indexed for search later, in large chunks (see
/// `contacts::search_index`); the triggers leave rows in the backlog alone.
const SEARCH_BACKLOG_SQLITE: &str = r#"
CREATE TABLE search_backlog (low integer PRIMARY KEY, high integer NOT NULL);
DROP TRIGGER contacts_fts_insert;
DROP TRIGGER contacts_fts_delete;
DROP TRIGGER contacts_fts_update;
CREATE TRIGGER contacts_fts_insert AFTER INSERT ON contacts WHEN NOT EXISTS (SELECT 1 FROM search_backlog WHERE new.rid BETWEEN low AND high) BEGIN INSERT INTO contacts_fts(rowid, search_text) VALUES (new.rid, new.search_text); END;
CREATE TRIGGER contacts_fts_delete AFTER DELETE ON contacts WHEN NOT EXISTS (SELECT 1 FROM search_backlog WHERE old.rid BETWEEN low AND high) BEGIN INSERT INTO contacts_fts(contacts_fts, rowid, search_text) VALUES ('delete', old.rid, old.search_text); END;
CREATE TRIGGER contacts_fts_update AFTER UPDATE OF search_text ON contacts WHEN NOT EXISTS (SELECT 1 FROM search_backlog WHERE old.rid BETWEEN low AND high) BEGIN INSERT INTO contacts_fts(contacts_fts, rowid, search_text) VALUES ('delete', old.rid, old.search_text); INSERT INTO contacts_fts(rowid, search_text) VALUES (new.rid, new.search_text); END;
"#;

#[derive(FromQueryResult)]
struct Named {
    id: Uuid,
    name: String,
}

#[derive(FromQueryResult)]
struct Person {
    id: Uuid,
    first_name: Option<String>,
    last_name: Option<String>,
    account_id: Option<Uuid>,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        run_script(manager, IMPORTS).await?;
        if manager.get_database_backend() == sea_orm::DbBackend::Sqlite {
            run_script(manager, SEARCH_BACKLOG_SQLITE).await?;
        }
        // Existing rows get their matching keys, computed by the same functions new rows use.
        let conn = manager.get_connection();
        let backend = conn.get_database_backend();
        let accounts =
            Named::find_by_statement(statement(backend, "SELECT id, name FROM accounts", vec![]))
                .all(conn)
                .await?;
        for a in accounts {
            exec(
                conn,
                "UPDATE accounts SET name_key = $1 WHERE id = $2",
                vec![company_key(&a.name).into(), a.id.into()],
            )
            .await?;
        }
        let people = Person::find_by_statement(statement(
            backend,
            "SELECT id, first_name, last_name, account_id FROM contacts",
            vec![],
        ))
        .all(conn)
        .await?;
        for p in people {
            let key = name_key(
                p.first_name.as_deref(),
                p.last_name.as_deref(),
                p.account_id,
            );
            exec(
                conn,
                "UPDATE contacts SET name_key = $1 WHERE id = $2",
                vec![key.into(), p.id.into()],
            )
            .await?;
        }
        Ok(())
    }
}
