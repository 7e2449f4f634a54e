//! `/api/v1/emails` routes.

use axum::{Json, extract::State, http::StatusCode};
use serde::Deserialize;
use utoipa::IntoParams;
use utoipa_axum::{router::OpenApiRouter, routes};
use uuid::Uuid;

use super::{Email, EmailDetail, EmailStatus, SendRequest, Tracking, service};
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
        .routes(routes!(send))
        .routes(routes!(list))
        .routes(routes!(get))
        .routes(routes!(tracking))
        .merge(super::profile::router())
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
    pub contact_id: Option<Uuid>,
    pub status: Option<EmailStatus>,
}

/// Send one email to a contact from a mailbox: a saved template, or a subject and HTML.
/// It is rendered now (an unknown variable or contact is refused here, by name) and its
/// send queued for `scheduled_for`; at send time it is checked again (suppression list,
/// do not contact, the mailbox's caps and warm-up, the domain gate), signed with the
/// sender's domain keys and handed over once.
#[utoipa::path(post, path = "/api/v1/emails/send", tag = "emails", request_body = SendRequest,
    params(("Idempotency-Key" = Option<String>, Header, description = "Repeat-safe POST")),
    responses((status = 201, body = Email), (status = 422, body = Problem)), security(("api_key" = [])))]
async fn send(
    State(state): State<AppState>,
    principal: Principal,
    ApiJson(input): ApiJson<SendRequest>,
) -> Result<(StatusCode, Json<Email>), Error> {
    Ok((
        StatusCode::CREATED,
        Json(service::request(&state.store, &state.settings, &principal, input).await?),
    ))
}

/// The workspace's emails, newest first.
#[utoipa::path(get, path = "/api/v1/emails", tag = "emails", params(ListQuery),
    responses((status = 200, body = Page<Email>)), security(("api_key" = [])))]
async fn list(
    State(state): State<AppState>,
    principal: Principal,
    ApiQuery(q): ApiQuery<ListQuery>,
) -> Result<Json<Page<Email>>, Error> {
    let limit = page_size(q.limit)?;
    let before = match &q.cursor {
        Some(raw) => Some(Cursor::decode(raw, SORT)?.id),
        None => None,
    };
    let rows = service::list(
        &state.store,
        &principal,
        q.contact_id,
        q.status,
        before,
        limit,
    )
    .await?;
    Ok(Json(paginate(rows, limit, |e| Cursor {
        sort: SORT.into(),
        key: serde_json::json!(e.created_at),
        id: e.id,
    })))
}

/// One email: where it stands, the server's answer, and what it says.
#[utoipa::path(get, path = "/api/v1/emails/{id}", tag = "emails", params(("id" = Uuid, Path)),
    responses((status = 200, body = EmailDetail), (status = 404, body = Problem)), security(("api_key" = [])))]
async fn get(
    State(state): State<AppState>,
    principal: Principal,
    ApiPath(id): ApiPath<Uuid>,
) -> Result<Json<EmailDetail>, Error> {
    Ok(Json(service::get(&state.store, &principal, id).await?))
}

/// What happened after it went: sent, opened and clicked by a person (image proxies and
/// link scanners are told apart, with why), unsubscribed, bounced; and every hit.
#[utoipa::path(get, path = "/api/v1/emails/{id}/tracking", tag = "emails", params(("id" = Uuid, Path)),
    responses((status = 200, body = Tracking), (status = 404, body = Problem)), security(("api_key" = [])))]
async fn tracking(
    State(state): State<AppState>,
    principal: Principal,
    ApiPath(id): ApiPath<Uuid>,
) -> Result<Json<Tracking>, Error> {
    Ok(Json(service::tracking(&state.store, &principal, id).await?))
}
