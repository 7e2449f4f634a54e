//! `/api/v1/domains` routes.

use axum::{Json, extract::State, http::StatusCode};
use serde::Deserialize;
use utoipa::IntoParams;
use utoipa_axum::{router::OpenApiRouter, routes};
use uuid::Uuid;

use super::{Domain, NewDomain, service};
use crate::platform::{
    auth::Principal,
    error::Error,
    http::{
        extract::{ApiJson, ApiPath, ApiQuery},
        pagination::{Cursor, Page, page_size, paginate},
        problem::Problem,
    },
    state::AppState,
};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list, create))
        .routes(routes!(get, delete))
        .routes(routes!(verify))
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
}

/// The workspace's sending domains, newest first, each with its records and whether the
/// bulk gate lets its mail through.
#[utoipa::path(get, path = "/api/v1/domains", tag = "domains", params(ListQuery),
    responses((status = 200, body = Page<Domain>)), security(("api_key" = [])))]
async fn list(
    State(state): State<AppState>,
    principal: Principal,
    ApiQuery(q): ApiQuery<ListQuery>,
) -> Result<Json<Page<Domain>>, Error> {
    let limit = page_size(q.limit)?;
    let before = match &q.cursor {
        Some(raw) => Some(Cursor::decode(raw, SORT)?.id),
        None => None,
    };
    let rows = service::list(&state.store, &principal, before, limit).await?;
    Ok(Json(paginate(rows, limit, |d| Cursor {
        sort: SORT.into(),
        key: serde_json::json!(d.created_at),
        id: d.id,
    })))
}

/// Add a domain to send from. SalesOS makes its DKIM key (RSA-2048, and Ed25519 when
/// asked), seals the private half, and answers with the DNS records to publish; then
/// `POST /domains/{id}/verify` checks them.
#[utoipa::path(post, path = "/api/v1/domains", tag = "domains", request_body = NewDomain,
    params(("Idempotency-Key" = Option<String>, Header, description = "Repeat-safe POST")),
    responses((status = 201, body = Domain), (status = 409, body = Problem, description = "The domain is added already"),
        (status = 422, body = Problem)), security(("api_key" = [])))]
async fn create(
    State(state): State<AppState>,
    principal: Principal,
    ApiJson(input): ApiJson<NewDomain>,
) -> Result<(StatusCode, Json<Domain>), Error> {
    Ok((
        StatusCode::CREATED,
        Json(service::create(&state.store, &principal, input).await?),
    ))
}

#[utoipa::path(get, path = "/api/v1/domains/{id}", tag = "domains", params(("id" = Uuid, Path)),
    responses((status = 200, body = Domain), (status = 404, body = Problem)), security(("api_key" = [])))]
async fn get(
    State(state): State<AppState>,
    principal: Principal,
    ApiPath(id): ApiPath<Uuid>,
) -> Result<Json<Domain>, Error> {
    Ok(Json(service::get(&state.store, &principal, id).await?))
}

/// Delete a sending domain and its keys. Mail from its addresses is no longer signed.
#[utoipa::path(delete, path = "/api/v1/domains/{id}", tag = "domains", params(("id" = Uuid, Path)),
    responses((status = 204, description = "Deleted"), (status = 404, body = Problem)), security(("api_key" = [])))]
async fn delete(
    State(state): State<AppState>,
    principal: Principal,
    ApiPath(id): ApiPath<Uuid>,
) -> Result<StatusCode, Error> {
    service::delete(&state.store, &principal, id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Look up the domain's DKIM key, SPF, DMARC and MX records now and record what each
/// said and when. A record that is missing or wrong answers 200 with its `status: fail`
/// and a `detail` naming what was found; a lookup that failed is `error`.
#[utoipa::path(post, path = "/api/v1/domains/{id}/verify", tag = "domains", params(("id" = Uuid, Path)),
    responses((status = 200, body = Domain), (status = 404, body = Problem)), security(("api_key" = [])))]
async fn verify(
    State(state): State<AppState>,
    principal: Principal,
    ApiPath(id): ApiPath<Uuid>,
) -> Result<Json<Domain>, Error> {
    Ok(Json(
        service::verify(&state.store, &state.settings, &principal, id).await?,
    ))
}
