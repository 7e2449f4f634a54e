//! The tables of mail, in order.

mod m0008_suppressions;
mod m0009_email_templates;
mod m0010_mailboxes;
mod m0011_sending_domains;
mod m0012_emails;

use salesos_platform::store::migrations::Migration;

pub fn all() -> Vec<Box<dyn Migration>> {
    vec![
        Box::new(m0008_suppressions::Migration),
        Box::new(m0009_email_templates::Migration),
        Box::new(m0010_mailboxes::Migration),
        Box::new(m0011_sending_domains::Migration),
        Box::new(m0012_emails::Migration),
    ]
}
