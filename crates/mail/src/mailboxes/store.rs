//! Queries for mailboxes. The SMTP password or token is sealed with the master key for
//! its row (`mailboxes:<id>`) before it is written.

use chrono::{DateTime, NaiveDate, Utc};
use salesos_platform::{
    secrets::{self, Keyring, SealedColumn, SecretError},
    store::Db,
};
use sea_orm::{DbErr, FromQueryResult};
use uuid::Uuid;

use super::{Health, Mailbox, SmtpAuth, SmtpServer, Status, TransportKind, WarmupState, allowance};
use crate::platform::store::{
    UniqueKey, exec, find_in_workspace,
    query::{SqlBuilder, insert_sql, update_sql},
    statement,
};

salesos_platform::table! {
    #[derive(Clone, Debug)]
    pub struct MailboxRow in "mailboxes" {
        pub id: Uuid,
        pub workspace_id: Uuid,
        pub from_name: String,
        pub from_address: String,
        pub reply_to: Option<String>,
        pub signature: Option<String>,
        pub transport: String,
        pub smtp_host: Option<String>,
        pub smtp_port: Option<i32>,
        pub smtp_security: Option<String>,
        pub smtp_auth: Option<String>,
        pub smtp_username: Option<String>,
        pub secret: Option<String>,
        pub daily_cap: i32,
        pub hourly_cap: i32,
        pub warmup_start: Option<i32>,
        pub warmup_step: Option<i32>,
        pub warmup_started_at: Option<DateTime<Utc>>,
        pub status: String,
        pub status_reason: Option<String>,
        pub last_error: Option<String>,
        pub last_error_at: Option<DateTime<Utc>>,
        pub consecutive_failures: i32,
        pub pause_after_failures: i32,
        pub last_tested_at: Option<DateTime<Utc>>,
        pub created_at: DateTime<Utc>,
        pub updated_at: DateTime<Utc>,
    }
}

const TABLE: &str = "mailboxes";

/// Where mailboxes keep sealed secrets: the SMTP password or access token.
pub const SECRET: SealedColumn = SealedColumn {
    table: TABLE,
    column: "secret",
};

/// One mailbox per sending address in a workspace.
pub const ADDRESS_KEY: UniqueKey = UniqueKey {
    index: "mailboxes_address",
    table: TABLE,
    columns: &["workspace_id", "from_address"],
};

fn parsed<T: std::str::FromStr>(v: Option<&str>) -> Option<T> {
    v.and_then(|s| s.parse().ok())
}

impl MailboxRow {
    pub fn context(&self) -> String {
        secrets::context(TABLE, self.id)
    }

    pub fn seal(&mut self, ring: &Keyring, plain: &str) -> Result<(), SecretError> {
        self.secret = Some(ring.seal(&self.context(), plain)?);
        Ok(())
    }

    /// The stored password or token, opened.
    pub fn open_secret(&self, ring: &Keyring) -> Result<Option<String>, SecretError> {
        self.secret
            .as_deref()
            .map(|s| ring.open(&self.context(), s).map(|s| s.expose().to_owned()))
            .transpose()
    }

    pub fn transport_kind(&self) -> TransportKind {
        self.transport.parse().unwrap_or(TransportKind::Maildir)
    }

    pub fn warmup(&self) -> Option<WarmupState> {
        Some(WarmupState {
            start: self.warmup_start?,
            step: self.warmup_step?,
            started_on: self.warmup_started_at?.date_naive(),
        })
    }

    pub fn smtp(&self) -> Option<SmtpServer> {
        if self.transport_kind() != TransportKind::Smtp {
            return None;
        }
        Some(SmtpServer {
            host: self.smtp_host.clone()?,
            port: u16::try_from(self.smtp_port?).ok()?,
            security: parsed(self.smtp_security.as_deref())?,
            auth: parsed(self.smtp_auth.as_deref()).unwrap_or(SmtpAuth::Password),
            username: self.smtp_username.clone(),
            has_secret: self.secret.is_some(),
        })
    }

    pub fn shown(&self, today: NaiveDate) -> Mailbox {
        let warmup = self.warmup();
        Mailbox {
            id: self.id,
            from_name: self.from_name.clone(),
            from_address: self.from_address.clone(),
            reply_to: self.reply_to.clone(),
            signature: self.signature.clone(),
            transport: self.transport_kind(),
            smtp: self.smtp(),
            daily_cap: self.daily_cap,
            hourly_cap: self.hourly_cap,
            allowance_today: allowance(self.daily_cap, warmup.as_ref(), today),
            warmup,
            status: self.status.parse().unwrap_or(Status::Error),
            status_reason: self.status_reason.clone(),
            health: Health {
                last_error: self.last_error.clone(),
                last_error_at: self.last_error_at,
                consecutive_failures: self.consecutive_failures,
                pause_after_failures: self.pause_after_failures,
                last_tested_at: self.last_tested_at,
            },
            created_at: self.created_at,
            updated_at: self.updated_at,
        }
    }

    /// The values of [`WRITABLE`], in its order.
    fn writable_values(&self) -> Vec<sea_orm::Value> {
        vec![
            self.from_name.clone().into(),
            self.from_address.clone().into(),
            self.reply_to.clone().into(),
            self.signature.clone().into(),
            self.transport.clone().into(),
            self.smtp_host.clone().into(),
            self.smtp_port.into(),
            self.smtp_security.clone().into(),
            self.smtp_auth.clone().into(),
            self.smtp_username.clone().into(),
            self.secret.clone().into(),
            self.daily_cap.into(),
            self.hourly_cap.into(),
            self.warmup_start.into(),
            self.warmup_step.into(),
            self.warmup_started_at.into(),
            self.status.clone().into(),
            self.status_reason.clone().into(),
            self.last_error.clone().into(),
            self.last_error_at.into(),
            self.consecutive_failures.into(),
            self.pause_after_failures.into(),
            self.last_tested_at.into(),
        ]
    }
}

