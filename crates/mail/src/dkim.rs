//! DKIM signing (RFC 6376, with RFC 8463's Ed25519), relaxed/relaxed, through `ring`.
//!
//! Our own signer rather than mail-auth 0.13.3: that line (the last that builds on Rust
//! 1.95) computes a wrong relaxed body hash for bodies that end in whitespace-only lines,
//! and it brings a resolver, a MIME parser and a zip reader for what is, on the sending
//! side, two canonicalizations, a hash and a signature. Tests verify what this writes with
//! an independent implementation (dkimpy), including those bodies.
//!
//! Every header named is signed once more than it occurs (RFC 6376 §8.15, "over-signing"),
//! so that nobody can add a second From, Subject or List-Unsubscribe to a signed message
//! without breaking its signature.

use base64::{Engine, engine::general_purpose::STANDARD as B64};
use ring::{
    rand::SystemRandom,
    signature::{self, Ed25519KeyPair, RsaKeyPair},
};
use sha2::{Digest, Sha256};

/// What a sent message's signatures cover: the headers Gmail, Yahoo and Outlook.com read,
/// RFC 8058's two unsubscribe headers (without them in `h=` receivers "SHOULD NOT" offer
/// one-click unsubscribe), and what says how to read the body.
pub const SIGNED_HEADERS: &[&str] = &[
    "from",
    "to",
    "cc",
    "reply-to",
    "subject",
    "date",
    "message-id",
    "list-unsubscribe",
    "list-unsubscribe-post",
    "mime-version",
    "content-type",
    "feedback-id",
];

/// A private key that signs for one domain and selector.
pub enum Key {
    Rsa(RsaKeyPair),
    Ed25519(Ed25519KeyPair),
}

#[derive(Debug, thiserror::Error)]
pub enum DkimError {
    #[error("the DKIM key does not load: {0}")]
    Key(String),
    #[error("the message has no header/body separator")]
    NoBody,
    #[error("signing failed")]
    Sign,
}

impl Key {
    /// An RSA key from its PKCS#1 DER.
    pub fn rsa(pkcs1_der: &[u8]) -> Result<Self, DkimError> {
        RsaKeyPair::from_der(pkcs1_der)
            .map(Key::Rsa)
            .map_err(|e| DkimError::Key(e.to_string()))
    }

    /// An Ed25519 key from its PKCS#8 DER.
    pub fn ed25519(pkcs8_der: &[u8]) -> Result<Self, DkimError> {
        Ed25519KeyPair::from_pkcs8_maybe_unchecked(pkcs8_der)
            .map(Key::Ed25519)
            .map_err(|e| DkimError::Key(e.to_string()))
    }

    fn algorithm(&self) -> &'static str {
        match self {
            Key::Rsa(_) => "rsa-sha256",
            Key::Ed25519(_) => "ed25519-sha256",
        }
    }

    fn sign(&self, data: &[u8]) -> Result<Vec<u8>, DkimError> {
        match self {
            Key::Rsa(k) => {
                let mut sig = vec![0u8; k.public().modulus_len()];
                k.sign(
                    &signature::RSA_PKCS1_SHA256,
                    &SystemRandom::new(),
                    data,
                    &mut sig,
                )
                .map_err(|_| DkimError::Sign)?;
                Ok(sig)
            }
            // RFC 8463 §3: Ed25519 signs the SHA-256 hash of the data, not the data.
            Key::Ed25519(k) => Ok(k.sign(&Sha256::digest(data)).as_ref().to_vec()),
        }
    }
}

/// One signer: a key, the domain it signs for (`d=`) and its selector (`s=`).
pub struct Signer {
    pub key: Key,
    pub domain: String,
    pub selector: String,
}

