//! Email addresses, time zones, countries, domains, URLs, phone numbers and slugs.

use std::fmt;

use serde::{Serialize, Serializer};

/// Why a value was refused, in words a user can act on.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Invalid(pub String);

impl fmt::Display for Invalid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

fn invalid<T>(msg: impl Into<String>) -> Result<T, Invalid> {
    Err(Invalid(msg.into()))
}

/// A syntactically valid email address, trimmed and lower-cased.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct EmailAddress(String);

impl EmailAddress {
    pub fn parse(raw: &str) -> Result<Self, Invalid> {
        let s = raw.trim().to_lowercase();
        if s.is_empty() {
            return invalid("must not be empty");
        }
        if s.len() > 254 {
            return invalid("is longer than 254 characters");
        }
        let Some((local, domain)) = s.rsplit_once('@') else {
            return invalid("is not an email address (no @)");
        };
        let local_ok = !local.is_empty()
            && local.len() <= 64
            && !local.starts_with('.')
            && !local.ends_with('.')
            && !local.contains("..")
            && local
                .chars()
                .all(|c| c.is_alphanumeric() || "!#$%&'*+/=?^_`{|}~.-".contains(c));
        if !local_ok {
            return invalid("is not an email address (bad part before @)");
        }
        if Domain::parse(domain).is_err() {
            return invalid("is not an email address (bad domain)");
        }
        Ok(Self(s))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn domain(&self) -> &str {
        self.0.rsplit_once('@').map(|(_, d)| d).unwrap_or("")
    }
}

impl Serialize for EmailAddress {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0)
    }
}

/// A bare internet domain (`acme.com`), normalised from a URL, an address or a hostname.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Domain(String);

