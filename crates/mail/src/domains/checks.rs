//! What a sending domain's DNS says, judged: each check gives a status and a sentence
//! naming what was found or what is missing. Pure functions over the lookups' answers;
//! the service asks the resolver.

use super::{CheckStatus, dns::Mx};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    pub status: CheckStatus,
    pub detail: String,
}

impl Outcome {
    fn pass(detail: impl Into<String>) -> Self {
        Self {
            status: CheckStatus::Pass,
            detail: detail.into(),
        }
    }
    fn fail(detail: impl Into<String>) -> Self {
        Self {
            status: CheckStatus::Fail,
            detail: detail.into(),
        }
    }
    /// The lookup itself failed: nothing is known about the record.
    pub fn error(detail: impl Into<String>) -> Self {
        Self {
            status: CheckStatus::Error,
            detail: detail.into(),
        }
    }
}

/// `tag=value` pairs of a DKIM or DMARC record, names lowercased, values trimmed.
fn tags(record: &str) -> Vec<(String, String)> {
    record
        .split(';')
        .filter_map(|part| {
            let (k, v) = part.split_once('=')?;
            Some((k.trim().to_ascii_lowercase(), v.trim().to_owned()))
        })
        .collect()
}

fn tag<'a>(tags: &'a [(String, String)], name: &str) -> Option<&'a str> {
    tags.iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

/// The DKIM key record at `host` must publish `expected` (the key's `p=`) for `kind`
/// (`rsa` or `ed25519`).
pub fn dkim(host: &str, records: &[String], kind: &str, expected: &str) -> Outcome {
    if records.is_empty() {
        return Outcome::fail(format!("no TXT record at {host}"));
    }
    let mut seen = Vec::new();
    for record in records {
        let t = tags(record);
        if let Some(v) = tag(&t, "v")
            && v != "DKIM1"
        {
            seen.push(format!("a record with v={v}, not DKIM1"));
            continue;
        }
        let k = tag(&t, "k").unwrap_or("rsa");
        let Some(p) = tag(&t, "p") else {
            seen.push("a record without p=".to_owned());
            continue;
        };
        let p: String = p.split_whitespace().collect();
        if p.is_empty() {
            seen.push("a revoked key (empty p=)".to_owned());
        } else if !k.eq_ignore_ascii_case(kind) {
            seen.push(format!("a k={k} key where k={kind} was expected"));
        } else if p == expected {
            return Outcome::pass(format!("{host} publishes this domain's {kind} key"));
        } else {
            seen.push(format!("another {kind} key than this domain's"));
        }
    }
    Outcome::fail(format!("{host} has {}", seen.join("; ")))
}

fn is_spf(record: &str) -> bool {
    let lower = record.trim_start().to_ascii_lowercase();
    lower == "v=spf1" || lower.starts_with("v=spf1 ")
}

/// One SPF record at the domain that does not let everyone send, naming `include` if the
/// domain was told which service sends for it.
pub fn spf(domain: &str, records: &[String], include: Option<&str>) -> Outcome {
    let spf: Vec<&String> = records.iter().filter(|r| is_spf(r)).collect();
    let record = match spf.as_slice() {
        [] => return Outcome::fail(format!("no SPF record (v=spf1) at {domain}")),
        [one] => one.trim(),
        many => {
            return Outcome::fail(format!(
                "{} SPF records at {domain}: receivers treat more than one as a permanent \
                 error (RFC 7208 §4.5); merge them into one",
                many.len()
            ));
        }
    };
    let terms: Vec<String> = record
        .split_whitespace()
        .map(str::to_ascii_lowercase)
        .collect();
    if terms.iter().any(|t| t == "all" || t == "+all") {
        return Outcome::fail(format!(
            "`{record}` ends in +all: it lets anyone send as {domain}"
        ));
    }
    if let Some(inc) = include {
        let wanted = format!("include:{}", inc.to_ascii_lowercase());
        if !terms
            .iter()
            .any(|t| t.trim_start_matches(['+', '~']) == wanted)
        {
            return Outcome::fail(format!("`{record}` does not include {inc}"));
        }
    }
    Outcome::pass(format!("`{record}`"))
}

/// The names whose `_dmarc` record applies to `domain`, nearest first: the domain, then
/// each parent down to two labels (the DMARCbis tree walk, without a public suffix list).
pub fn dmarc_names(domain: &str) -> Vec<String> {
    let labels: Vec<&str> = domain.split('.').collect();
    (0..labels.len().saturating_sub(1))
        .map(|skip| labels.get(skip..).unwrap_or_default().join("."))
        .collect()
}

pub fn is_dmarc(record: &str) -> bool {
    tags(record)
        .first()
        .is_some_and(|(k, v)| k == "v" && v == "DMARC1")
}

