//! What contacts and accounts bring to SalesOS, declared once.

use std::sync::Arc;

use axum::Router;
use salesos_platform::{
    area::{Area, NavEntry},
    auth::Action,
    runtime::{topics::Topic, worker::JobHandler},
    settings::Settings,
    state::AppState,
    store::migrations::Migration,
};
use utoipa_axum::router::OpenApiRouter;

use crate::{accounts, actions, contacts, migrations, topics};

pub struct Contacts;

impl Area for Contacts {
    fn name(&self) -> &'static str {
        "contacts"
    }

    fn api_tags(&self) -> &'static [(&'static str, &'static str)] {
        &[
            ("contacts", "People you sell to"),
            ("accounts", "Companies you sell to"),
        ]
    }

    fn api(&self, _settings: &Settings) -> OpenApiRouter<AppState> {
        contacts::api::router().merge(accounts::api::router())
    }

    fn pages(&self) -> Router<AppState> {
        contacts::ui::router().merge(accounts::ui::router())
    }

    fn nav(&self) -> &'static [NavEntry] {
        &[
            NavEntry {
                label: "Contacts",
                href: "/app/contacts",
                key: "contacts",
                order: 100,
                requires: Some(actions::READ_SALES),
            },
            NavEntry {
                label: "Accounts",
                href: "/app/accounts",
                key: "accounts",
                order: 200,
                requires: Some(actions::READ_SALES),
            },
        ]
    }

    fn templates(&self) -> &'static [(&'static str, &'static str)] {
        &[
            (
                "contacts/list.html",
                include_str!("../templates/contacts/list.html"),
            ),
            (
                "contacts/rows.html",
                include_str!("../templates/contacts/rows.html"),
            ),
            (
                "contacts/detail.html",
                include_str!("../templates/contacts/detail.html"),
            ),
            (
                "accounts/list.html",
                include_str!("../templates/accounts/list.html"),
            ),
            (
                "accounts/rows.html",
                include_str!("../templates/accounts/rows.html"),
            ),
            (
                "accounts/detail.html",
                include_str!("../templates/accounts/detail.html"),
            ),
        ]
    }

    fn jobs(&self, _settings: &Settings) -> anyhow::Result<Vec<Arc<dyn JobHandler>>> {
        Ok(vec![Arc::new(contacts::search_index::IndexBacklog)])
    }

    fn migrations(&self) -> Vec<Box<dyn Migration>> {
        migrations::all()
    }

    fn topics(&self) -> &'static [Topic] {
        topics::ALL
    }

    fn actions(&self) -> &'static [Action] {
        &[actions::READ_SALES, actions::WRITE_SALES]
    }
}
