//! Outbound webhooks: endpoints that receive the workspace's events, signed as the
//! Standard Webhooks specification says, retried on its schedule, with a delivery log and
//! replay. Rules in `model`, queries in `store`, use cases and the event fan-out in
//! `service`, the delivery job in `delivery`, routes in `api`.

pub mod actions;
pub mod api;
mod area;
pub mod delivery;
mod migrations;
pub mod model;
pub mod service;
pub mod settings;
pub mod store;

pub use area::Webhooks;

use salesos_platform as platform;
