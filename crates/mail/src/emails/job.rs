//! The send job: one email, checked again at send time, claimed, signed and handed to its
//! mailbox's transport once.
//!
//! Exactly once rests on the email's status, changed by conditional updates: the job
//! claims the email (`scheduled` → `sending`, with a cap slot) in one transaction before
//! it talks to the server, and records what the server said after. A second node running
//! the same job finds it `sending` or settled and does nothing. A job that finds its
//! email `sending` (an earlier attempt died while handing it over) cannot know whether the
//! server took it: through SMTP that email is `uncertain` and never sent again; the
//! Maildir outbox writes each email under its key once, so there it goes on.

use std::{path::PathBuf, time::Duration};

use chrono::{DateTime, Datelike, Duration as Span, TimeZone, Timelike, Utc};
use salesos_contacts::contacts;
use salesos_model::EmailAddress;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::{
    BULK_THRESHOLD, EmailStatus,
    links::{self, Purpose},
    mime::{self, Message},
    service::{MAX_ATTEMPTS, system},
    store::{self, EmailRow, Settled},
};
use crate::{
    dkim,
    domains::service as domains,
    mailboxes::{
        Status as MailboxStatus, allowance,
        service::transport_for,
        store::{self as mailbox_store, MailboxRow},
        transport::{Class, Outgoing, Stage, TransportError},
    },
    platform::{
        error::Error,
        runtime::{
            events,
            jobs::JobKind,
            topics::Topic,
            worker::{JobContext, JobHandler, Outcome},
        },
        settings::Settings,
        store::{Db, Store},
    },
    suppressions::{Reason, service as suppressions},
    topics::{EMAIL_FAILED, EMAIL_SENT},
};

pub const SEND_JOB: &str = "mail.send";

/// What a send job carries.
#[derive(Debug, Serialize, Deserialize)]
pub struct EmailRef {
    pub email_id: Uuid,
}

pub struct SendEmail {
    data_dir: PathBuf,
    /// Where the links in mail point.
    public_base: String,
}

impl JobKind for SendEmail {
    const KIND: &'static str = SEND_JOB;
    type Payload = EmailRef;
}

impl SendEmail {
    pub fn new(settings: &Settings) -> Self {
        Self {
            data_dir: settings.data_dir.clone(),
            public_base: super::service::public_base(settings).0,
        }
    }
}

#[async_trait::async_trait]
impl JobHandler for SendEmail {
    fn kind(&self) -> &'static str {
        SEND_JOB
    }

    fn timeout(&self) -> Duration {
        // Connect, TLS, login, and each step of the transaction may take 15 s.
        Duration::from_secs(120)
    }

    async fn run(&self, ctx: &JobContext) -> Outcome {
        let id = match ctx.payload::<SendEmail>() {
            Ok(p) => p.email_id,
            Err(e) => return Outcome::Fail(e),
        };
        match self.attempt(ctx, id).await {
            Ok(outcome) => outcome,
            Err(e) => Outcome::Retry {
                error: format!("storage error: {e}"),
                after: None,
            },
        }
    }
}

/// Why an email does not go now.
enum Hold {
    /// Not at all: recorded as `refused` with this reason.
    Refuse(String),
    /// Not yet: it waits this long, `scheduled`, with this reason shown.
    Wait(Duration, String),
}

fn next_hour(now: DateTime<Utc>) -> DateTime<Utc> {
    hour_start(now) + Span::hours(1)
}

fn hour_start(now: DateTime<Utc>) -> DateTime<Utc> {
    now.with_minute(0)
        .and_then(|t| t.with_second(0))
        .and_then(|t| t.with_nanosecond(0))
        .unwrap_or(now)
}

fn day_start(now: DateTime<Utc>) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(now.year(), now.month(), now.day(), 0, 0, 0)
        .single()
        .unwrap_or(now)
}

fn until(now: DateTime<Utc>, then: DateTime<Utc>) -> Duration {
    (then - now).to_std().unwrap_or(Duration::from_secs(1)) + Duration::from_secs(1)
}

