//! A small DNS client for what a sending domain's check needs: TXT and MX answers from one
//! configured recursive resolver (RFC 1035 over UDP with EDNS(0), falling back to TCP when
//! the answer is truncated). It asks, it does not recurse: the resolver does that. Tests
//! point it at a DNS server they start on loopback; a deployment at its own resolver or
//! the first `nameserver` of `/etc/resolv.conf`.

use std::{
    net::{IpAddr, Ipv4Addr, SocketAddr},
    time::Duration,
};

use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::{TcpStream, UdpSocket},
    time::timeout,
};

const TYPE_MX: u16 = 15;
const TYPE_TXT: u16 = 16;
const TYPE_OPT: u16 = 41;
const CLASS_IN: u16 = 1;
/// The EDNS(0) payload size the DNS flag day of 2020 settled on.
const UDP_PAYLOAD: u16 = 1232;
const MAX_NAME: usize = 253;

/// Why a lookup gave no answer. A name that does not exist, or has no record of the type
/// asked, is not an error: it is an empty answer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DnsError {
    #[error("`{0}` is not a domain name DNS can ask for")]
    BadName(String),
    #[error("the resolver {server} did not answer within {secs} s")]
    Timeout { server: SocketAddr, secs: u64 },
    #[error("the resolver {server} answered {rcode} for {name}")]
    Failed {
        server: SocketAddr,
        name: String,
        rcode: &'static str,
    },
    #[error("the resolver {server} cannot be reached: {message}")]
    Unreachable { server: SocketAddr, message: String },
    #[error("the resolver {server} sent an answer that does not parse: {message}")]
    Malformed { server: SocketAddr, message: String },
}

/// One MX record: where a domain takes its mail.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mx {
    pub preference: u16,
    /// Without the trailing dot; empty for the null MX of RFC 7505 (`0 .`).
    pub exchange: String,
}

/// Where to ask and how long to wait.
#[derive(Debug, Clone)]
pub struct Resolver {
    server: SocketAddr,
    timeout: Duration,
}

impl Resolver {
    pub fn new(server: SocketAddr, timeout: Duration) -> Self {
        Self { server, timeout }
    }

