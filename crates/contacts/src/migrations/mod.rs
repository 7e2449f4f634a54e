//! The tables of contacts, accounts and their timeline, in order.

mod m0001_sales;
mod m0005_matching_keys;
mod m0006_lean_indexes;

use salesos_platform::store::migrations::Migration;

pub fn all() -> Vec<Box<dyn Migration>> {
    vec![
        Box::new(m0001_sales::Migration),
        Box::new(m0005_matching_keys::Migration),
        Box::new(m0006_lean_indexes::Migration),
    ]
}
