//! The tables of imports, in order.

mod m0005_import_tables;
mod m0006_rows_expected;

use salesos_platform::store::migrations::Migration;

pub fn all() -> Vec<Box<dyn Migration>> {
    vec![
        Box::new(m0005_import_tables::Migration),
        Box::new(m0006_rows_expected::Migration),
    ]
}