/// What the email's send-time checks say, before anything is claimed.
async fn checks(
    store: &Store,
    email: &EmailRow,
    mailbox: Option<&MailboxRow>,
    warnings: &mut Vec<String>,
) -> Result<Option<Hold>, Error> {
    let conn = store.conn();
    let Some(mailbox) = mailbox else {
        return Ok(Some(Hold::Refuse("its mailbox was deleted".into())));
    };
    let principal = system(email.workspace_id);
    match contacts::service::get(store, &principal, email.contact_id).await {
        Ok(c) if c.do_not_contact => {
            return Ok(Some(Hold::Refuse(
                "the contact is marked do not contact".into(),
            )));
        }
        Ok(_) => {}
        Err(Error::NotFound(_)) => {
            return Ok(Some(Hold::Refuse("the contact was deleted".into())));
        }
        Err(e) => return Err(e),
    }
    let address = EmailAddress::parse(&email.to_address)
        .map_err(|e| Error::Internal(anyhow::anyhow!("stored address: {e}")))?;
    let by = suppressions::suppressing(conn, email.workspace_id, &address).await?;
    if let Some(entry) = by.first() {
        return Ok(Some(Hold::Refuse(format!(
            "{} is on the suppression list ({}, {})",
            email.to_address,
            entry.value,
            entry.reason.as_str()
        ))));
    }
    match mailbox.status.parse() {
        Ok(MailboxStatus::Active) => {}
        _ => {
            let why = mailbox.status_reason.as_deref().unwrap_or(&mailbox.status);
            return Ok(Some(Hold::Wait(
                Duration::from_secs(600),
                format!("waiting: the mailbox is {} ({why})", mailbox.status),
            )));
        }
    }
    if let Some(provider) = &email.provider {
        let domain = domains::of_address(conn, email.workspace_id, &email.from_address).await?;
        let shown = domain.as_ref().map(|d| d.shown());
        let missing = match &shown {
            Some(d) if d.bulk_ready => Vec::new(),
            Some(d) => d.missing.iter().map(|m| m.as_str()).collect(),
            None => vec!["dkim", "dmarc"],
        };
        if !missing.is_empty() {
            let from_domain = email.from_address.rsplit_once('@').map_or("", |(_, d)| d);
            let now = store.now();
            let sent =
                store::sent_to_provider(conn, email.workspace_id, provider, day_start(now)).await?;
            let what = format!(
                "mail from {from_domain} to {provider} recipients needs verified {} records",
                missing.join(" and ")
            );
            if sent >= BULK_THRESHOLD {
                return Ok(Some(Hold::Refuse(format!(
                    "{what}: past {BULK_THRESHOLD} a day ({sent} sent today) the provider rejects it"
                ))));
            }
            warnings.push(format!(
                "{what}; below {BULK_THRESHOLD} a day it is sent, past that it is refused"
            ));
        }
    }
    Ok(None)
}

