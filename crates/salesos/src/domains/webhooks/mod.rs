//! Outbound webhooks: endpoints that receive the workspace's events, signed as the
//! Standard Webhooks specification says, retried on its schedule, with a delivery log and
//! replay. Rules in `model`, queries in `store`, use cases and the event fan-out in
//! `service`, the delivery job in `delivery`, routes in `api`.

pub mod api;
pub mod delivery;
pub mod model;
pub mod service;
pub mod store;
