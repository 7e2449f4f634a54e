//! The tables of imports, in order.

mod m0005_import_tables;

use salesos_platform::store::migrations::Migration;

pub fn all() -> Vec<Box<dyn Migration>> {
    vec![Box::new(m0005_import_tables::Migration)]
}
