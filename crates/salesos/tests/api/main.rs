//! API tests, built as one binary. Each test starts its own SalesOS over its own database.

// JSON answers are read with `body["field"]`: a missing field is a failed test, as it should be.
#![allow(clippy::indexing_slicing)]

mod accounts;
mod audit;
mod auth;
mod browser;
mod bus;
mod cli;
mod consumers;
mod contacts;
mod domains;
mod emails;
mod helpers;
mod idempotency;
mod imports;
mod jobs;
mod mailboxes;
mod platform;
mod scale;
mod sessions;
mod stream;
mod suppressions;
mod templates;
mod upgrade;
mod webhooks;
