//! Queries for emails and for the mailbox usage counters the caps are taken from.

use chrono::{DateTime, Utc};
use salesos_platform::store::Db;
use sea_orm::{DbErr, FromQueryResult};
use uuid::Uuid;

use super::{Email, EmailDetail, EmailStatus};
use crate::platform::store::{
    exec, find_in_workspace,
    query::{SqlBuilder, insert_sql},
    statement,
};

salesos_platform::table! {
    #[derive(Clone, Debug)]
    pub struct EmailRow in "emails" {
        pub id: Uuid,
        pub workspace_id: Uuid,
        pub contact_id: Uuid,
        pub mailbox_id: Uuid,
        pub template_id: Option<Uuid>,
        pub to_address: String,
        pub to_name: Option<String>,
        pub provider: Option<String>,
        pub from_address: String,
        pub from_name: String,
        pub reply_to: Option<String>,
        pub subject: String,
        pub html: String,
        pub body_text: String,
        pub message_id: String,
        pub track_opens: bool,
        pub track_clicks: bool,
        pub status: String,
        pub status_reason: Option<String>,
        pub warnings: Option<String>,
        pub scheduled_for: DateTime<Utc>,
        pub attempts: i32,
        pub sent_at: Option<DateTime<Utc>>,
        pub smtp_code: Option<i32>,
        pub smtp_enhanced: Option<String>,
        pub smtp_reply: Option<String>,
        pub bounced_at: Option<DateTime<Utc>>,
        pub unsubscribed_at: Option<DateTime<Utc>>,
        pub opened_at: Option<DateTime<Utc>>,
        pub clicked_at: Option<DateTime<Utc>>,
        pub created_at: DateTime<Utc>,
        pub updated_at: DateTime<Utc>,
    }
}

impl EmailRow {
    pub fn status(&self) -> EmailStatus {
        self.status.parse().unwrap_or(EmailStatus::Failed)
    }

    pub fn warning_list(&self) -> Vec<String> {
        self.warnings
            .as_deref()
            .and_then(|w| serde_json::from_str(w).ok())
            .unwrap_or_default()
    }

    pub fn shown(&self) -> Email {
        Email {
            id: self.id,
            contact_id: self.contact_id,
            mailbox_id: self.mailbox_id,
            template_id: self.template_id,
            to: self.to_address.clone(),
            from: self.from_address.clone(),
            subject: self.subject.clone(),
            status: self.status(),
            status_reason: self.status_reason.clone(),
            warnings: self.warning_list(),
            scheduled_time: self.scheduled_for,
            attempts: self.attempts,
            message_id: self.message_id.clone(),
            sent_at: self.sent_at,
            smtp_code: self.smtp_code,
            smtp_enhanced: self.smtp_enhanced.clone(),
            smtp_reply: self.smtp_reply.clone(),
            track_opens: self.track_opens,
            track_clicks: self.track_clicks,
            created_at: self.created_at,
            updated_at: self.updated_at,
        }
    }

    pub fn detail(&self) -> EmailDetail {
        EmailDetail {
            email: self.shown(),
            html: self.html.clone(),
            text: self.body_text.clone(),
        }
    }
}

salesos_platform::columns! {
    /// Every column of a new email.
    fn insert_values(r: &EmailRow) -> INSERT_COLUMNS {
        id: r.id,
        workspace_id: r.workspace_id,
        contact_id: r.contact_id,
        mailbox_id: r.mailbox_id,
        template_id: r.template_id,
        to_address: r.to_address.clone(),
        to_name: r.to_name.clone(),
        provider: r.provider.clone(),
        from_address: r.from_address.clone(),
        from_name: r.from_name.clone(),
        reply_to: r.reply_to.clone(),
        subject: r.subject.clone(),
        html: r.html.clone(),
        body_text: r.body_text.clone(),
        message_id: r.message_id.clone(),
        track_opens: r.track_opens,
        track_clicks: r.track_clicks,
        status: r.status.clone(),
        status_reason: r.status_reason.clone(),
        warnings: r.warnings.clone(),
        scheduled_for: r.scheduled_for,
        attempts: r.attempts,
        created_at: r.created_at,
        updated_at: r.updated_at,
    }
}

