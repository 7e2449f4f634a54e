//! SMTP to the mailbox's own server, written here rather than taken from a client crate so
//! that every failure says at which step of the transaction it happened: "never twice"
//! rests on knowing whether the server could have taken the end of the message.
//!
//! - Security: implicit TLS (port 465), STARTTLS (refused if the server does not offer
//!   it), or none, which the mailbox rules allow only to a loopback server.
//! - Login: `AUTH PLAIN` with a password, or `AUTH XOAUTH2` with an access token.
//! - Replies: multi-line replies are read whole; the reply code and the enhanced status
//!   code (RFC 3463) are kept for the record. 4xx is retryable, 5xx permanent.
//! - The message is dot-stuffed (RFC 5321 4.5.2) and must end in CRLF.

use std::{sync::Arc, time::Duration};

use base64::{Engine, engine::general_purpose::STANDARD};
use tokio::{
    io::{AsyncBufReadExt, AsyncRead, AsyncWrite, AsyncWriteExt, BufReader},
    net::TcpStream,
};

use super::{Class, Handed, Outgoing, Probe, Stage, Transport, TransportError};
use crate::mailboxes::{SmtpAuth, SmtpSecurity};

/// How to reach and log in to one SMTP server.
#[derive(Clone)]
pub struct SmtpConfig {
    pub host: String,
    pub port: u16,
    pub security: SmtpSecurity,
    pub auth: SmtpAuth,
    pub username: Option<String>,
    /// The password, or the access token for XOAUTH2.
    pub secret: Option<String>,
    /// The name this side gives in EHLO.
    pub helo: String,
    /// For each step (connect, each reply).
    pub timeout: Duration,
}

impl std::fmt::Debug for SmtpConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SmtpConfig")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("security", &self.security)
            .field("username", &self.username)
            .finish_non_exhaustive()
    }
}

pub struct Smtp {
    config: SmtpConfig,
    tls: Arc<rustls::ClientConfig>,
}

trait Wire: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Wire for T {}

/// One server answer: its code and its lines' text joined.
#[derive(Debug)]
struct Reply {
    code: u16,
    text: String,
}

impl Reply {
    fn enhanced(&self) -> Option<String> {
        let first = self.text.split_whitespace().next()?;
        let parts: Vec<&str> = first.split('.').collect();
        let well_formed = parts.len() == 3
            && parts.iter().all(|p| !p.is_empty() && p.len() <= 3)
            && parts.iter().all(|p| p.chars().all(|c| c.is_ascii_digit()));
        well_formed.then(|| first.to_owned())
    }

    fn refused(&self, stage: Stage) -> TransportError {
        let class = if (400..500).contains(&self.code) {
            Class::Retryable
        } else {
            Class::Permanent
        };
        TransportError {
            stage,
            class,
            code: Some(self.code),
            enhanced: self.enhanced(),
            message: format!("the server answered {} {}", self.code, self.text),
        }
    }
}

struct Session {
    wire: BufReader<Box<dyn Wire>>,
    timeout: Duration,
    /// Extensions the server announced in its last EHLO answer, upper-cased.
    extensions: Vec<String>,
}

fn lost(stage: Stage, what: impl std::fmt::Display) -> TransportError {
    let class = if stage == Stage::Accepted {
        Class::Uncertain
    } else {
        Class::Retryable
    };
    TransportError::new(stage, class, format!("the connection failed: {what}"))
}

/// At most this much of one reply is read: a server that streams without end is cut off.
const MAX_REPLY: usize = 64 * 1024;

impl Session {
    async fn read(&mut self, stage: Stage) -> Result<Reply, TransportError> {
        let mut text = Vec::new();
        let mut total = 0;
        loop {
            let mut line = String::new();
            let n = tokio::time::timeout(self.timeout, self.wire.read_line(&mut line))
                .await
                .map_err(|_| lost(stage, "no answer in time"))?
                .map_err(|e| lost(stage, e))?;
            if n == 0 {
                return Err(lost(stage, "the server closed the connection"));
            }
            total += n;
            if total > MAX_REPLY {
                return Err(lost(stage, "the server's answer is too long"));
            }
            let line = line.trim_end_matches(['\r', '\n']);
            let code = line
                .get(..3)
                .and_then(|c| c.parse::<u16>().ok())
                .filter(|c| (200..600).contains(c))
                .ok_or_else(|| {
                    lost(
                        stage,
                        format!("the server's answer `{}` is not SMTP", line.escape_debug()),
                    )
                })?;
            let more = line.as_bytes().get(3) == Some(&b'-');
            text.push(line.get(4..).unwrap_or("").to_owned());
            if !more {
                return Ok(Reply {
                    code,
                    text: text.join(" "),
                });
            }
        }
    }

