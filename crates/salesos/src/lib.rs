//! SalesOS: a self-hosted sales automation platform in one binary.
//!
//! Layout: [`model`] holds pure value rules; [`platform`] the technical base (settings,
//! storage, auth, HTTP plumbing, telemetry, dashboard shell); [`domains`] one module per
//! business area; [`app`] wires them into an [`app::Application`]; [`cli`] is the binary's
//! command line.

pub mod app;
pub mod cli;
pub mod domains;
pub mod model;
pub mod platform;
