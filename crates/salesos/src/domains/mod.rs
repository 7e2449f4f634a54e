//! Business areas, one module each: its rules (`model`), queries (`store`), use cases
//! (`service`), routes (`api`) and pages (`ui`). Areas use each other only through their
//! services' public functions.

pub mod accounts;
pub mod activities;
pub mod contacts;
pub mod imports;
pub mod webhooks;
