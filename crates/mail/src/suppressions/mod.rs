//! The suppression list: addresses and whole domains SalesOS must never mail, each with
//! its reason and where it came from. An address is suppressed by its own entry or by an
//! entry for its domain or any parent domain (`acme.com` covers `eu.acme.com`), compared
//! case-insensitively.

pub mod api;
pub mod file;
pub mod service;
pub mod store;

use chrono::{DateTime, Utc};
use salesos_model::{Domain, EmailAddress, text_enum};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use crate::platform::error::FieldError;

text_enum! {
    /// Why an address or domain must not be mailed.
    pub enum Reason {
        Unsubscribed = "unsubscribed",
        HardBounce = "hard_bounce",
        Complaint = "complaint",
        Manual = "manual",
        DoNotContact = "do_not_contact",
    }
}

text_enum! {
    /// What an entry covers: one address, or a domain with its subdomains.
    pub enum Kind {
        Address = "address",
        Domain = "domain",
    }
}

/// An entry of the suppression list.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct Suppression {
    pub id: Uuid,
    pub kind: Kind,
    /// The address or domain, lower-cased.
    pub value: String,
    pub reason: Reason,
    /// Where it came from: `api`, `dashboard`, and later `unsubscribe`, `bounce`, `import`.
    pub source: String,
    pub note: Option<String>,
    pub created_by: Option<Uuid>,
    pub created_at: DateTime<Utc>,
}

/// Put an address or a domain on the list: exactly one of `email` and `domain`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewSuppression {
    #[schema(format = Email)]
    pub email: Option<String>,
    /// A domain such as `acme.com`; it covers its subdomains too.
    pub domain: Option<String>,
    pub reason: Reason,
    /// Up to 500 characters.
    #[schema(max_length = 500)]
    pub note: Option<String>,
}

pub const MAX_NOTE: usize = 500;

impl NewSuppression {
    /// What it covers, checked: the kind and the normalised value.
    pub fn target(&self) -> Result<(Kind, String), Vec<FieldError>> {
        let mut errors = Vec::new();
        let target = match (&self.email, &self.domain) {
            (Some(e), None) => match EmailAddress::parse(e) {
                Ok(a) => Some((Kind::Address, a.as_str().to_owned())),
                Err(why) => {
                    errors.push(FieldError::new("email", why.to_string()));
                    None
                }
            },
            (None, Some(d)) => match Domain::parse(d) {
                Ok(d) => Some((Kind::Domain, d.as_str().to_owned())),
                Err(why) => {
                    errors.push(FieldError::new("domain", why.to_string()));
                    None
                }
            },
            (Some(_), Some(_)) => {
                errors.push(FieldError::new(
                    "domain",
                    "give `email` or `domain`, not both",
                ));
                None
            }
            (None, None) => {
                errors.push(FieldError::new("email", "give `email` or `domain`"));
                None
            }
        };
        if self
            .note
            .as_ref()
            .is_some_and(|n| n.chars().count() > MAX_NOTE)
        {
            errors.push(FieldError::new(
                "note",
                format!("must be at most {MAX_NOTE} characters"),
            ));
        }
        match target {
            Some(t) if errors.is_empty() => Ok(t),
            _ => Err(errors),
        }
    }
}

/// The entries that would suppress `email`: the address itself, its domain and each
/// parent domain with at least two labels (`a@x.eu.acme.com`: the address,
/// `x.eu.acme.com`, `eu.acme.com`, `acme.com`).
pub fn covering(email: &EmailAddress) -> Vec<(Kind, String)> {
    let mut out = vec![(Kind::Address, email.as_str().to_owned())];
    let mut domain = email.domain();
    loop {
        out.push((Kind::Domain, domain.to_owned()));
        match domain.split_once('.') {
            Some((_, parent)) if parent.contains('.') => domain = parent,
            _ => break,
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn new(email: Option<&str>, domain: Option<&str>) -> NewSuppression {
        NewSuppression {
            email: email.map(str::to_owned),
            domain: domain.map(str::to_owned),
            reason: Reason::Manual,
            note: None,
        }
    }

    #[test]
    fn an_entry_is_one_address_or_one_domain_normalised() {
        assert_eq!(
            new(Some(" Ada@Example.COM "), None).target(),
            Ok((Kind::Address, "ada@example.com".into()))
        );
        assert_eq!(
            new(None, Some("https://www.Acme.com/about")).target(),
            Ok((Kind::Domain, "acme.com".into()))
        );
        let both = new(Some("a@b.com"), Some("b.com"))
            .target()
            .expect_err("both");
        assert_eq!(both[0].field, "domain");
        let neither = new(None, None).target().expect_err("neither");
        assert_eq!(neither[0].field, "email");
        assert!(new(Some("not an address"), None).target().is_err());
        assert!(new(None, Some("localhost")).target().is_err());
    }

    #[test]
    fn an_address_is_covered_by_itself_its_domain_and_its_parents() {
        let email = EmailAddress::parse("a@x.eu.acme.com").expect("email");
        let got: Vec<String> = covering(&email).into_iter().map(|(_, v)| v).collect();
        assert_eq!(
            got,
            [
                "a@x.eu.acme.com",
                "x.eu.acme.com",
                "eu.acme.com",
                "acme.com"
            ]
        );
        let plain = EmailAddress::parse("b@acme.com").expect("email");
        assert_eq!(covering(&plain).len(), 2, "no entry for the bare `com`");
    }
}