impl Signer {
    /// The `DKIM-Signature` header (with its CRLF) for `message`, a whole RFC 5322 message
    /// with CRLF line ends, signed at `timestamp` (seconds since the epoch).
    pub fn header(&self, message: &[u8], timestamp: i64) -> Result<String, DkimError> {
        let (headers, body) = split(message).ok_or(DkimError::NoBody)?;
        let body_hash = B64.encode(Sha256::digest(relaxed_body(body)));
        let fields = parse_headers(headers);
        let mut names = Vec::new();
        let mut signed = Vec::new();
        for name in SIGNED_HEADERS {
            let present: Vec<&Field> = fields.iter().filter(|f| f.lower == *name).collect();
            if present.is_empty() && !matches!(*name, "from" | "subject" | "to") {
                continue;
            }
            // Bottom-up, then one more (§5.4.2: a name with no instance left signs
            // nothing, and locks out an added one).
            for field in present.iter().rev() {
                let canonical = relaxed_header(&field.lower, header_value(field.value));
                signed.extend_from_slice(canonical.as_bytes());
                names.push(*name);
            }
            names.push(*name);
        }
        let mut header = format!(
            "DKIM-Signature: v=1; a={}; c=relaxed/relaxed; d={}; s={};\r\n\tt={}; h={};\r\n\tbh={};\r\n\tb=",
            self.key.algorithm(),
            self.domain,
            self.selector,
            timestamp,
            names.join(":"),
            body_hash,
        );
        let own = relaxed_header("dkim-signature", header_value(&header));
        signed.extend_from_slice(own.trim_end_matches("\r\n").as_bytes());
        let signature = B64.encode(self.key.sign(&signed)?);
        for (i, chunk) in signature.as_bytes().chunks(72).enumerate() {
            if i > 0 {
                header.push_str("\r\n\t ");
            }
            header.push_str(std::str::from_utf8(chunk).map_err(|_| DkimError::Sign)?);
        }
        header.push_str("\r\n");
        Ok(header)
    }
}

/// `message` with a signature of each signer prepended, in order.
pub fn sign(message: &[u8], signers: &[Signer], timestamp: i64) -> Result<Vec<u8>, DkimError> {
    let mut out = Vec::with_capacity(message.len() + 1024 * signers.len());
    for signer in signers {
        out.extend_from_slice(signer.header(message, timestamp)?.as_bytes());
    }
    out.extend_from_slice(message);
    Ok(out)
}

struct Field<'a> {
    lower: String,
    value: &'a str,
}

fn split(message: &[u8]) -> Option<(&str, &[u8])> {
    let at = message.windows(4).position(|w| w == b"\r\n\r\n")?;
    let headers = std::str::from_utf8(message.get(..at + 2)?).ok()?;
    Some((headers, message.get(at + 4..)?))
}

/// Header fields in order, a folded field kept whole.
fn parse_headers(headers: &str) -> Vec<Field<'_>> {
    let mut out: Vec<Field<'_>> = Vec::new();
    let mut start = 0;
    let bytes = headers.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        let Some(rel) = headers.get(i..).and_then(|s| s.find("\r\n")) else {
            break;
        };
        let line_end = i + rel + 2;
        let continues = matches!(bytes.get(line_end), Some(b' ' | b'\t'));
        if !continues {
            if let Some(field) = headers.get(start..line_end)
                && let Some((name, _)) = field.split_once(':')
            {
                out.push(Field {
                    lower: name.trim().to_ascii_lowercase(),
                    value: field,
                });
            }
            start = line_end;
        }
        i = line_end;
    }
    out
}

/// The value of a whole header field (after its colon).
fn header_value(field: &str) -> &str {
    field.split_once(':').map_or("", |(_, v)| v)
}

/// RFC 6376 §3.4.2: lowercase name, unfolded value with runs of whitespace as one space
/// and none at either end, then CRLF.
fn relaxed_header(lower_name: &str, value: &str) -> String {
    let unfolded = value.replace("\r\n", "");
    let compressed = unfolded.split([' ', '\t']).filter(|w| !w.is_empty());
    let joined: Vec<&str> = compressed.collect();
    format!("{lower_name}:{}\r\n", joined.join(" "))
}

