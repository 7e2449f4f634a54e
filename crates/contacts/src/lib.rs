//! Contacts and accounts: the people and companies a workspace sells to, and the timeline
//! of activities both carry. Three modules that lean on each other (a contact belongs to an
//! account; an account's page lists its people), so they are one crate. Each has its rules
//! (`model`), queries (`store`), use cases (`service`), routes (`api`) and pages (`ui`).
//! Other areas reach them only through their services' public functions.

pub mod accounts;
pub mod actions;
pub mod activities;
mod area;
pub mod contacts;
mod migrations;
pub mod topics;

pub use area::Contacts;

use salesos_model as model;
use salesos_model::text_enum;
use salesos_platform as platform;
