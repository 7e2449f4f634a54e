//! The message as it goes on the wire: RFC 5322 headers (RFC 2047 for words that are not
//! ASCII) and a `multipart/alternative` body of text and HTML, both quoted-printable.
//! Quoted-printable keeps every line under 76 characters and encodes trailing spaces, so
//! no line of a part ends in whitespace whatever the template wrote.

use chrono::{DateTime, Utc};

/// What a message is made of; every value already rendered.
pub struct Message<'a> {
    pub from_name: &'a str,
    pub from_address: &'a str,
    pub to_name: Option<&'a str>,
    pub to_address: &'a str,
    pub reply_to: Option<&'a str>,
    pub subject: &'a str,
    pub date: DateTime<Utc>,
    /// Without angle brackets: `<id>@<domain>`.
    pub message_id: &'a str,
    /// RFC 2369 / RFC 8058: the https URL first, then the mailto.
    pub unsubscribe_https: Option<&'a str>,
    pub unsubscribe_mailto: Option<&'a str>,
    pub text: &'a str,
    pub html: &'a str,
    /// The MIME boundary: any token that cannot occur in quoted-printable text.
    pub boundary: &'a str,
}

/// The whole message with CRLF line ends, unsigned.
pub fn build(m: &Message<'_>) -> Vec<u8> {
    let mut out = String::with_capacity(m.html.len() * 2 + m.text.len() * 2 + 1024);
    let mut header = |name: &str, value: &str| {
        out.push_str(name);
        out.push_str(": ");
        out.push_str(value);
        out.push_str("\r\n");
    };
    header("From", &mailbox(m.from_name, m.from_address));
    header("To", &mailbox(m.to_name.unwrap_or(""), m.to_address));
    if let Some(r) = m.reply_to {
        header("Reply-To", &format!("<{}>", clean(r)));
    }
    header("Subject", &encoded_words(m.subject));
    header(
        "Date",
        &m.date.format("%a, %d %b %Y %H:%M:%S +0000").to_string(),
    );
    header("Message-ID", &format!("<{}>", clean(m.message_id)));
    match (m.unsubscribe_https, m.unsubscribe_mailto) {
        (Some(https), mailto) => {
            let mut v = format!("<{}>", clean(https));
            if let Some(mt) = mailto {
                v.push_str(&format!(", <{}>", clean(mt)));
            }
            header("List-Unsubscribe", &v);
            header("List-Unsubscribe-Post", "List-Unsubscribe=One-Click");
        }
        (None, Some(mt)) => header("List-Unsubscribe", &format!("<{}>", clean(mt))),
        (None, None) => {}
    }
    header("MIME-Version", "1.0");
    header(
        "Content-Type",
        &format!("multipart/alternative; boundary=\"{}\"", m.boundary),
    );
    out.push_str("\r\n");
    for (kind, body) in [("plain", m.text), ("html", m.html)] {
        out.push_str(&format!("--{}\r\n", m.boundary));
        out.push_str(&format!("Content-Type: text/{kind}; charset=utf-8\r\n"));
        out.push_str("Content-Transfer-Encoding: quoted-printable\r\n\r\n");
        out.push_str(&quoted_printable(body));
        out.push_str("\r\n");
    }
    out.push_str(&format!("--{}--\r\n", m.boundary));
    out.into_bytes()
}

/// No CR or LF may reach a header from a value (header injection).
fn clean(v: &str) -> String {
    v.chars().filter(|c| *c != '\r' && *c != '\n').collect()
}

/// `Name <address>`, the name quoted or encoded as it needs.
fn mailbox(name: &str, address: &str) -> String {
    let name = clean(name);
    let address = clean(address);
    let name = name.trim();
    if name.is_empty() {
        return format!("<{address}>");
    }
    if !name.is_ascii() {
        return format!("{} <{address}>", encoded_words(name));
    }
    let atom = |c: char| c.is_ascii_alphanumeric() || " !#$%&'*+-/=?^_`{|}~".contains(c);
    if name.chars().all(atom) {
        format!("{name} <{address}>")
    } else {
        let quoted = name.replace('\\', "\\\\").replace('"', "\\\"");
        format!("\"{quoted}\" <{address}>")
    }
}

