//! The rules of outbound webhooks, without I/O: Standard Webhooks signing, secrets, the
//! retry schedule, what a response means, and which addresses may be called.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use base64::{Engine, engine::general_purpose::STANDARD};
use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

use crate::platform::{error::FieldError, runtime::topics::Topics};

/// A new signing secret: `whsec_` and 32 random bytes in base64.
pub fn new_secret() -> String {
    let mut bytes = [0u8; 32];
    rand::fill(&mut bytes);
    format!("whsec_{}", STANDARD.encode(bytes))
}

/// `v1,<base64 HMAC-SHA256 of "{id}.{timestamp}.{body}">` under a `whsec_` secret.
pub fn sign(secret: &str, msg_id: &str, timestamp: i64, body: &[u8]) -> Option<String> {
    let key = STANDARD.decode(secret.strip_prefix("whsec_")?).ok()?;
    let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(&key).ok()?;
    mac.update(format!("{msg_id}.{timestamp}.").as_bytes());
    mac.update(body);
    Some(format!(
        "v1,{}",
        STANDARD.encode(mac.finalize().into_bytes())
    ))
}

/// The `webhook-signature` header: one signature per live secret, space-separated, so a
/// receiver keeps verifying during a rotation.
pub fn signature_header(
    secrets: &[&str],
    msg_id: &str,
    timestamp: i64,
    body: &[u8],
) -> Option<String> {
    let sigs: Option<Vec<String>> = secrets
        .iter()
        .map(|s| sign(s, msg_id, timestamp, body))
        .collect();
    sigs.map(|s| s.join(" "))
}

/// What one delivery attempt's answer means.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Verdict {
    Delivered,
    /// 410 Gone: the receiver wants no more; disable the endpoint.
    Gone,
    /// Try again, after the server's `Retry-After` when it gave one.
    Retry {
        after_secs: Option<f64>,
    },
}

/// Judge a response status (and its `Retry-After`, honoured on 429, 502 and 504).
pub fn verdict(status: u16, retry_after: Option<&str>) -> Verdict {
    match status {
        200..=299 => Verdict::Delivered,
        410 => Verdict::Gone,
        429 | 502 | 504 => Verdict::Retry {
            after_secs: retry_after
                .and_then(|v| v.trim().parse::<f64>().ok())
                .filter(|s| *s >= 0.0),
        },
        _ => Verdict::Retry { after_secs: None },
    }
}

/// The delay before attempt `next` (1-based), or `None` when the schedule is spent.
pub fn delay_before(schedule: &[f64], next: usize) -> Option<f64> {
    schedule.get(next.checked_sub(1)?).copied()
}

/// May SalesOS call this address? Public unicast only, unless private networks are allowed.
pub fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => public_v4(v4),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => public_v4(v4),
            None => public_v6(v6),
        },
    }
}

fn public_v4(ip: Ipv4Addr) -> bool {
    let [a, b, ..] = ip.octets();
    !(ip.is_private()
        || ip.is_loopback()
        || ip.is_link_local()
        || ip.is_unspecified()
        || ip.is_broadcast()
        || ip.is_multicast()
        || ip.is_documentation()
        || a == 0
        || (a == 100 && (64..128).contains(&b)) // carrier-grade NAT
        || (a == 192 && b == 0)                 // IETF protocol assignments
        || (a == 198 && (18..20).contains(&b))  // benchmarking
        || a >= 240)
}

fn public_v6(ip: Ipv6Addr) -> bool {
    let first = ip.segments()[0];
    !(ip.is_loopback()
        || ip.is_unspecified()
        || ip.is_multicast()
        || (first & 0xfe00) == 0xfc00 // unique local
        || (first & 0xffc0) == 0xfe80 // link-local
        || (first == 0x2001 && ip.segments()[1] == 0x0db8)) // documentation
}

/// Check an endpoint URL: `https://` (or `http://` when allowed), a host, no credentials.
pub fn check_url(raw: &str, allow_http: bool) -> Result<reqwest::Url, FieldError> {
    let bad = |m: &str| FieldError::new("url", m);
    let url = reqwest::Url::parse(raw.trim()).map_err(|e| bad(&format!("is not a URL: {e}")))?;
    match url.scheme() {
        "https" => {}
        "http" if allow_http => {}
        "http" => {
            return Err(bad(
                "must use https:// (http:// is off; see SALESOS_WEBHOOK_ALLOW_HTTP)",
            ));
        }
        _ => return Err(bad("must be an https:// URL")),
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err(bad("has no host"));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(bad("must not carry credentials"));
    }
    Ok(url)
}

