//! The mail pages: emails (send one, where each stands), sending domains (the records to publish and what DNS said), mailboxes (health and today's allowance, test, pause), templates (an editor with a live preview for a real contact) and the
//! suppression list (add, import a CSV, export, take off). The pages drive the mail API
//! from the browser with the session.

use axum::{
    Router,
    extract::{Query, State},
    response::Html,
    routing::get,
};
use minijinja::context;
use serde::Deserialize;

use crate::{
    actions::{
        MANAGE_DOMAINS, MANAGE_MAILBOXES, MANAGE_SUPPRESSIONS, SEND_EMAILS, WRITE_TEMPLATES,
    },
    domains, emails, mailboxes,
    platform::{
        auth::Principal,
        state::AppState,
        web::{PageError, page, to_value},
    },
    suppressions::{self, store::Filter},
    templates,
};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/app/mailboxes", get(mailboxes_page))
        .route("/app/emails", get(emails_page))
        .route("/app/domains", get(domains_page))
        .route("/app/templates", get(templates_page))
        .route("/app/suppressions", get(suppressions_page))
}

/// How many entries a page shows; the rest are a search or an export away.
const SHOWN: u64 = 200;

async fn mailboxes_page(
    State(state): State<AppState>,
    principal: Principal,
) -> Result<Html<String>, PageError> {
    let all = mailboxes::service::list(&state.store, &principal, None, None, SHOWN).await?;
    Ok(page(
        &state,
        &principal,
        "mail/mailboxes.html",
        "mailboxes",
        context! {
            mailboxes => to_value(&all),
            can_manage => principal.role.allows(MANAGE_MAILBOXES),
        },
    )
    .await?)
}

async fn emails_page(
    State(state): State<AppState>,
    principal: Principal,
) -> Result<Html<String>, PageError> {
    let all = emails::service::list(&state.store, &principal, None, None, None, SHOWN).await?;
    let boxes = mailboxes::service::list(&state.store, &principal, None, None, SHOWN).await?;
    let templates = templates::service::list(&state.store, &principal, None, None, SHOWN).await?;
    Ok(page(
        &state,
        &principal,
        "mail/emails.html",
        "emails",
        context! {
            emails => to_value(&all),
            mailboxes => to_value(&boxes),
            templates => to_value(&templates),
            can_send => principal.role.allows(SEND_EMAILS),
        },
    )
    .await?)
}

async fn domains_page(
    State(state): State<AppState>,
    principal: Principal,
) -> Result<Html<String>, PageError> {
    let all = domains::service::list(&state.store, &principal, None, SHOWN).await?;
    let boxes = mailboxes::service::list(&state.store, &principal, None, None, SHOWN).await?;
    let mut unconfigured: Vec<String> = boxes
        .iter()
        .filter_map(|m| m.from_address.rsplit_once('@').map(|(_, d)| d.to_owned()))
        .filter(|d| !all.iter().any(|s| s.domain == *d))
        .collect();
    unconfigured.sort_unstable();
    unconfigured.dedup();
    Ok(page(
        &state,
        &principal,
        "mail/domains.html",
        "domains",
        context! {
            domains => to_value(&all),
            unconfigured => unconfigured,
            can_manage => principal.role.allows(MANAGE_DOMAINS),
        },
    )
    .await?)
}

async fn templates_page(
    State(state): State<AppState>,
    principal: Principal,
) -> Result<Html<String>, PageError> {
    let all = templates::service::list(&state.store, &principal, None, None, SHOWN).await?;
    Ok(page(
        &state,
        &principal,
        "mail/templates.html",
        "templates",
        context! {
            templates => to_value(&all),
            can_write => principal.role.allows(WRITE_TEMPLATES),
        },
    )
    .await?)
}

#[derive(Debug, Default, Deserialize)]
struct SuppressionSearch {
    q: Option<String>,
}

async fn suppressions_page(
    State(state): State<AppState>,
    principal: Principal,
    Query(search): Query<SuppressionSearch>,
) -> Result<Html<String>, PageError> {
    let q = search
        .q
        .map(|q| q.trim().to_lowercase())
        .filter(|q| !q.is_empty() && q.len() <= 200 && !q.contains('\0'));
    let filter = Filter {
        contains: q.as_deref(),
        ..Filter::default()
    };
    let mut rows = suppressions::service::list(&state.store, &principal, &filter, SHOWN).await?;
    let more = rows.len() > usize::try_from(SHOWN).unwrap_or(usize::MAX);
    rows.truncate(usize::try_from(SHOWN).unwrap_or(usize::MAX));
    Ok(page(
        &state,
        &principal,
        "mail/suppressions.html",
        "suppressions",
        context! {
            entries => to_value(&rows),
            more => more,
            q => q.unwrap_or_default(),
            can_manage => principal.role.allows(MANAGE_SUPPRESSIONS),
        },
    )
    .await?)
}
