//! Queries for activities.

use chrono::{DateTime, Utc};
use salesos_platform::store::Db;
use sea_orm::{DbErr, FromQueryResult};
use uuid::Uuid;

use super::{Activity, ActivityKind, Subject};
use crate::platform::store::{exec, query::SqlBuilder, statement};

#[derive(FromQueryResult)]
struct Row {
    id: Uuid,
    contact_id: Option<Uuid>,
    account_id: Option<Uuid>,
    kind: String,
    subject: String,
    body: Option<String>,
    actor_type: String,
    actor_id: Option<String>,
    metadata: serde_json::Value,
    occurred_at: DateTime<Utc>,
    created_at: DateTime<Utc>,
}

impl From<Row> for Activity {
    fn from(r: Row) -> Self {
        Activity {
            id: r.id,
            contact_id: r.contact_id,
            account_id: r.account_id,
            kind: r.kind.parse().unwrap_or(ActivityKind::System),
            subject: r.subject,
            body: r.body,
            actor_type: r.actor_type,
            actor_id: r.actor_id,
            metadata: r.metadata,
            occurred_at: r.occurred_at,
            created_at: r.created_at,
        }
    }
}

/// An entry to write.
pub struct Entry<'a> {
    pub workspace_id: Uuid,
    pub contact_id: Option<Uuid>,
    pub account_id: Option<Uuid>,
    pub kind: ActivityKind,
    pub subject: &'a str,
    pub body: Option<&'a str>,
    pub actor_type: &'a str,
    pub actor_id: Option<String>,
    pub metadata: serde_json::Value,
    pub occurred_at: Option<DateTime<Utc>>,
}

pub async fn insert<C: Db>(conn: &C, e: Entry<'_>) -> Result<Activity, DbErr> {
    let at = conn.now();
    let activity = Activity {
        id: conn.new_id(),
        contact_id: e.contact_id,
        account_id: e.account_id,
        kind: e.kind,
        subject: e.subject.to_owned(),
        body: e.body.map(str::to_owned),
        actor_type: e.actor_type.to_owned(),
        actor_id: e.actor_id,
        metadata: e.metadata,
        occurred_at: e
            .occurred_at
            .map(|t| chrono::SubsecRound::trunc_subsecs(t, 6))
            .unwrap_or(at),
        created_at: at,
    };
    exec(
        conn,
        "INSERT INTO activities (id, workspace_id, contact_id, account_id, kind, subject, body, actor_type, \
         actor_id, metadata, occurred_at, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)",
        vec![
            activity.id.into(),
            e.workspace_id.into(),
            activity.contact_id.into(),
            activity.account_id.into(),
            activity.kind.as_str().into(),
            activity.subject.clone().into(),
            activity.body.clone().into(),
            activity.actor_type.clone().into(),
            activity.actor_id.clone().into(),
            activity.metadata.clone().into(),
            activity.occurred_at.into(),
            activity.created_at.into(),
        ],
    )
    .await?;
    Ok(activity)
}

pub async fn list<C: Db>(
    conn: &C,
    workspace_id: Uuid,
    subject: Subject,
    kind: Option<ActivityKind>,
    after: Option<(DateTime<Utc>, Uuid)>,
    limit: u64,
) -> Result<Vec<Activity>, DbErr> {
    let mut b = SqlBuilder::new(
        "SELECT id, contact_id, account_id, kind, subject, body, actor_type, actor_id, metadata, \
         occurred_at, created_at FROM activities WHERE workspace_id = $1",
    );
    b.values.push(workspace_id.into());
    match subject {
        Subject::Contact(id) => b.and("contact_id", "=", id),
        Subject::Account(id) => b.and("account_id", "=", id),
    };
    if let Some(k) = kind {
        b.and("kind", "=", k.as_str());
    }
    if let Some((at, id)) = after {
        let a = b.bind(at);
        let i = b.bind(id);
        b.push(&format!(" AND (occurred_at, id) < ({a}, {i})"));
    }
    b.push(&format!(
        " ORDER BY occurred_at DESC, id DESC LIMIT {}",
        limit + 1
    ));
    let stmt = statement(conn.get_database_backend(), &b.sql, b.values);
    Ok(Row::find_by_statement(stmt)
        .all(conn)
        .await?
        .into_iter()
        .map(Activity::from)
        .collect())
}
