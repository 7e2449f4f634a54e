//! Mailbox use cases: connect one, change it, pause it or set it going, delete it, and
//! test it: log in to its server (or write to its outbox) and say exactly what failed.

use std::{path::Path, time::Duration};

use serde::Serialize;
use utoipa::ToSchema;
use uuid::Uuid;

use super::{
    DEFAULT_DAILY_CAP, DEFAULT_HOURLY_CAP, DEFAULT_PAUSE_AFTER, Mailbox, MailboxPatch, NewMailbox,
    SmtpChecked, SmtpInput, Status, TransportKind, Warmup, check_limits, check_sender,
    store::{self, ADDRESS_KEY, MailboxRow},
    transport::{
        Probe, Transport, TransportError,
        maildir::{self, Maildir},
        smtp::{Smtp, SmtpConfig},
    },
};
use crate::{
    actions::MANAGE_MAILBOXES,
    platform::{
        auth::Principal,
        error::{Error, FieldError},
        runtime::topics::Topic,
        secrets::SecretError,
        settings::Settings,
        store::{Db, Store, broken_key},
    },
    topics::{MAILBOX_CREATED, MAILBOX_DELETED, MAILBOX_UPDATED},
};

/// How long one step of an SMTP conversation may take.
const SMTP_TIMEOUT: Duration = Duration::from_secs(15);

fn sealing(e: SecretError) -> Error {
    Error::Internal(anyhow::anyhow!("cannot seal the mailbox secret: {e}"))
}

fn saved(result: Result<(), sea_orm::DbErr>, address: &str) -> Result<(), Error> {
    result.map_err(|e| match broken_key(&e, &[ADDRESS_KEY]) {
        Some(_) => Error::conflict(
            "from_address",
            format!("a mailbox sends as `{address}` already"),
        ),
        None => e.into(),
    })
}

async fn emit<C: Db>(
    conn: &C,
    principal: &Principal,
    topic: &Topic,
    before: Option<&Mailbox>,
    after: Option<&Mailbox>,
) -> Result<(), Error> {
    let Some(id) = after.or(before).map(|m| m.id) else {
        return Ok(());
    };
    crate::changes::record(conn, principal, topic, "mailbox", id, before, after).await
}

fn clean(v: Option<String>) -> Option<String> {
    v.map(|s| s.trim().to_owned()).filter(|s| !s.is_empty())
}

/// Put the transport settings on the row: SMTP with its sealed secret, or the outbox.
fn set_transport(
    row: &mut MailboxRow,
    store: &Store,
    kind: TransportKind,
    smtp: Option<SmtpChecked>,
) -> Result<(), Error> {
    row.transport = kind.as_str().to_owned();
    match (kind, smtp) {
        (TransportKind::Smtp, Some(s)) => {
            row.smtp_host = Some(s.host);
            row.smtp_port = Some(i32::from(s.port));
            row.smtp_security = Some(s.security.as_str().to_owned());
            row.smtp_auth = Some(s.auth.as_str().to_owned());
            if s.username.is_none() {
                row.secret = None;
            }
            row.smtp_username = s.username;
            if let Some(secret) = s.secret {
                row.seal(store.keyring(), &secret).map_err(sealing)?;
            }
        }
        _ => {
            row.smtp_host = None;
            row.smtp_port = None;
            row.smtp_security = None;
            row.smtp_auth = None;
            row.smtp_username = None;
            row.secret = None;
        }
    }
    Ok(())
}

/// Check the transport choice and its server as a whole.
fn check_transport(
    kind: TransportKind,
    smtp: Option<&SmtpInput>,
    has_secret: bool,
    errors: &mut Vec<FieldError>,
) -> Option<SmtpChecked> {
    match (kind, smtp) {
        (TransportKind::Smtp, Some(s)) => s.check(has_secret, errors),
        (TransportKind::Smtp, None) => {
            errors.push(FieldError::new(
                "smtp",
                "the `smtp` transport needs its server: host, security and login",
            ));
            None
        }
        (TransportKind::Maildir, Some(_)) => {
            errors.push(FieldError::new(
                "smtp",
                "only the `smtp` transport has a server; leave it out for `maildir`",
            ));
            None
        }
        (TransportKind::Maildir, None) => None,
    }
}

fn set_warmup(row: &mut MailboxRow, warmup: Option<&Warmup>, now: chrono::DateTime<chrono::Utc>) {
    match warmup {
        Some(w) => {
            let same = row.warmup_start == Some(w.start) && row.warmup_step == Some(w.step);
            row.warmup_start = Some(w.start);
            row.warmup_step = Some(w.step);
            // A changed ramp starts again today; the same one keeps its day.
            if !same || row.warmup_started_at.is_none() {
                row.warmup_started_at = Some(now);
            }
        }
        None => {
            row.warmup_start = None;
            row.warmup_step = None;
            row.warmup_started_at = None;
        }
    }
}