impl SendEmail {
    async fn attempt(&self, ctx: &JobContext, id: Uuid) -> Result<Outcome, Error> {
        let store = &ctx.store;
        let conn = store.conn();
        let Some(email) = store::by_id(conn, id).await? else {
            return Ok(Outcome::Fail("the email no longer exists".into()));
        };
        let mailbox = mailbox_store::get(conn, email.workspace_id, email.mailbox_id).await?;
        let mut warnings = email.warning_list();
        match email.status() {
            EmailStatus::Scheduled => {}
            EmailStatus::Sending => {
                let outbox = mailbox.as_ref().is_some_and(|m| m.smtp().is_none());
                if !outbox {
                    let reason = "an earlier attempt stopped while handing the message to the \
                                  server; it may have been delivered, so it is not sent again";
                    self.settle(
                        store,
                        &email,
                        Settled {
                            status: EmailStatus::Uncertain,
                            reason: Some(reason),
                            code: None,
                            enhanced: None,
                            reply: None,
                            sent_at: None,
                            bounced_at: None,
                            warnings: &warnings,
                        },
                        &EMAIL_FAILED,
                    )
                    .await?;
                    return Ok(Outcome::Done(Some(
                        serde_json::json!({"status": "uncertain"}),
                    )));
                }
            }
            settled => {
                return Ok(Outcome::Done(Some(
                    serde_json::json!({"skipped": format!("the email is {settled} already")}),
                )));
            }
        }
        if email.status() == EmailStatus::Scheduled {
            match checks(store, &email, mailbox.as_ref(), &mut warnings).await? {
                Some(Hold::Refuse(reason)) => {
                    self.refuse(store, &email, &reason, &warnings).await?;
                    return Ok(Outcome::Done(Some(serde_json::json!({"refused": reason}))));
                }
                Some(Hold::Wait(after, reason)) => {
                    self.wait(store, &email, &reason).await?;
                    return Ok(Outcome::Snooze(after));
                }
                None => {}
            }
        }
        let Some(mailbox) = mailbox else {
            return Ok(Outcome::Fail("the mailbox no longer exists".into()));
        };
        // Claim it, with a slot of the day's and the hour's caps, or wait for the next.
        let now = store.now();
        let (day, hour) = (day_start(now), hour_start(now));
        if email.status() == EmailStatus::Scheduled {
            let txn = store.write().await?;
            if !store::transition(
                &txn,
                id,
                &[EmailStatus::Scheduled],
                EmailStatus::Sending,
                now,
            )
            .await?
            {
                return Ok(Outcome::Done(Some(
                    serde_json::json!({"skipped": "claimed by another attempt"}),
                )));
            }
            let daily = allowance(
                mailbox.daily_cap,
                mailbox.warmup().as_ref(),
                now.date_naive(),
            );
            if !store::take_usage(&txn, mailbox.id, "day", day, daily).await? {
                drop(txn);
                let reason = format!("waiting: the mailbox's {daily} emails for today are sent");
                self.wait(store, &email, &reason).await?;
                return Ok(Outcome::Snooze(until(now, day + Span::days(1))));
            }
            if !store::take_usage(&txn, mailbox.id, "hour", hour, mailbox.hourly_cap).await? {
                drop(txn);
                let reason = format!(
                    "waiting: the mailbox's {} emails for this hour are sent",
                    mailbox.hourly_cap
                );
                self.wait(store, &email, &reason).await?;
                return Ok(Outcome::Snooze(until(now, next_hour(now))));
            }
            txn.commit().await?;
        }

        let message = match self.message(store, &email, &mut warnings).await {
            Ok(m) => m,
            Err(e) => {
                self.give_back(store, &mailbox, day, hour).await?;
                return Err(e);
            }
        };
        let transport = transport_for(&mailbox, store, &self.data_dir)?;
        let to = vec![email.to_address.clone()];
        let key = email.id.simple().to_string();
        let sent = transport
            .send(&Outgoing {
                key: &key,
                from: &email.from_address,
                to: &to,
                message: &message,
            })
            .await;
        let at = store.now();
        match sent {
            Ok(handed) => {
                let (code, enhanced) = reply_codes(&handed.receipt);
                self.settle(
                    store,
                    &email,
                    Settled {
                        status: EmailStatus::Sent,
                        reason: None,
                        code,
                        enhanced: enhanced.as_deref(),
                        reply: Some(&handed.receipt),
                        sent_at: Some(at),
                        bounced_at: None,
                        warnings: &warnings,
                    },
                    &EMAIL_SENT,
                )
                .await?;
                mailbox_store::record_send_ok(conn, mailbox.id).await?;
                Ok(Outcome::Done(Some(
                    serde_json::json!({"sent": handed.receipt}),
                )))
            }
            Err(e) => {
                self.failed(ctx, &email, &mailbox, e, &warnings, (day, hour))
                    .await
            }
        }
    }

    /// The finished message: MIME from what the email says, signed by its domain's keys.
    async fn message(
        &self,
        store: &Store,
        email: &EmailRow,
        warnings: &mut Vec<String>,
    ) -> Result<Vec<u8>, Error> {
        let key = links::key(store.conn(), store, email.workspace_id)
            .await
            .map_err(Error::Internal)?;
        let unsubscribe = format!(
            "{}/u/{}",
            self.public_base,
            links::token(&key, Purpose::Unsubscribe, email.id)
        );
        let mailto = format!("mailto:{}?subject=unsubscribe", email.from_address);
        let boundary = format!("=_{}", email.id.simple());
        let raw = mime::build(&Message {
            from_name: &email.from_name,
            from_address: &email.from_address,
            to_name: email.to_name.as_deref(),
            to_address: &email.to_address,
            reply_to: email.reply_to.as_deref(),
            subject: &email.subject,
            date: email.scheduled_for.max(email.created_at),
            message_id: &email.message_id,
            unsubscribe_https: Some(&unsubscribe),
            unsubscribe_mailto: Some(&mailto),
            text: &email.body_text,
            html: &email.html,
            boundary: &boundary,
        });
        let Some(domain) =
            domains::of_address(store.conn(), email.workspace_id, &email.from_address).await?
        else {
            let d = email.from_address.rsplit_once('@').map_or("", |(_, d)| d);
            let note = format!("not DKIM-signed: {d} is not a sending domain of this workspace");
            if !warnings.contains(&note) {
                warnings.push(note);
            }
            return Ok(raw);
        };
        let signers = domains::signers(store, &domain)?;
        dkim::sign(&raw, &signers, store.now().timestamp())
            .map_err(|e| Error::Internal(anyhow::anyhow!("DKIM: {e}")))
    }