/// The DMARC record found at `_dmarc.{at}` for `domain` (`at` is a parent when the
/// domain has none of its own). Our DKIM signs with `d=` the sending domain itself, so
/// it aligns under both relaxed and strict `adkim`; what remains is a record with a
/// valid policy. `p=none` is enough for Gmail, Yahoo and Outlook.com.
pub fn dmarc(domain: &str, at: &str, records: &[String]) -> Outcome {
    let host = format!("_dmarc.{at}");
    let found: Vec<&String> = records.iter().filter(|r| is_dmarc(r)).collect();
    let record = match found.as_slice() {
        [] => {
            return Outcome::fail(format!(
                "no DMARC record (v=DMARC1) at _dmarc.{domain} or a parent"
            ));
        }
        [one] => one.trim(),
        _ => {
            return Outcome::fail(format!(
                "more than one DMARC record at {host}: receivers ignore them all (RFC 7489 §6.6.3)"
            ));
        }
    };
    let t = tags(record);
    let inherited = at != domain;
    let policy = if inherited {
        tag(&t, "sp").or(tag(&t, "p"))
    } else {
        tag(&t, "p")
    };
    match policy.map(str::to_ascii_lowercase).as_deref() {
        Some(p @ ("none" | "quarantine" | "reject")) => {
            let from = if inherited {
                format!(" (inherited from {host})")
            } else {
                String::new()
            };
            Outcome::pass(format!("policy {p}{from}: `{record}`"))
        }
        Some(other) => Outcome::fail(format!(
            "`{record}` at {host} has policy `{other}`; expected none, quarantine or reject"
        )),
        None => Outcome::fail(format!("`{record}` at {host} has no p= policy")),
    }
}

/// Somewhere for replies and bounces to go: at least one MX that is not RFC 7505's null MX.
pub fn mx(domain: &str, records: &[Mx]) -> Outcome {
    if records.is_empty() {
        return Outcome::fail(format!(
            "no MX record at {domain}: replies and bounces to it cannot be delivered"
        ));
    }
    if records.iter().all(|m| m.exchange.is_empty()) {
        return Outcome::fail(format!(
            "{domain} publishes a null MX (RFC 7505): it accepts no mail, so replies cannot reach it"
        ));
    }
    let hosts: Vec<String> = records
        .iter()
        .filter(|m| !m.exchange.is_empty())
        .map(|m| format!("{} {}", m.preference, m.exchange))
        .collect();
    Outcome::pass(hosts.join(", "))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn recs(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn dkim_needs_this_key_not_just_a_record() {
        let host = "s1._domainkey.example.com";
        assert_eq!(dkim(host, &[], "rsa", "AAAA").status, CheckStatus::Fail);
        let ok = dkim(host, &recs(&["v=DKIM1; k=rsa; p=AA AA"]), "rsa", "AAAA");
        assert_eq!(ok.status, CheckStatus::Pass, "{}", ok.detail);
        let other = dkim(host, &recs(&["v=DKIM1; p=BBBB"]), "rsa", "AAAA");
        assert!(other.detail.contains("another rsa key"), "{}", other.detail);
        let revoked = dkim(host, &recs(&["v=DKIM1; p="]), "rsa", "AAAA");
        assert!(revoked.detail.contains("revoked"), "{}", revoked.detail);
        let kind = dkim(host, &recs(&["v=DKIM1; k=ed25519; p=AAAA"]), "rsa", "AAAA");
        assert!(kind.detail.contains("k=ed25519"), "{}", kind.detail);
    }

    #[test]
    fn spf_is_one_record_that_does_not_allow_everyone() {
        let d = "example.com";
        assert!(
            spf(d, &recs(&["google-site-verification=x"]), None)
                .detail
                .contains("no SPF")
        );
        assert!(
            spf(d, &recs(&["v=spf1 mx ~all", "v=spf1 a -all"]), None)
                .detail
                .contains("merge")
        );
        assert!(
            spf(d, &recs(&["v=spf1 +all"]), None)
                .detail
                .contains("anyone")
        );
        assert!(
            spf(d, &recs(&["v=spf1 mx ~all"]), Some("_spf.google.com"))
                .detail
                .contains("does not include")
        );
        let ok = spf(
            d,
            &recs(&["v=spf1 include:_spf.google.com ~all"]),
            Some("_spf.google.com"),
        );
        assert_eq!(ok.status, CheckStatus::Pass, "{}", ok.detail);
        assert!(!is_spf("v=spf10 x"));
    }

    #[test]
    fn dmarc_walks_up_and_takes_the_subdomain_policy() {
        assert_eq!(
            dmarc_names("mail.sub.example.com"),
            vec!["mail.sub.example.com", "sub.example.com", "example.com"]
        );
        let own = dmarc("example.com", "example.com", &recs(&["v=DMARC1; p=none"]));
        assert_eq!(own.status, CheckStatus::Pass, "{}", own.detail);
        let parent = dmarc(
            "mail.example.com",
            "example.com",
            &recs(&["v=DMARC1; p=reject; sp=quarantine"]),
        );
        assert!(
            parent.detail.starts_with("policy quarantine (inherited"),
            "{}",
            parent.detail
        );
        assert!(
            dmarc(
                "example.com",
                "example.com",
                &recs(&["v=DMARC1; rua=mailto:x@y"])
            )
            .detail
            .contains("no p=")
        );
        assert!(
            dmarc("example.com", "example.com", &recs(&["v=DMARC1; p=maybe"]))
                .detail
                .contains("`maybe`")
        );
        assert!(!is_dmarc("v=spf1 -all"));
    }

    #[test]
    fn mx_needs_a_real_exchange() {
        assert_eq!(mx("example.com", &[]).status, CheckStatus::Fail);
        let null = [Mx {
            preference: 0,
            exchange: String::new(),
        }];
        assert!(mx("example.com", &null).detail.contains("null MX"));
        let ok = mx(
            "example.com",
            &[Mx {
                preference: 10,
                exchange: "mx.example.com".into(),
            }],
        );
        assert_eq!(ok.detail, "10 mx.example.com");
    }
}
