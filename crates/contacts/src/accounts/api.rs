//! `/api/v1/accounts` routes. The account's contacts are listed by the contacts area.

use axum::{Json, extract::State, http::StatusCode};
use utoipa_axum::{router::OpenApiRouter, routes};
use uuid::Uuid;

use super::{
    model::AccountInput,
    service::{self, Account, AccountQuery},
};
use crate::{
    activities::{Activity, NewActivity, TimelineQuery},
    platform::{
        auth::Principal,
        error::Error,
        http::{
            extract::{ApiJson, ApiPath, ApiQuery},
            pagination::Page,
            problem::Problem,
        },
        state::AppState,
    },
};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list, create))
        .routes(routes!(get, update, delete))
        .routes(routes!(timeline, log_activity))
}

/// List accounts, newest first unless `sort` says otherwise.
#[utoipa::path(
    get, path = "/api/v1/accounts", tag = "accounts", params(AccountQuery),
    responses(
        (status = 200, body = Page<Account>),
        (status = 422, description = "A filter is invalid", body = Problem),
    ),
    security(("api_key" = []))
)]
async fn list(
    State(state): State<AppState>,
    principal: Principal,
    ApiQuery(q): ApiQuery<AccountQuery>,
) -> Result<Json<Page<Account>>, Error> {
    Ok(Json(service::list(&state.store, &principal, q).await?))
}

/// Create an account. It needs a name; its domain is unique in the workspace.
#[utoipa::path(
    post, path = "/api/v1/accounts", tag = "accounts", request_body = AccountInput,
    params(("Idempotency-Key" = Option<String>, Header, description = "Repeat-safe POST")),
    responses(
        (status = 201, body = Account),
        (status = 400, description = "Malformed JSON", body = Problem),
        (status = 409, description = "Domain already used", body = Problem),
        (status = 422, description = "Invalid field", body = Problem),
    ),
    security(("api_key" = []))
)]
async fn create(
    State(state): State<AppState>,
    principal: Principal,
    ApiJson(input): ApiJson<AccountInput>,
) -> Result<(StatusCode, Json<Account>), Error> {
    Ok((
        StatusCode::CREATED,
        Json(service::create(&state.store, &principal, input).await?),
    ))
}

#[utoipa::path(
    get, path = "/api/v1/accounts/{id}", tag = "accounts",
    params(("id" = Uuid, Path)),
    responses((status = 200, body = Account), (status = 404, body = Problem)),
    security(("api_key" = []))
)]
async fn get(
    State(state): State<AppState>,
    principal: Principal,
    ApiPath(id): ApiPath<Uuid>,
) -> Result<Json<Account>, Error> {
    Ok(Json(service::get(&state.store, &principal, id).await?))
}

/// Change fields of an account: fields left out stay, `null` clears.
#[utoipa::path(
    patch, path = "/api/v1/accounts/{id}", tag = "accounts", request_body = AccountInput,
    params(("id" = Uuid, Path)),
    responses(
        (status = 200, body = Account),
        (status = 404, body = Problem),
        (status = 409, description = "Domain already used", body = Problem),
        (status = 422, body = Problem),
    ),
    security(("api_key" = []))
)]
async fn update(
    State(state): State<AppState>,
    principal: Principal,
    ApiPath(id): ApiPath<Uuid>,
    ApiJson(input): ApiJson<AccountInput>,
) -> Result<Json<Account>, Error> {
    Ok(Json(
        service::update(&state.store, &principal, id, input).await?,
    ))
}

#[utoipa::path(
    delete, path = "/api/v1/accounts/{id}", tag = "accounts",
    params(("id" = Uuid, Path)),
    responses((status = 204, description = "Deleted"), (status = 404, body = Problem)),
    security(("api_key" = []))
)]
async fn delete(
    State(state): State<AppState>,
    principal: Principal,
    ApiPath(id): ApiPath<Uuid>,
) -> Result<StatusCode, Error> {
    service::delete(&state.store, &principal, id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The account's timeline, newest first.
#[utoipa::path(
    get, path = "/api/v1/accounts/{id}/activities", tag = "accounts",
    params(("id" = Uuid, Path), TimelineQuery),
    responses((status = 200, body = Page<Activity>), (status = 404, body = Problem)),
    security(("api_key" = []))
)]
async fn timeline(
    State(state): State<AppState>,
    principal: Principal,
    ApiPath(id): ApiPath<Uuid>,
    ApiQuery(q): ApiQuery<TimelineQuery>,
) -> Result<Json<Page<Activity>>, Error> {
    Ok(Json(
        service::timeline(&state.store, &principal, id, q).await?,
    ))
}

/// Log a note, call, email, meeting or task on the account's timeline.
#[utoipa::path(
    post, path = "/api/v1/accounts/{id}/activities", tag = "accounts", request_body = NewActivity,
    params(("id" = Uuid, Path), ("Idempotency-Key" = Option<String>, Header, description = "Repeat-safe POST")),
    responses((status = 201, body = Activity), (status = 404, body = Problem), (status = 422, body = Problem)),
    security(("api_key" = []))
)]
async fn log_activity(
    State(state): State<AppState>,
    principal: Principal,
    ApiPath(id): ApiPath<Uuid>,
    ApiJson(input): ApiJson<NewActivity>,
) -> Result<(StatusCode, Json<Activity>), Error> {
    Ok((
        StatusCode::CREATED,
        Json(service::log_activity(&state.store, &principal, id, input).await?),
    ))
}
