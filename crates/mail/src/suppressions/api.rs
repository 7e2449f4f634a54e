//! `/api/v1/suppressions` routes.

use axum::{Json, extract::State, http::StatusCode};
use serde::Deserialize;
use utoipa::IntoParams;
use utoipa_axum::{router::OpenApiRouter, routes};
use uuid::Uuid;

use super::{
    Kind, NewSuppression, Reason, Suppression,
    service::{self, Verdict},
    store::Filter,
};
use crate::platform::{
    auth::Principal,
    error::Error,
    http::{
        extract::{ApiJson, ApiPath, ApiQuery},
        pagination::{Cursor, Page, page_size, paginate},
        problem::Problem,
    },
    state::AppState,
    store::query::search_text,
};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list, create))
        .routes(routes!(check))
        .routes(routes!(get, delete))
}

const SORT: &str = "-created_at";

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    /// Page size, 1 to 500 (default 50).
    #[param(minimum = 1, maximum = 500)]
    pub limit: Option<u64>,
    pub cursor: Option<String>,
    #[param(inline)]
    pub kind: Option<Kind>,
    #[param(inline)]
    pub reason: Option<Reason>,
    /// Part of the address or domain.
    pub q: Option<String>,
}

/// The suppression list, newest first.
#[utoipa::path(get, path = "/api/v1/suppressions", tag = "suppressions", params(ListQuery),
    responses((status = 200, body = Page<Suppression>)), security(("api_key" = [])))]
async fn list(
    State(state): State<AppState>,
    principal: Principal,
    ApiQuery(q): ApiQuery<ListQuery>,
) -> Result<Json<Page<Suppression>>, Error> {
    let limit = page_size(q.limit)?;
    let before = match &q.cursor {
        Some(raw) => Some(Cursor::decode(raw, SORT)?.id),
        None => None,
    };
    let text = search_text("q", q.q)?.map(|t| t.trim().to_lowercase());
    let filter = Filter {
        kind: q.kind,
        reason: q.reason,
        contains: text.as_deref(),
        before,
    };
    let rows = service::list(&state.store, &principal, &filter, limit).await?;
    Ok(Json(paginate(rows, limit, |s| Cursor {
        sort: SORT.into(),
        key: serde_json::json!(s.created_at),
        id: s.id,
    })))
}

/// Put an address or a whole domain on the list: nothing is sent to it from then on.
#[utoipa::path(post, path = "/api/v1/suppressions", tag = "suppressions", request_body = NewSuppression,
    params(("Idempotency-Key" = Option<String>, Header, description = "Repeat-safe POST")),
    responses((status = 201, body = Suppression), (status = 409, body = Problem, description = "On the list already"),
        (status = 422, body = Problem)), security(("api_key" = [])))]
async fn create(
    State(state): State<AppState>,
    principal: Principal,
    ApiJson(input): ApiJson<NewSuppression>,
) -> Result<(StatusCode, Json<Suppression>), Error> {
    Ok((
        StatusCode::CREATED,
        Json(service::add(&state.store, &principal, input).await?),
    ))
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct CheckQuery {
    /// The address to check.
    pub email: String,
}

/// May this address be mailed? The answer names every entry that forbids it.
#[utoipa::path(get, path = "/api/v1/suppressions/check", tag = "suppressions", params(CheckQuery),
    responses((status = 200, body = Verdict), (status = 422, body = Problem)), security(("api_key" = [])))]
async fn check(
    State(state): State<AppState>,
    principal: Principal,
    ApiQuery(q): ApiQuery<CheckQuery>,
) -> Result<Json<Verdict>, Error> {
    Ok(Json(
        service::check(&state.store, &principal, &q.email).await?,
    ))
}

#[utoipa::path(get, path = "/api/v1/suppressions/{id}", tag = "suppressions", params(("id" = Uuid, Path)),
    responses((status = 200, body = Suppression), (status = 404, body = Problem)), security(("api_key" = [])))]
async fn get(
    State(state): State<AppState>,
    principal: Principal,
    ApiPath(id): ApiPath<Uuid>,
) -> Result<Json<Suppression>, Error> {
    Ok(Json(service::get(&state.store, &principal, id).await?))
}

/// Take an entry off the list: mail may reach that address or domain again.
#[utoipa::path(delete, path = "/api/v1/suppressions/{id}", tag = "suppressions", params(("id" = Uuid, Path)),
    responses((status = 204, description = "Taken off the list"), (status = 404, body = Problem)), security(("api_key" = [])))]
async fn delete(
    State(state): State<AppState>,
    principal: Principal,
    ApiPath(id): ApiPath<Uuid>,
) -> Result<StatusCode, Error> {
    service::remove(&state.store, &principal, id).await?;
    Ok(StatusCode::NO_CONTENT)
}