pub async fn insert<C: Db>(conn: &C, r: &EmailRow) -> Result<(), DbErr> {
    exec(
        conn,
        &insert_sql("emails", INSERT_COLUMNS),
        insert_values(r),
    )
    .await
    .map(drop)
}

pub async fn get<C: Db>(conn: &C, workspace_id: Uuid, id: Uuid) -> Result<Option<EmailRow>, DbErr> {
    find_in_workspace(conn, workspace_id, id).await
}

/// The email `id` whatever its workspace: for the send job and the unsubscribe link,
/// which carry only the id.
pub async fn by_id<C: Db>(conn: &C, id: Uuid) -> Result<Option<EmailRow>, DbErr> {
    let sql = format!("SELECT {} FROM emails WHERE id = $1", EmailRow::COLUMNS);
    let stmt = statement(conn.get_database_backend(), &sql, vec![id.into()]);
    EmailRow::find_by_statement(stmt).one(conn).await
}

/// Move the email from one of `from` to `to`; false when it was not in one of them (a
/// second node got there first, or it was already settled).
pub async fn transition<C: Db>(
    conn: &C,
    id: Uuid,
    from: &[EmailStatus],
    to: EmailStatus,
    at: DateTime<Utc>,
) -> Result<bool, DbErr> {
    let mut b = SqlBuilder::new("UPDATE emails SET status = $1, updated_at = $2");
    b.values.push(to.as_str().into());
    b.values.push(at.into());
    if to == EmailStatus::Sending {
        b.push(", attempts = attempts + 1");
    }
    let i = b.bind(id);
    b.push(&format!(" WHERE id = {i} AND status IN ("));
    for (n, s) in from.iter().enumerate() {
        if n > 0 {
            b.push(", ");
        }
        let p = b.bind(s.as_str());
        b.push(&p);
    }
    b.push(")");
    Ok(exec(conn, &b.sql, b.values).await? == 1)
}

/// How an attempt ended, as the row records it.
pub struct Settled<'a> {
    pub status: EmailStatus,
    pub reason: Option<&'a str>,
    pub code: Option<i32>,
    pub enhanced: Option<&'a str>,
    pub reply: Option<&'a str>,
    pub sent_at: Option<DateTime<Utc>>,
    pub bounced_at: Option<DateTime<Utc>>,
    pub warnings: &'a [String],
}

pub async fn settle<C: Db>(
    conn: &C,
    id: Uuid,
    s: &Settled<'_>,
    at: DateTime<Utc>,
) -> Result<(), DbErr> {
    let warnings =
        (!s.warnings.is_empty()).then(|| serde_json::to_string(s.warnings).unwrap_or_default());
    exec(
        conn,
        "UPDATE emails SET status = $1, status_reason = $2, smtp_code = $3, smtp_enhanced = $4, \
         smtp_reply = $5, sent_at = COALESCE($6, sent_at), bounced_at = COALESCE($7, bounced_at), \
         warnings = $8, updated_at = $9 WHERE id = $10",
        vec![
            s.status.as_str().into(),
            s.reason.map(str::to_owned).into(),
            s.code.into(),
            s.enhanced.map(str::to_owned).into(),
            s.reply.map(str::to_owned).into(),
            s.sent_at.into(),
            s.bounced_at.into(),
            warnings.into(),
            at.into(),
            id.into(),
        ],
    )
    .await
    .map(drop)
}

/// Record that the recipient unsubscribed through this email (the first time counts).
pub async fn mark_unsubscribed<C: Db>(
    conn: &C,
    id: Uuid,
    at: DateTime<Utc>,
) -> Result<bool, DbErr> {
    Ok(exec(
        conn,
        "UPDATE emails SET unsubscribed_at = $1 WHERE id = $2 AND unsubscribed_at IS NULL",
        vec![at.into(), id.into()],
    )
    .await?
        == 1)
}

