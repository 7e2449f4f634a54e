//! Data in and out: reading CSV and XLSX files, cleaning their values, and (to come in
//! this area) mapping, deduplicating and merging them into contacts and accounts.

pub mod mapping;
pub mod normalize;
pub mod read;
