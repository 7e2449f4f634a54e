//! Accounts: the companies a team sells to. Rules in `model`, queries in `store`, use
//! cases in `service`, routes in `api`, dashboard pages in `ui`.

pub mod api;
pub mod bulk;
pub mod model;
pub mod service;
pub(crate) mod store;
pub mod ui;

pub use service::Account;
