//! Queries for workspaces, users, memberships, sessions, API keys and setup tokens.

use crate::store::Db;
use chrono::{DateTime, Utc};
use sea_orm::{DbErr, FromQueryResult, Value};
use uuid::Uuid;

use crate::store::{exec, find_in_workspace, statement};

#[derive(Clone, Debug, FromQueryResult)]
pub struct WorkspaceRow {
    pub id: Uuid,
    pub slug: String,
    pub name: String,
    pub created_at: DateTime<Utc>,
}

crate::table! {
    #[derive(Clone, Debug)]
    pub struct UserRow in "users" {
        pub id: Uuid,
        pub email: String,
        pub display_name: String,
        pub password_hash: String,
        pub is_active: bool,
    }
}

#[derive(Clone, Debug, FromQueryResult)]
pub struct SessionRow {
    pub id: Uuid,
    pub user_id: Uuid,
    pub workspace_id: Uuid,
    pub csrf_token: String,
    pub created_at: DateTime<Utc>,
    pub last_seen_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    pub role: Option<String>,
    pub is_active: bool,
}

crate::table! {
    #[derive(Clone, Debug)]
    pub struct ApiKeyRow in "api_keys" {
        pub id: Uuid,
        pub workspace_id: Uuid,
        pub name: String,
        pub prefix: String,
        pub secret_hash: String,
        pub role: String,
        pub created_by: Option<Uuid>,
        pub created_at: DateTime<Utc>,
        pub expires_at: Option<DateTime<Utc>>,
        pub revoked_at: Option<DateTime<Utc>>,
        pub last_used_at: Option<DateTime<Utc>>,
    }
}

/// A workspace member as listed for owner pickers.
#[derive(Clone, Debug, FromQueryResult)]
pub struct MemberRow {
    pub user_id: Uuid,
    pub email: String,
    pub display_name: String,
    pub role: String,
}

pub async fn find_workspace_by_slug<C: Db>(
    conn: &C,
    slug: &str,
) -> Result<Option<WorkspaceRow>, DbErr> {
    let stmt = statement(
        conn.get_database_backend(),
        "SELECT id, slug, name, created_at FROM workspaces WHERE slug = $1",
        vec![slug.into()],
    );
    WorkspaceRow::find_by_statement(stmt).one(conn).await
}

pub async fn find_workspace<C: Db>(conn: &C, id: Uuid) -> Result<Option<WorkspaceRow>, DbErr> {
    let stmt = statement(
        conn.get_database_backend(),
        "SELECT id, slug, name, created_at FROM workspaces WHERE id = $1",
        vec![id.into()],
    );
    WorkspaceRow::find_by_statement(stmt).one(conn).await
}

pub async fn insert_workspace<C: Db>(
    conn: &C,
    slug: &str,
    name: &str,
) -> Result<WorkspaceRow, DbErr> {
    let row = WorkspaceRow {
        id: conn.new_id(),
        slug: slug.to_owned(),
        name: name.to_owned(),
        created_at: conn.now(),
    };
    exec(
        conn,
        "INSERT INTO workspaces (id, slug, name, created_at) VALUES ($1, $2, $3, $4)",
        vec![
            row.id.into(),
            row.slug.clone().into(),
            row.name.clone().into(),
            row.created_at.into(),
        ],
    )
    .await?;
    Ok(row)
}

pub async fn count_users<C: Db>(conn: &C) -> Result<i64, DbErr> {
    let stmt = statement(
        conn.get_database_backend(),
        "SELECT COUNT(*) AS n FROM users",
        vec![],
    );
    let row = conn.query_one_raw(stmt).await?;
    Ok(row
        .map(|r| r.try_get::<i64>("", "n"))
        .transpose()?
        .unwrap_or(0))
}

pub async fn find_user_by_email<C: Db>(conn: &C, email: &str) -> Result<Option<UserRow>, DbErr> {
    let sql = format!(
        "SELECT {user_row_columns} FROM users WHERE email = $1",
        user_row_columns = UserRow::COLUMNS
    );
    let stmt = statement(conn.get_database_backend(), &sql, vec![email.into()]);
    UserRow::find_by_statement(stmt).one(conn).await
}

pub async fn insert_user<C: Db>(
    conn: &C,
    email: &str,
    display_name: &str,
    password_hash: &str,
) -> Result<Uuid, DbErr> {
    let id = conn.new_id();
    let at = conn.now();
    exec(
        conn,
        "INSERT INTO users (id, email, display_name, password_hash, is_active, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
        vec![
            id.into(),
            email.into(),
            display_name.into(),
            password_hash.into(),
            true.into(),
            at.into(),
            at.into(),
        ],
    )
    .await?;
    Ok(id)
}

pub async fn set_user_password<C: Db>(
    conn: &C,
    user_id: Uuid,
    password_hash: &str,
) -> Result<(), DbErr> {
    exec(
        conn,
        "UPDATE users SET password_hash = $1, updated_at = $2 WHERE id = $3",
        vec![password_hash.into(), conn.now().into(), user_id.into()],
    )
    .await?;
    Ok(())
}

