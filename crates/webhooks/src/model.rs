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
/// An IPv4 address written as IPv6 is judged as the IPv4 address it reaches.
pub fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => public_v4(v4),
        IpAddr::V6(v6) => match embedded_v4(v6) {
            Some(v4) => public_v4(v4),
            None => public_v6(v6),
        },
    }
}

/// The IPv4 address an IPv6 address reaches, for the forms that carry one: IPv4-mapped
/// (`::ffff:127.0.0.1`), IPv4-compatible (`::127.0.0.1`, deprecated but still routed by
/// some stacks), NAT64 with the well-known prefix (`64:ff9b::7f00:1`, RFC 6052) and 6to4
/// (`2002:7f00:1::`, RFC 3056).
fn embedded_v4(ip: Ipv6Addr) -> Option<Ipv4Addr> {
    let s = ip.segments();
    let low = |hi: u16, lo: u16| {
        let [a, b] = hi.to_be_bytes();
        let [c, d] = lo.to_be_bytes();
        Ipv4Addr::new(a, b, c, d)
    };
    if let Some(v4) = ip.to_ipv4_mapped() {
        return Some(v4);
    }
    match s {
        // `::` and `::1` are IPv6's own unspecified and loopback addresses.
        [0, 0, 0, 0, 0, 0, 0, 0 | 1] => None,
        [0, 0, 0, 0, 0, 0, hi, lo] => Some(low(hi, lo)),
        [0x64, 0xff9b, 0, 0, 0, 0, hi, lo] => Some(low(hi, lo)),
        [0x2002, hi, lo, ..] => Some(low(hi, lo)),
        _ => None,
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
    let s = ip.segments();
    !(ip.is_loopback()
        || ip.is_unspecified()
        || ip.is_multicast()
        || (s[0] & 0xfe00) == 0xfc00 // unique local
        || (s[0] & 0xffc0) == 0xfe80 // link-local
        || (s[0] & 0xffc0) == 0xfec0 // site-local (deprecated, still routed inside sites)
        || (s[0] == 0x64 && s[1] == 0xff9b && s[2] == 1) // local-use NAT64, RFC 8215
        || (s[0] == 0x100 && s[1..4] == [0, 0, 0]) // discard-only
        || (s[0] == 0x2001 && s[1] == 0) // Teredo: tunnels to any IPv4 address
        || (s[0] == 0x2001 && s[1] == 0x0db8) // documentation
        || s[0] == 0x3fff) // documentation, RFC 9637
}

/// Why SalesOS will not call this URL's host, when it is an address (in any spelling the
/// URL standard reads: `2130706433`, `0x7f.1` and `127.1` are all 127.0.0.1) or a name
/// that only ever means this machine.
pub fn private_host(url: &reqwest::Url) -> Option<String> {
    // The parser has already turned every IPv4 spelling into dotted decimal and put
    // IPv6 in brackets.
    let host = url.host_str()?;
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    match bare.parse::<IpAddr>() {
        Ok(ip) => (!is_public(ip)).then(|| refused(ip)),
        Err(_) => {
            let name = host.trim_end_matches('.').to_ascii_lowercase();
            (name == "localhost" || name.ends_with(".localhost"))
                .then(|| format!("{name} is this machine; refused"))
        }
    }
}

/// The refusal for an address that is not public.
pub fn refused(ip: IpAddr) -> String {
    format!("{ip} is a private, loopback or link-local address; refused")
}

/// Check an endpoint URL: `https://` (or `http://` when allowed), a host, no credentials,
/// and unless private networks are allowed, no address that is not public.
pub fn check_url(
    raw: &str,
    allow_http: bool,
    allow_private: bool,
) -> Result<reqwest::Url, FieldError> {
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
    if !allow_private && let Some(why) = private_host(&url) {
        return Err(bad(&format!(
            "{why} (webhooks go to public addresses; see SALESOS_WEBHOOK_ALLOW_PRIVATE_NETWORKS)"
        )));
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
            "::ffff:10.0.0.1",
            "::127.0.0.1",
            "64:ff9b::7f00:1",
            "64:ff9b::a9fe:a9fe",
            "64:ff9b::10.0.0.1",
            "64:ff9b:1::1",
            "2002:7f00:1::1",
            "2002:c0a8:101::1",
            "2001::1",
            "fec0::1",
            "100::1",
            "224.0.0.1",
        ] {
            assert!(
                !is_public(private.parse().expect("ip")),
                "{private} must be refused"
            );
        }
        for public in [
            "93.184.216.34",
            "8.8.8.8",
            "2606:4700::1111",
            "64:ff9b::808:808",
            "::ffff:8.8.8.8",
            "2002:808:808::1",
        ] {
            assert!(is_public(public.parse().expect("ip")), "{public} is public");
        }
    }

    #[test]
    fn urls() {
        assert!(check_url("https://hooks.example.com/in", false, false).is_ok());
        assert!(check_url("http://hooks.example.com/in", false, false).is_err());
        assert!(check_url("http://hooks.example.com/in", true, false).is_ok());
        assert!(check_url("ftp://x.example.com", true, false).is_err());
        assert!(check_url("https://user:pw@x.example.com", false, false).is_err());
    }

    #[test]
    fn every_spelling_of_a_private_address_is_refused_in_the_url() {
        for url in [
            "https://127.0.0.1/hook",
            "https://2130706433/hook",
            "https://0x7f000001/hook",
            "https://0177.0.0.1/hook",
            "https://127.1/hook",
            "https://169.254.169.254/latest/meta-data",
            "https://[::1]/hook",
            "https://[::ffff:127.0.0.1]/hook",
            "https://[::ffff:7f00:1]/hook",
            "https://[64:ff9b::7f00:1]/hook",
            "https://[64:ff9b::169.254.169.254]/hook",
            "https://[fe80::1]/hook",
            "https://localhost/hook",
            "https://LocalHost./hook",
            "https://api.localhost/hook",
        ] {
            let err = check_url(url, false, false).expect_err(url);
            assert_eq!(err.field, "url");
            assert!(err.message.contains("refused"), "{url}: {}", err.message);
            assert!(
                check_url(url, false, true).is_ok(),
                "{url} allowed when private is on"
            );
        }
        for url in [
            "https://8.8.8.8/x",
            "https://[2606:4700::1111]/x",
            "https://hooks.example.com/x",
        ] {
            assert!(check_url(url, false, false).is_ok(), "{url}");
        }
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
