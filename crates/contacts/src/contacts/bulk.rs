//! Many contacts at once, for other areas' bulk work (imports): lookups by email, name key
//! and id, and one multi-row insert whose search indexing SQLite defers (see
//! [`search_index`](super::search_index)), in the caller's transaction. The SQL and the
//! column lists stay here.

use chrono::{DateTime, Utc};
use salesos_platform::store::Db;
use sea_orm::{DbBackend, DbErr, Value};
use uuid::Uuid;

use super::{
    model::{ContactFields, name_hash},
    search_index,
    store::{self, WRITABLE, writable_values},
};
use crate::platform::store::{
    by_ids_in_workspace, by_key_in_workspace, exec_rows, select_in, statement,
};

pub use store::{ContactRow, update};

/// The workspace's contacts with one of `emails` (lower-cased, as stored).
pub async fn find_by_emails<C: Db>(
    conn: &C,
    workspace_id: Uuid,
    emails: Vec<String>,
) -> Result<Vec<ContactRow>, DbErr> {
    let head = format!(
        "SELECT {columns} FROM contacts WHERE workspace_id = $1 AND email IN",
        columns = ContactRow::COLUMNS
    );
    select_in(conn, &head, workspace_id, emails).await
}

/// The workspace's contacts whose [`name_key`](super::model::name_key) is one of `keys`.
/// Rows are found by the keys' hashes and kept only where their own key is one asked for.
pub async fn find_by_name_keys<C: Db>(
    conn: &C,
    workspace_id: Uuid,
    keys: Vec<String>,
) -> Result<Vec<ContactRow>, DbErr> {
    let wanted: std::collections::HashSet<String> = keys.into_iter().collect();
    let hashes: Vec<i64> = wanted.iter().map(|k| name_hash(k)).collect();
    // By the name-hash index, never by one led by the workspace (see `by_key_in_workspace`).
    let head = by_key_in_workspace::<ContactRow>(conn.get_database_backend(), "name_hash");
    let rows: Vec<ContactRow> = select_in(conn, &head, workspace_id, hashes).await?;
    Ok(rows
        .into_iter()
        .filter(|r| r.fields().name_key().is_some_and(|k| wanted.contains(&k)))
        .collect())
}

/// The custom field names the workspace's contacts use, in order.
pub async fn custom_field_keys<C: Db>(conn: &C, workspace_id: Uuid) -> Result<Vec<String>, DbErr> {
    use sea_orm::FromQueryResult;
    #[derive(FromQueryResult)]
    struct Key {
        key: String,
    }
    let backend = conn.get_database_backend();
    let sql = match backend {
        DbBackend::Postgres => {
            "SELECT DISTINCT jsonb_object_keys(custom_fields) AS key FROM contacts WHERE workspace_id = $1"
        }
        _ => {
            "SELECT DISTINCT j.key AS key FROM contacts, json_each(contacts.custom_fields) AS j \
             WHERE contacts.workspace_id = $1"
        }
    };
    let stmt = statement(backend, sql, vec![workspace_id.into()]);
    let keys: std::collections::BTreeSet<String> = Key::find_by_statement(stmt)
        .all(conn)
        .await?
        .into_iter()
        .map(|k| k.key)
        .collect();
    Ok(keys.into_iter().collect())
}

/// The workspace's contacts among `ids`.
pub async fn find_by_ids<C: Db>(
    conn: &C,
    workspace_id: Uuid,
    ids: Vec<Uuid>,
) -> Result<Vec<ContactRow>, DbErr> {
    let head = by_ids_in_workspace::<ContactRow>(conn.get_database_backend());
    select_in(conn, &head, workspace_id, ids).await
}

/// Insert new contacts, created and updated `at`, in multi-row statements. On SQLite
/// they get consecutive row ids, one range the search index takes in later.
pub async fn insert<C: Db>(
    conn: &C,
    workspace_id: Uuid,
    contacts: &[(Uuid, &ContactFields)],
    at: DateTime<Utc>,
) -> Result<(), DbErr> {
    if contacts.is_empty() {
        return Ok(());
    }
    let sqlite = conn.get_database_backend() == DbBackend::Sqlite;
    let first_rid = if sqlite {
        search_index::next_rid(conn).await?
    } else {
        0
    };
    let mut rid = first_rid;
    let rows = contacts
        .iter()
        .map(|(id, fields)| {
            let mut row: Vec<Value> = Vec::with_capacity(WRITABLE.len() + 5);
            if sqlite {
                row.push(rid.into());
                rid += 1;
            }
            row.extend([(*id).into(), workspace_id.into()]);
            row.extend(writable_values(fields));
            row.extend([at.into(), at.into()]);
            row
        })
        .collect();
    let mut columns = if sqlite {
        vec!["rid", "id", "workspace_id"]
    } else {
        vec!["id", "workspace_id"]
    };
    columns.extend(WRITABLE);
    columns.extend(["created_at", "updated_at"]);
    if sqlite {
        search_index::defer(conn, first_rid, rid - 1).await?;
    }
    exec_rows(
        conn,
        &format!("INSERT INTO contacts ({}) {{rows}}", columns.join(", ")),
        rows,
    )
    .await
    .map(drop)
}