    async fn failed(
        &self,
        ctx: &JobContext,
        email: &EmailRow,
        mailbox: &MailboxRow,
        e: TransportError,
        warnings: &[String],
        (day, hour): (DateTime<Utc>, DateTime<Utc>),
    ) -> Result<Outcome, Error> {
        let store = &ctx.store;
        let at = store.now();
        let code = e.code.map(i32::from);
        let text = e.to_string();
        // The mailbox or its server failed, not the recipient: that counts to its pause.
        if !matches!(e.stage, Stage::Recipient) {
            mailbox_store::record_send_failure(store.conn(), mailbox.id, &text, at).await?;
        }
        match e.class {
            Class::Retryable if ctx.job.attempts < MAX_ATTEMPTS => {
                self.give_back(store, mailbox, day, hour).await?;
                let txn = store.write().await?;
                store::transition(
                    &txn,
                    email.id,
                    &[EmailStatus::Sending],
                    EmailStatus::Scheduled,
                    at,
                )
                .await?;
                store::settle(
                    &txn,
                    email.id,
                    &Settled {
                        status: EmailStatus::Scheduled,
                        reason: Some(&format!("will try again: {text}")),
                        code,
                        enhanced: e.enhanced.as_deref(),
                        reply: Some(&e.message),
                        sent_at: None,
                        bounced_at: None,
                        warnings,
                    },
                    at,
                )
                .await?;
                txn.commit().await?;
                Ok(Outcome::Retry {
                    error: text,
                    after: None,
                })
            }
            Class::Retryable | Class::Permanent => {
                self.give_back(store, mailbox, day, hour).await?;
                let bounced = e.stage == Stage::Recipient && e.class == Class::Permanent;
                let status = if bounced {
                    EmailStatus::Bounced
                } else {
                    EmailStatus::Failed
                };
                let reason = if e.class == Class::Retryable {
                    format!("gave up after {MAX_ATTEMPTS} attempts: {text}")
                } else {
                    text.clone()
                };
                let txn = store.write().await?;
                if bounced && let Ok(address) = EmailAddress::parse(&email.to_address) {
                    suppressions::add_automatic(
                        &txn,
                        email.workspace_id,
                        &address,
                        Reason::HardBounce,
                        "bounce",
                        Some(format!("email {}: {}", email.id, e.message)),
                    )
                    .await?;
                }
                record(
                    &txn,
                    email,
                    &Settled {
                        status,
                        reason: Some(&reason),
                        code,
                        enhanced: e.enhanced.as_deref(),
                        reply: Some(&e.message),
                        sent_at: None,
                        bounced_at: bounced.then_some(at),
                        warnings,
                    },
                    &EMAIL_FAILED,
                    at,
                )
                .await?;
                txn.commit().await?;
                Ok(Outcome::Done(Some(
                    serde_json::json!({"status": status.as_str(), "error": text}),
                )))
            }
            Class::Uncertain => {
                self.settle(
                    store,
                    email,
                    Settled {
                        status: EmailStatus::Uncertain,
                        reason: Some(&text),
                        code,
                        enhanced: e.enhanced.as_deref(),
                        reply: Some(&e.message),
                        sent_at: None,
                        bounced_at: None,
                        warnings,
                    },
                    &EMAIL_FAILED,
                )
                .await?;
                Ok(Outcome::Done(Some(
                    serde_json::json!({"status": "uncertain", "error": text}),
                )))
            }
        }
    }

