//! What imports and exports bring to SalesOS, declared once.

use std::sync::Arc;

use axum::{Router, extract::DefaultBodyLimit};
use salesos_platform::{
    area::{Area, Asset, NavEntry},
    auth::Action,
    runtime::{topics::Topic, worker::JobHandler},
    settings::{AnySection, Settings},
    state::AppState,
    store::migrations::Migration,
};
use utoipa_axum::router::OpenApiRouter;

use crate::{actions, api, migrations, service, settings::ImportSettings, topics, ui};

pub struct Imports;

impl Area for Imports {
    fn name(&self) -> &'static str {
        "imports"
    }

    fn api_tags(&self) -> &'static [(&'static str, &'static str)] {
        &[(
            "imports",
            "CSV and XLSX files in: cleaned, deduplicated, merged, every row accounted for",
        )]
    }

    /// Routes that take whole files accept bodies up to `max_upload_bytes`; the others
    /// keep the general limit.
    fn api(&self, settings: &Settings) -> OpenApiRouter<AppState> {
        api::upload_router()
            .layer(DefaultBodyLimit::max(
                settings.section::<ImportSettings>().max_upload_bytes,
            ))
            .merge(api::router())
    }

    fn pages(&self) -> Router<AppState> {
        ui::router()
    }

    fn nav(&self) -> &'static [NavEntry] {
        &[NavEntry {
            label: "Imports",
            href: "/app/imports",
            key: "imports",
            order: 300,
            requires: Some(actions::IMPORT_DATA),
        }]
    }

    fn templates(&self) -> &'static [(&'static str, &'static str)] {
        &[("imports.html", include_str!("../templates/imports.html"))]
    }

    fn assets(&self) -> &'static [Asset] {
        &[Asset {
            name: "imports.js",
            content_type: "text/javascript",
            bytes: include_bytes!("../assets/imports.js"),
        }]
    }

    fn jobs(&self, _settings: &Settings) -> anyhow::Result<Vec<Arc<dyn JobHandler>>> {
        Ok(vec![Arc::new(service::RunImport)])
    }

    fn migrations(&self) -> Vec<Box<dyn Migration>> {
        migrations::all()
    }

    fn settings(&self) -> Option<Box<dyn AnySection>> {
        Some(Box::new(ImportSettings::default()))
    }

    fn topics(&self) -> &'static [Topic] {
        topics::ALL
    }

    fn actions(&self) -> &'static [Action] {
        &[actions::IMPORT_DATA]
    }
}
