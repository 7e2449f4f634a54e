//! `/api/v1/jobs` (inspect, retry, cancel) and `/api/v1/events` (the workspace's event log
//! for clients that poll and for replay).

use axum::{Json, extract::State};
use chrono::{DateTime, Utc};
use serde::Deserialize;
use utoipa::IntoParams;
use uuid::Uuid;

use super::{
    events::{self, Event},
    jobs::{self, Job, JobState},
};
use crate::{
    auth::Principal,
    error::Error,
    http::{
        extract::{ApiPath, ApiQuery},
        pagination::{Cursor, Page, page_size, paginate},
        problem::Problem,
    },
    state::AppState,
};

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct JobQuery {
    /// Page size, 1 to 500 (default 50).
    #[param(minimum = 1, maximum = 500)]
    pub limit: Option<u64>,
    pub cursor: Option<String>,
    pub kind: Option<String>,
    /// `queued`, `running`, `succeeded`, `dead` or `cancelled`.
    #[param(inline)]
    pub state: Option<JobState>,
}

/// The workspace's jobs, newest first; `state=dead` is the dead-letter list.
#[utoipa::path(
    get, path = "/api/v1/jobs", tag = "jobs", params(JobQuery),
    responses((status = 200, body = Page<Job>), (status = 422, body = Problem)),
    security(("api_key" = []))
)]
pub async fn list(
    State(state): State<AppState>,
    principal: Principal,
    ApiQuery(q): ApiQuery<JobQuery>,
) -> Result<Json<Page<Job>>, Error> {
    principal.require(crate::auth::actions::READ_WORKSPACE)?;
    let limit = page_size(q.limit)?;
    let after = match &q.cursor {
        Some(raw) => {
            let c = Cursor::decode(raw, "-created_at")?;
            let at: DateTime<Utc> = serde_json::from_value(c.key)
                .map_err(|_| Error::invalid("cursor", "is not a cursor this list returned"))?;
            Some((at, c.id))
        }
        None => None,
    };
    let rows = jobs::list(
        state.store.conn(),
        principal.workspace_id,
        q.kind.as_deref(),
        q.state,
        after,
        limit,
    )
    .await?;
    Ok(Json(paginate(rows, limit, |j| Cursor {
        sort: "-created_at".into(),
        key: serde_json::json!(j.created_at),
        id: j.id,
    })))
}

/// One job: state, progress, attempts, last error and result.
#[utoipa::path(
    get, path = "/api/v1/jobs/{id}", tag = "jobs", params(("id" = Uuid, Path)),
    responses((status = 200, body = Job), (status = 404, body = Problem)),
    security(("api_key" = []))
)]
pub async fn get(
    State(state): State<AppState>,
    principal: Principal,
    ApiPath(id): ApiPath<Uuid>,
) -> Result<Json<Job>, Error> {
    principal.require(crate::auth::actions::READ_WORKSPACE)?;
    Ok(Json(
        jobs::get(state.store.conn(), principal.workspace_id, id)
            .await?
            .ok_or(Error::NotFound("job"))?,
    ))
}

/// Run a dead or cancelled job again, with fresh attempts.
#[utoipa::path(
    post, path = "/api/v1/jobs/{id}/retry", tag = "jobs", params(("id" = Uuid, Path)),
    responses(
        (status = 200, body = Job),
        (status = 404, body = Problem),
        (status = 409, description = "The job is not dead or cancelled, or an equal job is pending", body = Problem),
    ),
    security(("api_key" = []))
)]
pub async fn retry(
    State(state): State<AppState>,
    principal: Principal,
    ApiPath(id): ApiPath<Uuid>,
) -> Result<Json<Job>, Error> {
    principal.require(crate::auth::actions::MANAGE_JOBS)?;
    let txn = state.store.write().await?;
    let job = jobs::get(&txn, principal.workspace_id, id)
        .await?
        .ok_or(Error::NotFound("job"))?;
    let changed = jobs::retry(&txn, principal.workspace_id, id)
        .await
        .map_err(|e| match crate::store::unique_violation(&e) {
            Some(_) => Error::conflict(
                "id",
                "an equal job (same kind and unique key) is already pending",
            ),
            None => Error::Store(e),
        })?;
    if changed == 0 {
        return Err(Error::conflict(
            "state",
            format!(
                "only dead or cancelled jobs can be retried; this one is {}",
                job.state
            ),
        ));
    }
    let job = jobs::get(&txn, principal.workspace_id, id)
        .await?
        .ok_or(Error::NotFound("job"))?;
    txn.commit().await?;
    Ok(Json(job))
}

