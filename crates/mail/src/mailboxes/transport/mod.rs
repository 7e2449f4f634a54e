//! How a mailbox hands a message over: one trait, a transport per way of sending, and one
//! error type that says at which stage it failed and whether trying again can help.
//!
//! The stage matters for "never twice": a failure before the server took the end of the
//! message (`Stage::Data` and earlier) means nothing was accepted and a retry is safe;
//! a connection lost after the end of the message was sent is [`Class::Uncertain`], the
//! server may have taken it, and it is never retried by itself.

pub mod maildir;
pub mod smtp;

use std::fmt;

use serde::Serialize;
use utoipa::ToSchema;

salesos_model::text_enum! {
    /// Where a conversation with a mail server stopped.
    pub enum Stage {
        /// Finding the server's address.
        Dns = "dns",
        /// Opening the TCP connection.
        Connect = "connect",
        /// The TLS handshake, or a server without STARTTLS when it is required.
        Tls = "tls",
        /// The server's greeting or its answer to EHLO.
        Greeting = "greeting",
        /// Logging in.
        Auth = "auth",
        /// `MAIL FROM`: the server refused the sender.
        Sender = "sender",
        /// `RCPT TO`: the server refused the recipient (relay refused, unknown user).
        Recipient = "recipient",
        /// `DATA` and the message itself, up to its end.
        Data = "data",
        /// After the end of the message was sent: the server may have taken it.
        Accepted = "accepted",
        /// Writing to a local outbox.
        Outbox = "outbox",
    }
}

salesos_model::text_enum! {
    /// What a failure means for the message.
    pub enum Class {
        /// Nothing was accepted and trying later may work (4xx, a dropped connection
        /// before the end of the message, a timeout).
        Retryable = "retryable",
        /// Nothing was accepted and trying again will not help (5xx, bad login, bad
        /// certificate).
        Permanent = "permanent",
        /// The end of the message was sent and no answer came: it may have been taken.
        Uncertain = "uncertain",
    }
}

/// A failed conversation with a mail server or outbox.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, ToSchema)]
pub struct TransportError {
    pub stage: Stage,
    pub class: Class,
    /// The server's reply code, when it answered (`550`).
    pub code: Option<u16>,
    /// The enhanced status code of its answer (`5.1.1`).
    pub enhanced: Option<String>,
    /// What went wrong, with the server's own words when it gave them.
    pub message: String,
}

impl TransportError {
    pub fn new(stage: Stage, class: Class, message: impl Into<String>) -> Self {
        Self {
            stage,
            class,
            code: None,
            enhanced: None,
            message: message.into(),
        }
    }
}

impl fmt::Display for TransportError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({}): {}", self.stage, self.class, self.message)
    }
}

impl std::error::Error for TransportError {}

/// One message to hand over: the envelope and the finished bytes (headers and body,
/// CRLF line ends).
#[derive(Clone, Debug)]
pub struct Outgoing<'a> {
    /// The idempotency key of the email, the outbox's file name.
    pub key: &'a str,
    pub from: &'a str,
    pub to: &'a [String],
    pub message: &'a [u8],
}

/// What the transport learnt when it handed a message over.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Handed {
    /// The server's answer to the end of the message, or where the outbox put it.
    pub receipt: String,
}

/// What a check of a transport found: each step that passed, in order.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, ToSchema)]
pub struct Probe {
    pub steps: Vec<String>,
}

#[async_trait::async_trait]
pub trait Transport: Send + Sync {
    /// Connect and log in (or check the outbox can be written) without sending anything.
    async fn probe(&self) -> Result<Probe, TransportError>;

    /// Hand one message over.
    async fn send(&self, message: &Outgoing<'_>) -> Result<Handed, TransportError>;
}
