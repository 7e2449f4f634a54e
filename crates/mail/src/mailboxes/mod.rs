//! Mailboxes: how SalesOS sends as one person. A mailbox has a sender (name, address,
//! reply-to, signature), a transport (the built-in outbox, or the person's own SMTP
//! server), caps per day and per hour, an optional warm-up ramp, and a health record that
//! pauses it after too many failures in a row, with the reason shown. Rules here, queries
//! in `store`, use cases in `service`, routes in `api`, transports in `transport`.

pub mod api;
pub mod service;
pub mod store;
pub mod transport;

use std::net::IpAddr;

use chrono::{DateTime, NaiveDate, Utc};
use salesos_model::{EmailAddress, text_enum};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use crate::platform::error::FieldError;

text_enum! {
    /// How a mailbox hands its mail over.
    pub enum TransportKind {
        /// The built-in outbox in the data directory: nothing leaves the machine.
        Maildir = "maildir",
        /// The mailbox's own SMTP server.
        Smtp = "smtp",
    }
}

text_enum! {
    /// How the SMTP connection is secured.
    pub enum SmtpSecurity {
        /// TLS from the first byte (port 465).
        Tls = "tls",
        /// Plain, then upgraded with STARTTLS (port 587); refused if the server lacks it.
        Starttls = "starttls",
        /// No encryption: allowed only to a server on this machine (loopback).
        None = "none",
    }
}

text_enum! {
    /// How SalesOS logs in to the SMTP server.
    pub enum SmtpAuth {
        /// `AUTH PLAIN` with a password (or an app password).
        Password = "password",
        /// `AUTH XOAUTH2` with an OAuth access token (Google Workspace, Microsoft 365).
        Xoauth2 = "xoauth2",
    }
}

text_enum! {
    /// Whether a mailbox sends.
    pub enum Status {
        Active = "active",
        /// Paused by a person.
        Paused = "paused",
        /// Paused by SalesOS after failures in a row; `status_reason` says why.
        Error = "error",
    }
}

pub const MAX_NAME: usize = 200;
pub const MAX_SIGNATURE: usize = 10_000;
/// Google Workspace's limit per user and day; no mailbox SalesOS drives may go above it.
pub const MAX_DAILY_CAP: i32 = 2_000;
pub const DEFAULT_DAILY_CAP: i32 = 50;
pub const DEFAULT_HOURLY_CAP: i32 = 20;
pub const DEFAULT_PAUSE_AFTER: i32 = 5;
pub const MAX_SECRET: usize = 4_096;

/// The SMTP server of a mailbox as the API shows it: never the password or token.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct SmtpServer {
    pub host: String,
    pub port: u16,
    pub security: SmtpSecurity,
    pub auth: SmtpAuth,
    pub username: Option<String>,
    /// Whether a password or token is stored (it is never shown again).
    pub has_secret: bool,
}

/// A warm-up ramp: `start` emails on the day it starts, `step` more each day after, up
/// to the daily cap.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Warmup {
    #[schema(minimum = 1, maximum = 2000)]
    pub start: i32,
    #[schema(minimum = 0, maximum = 2000)]
    pub step: i32,
}

/// A mailbox's warm-up as shown: the ramp and the day it started.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct WarmupState {
    pub start: i32,
    pub step: i32,
    pub started_on: NaiveDate,
}

/// How a mailbox has been doing.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct Health {
    pub last_error: Option<String>,
    pub last_error_at: Option<DateTime<Utc>>,
    pub consecutive_failures: i32,
    /// After this many failures in a row the mailbox moves to `error` and stops.
    pub pause_after_failures: i32,
    pub last_tested_at: Option<DateTime<Utc>>,
}

/// A mailbox as the API shows it.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct Mailbox {
    pub id: Uuid,
    pub from_name: String,
    pub from_address: String,
    pub reply_to: Option<String>,
    /// HTML added under each email's body.
    pub signature: Option<String>,
    pub transport: TransportKind,
    /// Set for `smtp`.
    pub smtp: Option<SmtpServer>,
    pub daily_cap: i32,
    pub hourly_cap: i32,
    pub warmup: Option<WarmupState>,
    /// How many emails it may send today: the daily cap, or less while warming up.
    pub allowance_today: i32,
    pub status: Status,
    /// Why it is paused or in error.
    pub status_reason: Option<String>,
    pub health: Health,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// The SMTP server of a new mailbox, or a change of it.
