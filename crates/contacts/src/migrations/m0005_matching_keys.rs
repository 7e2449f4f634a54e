//! Matching keys, so imports find duplicates by index: a normalised name on contacts and
//! accounts; and tags on contacts. On SQLite, the backlog of bulk-inserted contacts that
//! search indexes later.

use salesos_platform::store::{
    exec,
    migrations::{Migration as Step, Schema},
    statement,
};
use sea_orm::FromQueryResult;
use uuid::Uuid;

use crate::{accounts::model::company_key, contacts::model::name_key};

pub struct Migration;

const KEYS: &str = r#"
ALTER TABLE contacts ADD COLUMN tags {json} NOT NULL DEFAULT '[]';
ALTER TABLE contacts ADD COLUMN name_key text;
CREATE INDEX contacts_name_key ON contacts (workspace_id, name_key);
ALTER TABLE accounts ADD COLUMN name_key text;
CREATE INDEX accounts_name_key ON accounts (workspace_id, name_key);
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
impl Step for Migration {
    fn name(&self) -> &'static str {
        "m0005_matching_keys"
    }

    fn replaces(&self) -> Option<&'static str> {
        Some("m0005_imports")
    }

    async fn up(&self, schema: &Schema<'_>) -> Result<(), sea_orm::DbErr> {
        schema.run(KEYS).await?;
        if schema.backend() == sea_orm::DbBackend::Sqlite {
            schema.run(SEARCH_BACKLOG_SQLITE).await?;
        }
        // Existing rows get their matching keys, computed by the same functions new rows use.
        let conn = schema.conn();
        let backend = schema.backend();
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
