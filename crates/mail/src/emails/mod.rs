//! Emails: one message to one contact from one mailbox. A request renders it (so bad
//! input is refused at once, by name) and queues its send job in the same transaction;
//! the job checks everything again at send time, builds the MIME, signs it with the
//! sender's domain keys and hands it to the mailbox's transport exactly once. Rules here,
//! the message in `mime`, unsubscribe links in `links`, queries in `store`, use cases in
//! `service`, the send in `job`, routes in `api`.

pub mod api;
pub mod job;
pub mod links;
pub mod mime;
pub mod profile;
pub mod service;
pub mod store;
pub mod tracking;

use chrono::{DateTime, Utc};
use salesos_model::text_enum;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use utoipa::ToSchema;
use uuid::Uuid;

text_enum! {
    /// Where an email stands.
    pub enum EmailStatus {
        /// Waiting for its time, or for another attempt after a temporary failure.
        Scheduled = "scheduled",
        /// Being handed to the server now.
        Sending = "sending",
        /// The server accepted it.
        Sent = "sent",
        /// The server refused it for good (a 5xx before the end of the message), or every
        /// attempt failed; `status_reason` and the SMTP fields say why.
        Failed = "failed",
        /// The server refused the recipient (`550 5.1.1` and the like): a hard bounce, and
        /// the address is suppressed.
        Bounced = "bounced",
        /// SalesOS refused to send it at send time: suppressed, unsubscribed, do not
        /// contact, the mailbox stopped, or the domain gate; `status_reason` says which.
        Refused = "refused",
        /// The connection was lost after the end of the message: the server may have
        /// accepted it. Never retried by itself, so that it is never sent twice.
        Uncertain = "uncertain",
    }
}

/// The mailbox providers that refuse unauthenticated bulk mail, by recipient domain.
pub fn provider_of(domain: &str) -> Option<&'static str> {
    let d = domain.to_ascii_lowercase();
    let is = |names: &[&str]| names.iter().any(|n| d == *n);
    if is(&["gmail.com", "googlemail.com"]) {
        Some("google")
    } else if is(&["yahoo.com", "ymail.com", "rocketmail.com", "aol.com"])
        || d.starts_with("yahoo.")
    {
        Some("yahoo")
    } else if is(&["outlook.com", "hotmail.com", "live.com", "msn.com"])
        || d.starts_with("hotmail.")
        || d.starts_with("outlook.")
        || d.starts_with("live.")
    {
        Some("microsoft")
    } else {
        None
    }
}

/// The volume a day to one provider past which it treats a sender as bulk (Gmail's and
/// Yahoo's published 5,000; Outlook.com follows it).
pub const BULK_THRESHOLD: i64 = 5_000;

/// A request to send one email.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SendRequest {
    pub contact_id: Uuid,
    pub mailbox_id: Uuid,
    /// A saved template; or give `subject` and `html` instead.
    pub template_id: Option<Uuid>,
    #[schema(min_length = 1, max_length = 500)]
    pub subject: Option<String>,
    #[schema(min_length = 1, max_length = 262144)]
    pub html: Option<String>,
    /// Derived from `html` when absent.
    #[schema(max_length = 262144)]
    pub text: Option<String>,
    /// Values of the template's declared variables.
    #[schema(value_type = Option<Object>)]
    pub variables: Option<Map<String, Value>>,
    /// Not before this time (UTC); now when absent.
    pub scheduled_for: Option<DateTime<Utc>>,
    /// Defaults to false.
    pub track_opens: Option<bool>,
    /// Defaults to false.
    pub track_clicks: Option<bool>,
}

/// An email as the API shows it.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct Email {
    pub id: Uuid,
    pub contact_id: Uuid,
    pub mailbox_id: Uuid,
    pub template_id: Option<Uuid>,
    pub to: String,
    pub from: String,
    pub subject: String,
    pub status: EmailStatus,
    pub status_reason: Option<String>,
    /// What the send noticed but did not stop for (an unverified domain below the bulk
    /// threshold, no public URL for links).
    pub warnings: Vec<String>,
    /// When it is (or was) due to go.
    pub scheduled_time: DateTime<Utc>,
    pub attempts: i32,
    pub message_id: String,
    pub sent_at: Option<DateTime<Utc>>,
    /// The server's last answer: its code, enhanced status code and text.
    pub smtp_code: Option<i32>,
    pub smtp_enhanced: Option<String>,
    pub smtp_reply: Option<String>,
    pub track_opens: bool,
    pub track_clicks: bool,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// An email with what it says, for `GET /emails/{id}`.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct EmailDetail {
    #[serde(flatten)]
    pub email: Email,
    pub html: String,
    pub text: String,
}

/// What happened to an email after it went: seed 002's tracking answer, with every hit
/// and its classification.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct Tracking {
    pub email_id: Uuid,
    pub status: EmailStatus,
    pub sent_at: Option<DateTime<Utc>>,
    /// The first open by a person (proxies and scanners do not count).
    pub opened_at: Option<DateTime<Utc>>,
    /// The first click by a person.
    pub clicked_at: Option<DateTime<Utc>>,
    pub unsubscribed: bool,
    pub unsubscribed_at: Option<DateTime<Utc>>,
    pub bounced: bool,
    pub bounced_at: Option<DateTime<Utc>>,
    /// The server's refusal, for a bounce.
    pub bounce_code: Option<i32>,
    pub bounce_enhanced: Option<String>,
    pub bounce_reply: Option<String>,
    pub human_opens: usize,
    pub human_clicks: usize,
    /// Hits by image proxies and scanners, kept apart.
    pub machine_hits: usize,
    pub hits: Vec<tracking::Hit>,
}

/// What `email.opened` and `email.clicked` carry: a person's first open or click.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct Engaged {
    pub email_id: Uuid,
    pub contact_id: Uuid,
    pub at: DateTime<Utc>,
    /// The link, for a click.
    pub url: Option<String>,
}

/// What `email.unsubscribed` carries.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct Unsubscribed {
    pub email_id: Uuid,
    pub contact_id: Uuid,
    pub email: String,
    pub unsubscribed_at: DateTime<Utc>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn providers_are_known_by_their_domains() {
        assert_eq!(provider_of("Gmail.com"), Some("google"));
        assert_eq!(provider_of("yahoo.co.uk"), Some("yahoo"));
        assert_eq!(provider_of("aol.com"), Some("yahoo"));
        assert_eq!(provider_of("hotmail.fr"), Some("microsoft"));
        assert_eq!(provider_of("acme.com"), None);
        assert_eq!(provider_of("notgmail.com"), None);
    }
}
