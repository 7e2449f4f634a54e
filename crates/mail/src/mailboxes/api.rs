//! `/api/v1/mailboxes` routes.

use axum::{Json, extract::State, http::StatusCode};
use serde::Deserialize;
use utoipa::IntoParams;
use utoipa_axum::{router::OpenApiRouter, routes};
use uuid::Uuid;

use super::{
    Mailbox, MailboxPatch, NewMailbox, Status,
    service::{self, MailboxTest},
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
};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list, create))
        .routes(routes!(get, update, delete))
        .routes(routes!(test))
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
    pub status: Option<Status>,
}

/// The workspace's mailboxes, newest first, with health and today's allowance.
#[utoipa::path(get, path = "/api/v1/mailboxes", tag = "mailboxes", params(ListQuery),
    responses((status = 200, body = Page<Mailbox>)), security(("api_key" = [])))]
async fn list(
    State(state): State<AppState>,
    principal: Principal,
    ApiQuery(q): ApiQuery<ListQuery>,
) -> Result<Json<Page<Mailbox>>, Error> {
    let limit = page_size(q.limit)?;
    let before = match &q.cursor {
        Some(raw) => Some(Cursor::decode(raw, SORT)?.id),
        None => None,
    };
    let rows = service::list(&state.store, &principal, q.status, before, limit).await?;
    Ok(Json(paginate(rows, limit, |m| Cursor {
        sort: SORT.into(),
        key: serde_json::json!(m.created_at),
        id: m.id,
    })))
}

/// Connect a mailbox. Without a transport it sends to the built-in outbox in the data
/// directory; with `smtp` its password or token is sealed at rest and never shown again.
/// Unencrypted SMTP is refused except to a server on this machine.
#[utoipa::path(post, path = "/api/v1/mailboxes", tag = "mailboxes", request_body = NewMailbox,
    params(("Idempotency-Key" = Option<String>, Header, description = "Repeat-safe POST")),
    responses((status = 201, body = Mailbox), (status = 409, body = Problem, description = "A mailbox sends as this address already"),
        (status = 422, body = Problem)), security(("api_key" = [])))]
async fn create(
    State(state): State<AppState>,
    principal: Principal,
    ApiJson(input): ApiJson<NewMailbox>,
) -> Result<(StatusCode, Json<Mailbox>), Error> {
    Ok((
        StatusCode::CREATED,
        Json(service::create(&state.store, &principal, input).await?),
    ))
}

#[utoipa::path(get, path = "/api/v1/mailboxes/{id}", tag = "mailboxes", params(("id" = Uuid, Path)),
    responses((status = 200, body = Mailbox), (status = 404, body = Problem)), security(("api_key" = [])))]
async fn get(
    State(state): State<AppState>,
    principal: Principal,
    ApiPath(id): ApiPath<Uuid>,
) -> Result<Json<Mailbox>, Error> {
    Ok(Json(service::get(&state.store, &principal, id).await?))
}

/// Change a mailbox, pause it (`status: paused`) or set it going again (`active`, which
/// clears its failures). A server change without `secret` keeps the stored one.
#[utoipa::path(patch, path = "/api/v1/mailboxes/{id}", tag = "mailboxes", request_body = MailboxPatch,
    params(("id" = Uuid, Path)),
    responses((status = 200, body = Mailbox), (status = 404, body = Problem), (status = 409, body = Problem),
        (status = 422, body = Problem)), security(("api_key" = [])))]
async fn update(
    State(state): State<AppState>,
    principal: Principal,
    ApiPath(id): ApiPath<Uuid>,
    ApiJson(input): ApiJson<MailboxPatch>,
) -> Result<Json<Mailbox>, Error> {
    Ok(Json(
        service::update(&state.store, &principal, id, input).await?,
    ))
}

#[utoipa::path(delete, path = "/api/v1/mailboxes/{id}", tag = "mailboxes", params(("id" = Uuid, Path)),
    responses((status = 204, description = "Deleted"), (status = 404, body = Problem)), security(("api_key" = [])))]
async fn delete(
    State(state): State<AppState>,
    principal: Principal,
    ApiPath(id): ApiPath<Uuid>,
) -> Result<StatusCode, Error> {
    service::delete(&state.store, &principal, id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Log in to the mailbox's server without sending anything (or check that its outbox can
/// be written) and say which step failed: `dns`, `connect`, `tls`, `greeting` or `auth`,
/// with the server's reply. A failed test answers 200 with `ok: false`.
#[utoipa::path(post, path = "/api/v1/mailboxes/{id}/test", tag = "mailboxes", params(("id" = Uuid, Path)),
    responses((status = 200, body = MailboxTest), (status = 404, body = Problem)), security(("api_key" = [])))]
async fn test(
    State(state): State<AppState>,
    principal: Principal,
    ApiPath(id): ApiPath<Uuid>,
) -> Result<Json<MailboxTest>, Error> {
    Ok(Json(
        service::test(&state.store, &state.settings, &principal, id).await?,
    ))
}