#[derive(Clone, Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SmtpInput {
    #[schema(min_length = 1, max_length = 253)]
    pub host: String,
    /// Defaults by security: 465 for `tls`, 587 for `starttls`, 25 for `none`.
    #[schema(minimum = 1, maximum = 65535)]
    pub port: Option<u16>,
    pub security: SmtpSecurity,
    /// Defaults to `password`.
    pub auth: Option<SmtpAuth>,
    #[schema(min_length = 1, max_length = 320)]
    pub username: Option<String>,
    /// The password or app password, or the OAuth access token for `xoauth2`. Sealed
    /// with the master key, never shown; leave out in a change to keep the stored one.
    #[schema(min_length = 1, max_length = 4096, write_only)]
    pub secret: Option<String>,
}

/// A new mailbox.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewMailbox {
    #[schema(min_length = 1, max_length = 200)]
    pub from_name: String,
    #[schema(format = Email)]
    pub from_address: String,
    #[schema(format = Email)]
    pub reply_to: Option<String>,
    #[schema(max_length = 10000)]
    pub signature: Option<String>,
    /// Defaults to `maildir`, the built-in outbox.
    pub transport: Option<TransportKind>,
    /// Required for `smtp`.
    pub smtp: Option<SmtpInput>,
    /// Defaults to 50; at most 2,000.
    #[schema(minimum = 1, maximum = 2000)]
    pub daily_cap: Option<i32>,
    /// Defaults to 20 (or the daily cap if lower).
    #[schema(minimum = 1, maximum = 2000)]
    pub hourly_cap: Option<i32>,
    /// Leave out to send at the daily cap from the first day.
    pub warmup: Option<Warmup>,
    /// Defaults to 5.
    #[schema(minimum = 1, maximum = 100)]
    pub pause_after_failures: Option<i32>,
}

/// A change to a mailbox: a field left out stays; `null` clears `reply_to`, `signature`
/// and `warmup`. `status` pauses it or sets it going again (which clears its failures).
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MailboxPatch {
    #[schema(min_length = 1, max_length = 200)]
    pub from_name: Option<String>,
    #[schema(format = Email)]
    pub from_address: Option<String>,
    #[serde(default, deserialize_with = "salesos_model::patch::patch")]
    #[schema(value_type = Option<String>, nullable, format = Email)]
    pub reply_to: Option<Option<String>>,
    #[serde(default, deserialize_with = "salesos_model::patch::patch")]
    #[schema(value_type = Option<String>, nullable, max_length = 10000)]
    pub signature: Option<Option<String>>,
    pub transport: Option<TransportKind>,
    pub smtp: Option<SmtpInput>,
    #[schema(minimum = 1, maximum = 2000)]
    pub daily_cap: Option<i32>,
    #[schema(minimum = 1, maximum = 2000)]
    pub hourly_cap: Option<i32>,
    #[serde(default, deserialize_with = "salesos_model::patch::patch")]
    #[schema(value_type = Option<Warmup>, nullable)]
    pub warmup: Option<Option<Warmup>>,
    #[schema(minimum = 1, maximum = 100)]
    pub pause_after_failures: Option<i32>,
    /// `active` or `paused`.
    pub status: Option<Status>,
}

/// The SMTP server as checked: host trimmed, port and login method settled.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SmtpChecked {
    pub host: String,
    pub port: u16,
    pub security: SmtpSecurity,
    pub auth: SmtpAuth,
    pub username: Option<String>,
    /// A new secret to seal, when one was given.
    pub secret: Option<String>,
}

/// Whether `host` names this machine: plaintext SMTP goes nowhere else.
pub fn is_loopback(host: &str) -> bool {
    let h = host.trim_start_matches('[').trim_end_matches(']');
    h.eq_ignore_ascii_case("localhost")
        || h.parse::<IpAddr>().is_ok_and(|ip| match ip {
            IpAddr::V4(v4) => v4.is_loopback(),
            IpAddr::V6(v6) => {
                v6.is_loopback() || v6.to_ipv4_mapped().is_some_and(|v4| v4.is_loopback())
            }
        })
}

fn host_ok(host: &str) -> Result<(), String> {
    if host.is_empty() {
        return Err("must not be empty".into());
    }
    if host.len() > 253 {
        return Err("must be at most 253 characters".into());
    }
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    if bare.parse::<IpAddr>().is_ok() {
        return Ok(());
    }
    let label_ok = |l: &str| {
        !l.is_empty()
            && l.len() <= 63
            && !l.starts_with('-')
            && !l.ends_with('-')
            && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
    };
    if host.split('.').all(label_ok) {
        Ok(())
    } else {
        Err(format!(
            "`{host}` is not a host name or IP address (letters, digits, `-` and `.`)"
        ))
    }
}