/// Give `user` the `role` in `workspace`, replacing any role they had there.
pub async fn upsert_membership<C: Db>(
    conn: &C,
    workspace_id: Uuid,
    user_id: Uuid,
    role: &str,
) -> Result<(), DbErr> {
    exec(
        conn,
        "INSERT INTO memberships (workspace_id, user_id, role, created_at) VALUES ($1, $2, $3, $4) \
         ON CONFLICT (workspace_id, user_id) DO UPDATE SET role = excluded.role",
        vec![
            workspace_id.into(),
            user_id.into(),
            role.into(),
            conn.now().into(),
        ],
    )
    .await?;
    Ok(())
}

/// The workspaces a user belongs to, oldest membership first, with the role in each.
pub async fn memberships_of<C: Db>(
    conn: &C,
    user_id: Uuid,
) -> Result<Vec<(WorkspaceRow, String)>, DbErr> {
    #[derive(FromQueryResult)]
    struct Row {
        id: Uuid,
        slug: String,
        name: String,
        created_at: DateTime<Utc>,
        role: String,
    }
    let stmt = statement(
        conn.get_database_backend(),
        "SELECT w.id, w.slug, w.name, w.created_at, m.role FROM memberships m \
         JOIN workspaces w ON w.id = m.workspace_id WHERE m.user_id = $1 ORDER BY m.created_at, w.id",
        vec![user_id.into()],
    );
    Ok(Row::find_by_statement(stmt)
        .all(conn)
        .await?
        .into_iter()
        .map(|r| {
            (
                WorkspaceRow {
                    id: r.id,
                    slug: r.slug,
                    name: r.name,
                    created_at: r.created_at,
                },
                r.role,
            )
        })
        .collect())
}

pub async fn members<C: Db>(conn: &C, workspace_id: Uuid) -> Result<Vec<MemberRow>, DbErr> {
    let stmt = statement(
        conn.get_database_backend(),
        "SELECT u.id AS user_id, u.email, u.display_name, m.role FROM memberships m \
         JOIN users u ON u.id = m.user_id WHERE m.workspace_id = $1 ORDER BY u.display_name, u.id",
        vec![workspace_id.into()],
    );
    MemberRow::find_by_statement(stmt).all(conn).await
}

/// One member of a workspace, if `user_id` is one.
pub async fn member<C: Db>(
    conn: &C,
    workspace_id: Uuid,
    user_id: Uuid,
) -> Result<Option<MemberRow>, DbErr> {
    let stmt = statement(
        conn.get_database_backend(),
        "SELECT u.id AS user_id, u.email, u.display_name, m.role FROM memberships m \
         JOIN users u ON u.id = m.user_id WHERE m.workspace_id = $1 AND m.user_id = $2",
        vec![workspace_id.into(), user_id.into()],
    );
    MemberRow::find_by_statement(stmt).one(conn).await
}

pub async fn is_member<C: Db>(conn: &C, workspace_id: Uuid, user_id: Uuid) -> Result<bool, DbErr> {
    let stmt = statement(
        conn.get_database_backend(),
        "SELECT 1 AS one FROM memberships WHERE workspace_id = $1 AND user_id = $2",
        vec![workspace_id.into(), user_id.into()],
    );
    Ok(conn.query_one_raw(stmt).await?.is_some())
}

pub struct NewSession<'a> {
    pub token_hash: &'a str,
    pub user_id: Uuid,
    pub workspace_id: Uuid,
    pub csrf_token: &'a str,
    pub expires_at: DateTime<Utc>,
}

pub async fn insert_session<C: Db>(conn: &C, s: NewSession<'_>) -> Result<Uuid, DbErr> {
    let id = conn.new_id();
    let at = conn.now();
    exec(
        conn,
        "INSERT INTO sessions (id, token_hash, user_id, workspace_id, csrf_token, created_at, last_seen_at, expires_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        vec![
            id.into(),
            s.token_hash.into(),
            s.user_id.into(),
            s.workspace_id.into(),
            s.csrf_token.into(),
            at.into(),
            at.into(),
            s.expires_at.into(),
        ],
    )
    .await?;
    Ok(id)
}

/// A session by its token digest, with the user's current role in its workspace.
pub async fn find_session<C: Db>(conn: &C, token_hash: &str) -> Result<Option<SessionRow>, DbErr> {
    let stmt = statement(
        conn.get_database_backend(),
        "SELECT s.id, s.user_id, s.workspace_id, s.csrf_token, s.created_at, s.last_seen_at, s.expires_at, \
                m.role, u.is_active \
         FROM sessions s JOIN users u ON u.id = s.user_id \
         LEFT JOIN memberships m ON m.workspace_id = s.workspace_id AND m.user_id = s.user_id \
         WHERE s.token_hash = $1",
        vec![token_hash.into()],
    );
    SessionRow::find_by_statement(stmt).one(conn).await
}