    async fn write(&mut self, stage: Stage, bytes: &[u8]) -> Result<(), TransportError> {
        let w = self.wire.get_mut();
        tokio::time::timeout(self.timeout, async {
            w.write_all(bytes).await?;
            w.flush().await
        })
        .await
        .map_err(|_| lost(stage, "the server did not take the data in time"))?
        .map_err(|e| lost(stage, e))
    }

    /// Send one command and read the answer; anything but `expect` is a refusal.
    async fn command(
        &mut self,
        stage: Stage,
        line: &str,
        expect: u16,
    ) -> Result<Reply, TransportError> {
        self.write(stage, format!("{line}\r\n").as_bytes()).await?;
        let reply = self.read(stage).await?;
        if reply.code == expect {
            Ok(reply)
        } else {
            Err(reply.refused(stage))
        }
    }

    async fn ehlo(&mut self, helo: &str) -> Result<(), TransportError> {
        let reply = self
            .command(Stage::Greeting, &format!("EHLO {helo}"), 250)
            .await?;
        self.extensions = reply.text.split(' ').map(str::to_ascii_uppercase).collect();
        Ok(())
    }

    fn offers(&self, extension: &str) -> bool {
        self.extensions.iter().any(|e| e == extension)
    }
}

/// `text` with every line starting with `.` given one more, and ending in CRLF.
pub fn dot_stuffed(message: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(message.len() + 64);
    let mut at_line_start = true;
    for &b in message {
        if at_line_start && b == b'.' {
            out.push(b'.');
        }
        out.push(b);
        at_line_start = b == b'\n';
    }
    if !out.ends_with(b"\r\n") {
        out.extend_from_slice(b"\r\n");
    }
    out
}

impl Smtp {
    pub fn new(config: SmtpConfig) -> Result<Self, TransportError> {
        let tls = salesos_platform::tls::client_config()
            .map_err(|e| TransportError::new(Stage::Tls, Class::Permanent, e.to_string()))?;
        Ok(Self {
            config,
            tls: Arc::new(tls),
        })
    }

    async fn tls(&self, tcp: Box<dyn Wire>) -> Result<Box<dyn Wire>, TransportError> {
        let name = rustls::pki_types::ServerName::try_from(self.config.host.clone())
            .map_err(|e| TransportError::new(Stage::Tls, Class::Permanent, e.to_string()))?;
        let connector = tokio_rustls::TlsConnector::from(self.tls.clone());
        let stream = tokio::time::timeout(self.config.timeout, connector.connect(name, tcp))
            .await
            .map_err(|_| {
                TransportError::new(Stage::Tls, Class::Retryable, "the TLS handshake timed out")
            })?
            .map_err(|e| {
                TransportError::new(
                    Stage::Tls,
                    Class::Permanent,
                    format!("the TLS handshake failed: {e}"),
                )
            })?;
        Ok(Box::new(stream))
    }

