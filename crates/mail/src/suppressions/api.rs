//! `/api/v1/suppressions` routes.

use axum::{
    Json,
    body::Bytes,
    extract::{State, rejection::BytesRejection},
    http::{HeaderMap, StatusCode, header},
    response::{IntoResponse, Response},
};
use serde::Deserialize;
use utoipa::IntoParams;
use utoipa_axum::{router::OpenApiRouter, routes};
use uuid::Uuid;

use super::{
    Kind, NewSuppression, Reason, Suppression,
    service::{self, ImportReport, Verdict},
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
        .routes(routes!(import))
        .routes(routes!(export))
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

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ImportQuery {
    /// The reason of rows that give none (default `manual`).
    #[param(inline)]
    pub reason: Option<Reason>,
}

/// Add a CSV file's addresses and domains. The header names `email`, `domain` or `value`
/// (with `kind`), and may name `reason` and `note`; a one-column file without a header is a
/// plain list. Every row is added, already listed, or rejected with its line and why; a
/// file up to the body limit (`SALESOS_MAX_BODY_BYTES`, 2 MiB: some 60,000 addresses) is
/// taken in one transaction. An export imports back to the same list.
#[utoipa::path(post, path = "/api/v1/suppressions/import", tag = "suppressions", params(ImportQuery,
        ("Idempotency-Key" = Option<String>, Header, description = "Repeat-safe POST")),
    request_body(content = String, content_type = "text/csv"),
    responses((status = 200, body = ImportReport), (status = 415, body = Problem), (status = 422, body = Problem)),
    security(("api_key" = [])))]
async fn import(
    State(state): State<AppState>,
    principal: Principal,
    ApiQuery(q): ApiQuery<ImportQuery>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<ImportReport>, Error> {
    let mime = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|ct| ct.split(';').next())
        .map(|m| m.trim().to_ascii_lowercase())
        .unwrap_or_default();
    if !matches!(mime.as_str(), "text/csv" | "text/plain" | "application/csv") {
        return Err(Error::UnsupportedMediaType(
            "expected Content-Type: text/csv".into(),
        ));
    }
    let body = body.map_err(|e| {
        if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
            Error::PayloadTooLarge
        } else {
            Error::BadRequest(format!("cannot read request body: {e}"))
        }
    })?;
    let reason = q.reason.unwrap_or(Reason::Manual);
    Ok(Json(
        service::import(&state.store, &principal, &body, reason).await?,
    ))
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ExportQuery {
    #[param(inline)]
    pub kind: Option<Kind>,
    #[param(inline)]
    pub reason: Option<Reason>,
    /// Part of the address or domain.
    pub q: Option<String>,
}

/// The list the filters select as CSV (`kind,value,reason,source,note,created_at`), newest
/// first; it imports back to the same list.
#[utoipa::path(get, path = "/api/v1/suppressions/export.csv", tag = "suppressions", params(ExportQuery),
    responses((status = 200, content_type = "text/csv", body = String), (status = 422, body = Problem)),
    security(("api_key" = [])))]
async fn export(
    State(state): State<AppState>,
    principal: Principal,
    ApiQuery(q): ApiQuery<ExportQuery>,
) -> Result<Response, Error> {
    let text = search_text("q", q.q)?.map(|t| t.trim().to_lowercase());
    let filter = Filter {
        kind: q.kind,
        reason: q.reason,
        contains: text.as_deref(),
        before: None,
    };
    let csv = service::export(&state.store, &principal, filter).await?;
    Ok((
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8"),
            (
                header::CONTENT_DISPOSITION,
                "attachment; filename=\"suppressions.csv\"",
            ),
        ],
        csv,
    )
        .into_response())
}
