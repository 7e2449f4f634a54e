//! What webhooks bring to SalesOS, declared once.

use std::sync::Arc;

use salesos_platform::{
    area::Area,
    auth::Action,
    runtime::{consumer::Consumer, worker::JobHandler},
    secrets::SealedColumn,
    settings::{AnySection, Settings},
    state::AppState,
    store::migrations::Migration,
};
use utoipa_axum::router::OpenApiRouter;

use crate::{actions, api, delivery, migrations, service, settings::WebhookSettings};

pub struct Webhooks;

impl Area for Webhooks {
    fn name(&self) -> &'static str {
        "webhooks"
    }

    fn api_tags(&self) -> &'static [(&'static str, &'static str)] {
        &[(
            "webhooks",
            "Events pushed to your URLs, signed (Standard Webhooks)",
        )]
    }

    fn api(&self, _settings: &Settings) -> OpenApiRouter<AppState> {
        api::router()
    }

    fn jobs(&self, settings: &Settings) -> anyhow::Result<Vec<Arc<dyn JobHandler>>> {
        Ok(vec![Arc::new(delivery::Deliver::new(settings)?)])
    }

    fn migrations(&self) -> Vec<Box<dyn Migration>> {
        migrations::all()
    }

    fn settings(&self) -> Option<Box<dyn AnySection>> {
        Some(Box::new(WebhookSettings::default()))
    }

    fn actions(&self) -> &'static [Action] {
        &[actions::MANAGE_WEBHOOKS]
    }

    fn consumers(&self, settings: &Settings) -> Vec<Arc<dyn Consumer>> {
        vec![Arc::new(service::FanOut::new(settings))]
    }

    fn sealed_columns(&self) -> &'static [SealedColumn] {
        crate::store::SEALED
    }
}