impl Domain {
    /// Accepts `acme.com`, `www.Acme.com`, `https://acme.com/about?x=1`, `acme.com.`.
    pub fn parse(raw: &str) -> Result<Self, Invalid> {
        let mut s = raw.trim().to_lowercase();
        if let Some((_, rest)) = s.split_once("://") {
            s = rest.to_owned();
        }
        let host = s
            .split(['/', '?', '#'])
            .next()
            .unwrap_or("")
            .rsplit('@')
            .next()
            .unwrap_or("");
        let host = host.split(':').next().unwrap_or("").trim_end_matches('.');
        let host = host.strip_prefix("www.").unwrap_or(host);
        if host.is_empty() {
            return invalid("is not a domain");
        }
        if host.len() > 253 || !host.contains('.') {
            return invalid("is not a domain (expected something like acme.com)");
        }
        let labels_ok = host.split('.').all(|l| {
            !l.is_empty()
                && l.len() <= 63
                && !l.starts_with('-')
                && !l.ends_with('-')
                && l.chars().all(|c| c.is_alphanumeric() || c == '-')
        });
        let tld_ok = host
            .rsplit('.')
            .next()
            .is_some_and(|t| t.len() >= 2 && !t.chars().all(|c| c.is_ascii_digit()));
        if !labels_ok || !tld_ok {
            return invalid("is not a domain (expected something like acme.com)");
        }
        Ok(Self(host.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// An IANA time zone name such as `Europe/Berlin`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TimeZone(chrono_tz::Tz);

impl TimeZone {
    pub fn parse(raw: &str) -> Result<Self, Invalid> {
        raw.trim().parse::<chrono_tz::Tz>().map(Self).map_err(|_| {
            Invalid(format!(
                "`{}` is not an IANA time zone (like Europe/Berlin)",
                raw.trim()
            ))
        })
    }

    pub fn name(&self) -> &'static str {
        self.0.name()
    }
}

/// An ISO 3166-1 alpha-2 country code, upper-cased.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CountryCode(String);

impl CountryCode {
    pub fn parse(raw: &str) -> Result<Self, Invalid> {
        // Letters are checked before upper-casing: `ß` upper-cases to `SS`.
        let s = raw.trim();
        if s.len() == 2 && s.chars().all(|c| c.is_ascii_alphabetic()) {
            Ok(Self(s.to_ascii_uppercase()))
        } else {
            invalid(format!(
                "`{}` is not a two-letter ISO country code (like US, DE)",
                raw.trim()
            ))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A phone number as entered, checked to hold 7 to 15 digits (E.164's range).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PhoneNumber(String);

impl PhoneNumber {
    pub fn parse(raw: &str) -> Result<Self, Invalid> {
        let s = raw.trim();
        let allowed = s
            .chars()
            .all(|c| c.is_ascii_digit() || " +-().x/".contains(c));
        let digits = s.chars().filter(char::is_ascii_digit).count();
        if !allowed || !(7..=15).contains(&digits) {
            return invalid("is not a phone number (7 to 15 digits, optionally +, spaces, dashes)");
        }
        Ok(Self(s.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// An http(s) URL.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WebUrl(String);

impl WebUrl {
    pub fn parse(raw: &str) -> Result<Self, Invalid> {
        let s = raw.trim();
        let lower = s.to_lowercase();
        let rest = lower
            .strip_prefix("https://")
            .or_else(|| lower.strip_prefix("http://"));
        match rest {
            Some(r) if Domain::parse(r).is_ok() && !s.contains(char::is_whitespace) => {
                Ok(Self(s.to_owned()))
            }
            _ => invalid("is not an http(s) URL"),
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A workspace slug: 2 to 40 of `a-z`, `0-9` and inner `-`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Slug(String);

impl Slug {
    pub fn parse(raw: &str) -> Result<Self, Invalid> {
        let s = raw.trim();
        let ok = (2..=40).contains(&s.len())
            && s.chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
            && !s.starts_with('-')
            && !s.ends_with('-');
        if ok {
            Ok(Self(s.to_owned()))
        } else {
            invalid("must be 2 to 40 characters of a-z, 0-9 and inner dashes")
        }
    }

    /// A slug made from a display name (`Acme Sales` → `acme-sales`).
    pub fn from_name(name: &str) -> Result<Self, Invalid> {
        let mut out = String::new();
        for c in name.trim().to_lowercase().chars() {
            if c.is_ascii_alphanumeric() {
                out.push(c);
            } else if !out.ends_with('-') && !out.is_empty() {
                out.push('-');
            }
        }
        let trimmed: String = out.trim_end_matches('-').chars().take(40).collect();
        Self::parse(trimmed.trim_end_matches('-'))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emails() {
        let table = [
            ("  Jane.Doe@Example.COM ", Some("jane.doe@example.com")),
            ("a+tag@sub.example.co.uk", Some("a+tag@sub.example.co.uk")),
            ("no-at-sign", None),
            ("@example.com", None),
            ("jane@", None),
            ("jane@localhost", None),
            ("jane..doe@example.com", None),
            ("jane doe@example.com", None),
            ("jane@exa mple.com", None),
        ];
        for (raw, want) in table {
            assert_eq!(
                EmailAddress::parse(raw).ok().map(|e| e.0),
                want.map(str::to_owned),
                "{raw}"
            );
        }
    }

    #[test]
    fn domains_are_normalised() {
        let table = [
            ("acme.com", Some("acme.com")),
            ("https://www.Acme.com/about?x=1", Some("acme.com")),
            ("http://acme.io:8080", Some("acme.io")),
            ("ACME.COM.", Some("acme.com")),
            ("acme", None),
            ("-acme.com", None),
            ("1.2.3.4", None),
            ("", None),
        ];
        for (raw, want) in table {
            assert_eq!(
                Domain::parse(raw).ok().map(|d| d.0),
                want.map(str::to_owned),
                "{raw}"
            );
        }
    }

    #[test]
    fn time_zones_must_be_iana() {
        assert_eq!(
            TimeZone::parse("Europe/Berlin").expect("tz").name(),
            "Europe/Berlin"
        );
        assert!(TimeZone::parse("Mars/Olympus").is_err());
        assert!(TimeZone::parse("CEST").is_err());
    }

    #[test]
    fn countries_phones_urls_slugs() {
        assert_eq!(CountryCode::parse("de").expect("cc").as_str(), "DE");
        assert!(CountryCode::parse("Germany").is_err());
        assert!(CountryCode::parse("ß").is_err(), "not the country SS");
        assert!(CountryCode::parse("ﬀ").is_err(), "not the country FF");
        assert!(PhoneNumber::parse("+1 (415) 555-0100").is_ok());
        assert!(PhoneNumber::parse("call me").is_err());
        assert!(PhoneNumber::parse("123").is_err());
        assert!(WebUrl::parse("https://linkedin.com/in/jane").is_ok());
        assert!(WebUrl::parse("javascript:alert(1)").is_err());
        assert_eq!(
            Slug::from_name("Acme Sales, Inc.").expect("slug").as_str(),
            "acme-sales-inc"
        );
        assert!(Slug::parse("Bad Slug").is_err());
    }
}