/// The columns a change writes: all but the id, the workspace and the two times.
const WRITABLE: &[&str] = &[
    "from_name",
    "from_address",
    "reply_to",
    "signature",
    "transport",
    "smtp_host",
    "smtp_port",
    "smtp_security",
    "smtp_auth",
    "smtp_username",
    "secret",
    "daily_cap",
    "hourly_cap",
    "warmup_start",
    "warmup_step",
    "warmup_started_at",
    "status",
    "status_reason",
    "last_error",
    "last_error_at",
    "consecutive_failures",
    "pause_after_failures",
    "last_tested_at",
];

pub async fn insert<C: Db>(conn: &C, r: &MailboxRow) -> Result<(), DbErr> {
    let mut columns = vec!["id", "workspace_id"];
    columns.extend_from_slice(WRITABLE);
    columns.extend(["created_at", "updated_at"]);
    let mut values: Vec<sea_orm::Value> = vec![r.id.into(), r.workspace_id.into()];
    values.extend(r.writable_values());
    values.extend([r.created_at.into(), r.updated_at.into()]);
    exec(conn, &insert_sql(TABLE, &columns), values)
        .await
        .map(drop)
}

/// Write every column of `r` but its id, workspace and creation time.
pub async fn update<C: Db>(conn: &C, r: &MailboxRow) -> Result<(), DbErr> {
    let mut values = r.writable_values();
    values.extend([r.updated_at.into(), r.workspace_id.into(), r.id.into()]);
    exec(conn, &update_sql(TABLE, WRITABLE), values)
        .await
        .map(drop)
}

/// Record a test of the mailbox at `at`, and its error as the last one if it failed.
pub async fn record_test<C: Db>(
    conn: &C,
    workspace_id: Uuid,
    id: Uuid,
    at: DateTime<Utc>,
    error: Option<&str>,
) -> Result<(), DbErr> {
    exec(
        conn,
        "UPDATE mailboxes SET last_tested_at = $1, last_error = COALESCE($2, last_error), \
         last_error_at = CASE WHEN $2 IS NULL THEN last_error_at ELSE $1 END \
         WHERE workspace_id = $3 AND id = $4",
        vec![
            at.into(),
            error.map(str::to_owned).into(),
            workspace_id.into(),
            id.into(),
        ],
    )
    .await
    .map(drop)
}

pub async fn get<C: Db>(
    conn: &C,
    workspace_id: Uuid,
    id: Uuid,
) -> Result<Option<MailboxRow>, DbErr> {
    find_in_workspace(conn, workspace_id, id).await
}

pub async fn delete<C: Db>(conn: &C, workspace_id: Uuid, id: Uuid) -> Result<u64, DbErr> {
    exec(
        conn,
        "DELETE FROM mailboxes WHERE workspace_id = $1 AND id = $2",
        vec![workspace_id.into(), id.into()],
    )
    .await
}

/// Newest first, `limit + 1` rows (the extra one says there is a next page).
pub async fn list<C: Db>(
    conn: &C,
    workspace_id: Uuid,
    status: Option<Status>,
    before: Option<Uuid>,
    limit: u64,
) -> Result<Vec<MailboxRow>, DbErr> {
    let mut b = SqlBuilder::new(&format!(
        "SELECT {} FROM mailboxes WHERE workspace_id = $1",
        MailboxRow::COLUMNS
    ));
    b.values.push(workspace_id.into());
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
    MailboxRow::find_by_statement(stmt).all(conn).await
}

/// A send went through: the mailbox's run of failures ends.
pub async fn record_send_ok<C: Db>(conn: &C, id: Uuid) -> Result<(), DbErr> {
    exec(
        conn,
        "UPDATE mailboxes SET consecutive_failures = 0 WHERE id = $1 AND consecutive_failures <> 0",
        vec![id.into()],
    )
    .await
    .map(drop)
}

/// A send failed because of the mailbox or its server (not the recipient): count it, and
/// stop the mailbox with the reason once the run reaches its threshold. Whether it stopped.
pub async fn record_send_failure<C: Db>(
    conn: &C,
    id: Uuid,
    error: &str,
    at: DateTime<Utc>,
) -> Result<bool, DbErr> {
    let reason = format!("stopped after failures in a row; the last: {error}");
    exec(
        conn,
        "UPDATE mailboxes SET consecutive_failures = consecutive_failures + 1, last_error = $1, \
         last_error_at = $2, \
         status = CASE WHEN status = 'active' AND consecutive_failures + 1 >= pause_after_failures \
                  THEN 'error' ELSE status END, \
         status_reason = CASE WHEN status = 'active' AND consecutive_failures + 1 >= pause_after_failures \
                  THEN $3 ELSE status_reason END \
         WHERE id = $4",
        vec![error.into(), at.into(), reason.into(), id.into()],
    )
    .await?;
    let stmt = statement(
        conn.get_database_backend(),
        &format!(
            "SELECT {} FROM mailboxes WHERE id = $1",
            MailboxRow::COLUMNS
        ),
        vec![id.into()],
    );
    Ok(MailboxRow::find_by_statement(stmt)
        .one(conn)
        .await?
        .is_some_and(|m| m.status == Status::Error.as_str()))
}