    /// The configured server, or the first `nameserver` of `/etc/resolv.conf`.
    pub fn configured(server: Option<SocketAddr>, timeout: Duration) -> Self {
        let server = server.unwrap_or_else(|| {
            std::fs::read_to_string("/etc/resolv.conf")
                .ok()
                .and_then(|conf| first_nameserver(&conf))
                .unwrap_or(SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 53))
        });
        Self::new(server, timeout)
    }

    pub fn server(&self) -> SocketAddr {
        self.server
    }

    /// The TXT records at `name`, each with its strings joined (RFC 7208 §3.3, RFC 6376
    /// §3.6.2.2: a long record is split into strings of at most 255 bytes).
    pub async fn txt(&self, name: &str) -> Result<Vec<String>, DnsError> {
        let answers = self.ask(name, TYPE_TXT).await?;
        Ok(answers.iter().filter_map(txt_strings).collect())
    }

    /// The MX records of `name`, lowest preference first.
    pub async fn mx(&self, name: &str) -> Result<Vec<Mx>, DnsError> {
        let answers = self.ask(name, TYPE_MX).await?;
        let mut out: Vec<Mx> = answers
            .iter()
            .filter_map(|(message, at)| {
                let pref = u16::from_be_bytes([*message.get(at.0)?, *message.get(at.0 + 1)?]);
                let (exchange, _) = read_name(message, at.0 + 2).ok()?;
                Some(Mx {
                    preference: pref,
                    exchange,
                })
            })
            .collect();
        out.sort_by(|a, b| {
            a.preference
                .cmp(&b.preference)
                .then(a.exchange.cmp(&b.exchange))
        });
        Ok(out)
    }

    /// The answer records of type `qtype`, as (message, rdata range) so that names inside
    /// the data can follow compression pointers into the message.
    async fn ask(&self, name: &str, qtype: u16) -> Result<Vec<Answer>, DnsError> {
        let id: u16 = rand::random();
        let query = build_query(id, name, qtype)?;
        let mut reply = None;
        for _ in 0..2 {
            match self.udp(&query).await {
                Ok(r) => {
                    reply = Some(r);
                    break;
                }
                Err(DnsError::Timeout { .. }) => continue,
                Err(e) => return Err(e),
            }
        }
        let reply = reply.ok_or(DnsError::Timeout {
            server: self.server,
            secs: self.timeout.as_secs().max(1),
        })?;
        let reply = if truncated(&reply) {
            self.tcp(&query).await?
        } else {
            reply
        };
        parse_reply(&reply, id, qtype).map_err(|e| match e {
            ReplyError::Rcode(rcode) => DnsError::Failed {
                server: self.server,
                name: name.to_owned(),
                rcode,
            },
            ReplyError::Malformed(message) => DnsError::Malformed {
                server: self.server,
                message,
            },
        })
    }

    fn unreachable(&self, e: std::io::Error) -> DnsError {
        DnsError::Unreachable {
            server: self.server,
            message: e.to_string(),
        }
    }

    fn timed_out(&self) -> DnsError {
        DnsError::Timeout {
            server: self.server,
            secs: self.timeout.as_secs().max(1),
        }
    }

    async fn udp(&self, query: &[u8]) -> Result<Vec<u8>, DnsError> {
        let local: SocketAddr = match self.server {
            SocketAddr::V4(_) => (Ipv4Addr::UNSPECIFIED, 0).into(),
            SocketAddr::V6(_) => (std::net::Ipv6Addr::UNSPECIFIED, 0).into(),
        };
        let socket = UdpSocket::bind(local)
            .await
            .map_err(|e| self.unreachable(e))?;
        socket
            .connect(self.server)
            .await
            .map_err(|e| self.unreachable(e))?;
        socket.send(query).await.map_err(|e| self.unreachable(e))?;
        let mut buf = vec![0u8; 65_535];
        let id = query.get(..2).unwrap_or_default();
        let deadline = tokio::time::Instant::now() + self.timeout;
        loop {
            let n = tokio::time::timeout_at(deadline, socket.recv(&mut buf))
                .await
                .map_err(|_| self.timed_out())?
                .map_err(|e| self.unreachable(e))?;
            // A stray datagram with another id is not our answer: keep waiting.
            if buf.get(..2) == Some(id) {
                buf.truncate(n);
                return Ok(buf);
            }
        }
    }

    async fn tcp(&self, query: &[u8]) -> Result<Vec<u8>, DnsError> {
        let exchange = async {
            let mut stream = TcpStream::connect(self.server).await?;
            let len = u16::try_from(query.len()).unwrap_or(u16::MAX);
            let mut framed = len.to_be_bytes().to_vec();
            framed.extend_from_slice(query);
            stream.write_all(&framed).await?;
            let mut len = [0u8; 2];
            stream.read_exact(&mut len).await?;
            let mut reply = vec![0u8; usize::from(u16::from_be_bytes(len))];
            stream.read_exact(&mut reply).await?;
            Ok::<_, std::io::Error>(reply)
        };
        timeout(self.timeout, exchange)
            .await
            .map_err(|_| self.timed_out())?
            .map_err(|e| self.unreachable(e))
    }
}

/// The first `nameserver` line of a resolv.conf.
fn first_nameserver(conf: &str) -> Option<SocketAddr> {
    conf.lines().find_map(|line| {
        let mut words = line.split_whitespace();
        (words.next()? == "nameserver")
            .then(|| words.next()?.parse::<IpAddr>().ok())
            .flatten()
            .map(|ip| SocketAddr::new(ip, 53))
    })
}

/// A query for `name`, recursion desired, with an EDNS(0) OPT record.
fn build_query(id: u16, name: &str, qtype: u16) -> Result<Vec<u8>, DnsError> {
    let name = name.trim_end_matches('.');
    let bad = || DnsError::BadName(name.to_owned());
    if name.is_empty() || name.len() > MAX_NAME {
        return Err(bad());
    }
    let mut q = Vec::with_capacity(name.len() + 30);
    q.extend_from_slice(&id.to_be_bytes());
    q.extend_from_slice(&0x0100u16.to_be_bytes()); // RD
    q.extend_from_slice(&[0, 1, 0, 0, 0, 0, 0, 1]); // 1 question, 1 additional
    for label in name.split('.') {
        let len = u8::try_from(label.len()).map_err(|_| bad())?;
        if len == 0 || len > 63 || !label.is_ascii() {
            return Err(bad());
        }
        q.push(len);
        q.extend_from_slice(label.as_bytes());
    }
    q.push(0);
    q.extend_from_slice(&qtype.to_be_bytes());
    q.extend_from_slice(&CLASS_IN.to_be_bytes());
    // OPT: root name, type 41, class = payload size, ttl 0, no data.
    q.push(0);
    q.extend_from_slice(&TYPE_OPT.to_be_bytes());
    q.extend_from_slice(&UDP_PAYLOAD.to_be_bytes());
    q.extend_from_slice(&[0, 0, 0, 0, 0, 0]);
    Ok(q)
}

