//! The audit log: every write records who did what to which record, with the record before
//! and after, in the same transaction as the write. Admins read it at `GET /api/v1/audit`.

use crate::store::Db;
use chrono::{DateTime, Utc};
use sea_orm::{ConnectionTrait, DbErr, FromQueryResult, Value};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use crate::{
    auth::Principal,
    error::Error,
    http::{
        extract::ApiQuery,
        pagination::{Cursor, Page, page_size, paginate},
    },
    state::AppState,
    store::{exec, statement},
};

/// Who acted, when no [`Principal`] exists (the operator at the CLI, the system itself).
pub struct Actor {
    pub kind: &'static str,
    pub id: Option<String>,
    pub request_id: Option<String>,
}

impl From<&Principal> for Actor {
    fn from(p: &Principal) -> Self {
        let (kind, id) = p.actor();
        Actor {
            kind,
            id: Some(id),
            request_id: p.request_id.clone(),
        }
    }
}

impl Actor {
    pub fn operator() -> Self {
        Actor {
            kind: "operator",
            id: None,
            request_id: None,
        }
    }
}

/// One change to record.
pub struct Change<'a> {
    pub workspace_id: Option<Uuid>,
    pub action: &'a str,
    pub entity_type: &'a str,
    pub entity_id: Option<String>,
    pub before: Option<serde_json::Value>,
    pub after: Option<serde_json::Value>,
}

/// Record a change; call inside the transaction that makes it.
pub async fn record<C: Db>(conn: &C, actor: &Actor, change: Change<'_>) -> Result<(), DbErr> {
    exec(
        conn,
        "INSERT INTO audit_log (id, workspace_id, actor_type, actor_id, action, entity_type, entity_id, \
         before_state, after_state, request_id, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
        vec![
            conn.new_id().into(),
            change.workspace_id.into(),
            actor.kind.into(),
            actor.id.clone().into(),
            change.action.into(),
            change.entity_type.into(),
            change.entity_id.into(),
            change.before.map(Value::from).unwrap_or(Value::Json(None)),
            change.after.map(Value::from).unwrap_or(Value::Json(None)),
            actor.request_id.clone().into(),
            conn.now().into(),
        ],
    )
    .await?;
    Ok(())
}

/// One audit entry as the API shows it.
#[derive(Debug, Serialize, ToSchema, FromQueryResult)]
pub struct AuditEntry {
    pub id: Uuid,
    /// `user`, `api_key`, `operator` or `system`.
    pub actor_type: String,
    pub actor_id: Option<String>,
    /// What was done, e.g. `contact.updated`.
    pub action: String,
    pub entity_type: String,
    pub entity_id: Option<String>,
    pub before_state: Option<serde_json::Value>,
    pub after_state: Option<serde_json::Value>,
    pub request_id: Option<String>,
    pub created_at: DateTime<Utc>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct AuditQuery {
    /// Page size, 1 to 500 (default 50).
    #[param(minimum = 1, maximum = 500)]
    pub limit: Option<u64>,
    pub cursor: Option<String>,
    /// Only entries about this kind of record (`contact`, `account`, `api_key`, …).
    pub entity_type: Option<String>,
    /// Only entries about this record.
    pub entity_id: Option<String>,
    /// Only this action, e.g. `contact.deleted`.
    pub action: Option<String>,
}

/// List the workspace's audit log, newest first.
#[utoipa::path(
    get, path = "/api/v1/audit", tag = "audit",
    params(AuditQuery),
    responses(
        (status = 200, description = "Audit entries, newest first", body = Page<AuditEntry>),
        (status = 403, description = "Only admins read the audit log", body = crate::http::problem::Problem),
    ),
    security(("api_key" = []))
)]
pub async fn list(
    axum::extract::State(state): axum::extract::State<AppState>,
    principal: Principal,
    ApiQuery(q): ApiQuery<AuditQuery>,
) -> Result<axum::Json<Page<AuditEntry>>, Error> {
    principal.require(crate::auth::actions::READ_AUDIT)?;
    let limit = page_size(q.limit)?;
    let mut values: Vec<Value> = vec![principal.workspace_id.into()];
    let mut sql = String::from(
        "SELECT id, actor_type, actor_id, action, entity_type, entity_id, before_state, after_state, \
         request_id, created_at FROM audit_log WHERE workspace_id = $1",
    );
    let mut push = |cond: &str, v: Value, values: &mut Vec<Value>| {
        values.push(v);
        sql.push_str(&format!(" AND {cond} ${}", values.len()));
    };
    if let Some(raw) = &q.cursor {
        let c = Cursor::decode(raw, "-id")?;
        push("id <", c.id.into(), &mut values);
    }
    if let Some(t) = q.entity_type {
        push("entity_type =", t.into(), &mut values);
    }
    if let Some(e) = q.entity_id {
        push("entity_id =", e.into(), &mut values);
    }
    if let Some(a) = q.action {
        push("action =", a.into(), &mut values);
    }
    sql.push_str(&format!(" ORDER BY id DESC LIMIT {}", limit + 1));
    let conn = state.store.conn();
    let stmt = statement(conn.get_database_backend(), &sql, values);
    let rows = AuditEntry::find_by_statement(stmt).all(conn).await?;
    Ok(axum::Json(paginate(rows, limit, |r| Cursor {
        sort: "-id".into(),
        key: serde_json::Value::Null,
        id: r.id,
    })))
}
