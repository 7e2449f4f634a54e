//! Mail out. Today: sending domains (DKIM keys, the DNS records to publish and their
//! check), mailboxes (the sender, its transport, caps, warm-up and health), the suppression list (addresses and whole domains that must never be
//! mailed, with why and from where), which the send job checks before every message, and
//! email templates (minijinja with spintax, checked at save, previewed for a real contact).
//! Each module has its rules (`mod.rs`), queries (`store`), use cases (`service`) and
//! routes (`api`).

pub mod actions;
mod area;
mod changes;
pub mod dkim;
pub mod domains;
pub mod emails;
pub mod mailboxes;
mod migrations;
pub mod settings;
pub mod suppressions;
pub mod templates;
pub mod topics;
mod ui;

pub use area::Mail;

use salesos_platform as platform;