/// Cancel a queued or running job.
#[utoipa::path(
    post, path = "/api/v1/jobs/{id}/cancel", tag = "jobs", params(("id" = Uuid, Path)),
    responses((status = 200, body = Job), (status = 404, body = Problem), (status = 409, body = Problem)),
    security(("api_key" = []))
)]
pub async fn cancel(
    State(state): State<AppState>,
    principal: Principal,
    ApiPath(id): ApiPath<Uuid>,
) -> Result<Json<Job>, Error> {
    principal.require(crate::auth::actions::MANAGE_JOBS)?;
    let txn = state.store.write().await?;
    let job = jobs::get(&txn, principal.workspace_id, id)
        .await?
        .ok_or(Error::NotFound("job"))?;
    if jobs::cancel(&txn, principal.workspace_id, id).await? == 0 {
        return Err(Error::conflict(
            "state",
            format!(
                "only queued or running jobs can be cancelled; this one is {}",
                job.state
            ),
        ));
    }
    let job = jobs::get(&txn, principal.workspace_id, id)
        .await?
        .ok_or(Error::NotFound("job"))?;
    txn.commit().await?;
    Ok(Json(job))
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct EventQuery {
    /// Events after this position (`seq`); 0 or absent for the beginning.
    pub after: Option<i64>,
    /// Topic pattern: `contact.created`, `contact.*`, `*`.
    #[serde(rename = "type")]
    #[param(rename = "type")]
    pub event_type: Option<String>,
    /// Page size, 1 to 500 (default 50).
    #[param(minimum = 1, maximum = 500)]
    pub limit: Option<u64>,
    /// `next_cursor` of the previous page (same as `after`).
    pub cursor: Option<String>,
}

/// The workspace's event log in order, for polling clients and replay.
#[utoipa::path(
    get, path = "/api/v1/events", tag = "events", params(EventQuery),
    responses((status = 200, body = Page<Event>), (status = 422, body = Problem)),
    security(("api_key" = []))
)]
pub async fn list_events(
    State(state): State<AppState>,
    principal: Principal,
    ApiQuery(q): ApiQuery<EventQuery>,
) -> Result<Json<Page<Event>>, Error> {
    principal.require(crate::auth::actions::READ_WORKSPACE)?;
    let limit = page_size(q.limit)?;
    let after = match (&q.cursor, q.after) {
        (Some(c), _) => c
            .parse::<i64>()
            .map_err(|_| Error::invalid("cursor", "is not a cursor this list returned"))?,
        (None, Some(a)) if a >= 0 => a,
        (None, Some(_)) => return Err(Error::invalid("after", "must be 0 or more")),
        (None, None) => 0,
    };
    if let Some(p) = &q.event_type
        && !events::valid_pattern(p)
    {
        return Err(Error::invalid(
            "type",
            "must be a topic like `contact.created`, `contact.*` or `*`",
        ));
    }
    let rows = events::list(
        state.store.conn(),
        principal.workspace_id,
        after,
        q.event_type.as_deref(),
        limit,
    )
    .await?;
    let next_cursor = (rows.len() as u64 == limit)
        .then(|| rows.last().map(|e| e.seq.to_string()))
        .flatten();
    Ok(Json(Page {
        data: rows,
        next_cursor,
    }))
}
