//! The platform under every business area: settings, storage, authentication, HTTP
//! plumbing, telemetry, the audit log and the dashboard shell. It never imports a domain;
//! domains plug in through routers, templates and navigation that the application wires.

pub mod audit;
pub mod auth;
pub mod error;
pub mod http;
pub mod runtime;
pub mod settings;
pub mod state;
pub mod store;
pub mod telemetry;
pub mod web;
