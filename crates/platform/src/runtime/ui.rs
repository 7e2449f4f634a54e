//! The jobs page: the workspace's jobs by state, with the dead-letter list and replay.

use axum::{
    Router,
    extract::{Path, Query, State},
    response::{Html, Redirect},
    routing::{get, post},
};
use minijinja::context;
use serde::Deserialize;
use uuid::Uuid;

use super::jobs::{self, JobState};
use crate::{
    auth::Principal,
    error::Error,
    state::AppState,
    web::{PageError, page, to_value},
};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/app/jobs", get(list_page))
        .route("/app/jobs/{id}/retry", post(retry))
        .route("/app/jobs/{id}/cancel", post(cancel))
}

#[derive(Deserialize)]
struct Params {
    state: Option<String>,
}

async fn list_page(
    State(state): State<AppState>,
    principal: Principal,
    Query(p): Query<Params>,
) -> Result<Html<String>, PageError> {
    principal.require(crate::auth::actions::READ_WORKSPACE)?;
    let filter = match p.state.as_deref().filter(|s| !s.is_empty()) {
        Some(s) => Some(
            s.parse::<JobState>()
                .map_err(|e| Error::invalid("state", e))?,
        ),
        None => None,
    };
    let rows = jobs::list(
        state.store.conn(),
        principal.workspace_id,
        None,
        filter,
        None,
        200,
    )
    .await?;
    Ok(page(
        &state,
        &principal,
        "jobs.html",
        "jobs",
        context! {
            jobs => to_value(&rows), state => filter.map(|s| s.as_str()),
            states => JobState::ALL.iter().map(|s| s.as_str()).collect::<Vec<_>>(),
            can_manage => principal.role.allows(crate::auth::actions::MANAGE_JOBS),
        },
    )
    .await?)
}

async fn retry(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<Uuid>,
) -> Result<Redirect, PageError> {
    principal.require(crate::auth::actions::MANAGE_JOBS)?;
    let txn = state.store.write().await?;
    if jobs::retry(&txn, principal.workspace_id, id).await? == 0 {
        return Err(Error::conflict("state", "only dead or cancelled jobs can be replayed").into());
    }
    txn.commit().await?;
    Ok(Redirect::to("/app/jobs?state=queued"))
}

async fn cancel(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<Uuid>,
) -> Result<Redirect, PageError> {
    principal.require(crate::auth::actions::MANAGE_JOBS)?;
    let txn = state.store.write().await?;
    if jobs::cancel(&txn, principal.workspace_id, id).await? == 0 {
        return Err(
            Error::conflict("state", "only queued or running jobs can be cancelled").into(),
        );
    }
    txn.commit().await?;
    Ok(Redirect::to("/app/jobs?state=cancelled"))
}