    /// Open a session: connect, greet, secure it, log in.
    async fn open(&self, steps: &mut Vec<String>) -> Result<Session, TransportError> {
        let c = &self.config;
        let addrs: Vec<_> = tokio::time::timeout(
            c.timeout,
            tokio::net::lookup_host((c.host.as_str(), c.port)),
        )
        .await
        .map_err(|_| TransportError::new(Stage::Dns, Class::Retryable, "the lookup timed out"))?
        .map_err(|e| {
            TransportError::new(
                Stage::Dns,
                Class::Retryable,
                format!("`{}` does not resolve: {e}", c.host),
            )
        })?
        .collect();
        steps.push(format!(
            "{} resolves to {} address(es)",
            c.host,
            addrs.len()
        ));
        let mut last = None;
        let mut tcp = None;
        for addr in &addrs {
            match tokio::time::timeout(c.timeout, TcpStream::connect(addr)).await {
                Ok(Ok(s)) => {
                    tcp = Some(s);
                    break;
                }
                Ok(Err(e)) => last = Some(format!("{addr}: {e}")),
                Err(_) => last = Some(format!("{addr}: timed out")),
            }
        }
        let tcp = tcp.ok_or_else(|| {
            TransportError::new(
                Stage::Connect,
                Class::Retryable,
                format!(
                    "cannot connect to {}:{}: {}",
                    c.host,
                    c.port,
                    last.unwrap_or_else(|| "no address".into())
                ),
            )
        })?;
        steps.push(format!("connected to {}:{}", c.host, c.port));
        let mut wire: Box<dyn Wire> = Box::new(tcp);
        if c.security == SmtpSecurity::Tls {
            wire = self.tls(wire).await?;
            steps.push("TLS established".into());
        }
        let mut s = Session {
            wire: BufReader::new(wire),
            timeout: c.timeout,
            extensions: Vec::new(),
        };
        let greeting = s.read(Stage::Greeting).await?;
        if greeting.code != 220 {
            return Err(greeting.refused(Stage::Greeting));
        }
        s.ehlo(&c.helo).await?;
        steps.push("the server greeted".into());
        if c.security == SmtpSecurity::Starttls {
            if !s.offers("STARTTLS") {
                return Err(TransportError::new(
                    Stage::Tls,
                    Class::Permanent,
                    "the server does not offer STARTTLS",
                ));
            }
            s.command(Stage::Tls, "STARTTLS", 220).await?;
            let idle: Box<dyn Wire> =
                Box::new(tokio::io::join(tokio::io::empty(), tokio::io::sink()));
            let plain = std::mem::replace(&mut s.wire, BufReader::new(idle));
            let wire = self.tls(plain.into_inner()).await?;
            s.wire = BufReader::new(wire);
            s.ehlo(&c.helo).await?;
            steps.push("STARTTLS established".into());
        }
        if let Some(user) = &c.username {
            let secret = c.secret.as_deref().unwrap_or("");
            let (mechanism, token) = match c.auth {
                SmtpAuth::Password => ("PLAIN", format!("\0{user}\0{secret}")),
                SmtpAuth::Xoauth2 => (
                    "XOAUTH2",
                    format!("user={user}\x01auth=Bearer {secret}\x01\x01"),
                ),
            };
            let line = format!("AUTH {mechanism} {}", STANDARD.encode(token));
            s.write(Stage::Auth, format!("{line}\r\n").as_bytes())
                .await?;
            let mut reply = s.read(Stage::Auth).await?;
            if reply.code == 334 {
                // XOAUTH2 failure: the server sends a challenge with the error; an empty
                // line ends the exchange and brings the final answer.
                s.write(Stage::Auth, b"\r\n").await?;
                reply = s.read(Stage::Auth).await?;
            }
            if reply.code != 235 {
                let mut e = reply.refused(Stage::Auth);
                // A refused login does not fix itself, whatever the code.
                if reply.code == 535 || reply.code == 534 || reply.code == 530 {
                    e.class = Class::Permanent;
                }
                return Err(e);
            }
            steps.push(format!("logged in as {user}"));
        }
        Ok(s)
    }
}

#[async_trait::async_trait]
impl Transport for Smtp {
    async fn probe(&self) -> Result<Probe, TransportError> {
        let mut steps = Vec::new();
        let mut s = self.open(&mut steps).await?;
        let _ = s.command(Stage::Greeting, "QUIT", 221).await;
        Ok(Probe { steps })
    }

    async fn send(&self, message: &Outgoing<'_>) -> Result<Handed, TransportError> {
        let mut steps = Vec::new();
        let mut s = self.open(&mut steps).await?;
        s.command(Stage::Sender, &format!("MAIL FROM:<{}>", message.from), 250)
            .await?;
        for to in message.to {
            s.command(Stage::Recipient, &format!("RCPT TO:<{to}>"), 250)
                .await?;
        }
        s.command(Stage::Data, "DATA", 354).await?;
        let mut body = dot_stuffed(message.message);
        body.extend_from_slice(b".\r\n");
        s.write(Stage::Data, &body).await?;
        // From here the server may hold the message: a lost answer is uncertain.
        let reply = s.read(Stage::Accepted).await?;
        if reply.code != 250 {
            return Err(reply.refused(Stage::Data));
        }
        let _ = s.command(Stage::Greeting, "QUIT", 221).await;
        Ok(Handed {
            receipt: format!("{} {}", reply.code, reply.text),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_starting_with_a_dot_get_another_and_the_end_is_crlf() {
        assert_eq!(dot_stuffed(b".a\r\nb\r\n.\r\n"), b"..a\r\nb\r\n..\r\n");
        assert_eq!(dot_stuffed(b"x"), b"x\r\n");
    }

    #[test]
    fn a_reply_names_its_enhanced_code_and_class() {
        let r = Reply {
            code: 550,
            text: "5.1.1 no such user".into(),
        };
        let e = r.refused(Stage::Recipient);
        assert_eq!(
            (e.class, e.code, e.enhanced.as_deref()),
            (Class::Permanent, Some(550), Some("5.1.1"))
        );
        let busy = Reply {
            code: 421,
            text: "try later".into(),
        };
        let e = busy.refused(Stage::Greeting);
        assert_eq!((e.class, e.enhanced), (Class::Retryable, None));
    }
}
