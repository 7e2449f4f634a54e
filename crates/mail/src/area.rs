//! What mail brings to SalesOS, declared once.

use salesos_platform::{
    area::Area, auth::Action, runtime::topics::Topic, settings::Settings, state::AppState,
    store::migrations::Migration,
};
use utoipa_axum::router::OpenApiRouter;

use crate::{actions, migrations, suppressions, templates, topics};

pub struct Mail;

impl Area for Mail {
    fn name(&self) -> &'static str {
        "mail"
    }

    fn api_tags(&self) -> &'static [(&'static str, &'static str)] {
        &[
            (
                "suppressions",
                "Addresses and domains never to be mailed, with why",
            ),
            (
                "templates",
                "Email templates: subject, HTML and text with variables and spintax",
            ),
        ]
    }

    fn api(&self, _settings: &Settings) -> OpenApiRouter<AppState> {
        suppressions::api::router().merge(templates::api::router())
    }

    fn migrations(&self) -> Vec<Box<dyn Migration>> {
        migrations::all()
    }

    fn actions(&self) -> &'static [Action] {
        &[actions::MANAGE_SUPPRESSIONS, actions::WRITE_TEMPLATES]
    }

    fn topics(&self) -> &'static [Topic] {
        &[
            topics::SUPPRESSION_ADDED,
            topics::SUPPRESSION_REMOVED,
            topics::TEMPLATE_CREATED,
            topics::TEMPLATE_UPDATED,
            topics::TEMPLATE_DELETED,
        ]
    }
}
