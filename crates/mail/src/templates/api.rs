//! `/api/v1/templates` routes.

use axum::{Json, extract::State, http::StatusCode};
use serde::Deserialize;
use utoipa::IntoParams;
use utoipa_axum::{router::OpenApiRouter, routes};
use uuid::Uuid;

use super::{
    NewTemplate, Template, TemplatePatch,
    service::{self, DraftPreviewRequest, TemplatePreview, TemplatePreviewRequest},
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
        .routes(routes!(get, update, delete))
        .routes(routes!(preview))
        .routes(routes!(preview_draft))
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
    /// Part of the name.
    pub q: Option<String>,
}

/// The workspace's templates, newest first.
#[utoipa::path(get, path = "/api/v1/templates", tag = "templates", params(ListQuery),
    responses((status = 200, body = Page<Template>)), security(("api_key" = [])))]
async fn list(
    State(state): State<AppState>,
    principal: Principal,
    ApiQuery(q): ApiQuery<ListQuery>,
) -> Result<Json<Page<Template>>, Error> {
    let limit = page_size(q.limit)?;
    let before = match &q.cursor {
        Some(raw) => Some(Cursor::decode(raw, SORT)?.id),
        None => None,
    };
    let text = search_text("q", q.q)?.map(|t| t.trim().to_owned());
    let rows = service::list(&state.store, &principal, text.as_deref(), before, limit).await?;
    Ok(Json(paginate(rows, limit, |t| Cursor {
        sort: SORT.into(),
        key: serde_json::json!(t.created_at),
        id: t.id,
    })))
}

/// Write a template. Every part is parsed, in every spintax choice, and may name only
/// `contact.*`, `account.*`, `sender.*`, `custom.*` and its declared `variables`: anything
/// else is refused here, by name, not when an email is sent.
#[utoipa::path(post, path = "/api/v1/templates", tag = "templates", request_body = NewTemplate,
    params(("Idempotency-Key" = Option<String>, Header, description = "Repeat-safe POST")),
    responses((status = 201, body = Template), (status = 409, body = Problem, description = "The name is taken"),
        (status = 422, body = Problem)), security(("api_key" = [])))]
async fn create(
    State(state): State<AppState>,
    principal: Principal,
    ApiJson(input): ApiJson<NewTemplate>,
) -> Result<(StatusCode, Json<Template>), Error> {
    Ok((
        StatusCode::CREATED,
        Json(service::create(&state.store, &principal, input).await?),
    ))
}

#[utoipa::path(get, path = "/api/v1/templates/{id}", tag = "templates", params(("id" = Uuid, Path)),
    responses((status = 200, body = Template), (status = 404, body = Problem)), security(("api_key" = [])))]
async fn get(
    State(state): State<AppState>,
    principal: Principal,
    ApiPath(id): ApiPath<Uuid>,
) -> Result<Json<Template>, Error> {
    Ok(Json(service::get(&state.store, &principal, id).await?))
}

/// Change a template; it is checked again as a whole.
#[utoipa::path(patch, path = "/api/v1/templates/{id}", tag = "templates", request_body = TemplatePatch,
    params(("id" = Uuid, Path)),
    responses((status = 200, body = Template), (status = 404, body = Problem), (status = 409, body = Problem),
        (status = 422, body = Problem)), security(("api_key" = [])))]
async fn update(
    State(state): State<AppState>,
    principal: Principal,
    ApiPath(id): ApiPath<Uuid>,
    ApiJson(input): ApiJson<TemplatePatch>,
) -> Result<Json<Template>, Error> {
    Ok(Json(
        service::update(&state.store, &principal, id, input).await?,
    ))
}

#[utoipa::path(delete, path = "/api/v1/templates/{id}", tag = "templates", params(("id" = Uuid, Path)),
    responses((status = 204, description = "Deleted"), (status = 404, body = Problem)), security(("api_key" = [])))]
async fn delete(
    State(state): State<AppState>,
    principal: Principal,
    ApiPath(id): ApiPath<Uuid>,
) -> Result<StatusCode, Error> {
    service::delete(&state.store, &principal, id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Render the template for one contact, with the caller as the sender: the subject, HTML
/// and text that contact would get. A value the contact lacks and the template prints
/// without a fallback is named in the 422.
#[utoipa::path(post, path = "/api/v1/templates/{id}/preview", tag = "templates", request_body = TemplatePreviewRequest,
    params(("id" = Uuid, Path)),
    responses((status = 200, body = TemplatePreview), (status = 404, body = Problem), (status = 422, body = Problem)),
    security(("api_key" = [])))]
async fn preview(
    State(state): State<AppState>,
    principal: Principal,
    ApiPath(id): ApiPath<Uuid>,
    ApiJson(input): ApiJson<TemplatePreviewRequest>,
) -> Result<Json<TemplatePreview>, Error> {
    Ok(Json(
        service::preview(&state.store, &principal, id, input).await?,
    ))
}

/// Check a template being written as a save would and render it for one contact, saving
/// nothing: the editor's live preview. Errors in the template name `template.<part>`.
#[utoipa::path(post, path = "/api/v1/templates/preview", tag = "templates", request_body = DraftPreviewRequest,
    responses((status = 200, body = TemplatePreview), (status = 422, body = Problem)),
    security(("api_key" = [])))]
async fn preview_draft(
    State(state): State<AppState>,
    principal: Principal,
    ApiJson(input): ApiJson<DraftPreviewRequest>,
) -> Result<Json<TemplatePreview>, Error> {
    Ok(Json(
        service::preview_draft(&state.store, &principal, input).await?,
    ))
}