/// Check a list of topic patterns.
pub fn check_events(patterns: &[String], known: &Topics) -> Result<(), FieldError> {
    if patterns.is_empty() || patterns.len() > 50 {
        return Err(FieldError::new(
            "events",
            "list 1 to 50 topics, e.g. [\"contact.*\", \"email.sent\"]",
        ));
    }
    match patterns
        .iter()
        .enumerate()
        .find_map(|(i, p)| known.check(p).err().map(|e| (i, e)))
    {
        Some((i, message)) => Err(FieldError::new(format!("events[{i}]"), message)),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signature_matches_the_standard_webhooks_construction() {
        // The secret is base64 of the key bytes "test-key-test-key-test-key-32by".
        let secret = format!(
            "whsec_{}",
            STANDARD.encode(b"test-key-test-key-test-key-32by!")
        );
        let sig = sign(&secret, "msg_1", 1_700_000_000, br#"{"a":1}"#).expect("sign");
        let mut mac =
            <Hmac<Sha256> as KeyInit>::new_from_slice(b"test-key-test-key-test-key-32by!")
                .expect("key");
        mac.update(b"msg_1.1700000000.{\"a\":1}");
        assert_eq!(
            sig,
            format!("v1,{}", STANDARD.encode(mac.finalize().into_bytes()))
        );
        assert!(sign("not-a-secret", "m", 1, b"").is_none());
        let both = signature_header(&[&secret, &new_secret()], "m", 1, b"x").expect("both");
        assert_eq!(both.split(' ').count(), 2);
    }

    #[test]
    fn verdicts() {
        assert_eq!(verdict(204, None), Verdict::Delivered);
        assert_eq!(verdict(410, None), Verdict::Gone);
        assert_eq!(
            verdict(429, Some("7")),
            Verdict::Retry {
                after_secs: Some(7.0)
            }
        );
        assert_eq!(
            verdict(503, Some("7")),
            Verdict::Retry { after_secs: None },
            "Retry-After only on 429/502/504"
        );
        assert_eq!(verdict(500, None), Verdict::Retry { after_secs: None });
    }

    #[test]
    fn schedule() {
        let s = [0.0, 5.0, 300.0];
        assert_eq!(delay_before(&s, 1), Some(0.0));
        assert_eq!(delay_before(&s, 3), Some(300.0));
        assert_eq!(delay_before(&s, 4), None);
    }

    #[test]
    fn only_public_addresses() {
        for private in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "0.0.0.0",
            "100.64.0.1",
            "::1",
            "fe80::1",
            "fd00::1",
            "::ffff:127.0.0.1",
            "224.0.0.1",
        ] {
            assert!(
                !is_public(private.parse().expect("ip")),
                "{private} must be refused"
            );
        }
        for public in ["93.184.216.34", "8.8.8.8", "2606:4700::1111"] {
            assert!(is_public(public.parse().expect("ip")), "{public} is public");
        }
    }

    #[test]
    fn urls() {
        assert!(check_url("https://hooks.example.com/in", false).is_ok());
        assert!(check_url("http://hooks.example.com/in", false).is_err());
        assert!(check_url("http://hooks.example.com/in", true).is_ok());
        assert!(check_url("ftp://x.example.com", true).is_err());
        assert!(check_url("https://user:pw@x.example.com", false).is_err());
    }

    #[test]
    fn subscriptions_name_topics_that_exist() {
        use crate::platform::runtime::topics::Topic;
        const CONTACT_CREATED: Topic = Topic::of::<serde_json::Value>("contact.created", "test");
        let known = Topics::new(vec![CONTACT_CREATED]).expect("topics");
        assert!(check_events(&["contact.*".into(), "*".into()], &known).is_ok());
        let bad = check_events(&["contact.created".into(), "Bad Topic".into()], &known)
            .expect_err("malformed");
        assert_eq!(bad.field, "events[1]");
        let unknown = check_events(&["email.sent".into()], &known).expect_err("unknown");
        assert_eq!(unknown.field, "events[0]");
        assert!(
            unknown.message.contains("contact.created"),
            "{}",
            unknown.message
        );
    }
}
