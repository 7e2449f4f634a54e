//! Data in and out: reading CSV and XLSX files, cleaning their values, mapping their
//! columns, deduplicating and merging their rows into contacts and accounts (an import is
//! a job, resumable and accounted row by row); and exporting contacts and accounts as CSV.

pub mod actions;
pub mod api;
mod area;
pub mod cli;
pub mod engine;
pub mod export;
pub mod mapping;
mod migrations;
pub mod normalize;
pub mod prepare;
pub mod read;
pub mod service;
pub mod settings;
pub mod store;
pub mod topics;
pub mod ui;

pub use area::Imports;

use salesos_contacts::{accounts, contacts};
use salesos_model as model;
use salesos_model::text_enum;
use salesos_platform as platform;