pub async fn touch_session<C: Db>(conn: &C, id: Uuid) -> Result<(), DbErr> {
    exec(
        conn,
        "UPDATE sessions SET last_seen_at = $1 WHERE id = $2",
        vec![conn.now().into(), id.into()],
    )
    .await?;
    Ok(())
}

pub async fn delete_session<C: Db>(conn: &C, id: Uuid) -> Result<(), DbErr> {
    exec(conn, "DELETE FROM sessions WHERE id = $1", vec![id.into()]).await?;
    Ok(())
}

pub async fn insert_api_key<C: Db>(conn: &C, k: &ApiKeyRow) -> Result<(), DbErr> {
    let sql = format!(
        "INSERT INTO api_keys ({api_key_row_columns}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
        api_key_row_columns = ApiKeyRow::COLUMNS
    );
    exec(
        conn,
        &sql,
        vec![
            k.id.into(),
            k.workspace_id.into(),
            k.name.clone().into(),
            k.prefix.clone().into(),
            k.secret_hash.clone().into(),
            k.role.clone().into(),
            k.created_by.into(),
            k.created_at.into(),
            k.expires_at.into(),
            k.revoked_at.into(),
            k.last_used_at.into(),
        ],
    )
    .await?;
    Ok(())
}

pub async fn find_api_key_by_prefix<C: Db>(
    conn: &C,
    prefix: &str,
) -> Result<Option<ApiKeyRow>, DbErr> {
    let sql = format!(
        "SELECT {api_key_row_columns} FROM api_keys WHERE prefix = $1",
        api_key_row_columns = ApiKeyRow::COLUMNS
    );
    let stmt = statement(conn.get_database_backend(), &sql, vec![prefix.into()]);
    ApiKeyRow::find_by_statement(stmt).one(conn).await
}

pub async fn find_api_key<C: Db>(
    conn: &C,
    workspace_id: Uuid,
    id: Uuid,
) -> Result<Option<ApiKeyRow>, DbErr> {
    find_in_workspace(conn, workspace_id, id).await
}

/// A workspace's keys, newest first, after the `(created_at, id)` position if given.
pub async fn list_api_keys<C: Db>(
    conn: &C,
    workspace_id: Uuid,
    after: Option<(DateTime<Utc>, Uuid)>,
    limit: u64,
) -> Result<Vec<ApiKeyRow>, DbErr> {
    let mut values: Vec<Value> = vec![workspace_id.into()];
    let mut sql = format!(
        "SELECT {api_key_row_columns} FROM api_keys WHERE workspace_id = $1",
        api_key_row_columns = ApiKeyRow::COLUMNS
    );
    if let Some((at, id)) = after {
        values.push(at.into());
        values.push(id.into());
        sql.push_str(" AND (created_at, id) < ($2, $3)");
    }
    sql.push_str(&format!(
        " ORDER BY created_at DESC, id DESC LIMIT {}",
        limit + 1
    ));
    let stmt = statement(conn.get_database_backend(), &sql, values);
    ApiKeyRow::find_by_statement(stmt).all(conn).await
}

pub async fn revoke_api_key<C: Db>(conn: &C, workspace_id: Uuid, id: Uuid) -> Result<u64, DbErr> {
    exec(
        conn,
        "UPDATE api_keys SET revoked_at = $1 WHERE workspace_id = $2 AND id = $3 AND revoked_at IS NULL",
        vec![conn.now().into(), workspace_id.into(), id.into()],
    )
    .await
}

pub async fn touch_api_key<C: Db>(conn: &C, id: Uuid) -> Result<(), DbErr> {
    exec(
        conn,
        "UPDATE api_keys SET last_used_at = $1 WHERE id = $2",
        vec![conn.now().into(), id.into()],
    )
    .await?;
    Ok(())
}

pub async fn insert_setup_token<C: Db>(
    conn: &C,
    token_hash: &str,
    expires_at: DateTime<Utc>,
) -> Result<(), DbErr> {
    exec(
        conn,
        "INSERT INTO setup_tokens (token_hash, created_at, expires_at) VALUES ($1, $2, $3)",
        vec![token_hash.into(), conn.now().into(), expires_at.into()],
    )
    .await?;
    Ok(())
}

/// Is this an unexpired setup token?
pub async fn setup_token_valid<C: Db>(conn: &C, token_hash: &str) -> Result<bool, DbErr> {
    let stmt = statement(
        conn.get_database_backend(),
        "SELECT 1 AS one FROM setup_tokens WHERE token_hash = $1 AND expires_at > $2",
        vec![token_hash.into(), conn.now().into()],
    );
    Ok(conn.query_one_raw(stmt).await?.is_some())
}

/// Spend every setup token: setup happens once.
pub async fn clear_setup_tokens<C: Db>(conn: &C) -> Result<(), DbErr> {
    exec(conn, "DELETE FROM setup_tokens", vec![]).await?;
    Ok(())
}