/// RFC 2047 `=?utf-8?B?…?=` words for a value that is not ASCII (each word under 76
/// characters, split on character boundaries), folded; the value itself when it is.
pub fn encoded_words(value: &str) -> String {
    let value = clean(value);
    if value.is_ascii() {
        return value;
    }
    use base64::{Engine, engine::general_purpose::STANDARD};
    let mut words = Vec::new();
    let mut chunk = String::new();
    for c in value.chars() {
        // 45 bytes of UTF-8 make 60 base64 characters: with the 12 of the frame, 72.
        if chunk.len() + c.len_utf8() > 45 {
            words.push(format!("=?utf-8?B?{}?=", STANDARD.encode(&chunk)));
            chunk.clear();
        }
        chunk.push(c);
    }
    if !chunk.is_empty() {
        words.push(format!("=?utf-8?B?{}?=", STANDARD.encode(&chunk)));
    }
    words.join("\r\n ")
}

/// RFC 2045 §6.7 quoted-printable of UTF-8 text with CRLF line ends: soft line breaks
/// before 76 characters, `=`, controls and bytes above 127 encoded, and a space or tab
/// at a line's end encoded so that no encoded line ends in whitespace.
pub fn quoted_printable(text: &str) -> String {
    let normalised = text.replace("\r\n", "\n").replace('\r', "\n");
    let mut out = String::with_capacity(normalised.len() * 11 / 10 + 16);
    for (i, line) in normalised.split('\n').enumerate() {
        if i > 0 {
            out.push_str("\r\n");
        }
        let bytes = line.as_bytes();
        let mut width = 0;
        for (j, &b) in bytes.iter().enumerate() {
            let last = j + 1 == bytes.len();
            let plain = (b == b' ' || b == b'\t') && !last || (33..=126).contains(&b) && b != b'=';
            let piece = if plain {
                char::from(b).to_string()
            } else {
                format!("={b:02X}")
            };
            // Room for the piece and, unless it ends the line, a soft break's `=`.
            let room = if last { 76 } else { 75 };
            if width + piece.len() > room {
                out.push_str("=\r\n");
                width = 0;
            }
            out.push_str(&piece);
            width += piece.len();
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoted_printable_keeps_lines_short_and_never_ends_one_in_whitespace() {
        let text = format!("Hi Zoë,  \n{}\n\t\n   \nend=", "x".repeat(200));
        let qp = quoted_printable(&text);
        for line in qp.split("\r\n") {
            assert!(line.len() <= 76, "{line}");
            assert!(!line.ends_with(' ') && !line.ends_with('\t'), "{line:?}");
        }
        assert!(qp.starts_with("Hi Zo=C3=AB, =20\r\n"), "{qp}");
        assert!(qp.ends_with("=09\r\n  =20\r\nend=3D"), "{qp}");
    }

    #[test]
    fn headers_encode_what_is_not_ascii_and_drop_line_breaks() {
        assert_eq!(
            mailbox("Ada Lovelace", "a@x.test"),
            "Ada Lovelace <a@x.test>"
        );
        assert_eq!(
            mailbox("Lovelace, Ada", "a@x.test"),
            "\"Lovelace, Ada\" <a@x.test>"
        );
        assert_eq!(mailbox("", "a@x.test"), "<a@x.test>");
        assert!(mailbox("Zoë", "z@x.test").starts_with("=?utf-8?B?"));
        assert_eq!(encoded_words("Hello\r\nBcc: x@y"), "HelloBcc: x@y");
        let long = encoded_words(&"é".repeat(60));
        assert!(
            long.split("\r\n ")
                .all(|w| w.len() <= 75 && w.starts_with("=?utf-8?B?"))
        );
    }
}