/// Newest first, `limit + 1` rows.
pub async fn list<C: Db>(
    conn: &C,
    workspace_id: Uuid,
    contact_id: Option<Uuid>,
    status: Option<EmailStatus>,
    before: Option<Uuid>,
    limit: u64,
) -> Result<Vec<EmailRow>, DbErr> {
    let mut b = SqlBuilder::new(&format!(
        "SELECT {} FROM emails WHERE workspace_id = $1",
        EmailRow::COLUMNS
    ));
    b.values.push(workspace_id.into());
    if let Some(c) = contact_id {
        let p = b.bind(c);
        b.push(&format!(" AND contact_id = {p}"));
    }
    if let Some(s) = status {
        let p = b.bind(s.as_str());
        b.push(&format!(" AND status = {p}"));
    }
    if let Some(id) = before {
        let i = b.bind(id);
        b.push(&format!(" AND id < {i}"));
    }
    b.push(&format!(" ORDER BY id DESC LIMIT {}", limit + 1));
    let stmt = statement(conn.get_database_backend(), &b.sql, b.values);
    EmailRow::find_by_statement(stmt).all(conn).await
}

#[derive(FromQueryResult)]
struct Count {
    n: i64,
}

/// The `n` of a `SELECT COUNT(…) AS n` query.
pub async fn count<C: Db>(conn: &C, sql: &str, values: Vec<sea_orm::Value>) -> Result<i64, DbErr> {
    let stmt = statement(conn.get_database_backend(), sql, values);
    Ok(Count::find_by_statement(stmt)
        .one(conn)
        .await?
        .map_or(0, |c| c.n))
}

/// How many emails the workspace sent to `provider` since `since`.
pub async fn sent_to_provider<C: Db>(
    conn: &C,
    workspace_id: Uuid,
    provider: &str,
    since: DateTime<Utc>,
) -> Result<i64, DbErr> {
    count(
        conn,
        "SELECT COUNT(*) AS n FROM emails WHERE workspace_id = $1 AND provider = $2 AND sent_at >= $3",
        vec![workspace_id.into(), provider.into(), since.into()],
    )
    .await
}

/// Take one send from the mailbox's counter for the window starting at `starts_at`, if
/// fewer than `cap` were taken: one conditional update, so two nodes cannot both take
/// the last one.
pub async fn take_usage<C: Db>(
    conn: &C,
    mailbox_id: Uuid,
    period: &str,
    starts_at: DateTime<Utc>,
    cap: i32,
) -> Result<bool, DbErr> {
    exec(
        conn,
        "INSERT INTO mailbox_usage (mailbox_id, period, starts_at, used) VALUES ($1, $2, $3, 0) \
         ON CONFLICT DO NOTHING",
        vec![mailbox_id.into(), period.into(), starts_at.into()],
    )
    .await?;
    Ok(exec(
        conn,
        "UPDATE mailbox_usage SET used = used + 1 \
         WHERE mailbox_id = $1 AND period = $2 AND starts_at = $3 AND used < $4",
        vec![
            mailbox_id.into(),
            period.into(),
            starts_at.into(),
            cap.into(),
        ],
    )
    .await?
        == 1)
}

/// Give back a send that did not happen (the server refused before the message, or the
/// attempt will be made again).
pub async fn give_back_usage<C: Db>(
    conn: &C,
    mailbox_id: Uuid,
    period: &str,
    starts_at: DateTime<Utc>,
) -> Result<(), DbErr> {
    exec(
        conn,
        "UPDATE mailbox_usage SET used = used - 1 \
         WHERE mailbox_id = $1 AND period = $2 AND starts_at = $3 AND used > 0",
        vec![mailbox_id.into(), period.into(), starts_at.into()],
    )
    .await
    .map(drop)
}