pub async fn create(
    store: &Store,
    principal: &Principal,
    input: NewMailbox,
) -> Result<Mailbox, Error> {
    principal.require(MANAGE_MAILBOXES)?;
    let mut errors = Vec::new();
    check_sender(
        &input.from_name,
        &input.from_address,
        input.reply_to.as_deref(),
        input.signature.as_deref(),
        &mut errors,
    );
    let kind = input.transport.unwrap_or(TransportKind::Maildir);
    let smtp = check_transport(kind, input.smtp.as_ref(), false, &mut errors);
    let daily = input.daily_cap.unwrap_or(DEFAULT_DAILY_CAP);
    let hourly = input
        .hourly_cap
        .unwrap_or(DEFAULT_HOURLY_CAP.min(daily.max(1)));
    let pause_after = input.pause_after_failures.unwrap_or(DEFAULT_PAUSE_AFTER);
    check_limits(
        daily,
        hourly,
        input.warmup.as_ref(),
        pause_after,
        &mut errors,
    );
    if !errors.is_empty() {
        return Err(Error::Invalid(errors));
    }
    let now = store.now();
    let mut row = MailboxRow {
        id: store.clock().new_id(),
        workspace_id: principal.workspace_id,
        from_name: input.from_name.trim().to_owned(),
        from_address: input.from_address.trim().to_lowercase(),
        reply_to: clean(input.reply_to).map(|r| r.to_lowercase()),
        signature: clean(input.signature),
        transport: String::new(),
        smtp_host: None,
        smtp_port: None,
        smtp_security: None,
        smtp_auth: None,
        smtp_username: None,
        secret: None,
        daily_cap: daily,
        hourly_cap: hourly,
        warmup_start: None,
        warmup_step: None,
        warmup_started_at: None,
        status: Status::Active.as_str().to_owned(),
        status_reason: None,
        last_error: None,
        last_error_at: None,
        consecutive_failures: 0,
        pause_after_failures: pause_after,
        last_tested_at: None,
        created_at: now,
        updated_at: now,
    };
    set_transport(&mut row, store, kind, smtp)?;
    set_warmup(&mut row, input.warmup.as_ref(), now);
    let txn = store.write().await?;
    saved(store::insert(&txn, &row).await, &row.from_address)?;
    let shown = row.shown(now.date_naive());
    emit(&txn, principal, &MAILBOX_CREATED, None, Some(&shown)).await?;
    txn.commit().await?;
    Ok(shown)
}

async fn find<C: Db>(conn: &C, principal: &Principal, id: Uuid) -> Result<MailboxRow, Error> {
    store::get(conn, principal.workspace_id, id)
        .await?
        .ok_or(Error::NotFound("mailbox"))
}

pub async fn get(store: &Store, principal: &Principal, id: Uuid) -> Result<Mailbox, Error> {
    Ok(find(store.conn(), principal, id)
        .await?
        .shown(store.now().date_naive()))
}

pub async fn list(
    store: &Store,
    principal: &Principal,
    status: Option<Status>,
    before: Option<Uuid>,
    limit: u64,
) -> Result<Vec<Mailbox>, Error> {
    let today = store.now().date_naive();
    Ok(
        store::list(store.conn(), principal.workspace_id, status, before, limit)
            .await?
            .iter()
            .map(|r| r.shown(today))
            .collect(),
    )
}

