//! The contract between the platform and a business area. An area (contacts, imports,
//! webhooks, and those to come) implements [`Area`] once and declares there everything
//! it brings; the application wiring holds the list of areas and hands it to the
//! platform, which mounts, registers and migrates what each one declares. The platform
//! knows this trait, never an area.

use std::sync::Arc;

use axum::Router;
use utoipa_axum::router::OpenApiRouter;

use crate::{
    auth::{Action, Role},
    runtime::{
        consumer::Consumer,
        cron::Schedule,
        topics::{Topic, Topics},
        worker::JobHandler,
    },
    secrets::SealedColumn,
    settings::{AnySection, Settings},
    state::AppState,
    store::migrations::Migration,
};

/// What an area brings. Every method but [`Area::name`] has an empty default, so an area
/// declares only what it has.
pub trait Area: Send + Sync {
    /// Short, stable and unique: `contacts`, `imports`. Used in logs and errors.
    fn name(&self) -> &'static str;

    /// OpenAPI tags of its routes: `(name, description)`.
    fn api_tags(&self) -> &'static [(&'static str, &'static str)] {
        &[]
    }

    /// Its API routes (full paths, `/api/v1/…`) with their OpenAPI description. They sit
    /// behind authentication, the rate limit and the idempotency layer.
    fn api(&self, _settings: &Settings) -> OpenApiRouter<AppState> {
        OpenApiRouter::new()
    }

    /// Its dashboard pages, behind the session gate.
    fn pages(&self) -> Router<AppState> {
        Router::new()
    }

    /// Routes anyone may reach without logging in (the links in sent mail), limited per
    /// client address like the login page.
    fn public(&self) -> Router<AppState> {
        Router::new()
    }

    /// Its entries in the dashboard's navigation.
    fn nav(&self) -> &'static [NavEntry] {
        &[]
    }

    /// Its templates: `(name, source)`, names unique across areas.
    fn templates(&self) -> &'static [(&'static str, &'static str)] {
        &[]
    }

    /// Files it serves under `/assets/`.
    fn assets(&self) -> &'static [Asset] {
        &[]
    }

    /// The job handlers it runs, one per job kind.
    fn jobs(&self, _settings: &Settings) -> anyhow::Result<Vec<Arc<dyn JobHandler>>> {
        Ok(Vec::new())
    }

    /// Cron schedules it keeps, each enqueueing one of its job kinds.
    fn schedules(&self) -> Vec<Schedule<'static>> {
        Vec::new()
    }

    /// Its migrations, in order. They run after the platform's and after those of the
    /// areas listed before it.
    fn migrations(&self) -> Vec<Box<dyn Migration>> {
        Vec::new()
    }

    /// Its part of the settings, with its defaults: read from `salesos.toml` and
    /// `SALESOS_*` variables with the platform's, then read back with
    /// [`Settings::section`].
    fn settings(&self) -> Option<Box<dyn AnySection>> {
        None
    }

    /// The permissions it defines, and which roles hold them.
    fn actions(&self) -> &'static [Action] {
        &[]
    }

    /// The events it emits: name, description and the type of their `data`.
    fn topics(&self) -> &'static [Topic] {
        &[]
    }

    /// Its event consumers: each runs on every node, handling committed events once.
    fn consumers(&self, _settings: &Settings) -> Vec<Arc<dyn Consumer>> {
        Vec::new()
    }

    /// The columns where it keeps sealed secrets (see [`crate::secrets`]), for the master
    /// key's rotation to reseal.
    fn sealed_columns(&self) -> &'static [SealedColumn] {
        &[]
    }
}

/// A link in the dashboard's navigation.
#[derive(Clone, Copy, Debug)]
pub struct NavEntry {
    /// What the link says.
    pub label: &'static str,
    pub href: &'static str,
    /// The `nav` name its pages render with, which marks the link as current.
    pub key: &'static str,
    /// Position from the left; entries sort by it.
    pub order: u16,
    /// Shown only to roles that may do this; `None`: shown to everyone signed in.
    pub requires: Option<Action>,
}

impl NavEntry {
    pub fn visible_to(&self, role: Role) -> bool {
        self.requires.is_none_or(|a| role.allows(a))
    }
}

/// A file served under `/assets/{name}`, cached for a day.
#[derive(Clone, Copy, Debug)]
pub struct Asset {
    pub name: &'static str,
    pub content_type: &'static str,
    pub bytes: &'static [u8],
}

/// The areas of one build, checked to fit together: names and actions each declared once
/// (templates and assets are checked as the dashboard is built, job kinds as the worker
/// registry is).
pub struct Areas(Vec<Box<dyn Area>>);

impl Areas {
    pub fn new(areas: Vec<Box<dyn Area>>) -> anyhow::Result<Self> {
        let mut names = std::collections::HashSet::new();
        let mut actions = std::collections::HashSet::new();
        for area in &areas {
            anyhow::ensure!(
                names.insert(area.name()),
                "two areas are named {}",
                area.name()
            );
            for action in area.actions() {
                anyhow::ensure!(
                    actions.insert(action.name),
                    "action {} is declared twice (again by {})",
                    action.name,
                    area.name()
                );
            }
        }
        Ok(Self(areas))
    }

    pub fn iter(&self) -> impl Iterator<Item = &dyn Area> {
        self.0.iter().map(|a| a.as_ref())
    }

    /// Every migration, in the order they apply.
    pub fn migrations(&self) -> Vec<Box<dyn Migration>> {
        self.iter().flat_map(|a| a.migrations()).collect()
    }

    /// The navigation, in order.
    pub fn nav(&self) -> Vec<NavEntry> {
        let mut nav: Vec<NavEntry> = self.iter().flat_map(|a| a.nav().iter().copied()).collect();
        nav.sort_by_key(|e| e.order);
        nav
    }

    /// Every consumer of every area, checked to have distinct names.
    pub fn consumers(&self, settings: &Settings) -> anyhow::Result<Vec<Arc<dyn Consumer>>> {
        let all: Vec<Arc<dyn Consumer>> = self.iter().flat_map(|a| a.consumers(settings)).collect();
        let mut names = std::collections::HashSet::new();
        for c in &all {
            anyhow::ensure!(
                names.insert(c.name()),
                "two event consumers are named {}",
                c.name()
            );
        }
        Ok(all)
    }

    /// Every column of sealed secrets of every area.
    pub fn sealed_columns(&self) -> Vec<SealedColumn> {
        self.iter()
            .flat_map(|a| a.sealed_columns().iter().copied())
            .collect()
    }

    /// Every topic any area emits.
    pub fn topics(&self) -> anyhow::Result<Topics> {
        Topics::new(
            self.iter()
                .flat_map(|a| a.topics().iter().copied())
                .collect(),
        )
    }

    /// Every area's settings section, with its defaults, for [`Settings::load`].
    pub fn sections(&self) -> Vec<Box<dyn AnySection>> {
        self.iter().filter_map(|a| a.settings()).collect()
    }

    /// Every action any area defines.
    pub fn actions(&self) -> Vec<Action> {
        self.iter()
            .flat_map(|a| a.actions().iter().copied())
            .collect()
    }
}
