//! Data in and out: reading CSV and XLSX files, cleaning their values, mapping their
//! columns, deduplicating and merging their rows into contacts and accounts (an import is
//! a job, resumable and accounted row by row); and exporting contacts and accounts as CSV.

pub mod api;
pub mod cli;
pub mod engine;
pub mod export;
pub mod mapping;
pub mod normalize;
pub mod prepare;
pub mod read;
pub mod service;
pub mod store;
pub mod ui;