/// RFC 6376 §3.4.4: each line without trailing whitespace and with runs of it as one
/// space; no empty lines at the end; a non-empty body ends in CRLF.
pub fn relaxed_body(body: &[u8]) -> Vec<u8> {
    let mut lines: Vec<Vec<u8>> = Vec::new();
    let text = body.strip_suffix(b"\r\n").unwrap_or(body);
    if !body.is_empty() {
        for line in split_crlf(text) {
            let mut out = Vec::with_capacity(line.len());
            let mut in_space = false;
            for &b in line {
                if b == b' ' || b == b'\t' {
                    in_space = true;
                } else {
                    if in_space {
                        out.push(b' ');
                    }
                    in_space = false;
                    out.push(b);
                }
            }
            lines.push(out);
        }
    }
    while lines.last().is_some_and(Vec::is_empty) {
        lines.pop();
    }
    let mut out = Vec::with_capacity(body.len());
    for line in lines {
        out.extend_from_slice(&line);
        out.extend_from_slice(b"\r\n");
    }
    out
}

fn split_crlf(text: &[u8]) -> Vec<&[u8]> {
    let mut out = Vec::new();
    let mut start = 0;
    let mut i = 0;
    while i + 1 < text.len() {
        if text.get(i..i + 2) == Some(b"\r\n") {
            out.push(text.get(start..i).unwrap_or_default());
            start = i + 2;
            i += 2;
        } else {
            i += 1;
        }
    }
    out.push(text.get(start..).unwrap_or_default());
    out
}

/// The public half of an Ed25519 key as DKIM publishes it (`p=`, RFC 8463 §4: the raw
/// 32 bytes in base64).
pub fn ed25519_public(pkcs8_der: &[u8]) -> Result<String, DkimError> {
    use ring::signature::KeyPair;
    let pair = Ed25519KeyPair::from_pkcs8_maybe_unchecked(pkcs8_der)
        .map_err(|e| DkimError::Key(e.to_string()))?;
    Ok(B64.encode(pair.public_key().as_ref()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relaxed_body_drops_trailing_blank_and_whitespace_only_lines() {
        let a = relaxed_body(b"<p>Hi  there</p>\t \r\n</html>\r\n");
        let b = relaxed_body(b"<p>Hi there</p>\r\n</html>\r\n    \r\n\t\r\n\r\n");
        assert_eq!(a, b"<p>Hi there</p>\r\n</html>\r\n".to_vec());
        assert_eq!(a, b, "RFC 6376 §3.4.4: the same canonical body");
        assert_eq!(relaxed_body(b""), Vec::<u8>::new());
        assert_eq!(relaxed_body(b"\r\n\r\n"), Vec::<u8>::new());
        assert_eq!(relaxed_body(b"no newline"), b"no newline\r\n".to_vec());
    }

    #[test]
    fn relaxed_header_unfolds_and_compresses() {
        assert_eq!(
            relaxed_header(
                "subject",
                header_value("SubJect :  Hello\r\n \tthere  \r\n")
            ),
            "subject:Hello there\r\n"
        );
    }

    #[test]
    fn folded_headers_parse_whole_and_every_signed_name_is_over_signed() {
        let rng = SystemRandom::new();
        let pkcs8 = Ed25519KeyPair::generate_pkcs8(&rng).expect("key");
        let signer = Signer {
            key: Key::ed25519(pkcs8.as_ref()).expect("load"),
            domain: "example.com".into(),
            selector: "s1".into(),
        };
        let msg = b"From: A <a@example.com>\r\nTo: b@example.org\r\nSubject: long\r\n folded\r\nX-Other: 1\r\n\r\nbody\r\n";
        let fields = parse_headers(split(msg).expect("split").0);
        assert_eq!(fields.len(), 4);
        assert_eq!(
            fields.get(2).map(|f| f.value),
            Some("Subject: long\r\n folded\r\n")
        );
        let header = signer.header(msg, 1_700_000_000).expect("sign");
        assert!(
            header.contains("h=from:from:to:to:subject:subject;"),
            "{header}"
        );
        assert!(header.contains("a=ed25519-sha256"), "{header}");
        assert!(header.ends_with("\r\n") && header.lines().all(|l| l.len() < 100));
    }
}
