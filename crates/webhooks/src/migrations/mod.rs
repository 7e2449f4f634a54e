//! The tables of webhooks, in order.

mod m0003_webhooks;
mod m0007_sealed_webhook_secrets;

use salesos_platform::store::migrations::Migration;

pub fn all() -> Vec<Box<dyn Migration>> {
    vec![
        Box::new(m0003_webhooks::Migration),
        Box::new(m0007_sealed_webhook_secrets::Migration),
    ]
}