pub async fn update(
    store: &Store,
    principal: &Principal,
    id: Uuid,
    patch: MailboxPatch,
) -> Result<Mailbox, Error> {
    principal.require(MANAGE_MAILBOXES)?;
    let txn = store.write().await?;
    let before = find(&txn, principal, id).await?;
    let mut row = before.clone();
    let now = store.now();
    let mut errors = Vec::new();
    let from_name = patch.from_name.unwrap_or_else(|| row.from_name.clone());
    let from_address = patch
        .from_address
        .unwrap_or_else(|| row.from_address.clone());
    // Checked as sent: `null` clears it, an empty text is not an address.
    let reply_to = match patch.reply_to {
        Some(r) => r.map(|r| r.trim().to_owned()),
        None => row.reply_to.clone(),
    };
    let signature = match patch.signature {
        Some(s) => clean(s),
        None => row.signature.clone(),
    };
    check_sender(
        &from_name,
        &from_address,
        reply_to.as_deref(),
        signature.as_deref(),
        &mut errors,
    );
    let kind = patch.transport.unwrap_or(row.transport_kind());
    // A change that leaves the server out keeps it, as stored.
    let kept = match (&patch.smtp, kind) {
        (None, TransportKind::Smtp) => row.smtp().map(|s| SmtpInput {
            host: s.host,
            port: Some(s.port),
            security: s.security,
            auth: Some(s.auth),
            username: s.username,
            secret: None,
        }),
        _ => None,
    };
    let smtp_input = patch.smtp.as_ref().or(kept.as_ref());
    let smtp = check_transport(kind, smtp_input, row.secret.is_some(), &mut errors);
    let daily = patch.daily_cap.unwrap_or(row.daily_cap);
    let hourly = patch.hourly_cap.unwrap_or(row.hourly_cap);
    let pause_after = patch
        .pause_after_failures
        .unwrap_or(row.pause_after_failures);
    let warmup = match patch.warmup {
        Some(w) => w,
        None => row.warmup().map(|w| Warmup {
            start: w.start,
            step: w.step,
        }),
    };
    check_limits(daily, hourly, warmup.as_ref(), pause_after, &mut errors);
    if patch.status == Some(Status::Error) {
        errors.push(FieldError::new(
            "status",
            "`error` is set by SalesOS after failures; choose `active` or `paused`",
        ));
    }
    if !errors.is_empty() {
        return Err(Error::Invalid(errors));
    }
    row.from_name = from_name.trim().to_owned();
    row.from_address = from_address.trim().to_lowercase();
    row.reply_to = reply_to.map(|r| r.to_lowercase());
    row.signature = signature;
    row.daily_cap = daily;
    row.hourly_cap = hourly;
    row.pause_after_failures = pause_after;
    set_transport(&mut row, store, kind, smtp)?;
    set_warmup(&mut row, warmup.as_ref(), now);
    match patch.status {
        Some(Status::Paused) => {
            row.status = Status::Paused.as_str().to_owned();
            row.status_reason = Some(format!("paused by {}", principal.source()));
        }
        Some(Status::Active) => {
            row.status = Status::Active.as_str().to_owned();
            row.status_reason = None;
            row.consecutive_failures = 0;
        }
        _ => {}
    }
    row.updated_at = now;
    saved(store::update(&txn, &row).await, &row.from_address)?;
    let today = now.date_naive();
    let (b, a) = (before.shown(today), row.shown(today));
    emit(&txn, principal, &MAILBOX_UPDATED, Some(&b), Some(&a)).await?;
    txn.commit().await?;
    Ok(a)
}

pub async fn delete(store: &Store, principal: &Principal, id: Uuid) -> Result<(), Error> {
    principal.require(MANAGE_MAILBOXES)?;
    let txn = store.write().await?;
    let row = find(&txn, principal, id).await?;
    store::delete(&txn, principal.workspace_id, id).await?;
    let shown = row.shown(store.now().date_naive());
    emit(&txn, principal, &MAILBOX_DELETED, Some(&shown), None).await?;
    txn.commit().await?;
    Ok(())
}

/// The transport a mailbox sends with, its secret opened.
pub fn transport_for(
    row: &MailboxRow,
    store: &Store,
    data_dir: &Path,
) -> Result<Box<dyn Transport>, Error> {
    match (row.transport_kind(), row.smtp()) {
        (TransportKind::Smtp, Some(s)) => {
            let secret = row.open_secret(store.keyring()).map_err(|e| {
                Error::Internal(anyhow::anyhow!("cannot open the mailbox secret: {e}"))
            })?;
            let helo = row
                .from_address
                .rsplit_once('@')
                .map(|(_, d)| d.to_owned())
                .unwrap_or_else(|| "localhost".into());
            let smtp = Smtp::new(SmtpConfig {
                host: s.host,
                port: s.port,
                security: s.security,
                auth: s.auth,
                username: s.username,
                secret,
                helo,
                timeout: SMTP_TIMEOUT,
            })
            .map_err(|e| Error::Internal(anyhow::anyhow!("{e}")))?;
            Ok(Box::new(smtp))
        }
        _ => Ok(Box::new(Maildir::new(maildir::folder(data_dir, row.id)))),
    }
}

/// What a mailbox test found.
#[derive(Debug, Serialize, ToSchema)]
pub struct MailboxTest {
    /// Whether SalesOS could log in (or write to the outbox).
    pub ok: bool,
    /// Each step that passed, in order.
    pub steps: Vec<String>,
    /// Where and why it failed.
    pub error: Option<TransportError>,
    pub tested_at: chrono::DateTime<chrono::Utc>,
}

/// Log in to the mailbox's server (or check its outbox) without sending anything, and
/// record when; a failure is recorded as its last error, but does not count towards
/// pausing it (only sends do).
pub async fn test(
    store: &Store,
    settings: &Settings,
    principal: &Principal,
    id: Uuid,
) -> Result<MailboxTest, Error> {
    principal.require(MANAGE_MAILBOXES)?;
    let row = find(store.conn(), principal, id).await?;
    let transport = transport_for(&row, store, &settings.data_dir)?;
    let outcome = transport.probe().await;
    let tested_at = store.now();
    let (ok, steps, error, last_error) = match outcome {
        Ok(Probe { steps }) => (true, steps, None, None),
        Err(e) => (false, Vec::new(), Some(e.clone()), Some(e.to_string())),
    };
    let txn = store.write().await?;
    store::record_test(
        &txn,
        principal.workspace_id,
        id,
        tested_at,
        last_error.as_deref(),
    )
    .await?;
    txn.commit().await?;
    Ok(MailboxTest {
        ok,
        steps,
        error,
        tested_at,
    })
}
