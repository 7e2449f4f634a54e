//! `/api/v1/contacts` routes.

use axum::{Json, extract::State, http::StatusCode};
use utoipa_axum::{router::OpenApiRouter, routes};
use uuid::Uuid;

use super::{
    model::ContactInput,
    service::{self, Contact, ContactQuery},
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
        .routes(routes!(of_account))
}

/// The contacts linked to an account.
#[utoipa::path(
    get, path = "/api/v1/accounts/{id}/contacts", tag = "accounts",
    params(("id" = Uuid, Path), ContactQuery),
    responses((status = 200, body = Page<Contact>), (status = 404, body = Problem)),
    security(("api_key" = []))
)]
async fn of_account(
    State(state): State<AppState>,
    principal: Principal,
    ApiPath(id): ApiPath<Uuid>,
    ApiQuery(q): ApiQuery<ContactQuery>,
) -> Result<Json<Page<Contact>>, Error> {
    Ok(Json(
        service::of_account(&state.store, &principal, id, q).await?,
    ))
}

/// List contacts, newest first unless `sort` says otherwise.
#[utoipa::path(
    get, path = "/api/v1/contacts", tag = "contacts", params(ContactQuery),
    responses(
        (status = 200, body = Page<Contact>),
        (status = 422, description = "A filter is invalid", body = Problem),
    ),
    security(("api_key" = []))
)]
async fn list(
    State(state): State<AppState>,
    principal: Principal,
    ApiQuery(q): ApiQuery<ContactQuery>,
) -> Result<Json<Page<Contact>>, Error> {
    Ok(Json(service::list(&state.store, &principal, q).await?))
}

/// Create a contact. It needs an email or a name; the email is unique in the workspace.
#[utoipa::path(
    post, path = "/api/v1/contacts", tag = "contacts", request_body = ContactInput,
    params(("Idempotency-Key" = Option<String>, Header, description = "Repeat-safe POST")),
    responses(
        (status = 201, body = Contact),
        (status = 400, description = "Malformed JSON", body = Problem),
        (status = 409, description = "Email already used", body = Problem),
        (status = 422, description = "Invalid field", body = Problem),
    ),
    security(("api_key" = []))
)]
async fn create(
    State(state): State<AppState>,
    principal: Principal,
    ApiJson(input): ApiJson<ContactInput>,
) -> Result<(StatusCode, Json<Contact>), Error> {
    Ok((
        StatusCode::CREATED,
        Json(service::create(&state.store, &principal, input).await?),
    ))
}

#[utoipa::path(
    get, path = "/api/v1/contacts/{id}", tag = "contacts",
    params(("id" = Uuid, Path)),
    responses((status = 200, body = Contact), (status = 404, body = Problem)),
    security(("api_key" = []))
)]
async fn get(
    State(state): State<AppState>,
    principal: Principal,
    ApiPath(id): ApiPath<Uuid>,
) -> Result<Json<Contact>, Error> {
    Ok(Json(service::get(&state.store, &principal, id).await?))
}

/// Change fields of a contact: fields left out stay, `null` clears.
#[utoipa::path(
    patch, path = "/api/v1/contacts/{id}", tag = "contacts", request_body = ContactInput,
    params(("id" = Uuid, Path)),
    responses(
        (status = 200, body = Contact),
        (status = 404, body = Problem),
        (status = 409, description = "Email already used", body = Problem),
        (status = 422, body = Problem),
    ),
    security(("api_key" = []))
)]
async fn update(
    State(state): State<AppState>,
    principal: Principal,
    ApiPath(id): ApiPath<Uuid>,
    ApiJson(input): ApiJson<ContactInput>,
) -> Result<Json<Contact>, Error> {
    Ok(Json(
        service::update(&state.store, &principal, id, input).await?,
    ))
}

#[utoipa::path(
    delete, path = "/api/v1/contacts/{id}", tag = "contacts",
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

/// The contact's timeline, newest first.
#[utoipa::path(
    get, path = "/api/v1/contacts/{id}/activities", tag = "contacts",
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

/// Log a note, call, email, meeting or task on the contact's timeline.
#[utoipa::path(
    post, path = "/api/v1/contacts/{id}/activities", tag = "contacts", request_body = NewActivity,
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
