//! Many accounts at once, for other areas' bulk work (imports): lookups by domain and by
//! name key, and one multi-row insert, in the caller's transaction. The SQL and the
//! column lists stay here.

use chrono::{DateTime, Utc};
use salesos_platform::store::Db;
use sea_orm::{DbErr, Value};
use uuid::Uuid;

use super::{
    model::AccountFields,
    store::{self, WRITABLE, writable_values},
};
use crate::platform::store::{by_ids_in_workspace, exec_rows, select_in};

pub use store::{AccountRow, update};

/// The workspace's accounts with one of `domains`.
pub async fn find_by_domains<C: Db>(
    conn: &C,
    workspace_id: Uuid,
    domains: Vec<String>,
) -> Result<Vec<AccountRow>, DbErr> {
    let head = format!(
        "SELECT {columns} FROM accounts WHERE workspace_id = $1 AND domain IN",
        columns = AccountRow::COLUMNS
    );
    select_in(conn, &head, workspace_id, domains).await
}

/// The workspace's accounts whose [`company_key`](super::model::company_key) is one of
/// `keys`.
pub async fn find_by_name_keys<C: Db>(
    conn: &C,
    workspace_id: Uuid,
    keys: Vec<String>,
) -> Result<Vec<AccountRow>, DbErr> {
    let head = format!(
        "SELECT {columns} FROM accounts WHERE workspace_id = $1 AND name_key IN",
        columns = AccountRow::COLUMNS
    );
    select_in(conn, &head, workspace_id, keys).await
}

/// The workspace's accounts among `ids`.
pub async fn find_by_ids<C: Db>(
    conn: &C,
    workspace_id: Uuid,
    ids: Vec<Uuid>,
) -> Result<Vec<AccountRow>, DbErr> {
    let head = by_ids_in_workspace::<AccountRow>(conn.get_database_backend());
    select_in(conn, &head, workspace_id, ids).await
}

/// Insert new accounts, created and updated `at`, in multi-row statements.
pub async fn insert<C: Db>(
    conn: &C,
    workspace_id: Uuid,
    accounts: &[(Uuid, &AccountFields)],
    at: DateTime<Utc>,
) -> Result<(), DbErr> {
    if accounts.is_empty() {
        return Ok(());
    }
    let rows = accounts
        .iter()
        .map(|(id, fields)| {
            let mut row: Vec<Value> = Vec::with_capacity(WRITABLE.len() + 4);
            row.extend([(*id).into(), workspace_id.into()]);
            row.extend(writable_values(fields));
            row.extend([at.into(), at.into()]);
            row
        })
        .collect();
    let mut columns = vec!["id", "workspace_id"];
    columns.extend(WRITABLE);
    columns.extend(["created_at", "updated_at"]);
    exec_rows(
        conn,
        &format!("INSERT INTO accounts ({}) {{rows}}", columns.join(", ")),
        rows,
    )
    .await
    .map(drop)
}