    async fn give_back(
        &self,
        store: &Store,
        mailbox: &MailboxRow,
        day: DateTime<Utc>,
        hour: DateTime<Utc>,
    ) -> Result<(), Error> {
        let txn = store.write().await?;
        store::give_back_usage(&txn, mailbox.id, "day", day).await?;
        store::give_back_usage(&txn, mailbox.id, "hour", hour).await?;
        txn.commit().await?;
        Ok(())
    }

    async fn settle(
        &self,
        store: &Store,
        email: &EmailRow,
        s: Settled<'_>,
        topic: &Topic,
    ) -> Result<(), Error> {
        let txn = store.write().await?;
        record(&txn, email, &s, topic, store.now()).await?;
        txn.commit().await?;
        Ok(())
    }

    async fn refuse(
        &self,
        store: &Store,
        email: &EmailRow,
        reason: &str,
        warnings: &[String],
    ) -> Result<(), Error> {
        let txn = store.write().await?;
        if store::transition(
            &txn,
            email.id,
            &[EmailStatus::Scheduled],
            EmailStatus::Refused,
            store.now(),
        )
        .await?
        {
            record(
                &txn,
                email,
                &Settled {
                    status: EmailStatus::Refused,
                    reason: Some(reason),
                    code: None,
                    enhanced: None,
                    reply: None,
                    sent_at: None,
                    bounced_at: None,
                    warnings,
                },
                &EMAIL_FAILED,
                store.now(),
            )
            .await?;
        }
        txn.commit().await?;
        Ok(())
    }

    /// Leave it `scheduled`, saying what it waits for.
    async fn wait(&self, store: &Store, email: &EmailRow, reason: &str) -> Result<(), Error> {
        let txn = store.write().await?;
        let at = store.now();
        store::transition(
            &txn,
            email.id,
            &[EmailStatus::Sending],
            EmailStatus::Scheduled,
            at,
        )
        .await?;
        crate::platform::store::exec(
            &txn,
            "UPDATE emails SET status_reason = $1 WHERE id = $2 AND status = 'scheduled'",
            vec![reason.into(), email.id.into()],
        )
        .await?;
        txn.commit().await?;
        Ok(())
    }
}

/// Write how it ended and the event that says so.
async fn record<C: Db>(
    conn: &C,
    email: &EmailRow,
    s: &Settled<'_>,
    topic: &Topic,
    at: DateTime<Utc>,
) -> Result<(), Error> {
    store::settle(conn, email.id, s, at).await?;
    let Some(row) = store::by_id(conn, email.id).await? else {
        return Ok(());
    };
    events::emit(
        conn,
        events::NewEvent {
            workspace_id: email.workspace_id,
            event_type: topic.name,
            entity_type: "email",
            entity_id: Some(email.id.to_string()),
            source: "send",
            data: serde_json::to_value(row.shown()).unwrap_or_default(),
        },
    )
    .await?;
    Ok(())
}

/// `250 2.0.0 queued as 4` → (250, "2.0.0").
fn reply_codes(reply: &str) -> (Option<i32>, Option<String>) {
    let mut words = reply.split_whitespace();
    let code = words
        .next()
        .and_then(|w| w.parse::<i32>().ok())
        .filter(|c| (200..600).contains(c));
    let enhanced = code.and(words.next()).filter(|w| {
        let parts: Vec<&str> = w.split('.').collect();
        parts.len() == 3
            && parts
                .iter()
                .all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()))
    });
    (code, enhanced.map(str::to_owned))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows_start_on_the_hour_and_the_day() {
        let t = Utc
            .with_ymd_and_hms(2026, 12, 4, 13, 47, 12)
            .single()
            .expect("time");
        assert_eq!(hour_start(t).to_rfc3339(), "2026-12-04T13:00:00+00:00");
        assert_eq!(next_hour(t).to_rfc3339(), "2026-12-04T14:00:00+00:00");
        assert_eq!(day_start(t).to_rfc3339(), "2026-12-04T00:00:00+00:00");
    }

    #[test]
    fn smtp_replies_give_their_codes() {
        assert_eq!(
            reply_codes("250 2.0.0 queued as 4"),
            (Some(250), Some("2.0.0".into()))
        );
        assert_eq!(reply_codes("250 OK"), (Some(250), None));
        assert_eq!(reply_codes("outbox/new/x.eml"), (None, None));
    }
}
