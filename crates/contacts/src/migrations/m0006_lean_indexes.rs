//! Contacts and accounts on the storage conventions (README, "Storage conventions"):
//! lists in creation order walk `(workspace_id, id)`, since ids are UUIDv7 made by the
//! application's clock, so no index carries `created_at`; a filter's index ends in `id`;
//! indexes over a column most rows leave empty are partial; the account of a contact,
//! unique across workspaces, is indexed alone; and the name a contact without an email is
//! matched by is indexed as a 64-bit hash instead of its text (about 60 bytes a row).
//!
//! Measured by `bench/import.sh` against the indexes this replaces (`bench/floor/`).

use salesos_platform::store::{
    exec,
    migrations::{Migration as Step, Schema},
    statement,
};
use sea_orm::FromQueryResult;
use uuid::Uuid;

use crate::contacts::model::{name_hash, name_key};

pub struct Migration;

const INDEXES: &str = r#"
DROP INDEX contacts_created;
CREATE INDEX contacts_workspace ON contacts (workspace_id, id);
DROP INDEX contacts_status;
CREATE INDEX contacts_status ON contacts (workspace_id, status, id);
DROP INDEX contacts_owner;
CREATE INDEX contacts_owner ON contacts (workspace_id, owner_id, status, id);
DROP INDEX contacts_tier;
CREATE INDEX contacts_tier ON contacts (workspace_id, tier, id) WHERE tier IS NOT NULL;
DROP INDEX contacts_account;
CREATE INDEX contacts_account ON contacts (account_id, id) WHERE account_id IS NOT NULL;
DROP INDEX contacts_name_key;
ALTER TABLE contacts ADD COLUMN name_hash {bigint};
DROP INDEX accounts_created;
CREATE INDEX accounts_workspace ON accounts (workspace_id, id);
DROP INDEX accounts_owner;
CREATE INDEX accounts_owner ON accounts (workspace_id, owner_id, status, id);
"#;

/// Built after the existing rows have their hashes, and the text key dropped.
const NAME_HASH: &str = r#"
CREATE INDEX contacts_name_hash ON contacts (name_hash) WHERE name_hash IS NOT NULL;
ALTER TABLE contacts DROP COLUMN name_key;
"#;

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
        "m0006_lean_indexes"
    }

    async fn up(&self, schema: &Schema<'_>) -> Result<(), sea_orm::DbErr> {
        schema.run(INDEXES).await?;
        // Existing contacts get their hashes from the function new rows use, a page at a
        // time in id order.
        let (conn, backend) = (schema.conn(), schema.backend());
        let mut after = Uuid::nil();
        loop {
            let page = Person::find_by_statement(statement(
                backend,
                "SELECT id, first_name, last_name, account_id FROM contacts WHERE id > $1 \
                 ORDER BY id LIMIT 5000",
                vec![after.into()],
            ))
            .all(conn)
            .await?;
            let Some(last) = page.last() else { break };
            after = last.id;
            for p in &page {
                let hash = name_key(
                    p.first_name.as_deref(),
                    p.last_name.as_deref(),
                    p.account_id,
                )
                .map(|k| name_hash(&k));
                if hash.is_some() {
                    exec(
                        conn,
                        "UPDATE contacts SET name_hash = $1 WHERE id = $2",
                        vec![hash.into(), p.id.into()],
                    )
                    .await?;
                }
            }
        }
        schema.run(NAME_HASH).await
    }
}
