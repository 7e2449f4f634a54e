//! The platform's own area: API keys, the audit log, jobs and the event log, their pages,
//! the job kinds the runtime itself runs, and the tables every area builds on. It is
//! declared through [`Area`] like any business area, and comes first in the list.

use std::sync::Arc;

use axum::{
    Router,
    routing::{get, post},
};
use utoipa_axum::{router::OpenApiRouter, routes};

use crate::{
    area::{Area, NavEntry},
    audit,
    auth::{Action, actions, api as keys_api},
    runtime::{
        Noop, api as runtime_api,
        cron::Schedule,
        maintenance,
        topics::{self, Topic},
        ui as jobs_ui,
        worker::JobHandler,
    },
    settings::Settings,
    state::AppState,
    store::migrations::{self, Migration},
    web::pages,
};

pub struct System;

impl Area for System {
    fn name(&self) -> &'static str {
        "system"
    }

    fn api_tags(&self) -> &'static [(&'static str, &'static str)] {
        &[
            ("api-keys", "Keys for API clients (admins)"),
            ("audit", "Who changed what (admins)"),
            ("jobs", "Background jobs and the dead-letter list"),
            ("events", "The workspace's event log"),
        ]
    }

    fn api(&self, _settings: &Settings) -> OpenApiRouter<AppState> {
        OpenApiRouter::new()
            .routes(routes!(keys_api::list, keys_api::create))
            .routes(routes!(keys_api::revoke))
            .routes(routes!(audit::list))
            .routes(routes!(runtime_api::list))
            .routes(routes!(runtime_api::get))
            .routes(routes!(runtime_api::retry))
            .routes(routes!(runtime_api::cancel))
            .routes(routes!(runtime_api::list_events))
    }

    fn pages(&self) -> Router<AppState> {
        jobs_ui::router()
            .route("/app", get(pages::home))
            .route(
                "/app/settings/api-keys",
                get(pages::api_keys_page).post(pages::api_keys_create),
            )
            .route(
                "/app/settings/api-keys/{id}/revoke",
                post(pages::api_keys_revoke),
            )
            .route("/logout", post(pages::logout))
    }

    fn nav(&self) -> &'static [NavEntry] {
        &[
            NavEntry {
                label: "Jobs",
                href: "/app/jobs",
                key: "jobs",
                order: 800,
                requires: None,
            },
            NavEntry {
                label: "API keys",
                href: "/app/settings/api-keys",
                key: "api-keys",
                order: 900,
                requires: Some(actions::MANAGE_API_KEYS),
            },
            NavEntry {
                label: "API docs",
                href: "/api/v1/docs",
                key: "api-docs",
                order: 950,
                requires: None,
            },
        ]
    }

    fn templates(&self) -> &'static [(&'static str, &'static str)] {
        &[
            ("api_keys.html", include_str!("../templates/api_keys.html")),
            ("jobs.html", include_str!("../templates/jobs.html")),
        ]
    }

    fn jobs(&self, _settings: &Settings) -> anyhow::Result<Vec<Arc<dyn JobHandler>>> {
        Ok(vec![Arc::new(Noop), Arc::new(maintenance::Cleanup)])
    }

    fn schedules(&self) -> Vec<Schedule<'static>> {
        vec![Schedule {
            key: "system:maintenance.cleanup",
            workspace_id: None,
            expression: maintenance::SCHEDULE,
            timezone: "UTC",
            job_kind: maintenance::KIND,
            payload: serde_json::json!({}),
        }]
    }

    fn migrations(&self) -> Vec<Box<dyn Migration>> {
        migrations::platform()
    }

    fn topics(&self) -> &'static [Topic] {
        &[
            topics::JOB_COMPLETED,
            topics::JOB_FAILED,
            topics::JOB_PROGRESS,
        ]
    }

    fn actions(&self) -> &'static [Action] {
        actions::ALL
    }
}