impl SmtpInput {
    /// Check the server; `has_secret` says whether one is stored already.
    pub fn check(&self, has_secret: bool, errors: &mut Vec<FieldError>) -> Option<SmtpChecked> {
        let before = errors.len();
        let host = self.host.trim().to_ascii_lowercase();
        if let Err(why) = host_ok(&host) {
            errors.push(FieldError::new("smtp.host", why));
        } else if self.security == SmtpSecurity::None && !is_loopback(&host) {
            errors.push(FieldError::new(
                "smtp.security",
                format!(
                    "`none` sends the password and the mail unencrypted; it is allowed only to a \
                     server on this machine, not to `{host}`: use `tls` or `starttls`"
                ),
            ));
        }
        let port = self.port.unwrap_or(match self.security {
            SmtpSecurity::Tls => 465,
            SmtpSecurity::Starttls => 587,
            SmtpSecurity::None => 25,
        });
        if port == 0 {
            errors.push(FieldError::new("smtp.port", "must be 1 to 65535"));
        }
        let auth = self.auth.unwrap_or(SmtpAuth::Password);
        let username = self
            .username
            .as_deref()
            .map(str::trim)
            .filter(|u| !u.is_empty())
            .map(str::to_owned);
        if let Some(u) = &username
            && (u.len() > 320 || u.chars().any(char::is_control))
        {
            errors.push(FieldError::new(
                "smtp.username",
                "must be at most 320 characters without control characters",
            ));
        }
        let secret = self.secret.clone().filter(|s| !s.is_empty());
        if let Some(s) = &secret
            && (s.len() > MAX_SECRET || s.contains(['\0', '\r', '\n']))
        {
            errors.push(FieldError::new(
                "smtp.secret",
                format!("must be at most {MAX_SECRET} bytes without NUL or line breaks"),
            ));
        }
        if auth == SmtpAuth::Xoauth2 && username.is_none() {
            errors.push(FieldError::new(
                "smtp.username",
                "`xoauth2` logs in as a user: give the mailbox's username",
            ));
        }
        if username.is_some() && secret.is_none() && !has_secret {
            errors.push(FieldError::new(
                "smtp.secret",
                match auth {
                    SmtpAuth::Password => "a username needs its password",
                    SmtpAuth::Xoauth2 => "`xoauth2` needs an access token",
                },
            ));
        }
        (errors.len() == before).then_some(SmtpChecked {
            host,
            port,
            security: self.security,
            auth,
            username,
            secret,
        })
    }
}

/// Check a sender name, address, reply-to and signature.
pub fn check_sender(
    from_name: &str,
    from_address: &str,
    reply_to: Option<&str>,
    signature: Option<&str>,
    errors: &mut Vec<FieldError>,
) {
    if from_name.trim().is_empty() {
        errors.push(FieldError::new("from_name", "must not be empty"));
    } else if from_name.chars().count() > MAX_NAME || from_name.chars().any(char::is_control) {
        errors.push(FieldError::new(
            "from_name",
            format!("must be at most {MAX_NAME} characters on one line"),
        ));
    }
    if let Err(e) = EmailAddress::parse(from_address) {
        errors.push(FieldError::new("from_address", e.to_string()));
    }
    if let Some(r) = reply_to
        && let Err(e) = EmailAddress::parse(r)
    {
        errors.push(FieldError::new("reply_to", e.to_string()));
    }
    if let Some(s) = signature
        && s.chars().count() > MAX_SIGNATURE
    {
        errors.push(FieldError::new(
            "signature",
            format!("must be at most {MAX_SIGNATURE} characters"),
        ));
    }
}

/// Check caps, ramp and threshold against each other.
pub fn check_limits(
    daily: i32,
    hourly: i32,
    warmup: Option<&Warmup>,
    pause_after: i32,
    errors: &mut Vec<FieldError>,
) {
    if !(1..=MAX_DAILY_CAP).contains(&daily) {
        errors.push(FieldError::new(
            "daily_cap",
            format!("must be 1 to {MAX_DAILY_CAP} (Google Workspace's limit per user and day)"),
        ));
    }
    if hourly < 1 || hourly > daily.max(1) {
        errors.push(FieldError::new(
            "hourly_cap",
            format!("must be 1 to the daily cap ({daily})"),
        ));
    }
    if let Some(w) = warmup {
        if w.start < 1 || w.start > daily.max(1) {
            errors.push(FieldError::new(
                "warmup.start",
                format!("must be 1 to the daily cap ({daily})"),
            ));
        }
        if !(0..=MAX_DAILY_CAP).contains(&w.step) {
            errors.push(FieldError::new(
                "warmup.step",
                format!("must be 0 to {MAX_DAILY_CAP}"),
            ));
        }
    }
    if !(1..=100).contains(&pause_after) {
        errors.push(FieldError::new("pause_after_failures", "must be 1 to 100"));
    }
}