fn truncated(reply: &[u8]) -> bool {
    reply.get(2).is_some_and(|b| b & 0x02 != 0)
}

/// One answer: the message it came in and where its data lies in it.
type Answer = (std::sync::Arc<Vec<u8>>, (usize, usize));

enum ReplyError {
    Rcode(&'static str),
    Malformed(String),
}

fn malformed(what: &str) -> ReplyError {
    ReplyError::Malformed(what.to_owned())
}

fn u16_at(m: &[u8], at: usize) -> Result<u16, ReplyError> {
    match (m.get(at), m.get(at + 1)) {
        (Some(a), Some(b)) => Ok(u16::from_be_bytes([*a, *b])),
        _ => Err(malformed("the message ends inside a field")),
    }
}

fn parse_reply(message: &[u8], id: u16, qtype: u16) -> Result<Vec<Answer>, ReplyError> {
    if u16_at(message, 0)? != id {
        return Err(malformed("the answer's id is not the query's"));
    }
    let flags = u16_at(message, 2)?;
    if flags & 0x8000 == 0 {
        return Err(malformed("the message is a query, not an answer"));
    }
    match flags & 0x000F {
        0 => {}
        // The name does not exist: no records, not a failure of the lookup.
        3 => return Ok(Vec::new()),
        1 => return Err(ReplyError::Rcode("FORMERR")),
        2 => return Err(ReplyError::Rcode("SERVFAIL")),
        4 => return Err(ReplyError::Rcode("NOTIMP")),
        5 => return Err(ReplyError::Rcode("REFUSED")),
        _ => return Err(ReplyError::Rcode("an unknown error code")),
    }
    let questions = u16_at(message, 4)?;
    let answers = u16_at(message, 6)?;
    let mut at = 12;
    for _ in 0..questions {
        at = read_name(message, at)?.1 + 4;
    }
    let shared = std::sync::Arc::new(message.to_vec());
    let mut out = Vec::new();
    for _ in 0..answers {
        let (_, next) = read_name(message, at)?;
        let rtype = u16_at(message, next)?;
        let class = u16_at(message, next + 2)?;
        let len = usize::from(u16_at(message, next + 8)?);
        let start = next + 10;
        let end = start + len;
        if end > message.len() {
            return Err(malformed("a record's data runs past the message"));
        }
        // CNAMEs on the way are the resolver's business; keep the records asked for.
        if rtype == qtype && class == CLASS_IN {
            out.push((shared.clone(), (start, end)));
        }
        at = end;
    }
    Ok(out)
}

/// The name at `at`, following compression pointers, and where the name ends in the
/// record (after the first pointer, if any).
fn read_name(m: &[u8], mut at: usize) -> Result<(String, usize), ReplyError> {
    let mut labels: Vec<String> = Vec::new();
    let mut end = None;
    let mut jumps = 0;
    loop {
        let len = *m
            .get(at)
            .ok_or_else(|| malformed("a name runs past the message"))?;
        match len {
            0 => {
                let end = end.unwrap_or(at + 1);
                return Ok((labels.join("."), end));
            }
            l if l & 0xC0 == 0xC0 => {
                let low = *m
                    .get(at + 1)
                    .ok_or_else(|| malformed("a name pointer runs past the message"))?;
                end.get_or_insert(at + 2);
                jumps += 1;
                if jumps > 32 {
                    return Err(malformed("name pointers loop"));
                }
                at = usize::from(l & 0x3F) << 8 | usize::from(low);
            }
            l if l & 0xC0 == 0 => {
                let l = usize::from(l);
                let label = m
                    .get(at + 1..at + 1 + l)
                    .ok_or_else(|| malformed("a label runs past the message"))?;
                labels.push(String::from_utf8_lossy(label).to_lowercase());
                if labels.iter().map(|s| s.len() + 1).sum::<usize>() > 255 {
                    return Err(malformed("a name is longer than 255 bytes"));
                }
                at += 1 + l;
            }
            _ => return Err(malformed("a label has a reserved type")),
        }
    }
}

/// A TXT record's character strings, joined.
fn txt_strings(answer: &Answer) -> Option<String> {
    let (message, (start, end)) = answer;
    let data = message.get(*start..*end)?;
    let mut out = Vec::with_capacity(data.len());
    let mut i = 0;
    while i < data.len() {
        let len = usize::from(*data.get(i)?);
        out.extend_from_slice(data.get(i + 1..i + 1 + len)?);
        i += 1 + len;
    }
    Some(String::from_utf8_lossy(&out).into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A reply to `query` with the given answers (type, rdata), the question echoed.
    fn reply(query: &[u8], rcode: u8, answers: &[(u16, Vec<u8>)]) -> Vec<u8> {
        let qend = ok(read_name(query, 12)).1 + 4;
        let mut m = query.get(..2).expect("id").to_vec();
        m.extend_from_slice(&[0x81, 0x80 | rcode]);
        m.extend_from_slice(&[0, 1]);
        m.extend_from_slice(&u16::try_from(answers.len()).expect("few").to_be_bytes());
        m.extend_from_slice(&[0, 0, 0, 0]);
        m.extend_from_slice(query.get(12..qend).expect("question"));
        for (t, data) in answers {
            m.extend_from_slice(&[0xC0, 12]); // the question's name
            m.extend_from_slice(&t.to_be_bytes());
            m.extend_from_slice(&[0, 1, 0, 0, 1, 0]);
            m.extend_from_slice(&u16::try_from(data.len()).expect("short").to_be_bytes());
            m.extend_from_slice(data);
        }
        m
    }

    fn ok<T>(r: Result<T, ReplyError>) -> T {
        match r {
            Ok(v) => v,
            Err(ReplyError::Rcode(c)) => panic!("rcode {c}"),
            Err(ReplyError::Malformed(m)) => panic!("malformed: {m}"),
        }
    }

    #[test]
    fn txt_strings_of_a_long_record_are_joined() {
        let q = build_query(7, "s1._domainkey.example.com", TYPE_TXT).expect("query");
        let long = "p".repeat(300);
        let mut data = vec![255u8];
        data.extend_from_slice(long.get(..255).expect("cut").as_bytes());
        data.push(45);
        data.extend_from_slice(long.get(255..).expect("rest").as_bytes());
        let m = reply(&q, 0, &[(TYPE_TXT, data), (5, vec![0])]);
        let answers = ok(parse_reply(&m, 7, TYPE_TXT));
        assert_eq!(answers.len(), 1, "the CNAME is skipped");
        assert_eq!(
            txt_strings(answers.first().expect("one")).as_deref(),
            Some(long.as_str())
        );
    }

    #[test]
    fn mx_names_follow_compression_and_nxdomain_is_empty() {
        let q = build_query(9, "example.com", TYPE_MX).expect("query");
        // "mail" + pointer to "example.com" at offset 12.
        let mut data = vec![0, 10, 4];
        data.extend_from_slice(b"mail");
        data.extend_from_slice(&[0xC0, 12]);
        let m = reply(&q, 0, &[(TYPE_MX, data)]);
        let answers = ok(parse_reply(&m, 9, TYPE_MX));
        let (message, (start, _)) = answers.first().expect("one");
        assert_eq!(
            ok(read_name(message, start + 2)).0,
            "mail.example.com".to_owned()
        );
        assert!(ok(parse_reply(&reply(&q, 3, &[]), 9, TYPE_MX)).is_empty());
        assert!(matches!(
            parse_reply(&reply(&q, 2, &[]), 9, TYPE_MX),
            Err(ReplyError::Rcode("SERVFAIL"))
        ));
        assert!(matches!(
            parse_reply(&m, 10, TYPE_MX),
            Err(ReplyError::Malformed(_))
        ));
    }

    #[test]
    fn pointer_loops_and_short_messages_are_malformed() {
        let m = [0u8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xC0, 12];
        assert!(matches!(read_name(&m, 12), Err(ReplyError::Malformed(_))));
        assert!(matches!(read_name(&m, 40), Err(ReplyError::Malformed(_))));
        assert!(matches!(
            parse_reply(&[0, 1, 0x81], 1, TYPE_TXT),
            Err(ReplyError::Malformed(_))
        ));
    }

    #[test]
    fn bad_names_are_refused_before_asking() {
        for name in ["", "a..b", "ex ample.com\u{e9}", &"a".repeat(64)] {
            assert!(build_query(1, name, TYPE_TXT).is_err(), "{name}");
        }
        assert!(build_query(1, "example.com.", TYPE_TXT).is_ok());
    }

    #[test]
    fn resolv_conf_gives_its_first_nameserver() {
        let conf = "# comment\nsearch lan\nnameserver 10.0.0.2\nnameserver 1.1.1.1\n";
        assert_eq!(
            first_nameserver(conf),
            Some("10.0.0.2:53".parse().expect("addr"))
        );
        assert_eq!(first_nameserver("search lan\n"), None);
    }
}
