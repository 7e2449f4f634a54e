//! The platform under every business area: settings, storage, authentication, HTTP
//! plumbing, telemetry, the audit log and the dashboard shell. It never imports an area:
//! areas declare what they bring through [`area::Area`], and the application wiring hands
//! the list to the platform. [`system::System`] is the platform's own area.

pub mod area;
pub mod audit;
pub mod auth;
pub mod clock;
pub mod error;
pub mod http;
pub mod runtime;
pub mod secrets;
pub mod settings;
pub mod state;
pub mod store;
pub mod system;
pub mod telemetry;
pub mod tls;
pub mod web;

use salesos_model as model;
use salesos_model::text_enum;