/// How many emails a mailbox may send on `today`: its daily cap, or while warming up
/// `start + step × days since it started`, whichever is lower.
pub fn allowance(daily_cap: i32, warmup: Option<&WarmupState>, today: NaiveDate) -> i32 {
    let Some(w) = warmup else {
        return daily_cap;
    };
    let days = (today - w.started_on).num_days().max(0);
    let ramp = i64::from(w.start) + i64::from(w.step) * days;
    i32::try_from(ramp.min(i64::from(daily_cap))).unwrap_or(daily_cap)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn smtp(host: &str, security: SmtpSecurity) -> SmtpInput {
        SmtpInput {
            host: host.into(),
            port: None,
            security,
            auth: None,
            username: Some("ada".into()),
            secret: Some("pw".into()),
        }
    }

    #[test]
    fn plaintext_smtp_goes_only_to_this_machine() {
        for host in [
            "localhost",
            "127.0.0.1",
            "127.9.9.9",
            "::1",
            "[::1]",
            "::ffff:127.0.0.1",
        ] {
            let mut errors = Vec::new();
            let checked = smtp(host, SmtpSecurity::None).check(false, &mut errors);
            assert_eq!(checked.map(|c| c.port), Some(25), "{host}: {errors:?}");
        }
        for host in ["smtp.example.com", "10.0.0.1", "0.0.0.0", "::ffff:10.0.0.1"] {
            let mut errors = Vec::new();
            assert!(
                smtp(host, SmtpSecurity::None)
                    .check(false, &mut errors)
                    .is_none()
            );
            assert_eq!(errors[0].field, "smtp.security", "{host}");
        }
        let mut errors = Vec::new();
        let c = smtp("SMTP.Example.com", SmtpSecurity::Starttls)
            .check(false, &mut errors)
            .expect("starttls");
        assert_eq!((c.host.as_str(), c.port), ("smtp.example.com", 587));
    }

    #[test]
    fn a_login_needs_its_secret_unless_one_is_stored() {
        let mut input = smtp("smtp.example.com", SmtpSecurity::Tls);
        input.secret = None;
        let mut errors = Vec::new();
        assert!(input.check(false, &mut errors).is_none());
        assert_eq!(errors[0].field, "smtp.secret");
        let mut errors = Vec::new();
        assert!(input.check(true, &mut errors).is_some(), "{errors:?}");
        input.username = None;
        input.auth = Some(SmtpAuth::Xoauth2);
        let mut errors = Vec::new();
        assert!(input.check(true, &mut errors).is_none());
        assert_eq!(errors[0].field, "smtp.username");
        let mut bad = smtp("bad host!", SmtpSecurity::Tls);
        bad.secret = Some("a\r\nRCPT".into());
        let mut errors = Vec::new();
        assert!(bad.check(false, &mut errors).is_none());
        let fields: Vec<_> = errors.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(fields, ["smtp.host", "smtp.secret"]);
    }

    #[test]
    fn the_ramp_climbs_by_its_step_up_to_the_cap() {
        let day = |d| NaiveDate::from_ymd_opt(2026, 12, d).expect("date");
        let w = WarmupState {
            start: 10,
            step: 5,
            started_on: day(1),
        };
        assert_eq!(allowance(40, Some(&w), day(1)), 10);
        assert_eq!(allowance(40, Some(&w), day(3)), 20);
        assert_eq!(allowance(40, Some(&w), day(30)), 40);
        // A clock before the start day still allows the first day's amount.
        assert_eq!(
            allowance(
                40,
                Some(&WarmupState {
                    started_on: day(5),
                    ..w
                }),
                day(1)
            ),
            10
        );
        assert_eq!(allowance(40, None, day(1)), 40);
    }

    #[test]
    fn limits_are_checked_against_each_other() {
        let mut errors = Vec::new();
        check_limits(
            30,
            40,
            Some(&Warmup {
                start: 31,
                step: -1,
            }),
            0,
            &mut errors,
        );
        let fields: Vec<_> = errors.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(
            fields,
            [
                "hourly_cap",
                "warmup.start",
                "warmup.step",
                "pause_after_failures"
            ]
        );
        let mut errors = Vec::new();
        check_limits(2001, 1, None, 5, &mut errors);
        assert_eq!(errors[0].field, "daily_cap");
    }
}
