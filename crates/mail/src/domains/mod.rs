//! Sending domains: the domain a mailbox's address is at, its DKIM keys, the DNS records
//! to publish for it, and what DNS said when it was last checked. Mail from a domain whose
//! DKIM or DMARC is not verified is what Gmail, Yahoo and Outlook.com reject in bulk; the
//! send job checks before each message. Rules here, DNS in `dns`, judgements in
//! `checks`, keys in `keys`, queries in `store`, use cases in `service`, routes in `api`.

pub mod api;
pub mod checks;
pub mod dns;
pub mod keys;
pub mod service;
pub mod store;

use chrono::{DateTime, Utc};
use salesos_model::text_enum;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use crate::platform::error::FieldError;

text_enum! {
    /// What the last check of one record found.
    pub enum CheckStatus {
        /// Never checked.
        Unchecked = "unchecked",
        Pass = "pass",
        /// Missing or wrong; `detail` says which.
        Fail = "fail",
        /// The lookup itself failed (timeout, SERVFAIL): nothing is known.
        Error = "error",
    }
}

text_enum! {
    /// What a DNS record is for.
    pub enum RecordPurpose {
        /// The RSA key receivers check signatures with.
        Dkim = "dkim",
        /// The optional Ed25519 key of a second signature.
        DkimEd25519 = "dkim_ed25519",
        Spf = "spf",
        Dmarc = "dmarc",
        /// Where replies and bounces to the domain go.
        Mx = "mx",
    }
}

/// A DNS record a domain needs, with what the last check found.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct DnsRecord {
    pub purpose: RecordPurpose,
    /// `TXT` or `MX`.
    pub kind: String,
    /// The name to publish at (fully qualified, without the trailing dot).
    pub host: String,
    /// The value to publish; `null` for MX, which is the domain's own mail server.
    pub value: Option<String>,
    /// Gmail, Yahoo and Outlook.com refuse bulk mail without it.
    pub required_for_bulk: bool,
    pub status: CheckStatus,
    /// What was found, or what is missing or wrong.
    pub detail: Option<String>,
}

/// A sending domain as the API shows it: never its private keys.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct Domain {
    pub id: Uuid,
    pub domain: String,
    /// The selector of the RSA-2048 key (`<selector>._domainkey.<domain>`).
    pub dkim_selector: String,
    /// The selector of the Ed25519 key, when the domain signs twice.
    pub ed25519_selector: Option<String>,
    /// The service whose servers send for the domain, as SPF names it
    /// (`_spf.google.com`, `spf.protection.outlook.com`).
    pub spf_include: Option<String>,
    /// What to publish, and what the last check found for each.
    pub records: Vec<DnsRecord>,
    /// DKIM and DMARC both verified: mail from this domain may go to Gmail, Yahoo and
    /// Outlook.com recipients past their bulk threshold.
    pub bulk_ready: bool,
    /// The records the gate still waits for, by purpose.
    pub missing: Vec<RecordPurpose>,
    pub checked_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// A domain to send from.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewDomain {
    /// The domain of the mailboxes' addresses, such as `acme.com` or `mail.acme.com`.
    #[schema(
        max_length = 253,
        pattern = r"^([A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z]{2,63}$"
    )]
    pub domain: String,
    /// Defaults to `so` and the year and month, such as `so202612`.
    #[schema(
        max_length = 63,
        pattern = r"^[A-Za-z0-9]([A-Za-z0-9-]{0,40}[A-Za-z0-9])?$"
    )]
    pub dkim_selector: Option<String>,
    /// Also sign with an Ed25519 key (a second signature; defaults to false).
    pub ed25519: Option<bool>,
    /// The service whose servers send for the domain, for the SPF record to suggest.
    #[schema(
        max_length = 253,
        pattern = r"^([A-Za-z0-9_]([A-Za-z0-9_-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z]{2,63}$"
    )]
    pub spf_include: Option<String>,
}

/// A valid host name of at least two labels, lowercased, or why not. `underscore` allows
/// `_` at a label's start (SPF includes such as `_spf.google.com`).
pub fn check_host(
    field: &str,
    raw: &str,
    underscore: bool,
    errors: &mut Vec<FieldError>,
) -> String {
    let name = raw.to_ascii_lowercase();
    let label_ok = |l: &str| {
        let b = l.as_bytes();
        !l.is_empty()
            && l.len() <= 63
            && l.bytes()
                .all(|c| c.is_ascii_alphanumeric() || c == b'-' || c == b'_')
            && b.first()
                .is_some_and(|c| c.is_ascii_alphanumeric() || (underscore && *c == b'_'))
            && b.last().is_some_and(u8::is_ascii_alphanumeric)
            && (underscore || !l.contains('_'))
    };
    let labels: Vec<&str> = name.split('.').collect();
    let tld_ok = labels
        .last()
        .is_some_and(|t| t.len() >= 2 && t.bytes().all(|c| c.is_ascii_alphabetic()));
    if name.len() > 253 || labels.len() < 2 || !labels.iter().all(|l| label_ok(l)) || !tld_ok {
        errors.push(FieldError::new(
            field,
            format!(
                "`{}` is not a domain name: expected labels of letters, digits and hyphens \
                 separated by dots, such as acme.com (an international name in its xn-- form)",
                raw
            ),
        ));
    }
    name
}

/// A DKIM selector, lowercased, or why not.
pub fn check_selector(raw: &str, errors: &mut Vec<FieldError>) -> String {
    let s = raw.to_ascii_lowercase();
    let ok = !s.is_empty()
        && s.len() <= 42
        && s.bytes().all(|c| c.is_ascii_alphanumeric() || c == b'-')
        && !s.starts_with('-')
        && !s.ends_with('-');
    if !ok {
        errors.push(FieldError::new(
            "dkim_selector",
            format!("`{raw}` is not a selector: 1 to 42 letters, digits and inner hyphens"),
        ));
    }
    s
}

/// The DMARC record to suggest: monitor only, which the providers accept, relaxed
/// alignment so a subdomain's DKIM counts for its parent.
pub fn suggested_dmarc() -> String {
    "v=DMARC1; p=none; adkim=r; aspf=r".to_owned()
}

/// The SPF record to suggest: the sending service's servers, else the domain's MX hosts.
pub fn suggested_spf(include: Option<&str>) -> String {
    match include {
        Some(inc) => format!("v=spf1 include:{inc} ~all"),
        None => "v=spf1 mx ~all".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_names_are_checked_and_lowercased() {
        let mut errors = Vec::new();
        assert_eq!(
            check_host("domain", "Mail.ACME.com", false, &mut errors),
            "mail.acme.com"
        );
        assert_eq!(
            check_host("spf_include", "_spf.google.com", true, &mut errors),
            "_spf.google.com"
        );
        assert!(errors.is_empty());
        for bad in [
            "acme",
            "acme..com",
            "-acme.com",
            "acme-.com",
            "ac me.com",
            "acme.c0m",
            "_x.acme.com",
            "1.2.3.4",
            "bücher.de",
            "acme.com.",
            " acme.com",
        ] {
            let mut errors = Vec::new();
            check_host("domain", bad, false, &mut errors);
            assert_eq!(errors.len(), 1, "{bad}");
        }
        let mut errors = Vec::new();
        check_selector("so-2026", &mut errors);
        check_selector("-x", &mut errors);
        check_selector("a.b", &mut errors);
        assert_eq!(errors.len(), 2);
    }
}
