//! Queries for the suppression list.

use chrono::{DateTime, Utc};
use salesos_platform::store::Db;
use sea_orm::{DbErr, FromQueryResult};
use uuid::Uuid;

use super::{Kind, Reason, Suppression};
use crate::platform::store::{
    UniqueKey, exec, find_in_workspace,
    query::{SqlBuilder, like_escape},
    statement,
};

salesos_platform::table! {
    #[derive(Clone, Debug)]
    pub struct SuppressionRow in "suppressions" {
        pub id: Uuid,
        pub workspace_id: Uuid,
        pub kind: String,
        pub value: String,
        pub reason: String,
        pub source: String,
        pub note: Option<String>,
        pub created_by: Option<Uuid>,
        pub created_at: DateTime<Utc>,
    }
}

/// One entry per address or domain in a workspace.
pub const VALUE_KEY: UniqueKey = UniqueKey {
    index: "suppressions_value",
    table: "suppressions",
    columns: &["workspace_id", "kind", "value"],
};

impl SuppressionRow {
    pub fn shown(&self) -> Suppression {
        Suppression {
            id: self.id,
            kind: self.kind.parse().unwrap_or(Kind::Address),
            value: self.value.clone(),
            reason: self.reason.parse().unwrap_or(Reason::Manual),
            source: self.source.clone(),
            note: self.note.clone(),
            created_by: self.created_by,
            created_at: self.created_at,
        }
    }
}

pub async fn insert<C: Db>(conn: &C, r: &SuppressionRow) -> Result<(), DbErr> {
    exec(
        conn,
        &format!(
            "INSERT INTO suppressions ({}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
            SuppressionRow::COLUMNS
        ),
        vec![
            r.id.into(),
            r.workspace_id.into(),
            r.kind.clone().into(),
            r.value.clone().into(),
            r.reason.clone().into(),
            r.source.clone().into(),
            r.note.clone().into(),
            r.created_by.into(),
            r.created_at.into(),
        ],
    )
    .await
    .map(drop)
}

/// Insert unless the workspace lists that value already; whether it was inserted.
pub async fn insert_new<C: Db>(conn: &C, r: &SuppressionRow) -> Result<bool, DbErr> {
    let added = exec(
        conn,
        &format!(
            "INSERT INTO suppressions ({}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) \
             ON CONFLICT (workspace_id, kind, value) DO NOTHING",
            SuppressionRow::COLUMNS
        ),
        vec![
            r.id.into(),
            r.workspace_id.into(),
            r.kind.clone().into(),
            r.value.clone().into(),
            r.reason.clone().into(),
            r.source.clone().into(),
            r.note.clone().into(),
            r.created_by.into(),
            r.created_at.into(),
        ],
    )
    .await?;
    Ok(added > 0)
}

pub async fn get<C: Db>(
    conn: &C,
    workspace_id: Uuid,
    id: Uuid,
) -> Result<Option<SuppressionRow>, DbErr> {
    find_in_workspace(conn, workspace_id, id).await
}

pub async fn delete<C: Db>(conn: &C, workspace_id: Uuid, id: Uuid) -> Result<u64, DbErr> {
    exec(
        conn,
        "DELETE FROM suppressions WHERE workspace_id = $1 AND id = $2",
        vec![workspace_id.into(), id.into()],
    )
    .await
}

/// The entries among `candidates` (kind and value) in the workspace.
pub async fn matching<C: Db>(
    conn: &C,
    workspace_id: Uuid,
    candidates: &[(Kind, String)],
) -> Result<Vec<SuppressionRow>, DbErr> {
    let mut b = SqlBuilder::new(&format!(
        "SELECT {} FROM suppressions WHERE workspace_id = $1 AND (",
        SuppressionRow::COLUMNS
    ));
    b.values.push(workspace_id.into());
    let mut first = true;
    for (kind, value) in candidates {
        let k = b.bind(kind.as_str());
        let v = b.bind(value.clone());
        b.push(&format!(
            "{}(kind = {k} AND value = {v})",
            if first { "" } else { " OR " }
        ));
        first = false;
    }
    if first {
        return Ok(Vec::new());
    }
    b.push(") ORDER BY kind, value");
    let stmt = statement(conn.get_database_backend(), &b.sql, b.values);
    SuppressionRow::find_by_statement(stmt).all(conn).await
}

/// What a list asks for.
#[derive(Debug, Default)]
pub struct Filter<'a> {
    pub kind: Option<Kind>,
    pub reason: Option<Reason>,
    /// Part of the value, lower-cased.
    pub contains: Option<&'a str>,
    /// Newest first, after this id.
    pub before: Option<Uuid>,
}

/// Newest first, `limit + 1` rows (the extra one says there is a next page).
pub async fn list<C: Db>(
    conn: &C,
    workspace_id: Uuid,
    f: &Filter<'_>,
    limit: u64,
) -> Result<Vec<SuppressionRow>, DbErr> {
    let mut b = SqlBuilder::new(&format!(
        "SELECT {} FROM suppressions WHERE workspace_id = $1",
        SuppressionRow::COLUMNS
    ));
    b.values.push(workspace_id.into());
    if let Some(k) = f.kind {
        b.and("kind", "=", k.as_str());
    }
    if let Some(r) = f.reason {
        b.and("reason", "=", r.as_str());
    }
    if let Some(text) = f.contains {
        let p = b.bind(format!("%{}%", like_escape(text)));
        b.push(&format!(" AND value LIKE {p} ESCAPE '\\'"));
    }
    if let Some(id) = f.before {
        let i = b.bind(id);
        b.push(&format!(" AND id < {i}"));
    }
    b.push(&format!(" ORDER BY id DESC LIMIT {}", limit + 1));
    let stmt = statement(conn.get_database_backend(), &b.sql, b.values);
    SuppressionRow::find_by_statement(stmt).all(conn).await
}
