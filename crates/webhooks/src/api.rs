//! `/api/v1/webhooks` routes.

use axum::{Json, extract::State, http::StatusCode};
use chrono::{DateTime, Utc};
use serde::Deserialize;
use utoipa::IntoParams;
use utoipa_axum::{router::OpenApiRouter, routes};
use uuid::Uuid;

use super::{
    service::{self, DeliveryLog, NewWebhook, Webhook, WebhookPatch},
    store::Delivery,
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
        .routes(routes!(rotate_secret))
        .routes(routes!(deliveries))
        .routes(routes!(delivery))
        .routes(routes!(replay))
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    /// Page size, 1 to 500 (default 50).
    #[param(minimum = 1, maximum = 500)]
    pub limit: Option<u64>,
    pub cursor: Option<String>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct DeliveryQuery {
    #[param(minimum = 1, maximum = 500)]
    pub limit: Option<u64>,
    pub cursor: Option<String>,
    /// `pending`, `retrying`, `succeeded`, `dead` or `cancelled`; `dead` lists what to replay.
    pub state: Option<String>,
}

fn position(raw: &Option<String>, sort: &str) -> Result<Option<(DateTime<Utc>, Uuid)>, Error> {
    match raw {
        Some(raw) => {
            let c = Cursor::decode(raw, sort)?;
            let at: DateTime<Utc> = serde_json::from_value(c.key)
                .map_err(|_| Error::invalid("cursor", "is not a cursor this list returned"))?;
            Ok(Some((at, c.id)))
        }
        None => Ok(None),
    }
}

/// The workspace's webhook endpoints (admins).
#[utoipa::path(get, path = "/api/v1/webhooks", tag = "webhooks", params(ListQuery),
    responses((status = 200, body = Page<Webhook>), (status = 403, body = Problem)), security(("api_key" = [])))]
async fn list(
    State(state): State<AppState>,
    principal: Principal,
    ApiQuery(q): ApiQuery<ListQuery>,
) -> Result<Json<Page<Webhook>>, Error> {
    let limit = page_size(q.limit)?;
    let rows = service::list(
        &state.store,
        &principal,
        position(&q.cursor, "created_at")?,
        limit,
    )
    .await?;
    Ok(Json(paginate(rows, limit, |w| Cursor {
        sort: "created_at".into(),
        key: serde_json::json!(w.created_at),
        id: w.id,
    })))
}

/// Subscribe a URL to events. The answer holds the signing secret (`whsec_…`), shown once.
#[utoipa::path(post, path = "/api/v1/webhooks", tag = "webhooks", request_body = NewWebhook,
    params(("Idempotency-Key" = Option<String>, Header, description = "Repeat-safe POST")),
    responses((status = 201, body = Webhook), (status = 422, body = Problem)), security(("api_key" = [])))]
async fn create(
    State(state): State<AppState>,
    principal: Principal,
    ApiJson(input): ApiJson<NewWebhook>,
) -> Result<(StatusCode, Json<Webhook>), Error> {
    Ok((
        StatusCode::CREATED,
        Json(
            service::create(
                &state.store,
                &state.settings,
                &state.topics,
                &principal,
                input,
            )
            .await?,
        ),
    ))
}

#[utoipa::path(get, path = "/api/v1/webhooks/{id}", tag = "webhooks", params(("id" = Uuid, Path)),
    responses((status = 200, body = Webhook), (status = 404, body = Problem)), security(("api_key" = [])))]
async fn get(
    State(state): State<AppState>,
    principal: Principal,
    ApiPath(id): ApiPath<Uuid>,
) -> Result<Json<Webhook>, Error> {
    Ok(Json(service::get(&state.store, &principal, id).await?))
}

/// Change the URL, topics, description, or switch the endpoint on or off.
#[utoipa::path(patch, path = "/api/v1/webhooks/{id}", tag = "webhooks", request_body = WebhookPatch, params(("id" = Uuid, Path)),
    responses((status = 200, body = Webhook), (status = 404, body = Problem), (status = 422, body = Problem)), security(("api_key" = [])))]
async fn update(
    State(state): State<AppState>,
    principal: Principal,
    ApiPath(id): ApiPath<Uuid>,
    ApiJson(input): ApiJson<WebhookPatch>,
) -> Result<Json<Webhook>, Error> {
    Ok(Json(
        service::update(
            &state.store,
            &state.settings,
            &state.topics,
            &principal,
            id,
            input,
        )
        .await?,
    ))
}

#[utoipa::path(delete, path = "/api/v1/webhooks/{id}", tag = "webhooks", params(("id" = Uuid, Path)),
    responses((status = 204, description = "Deleted"), (status = 404, body = Problem)), security(("api_key" = [])))]
async fn delete(
    State(state): State<AppState>,
    principal: Principal,
    ApiPath(id): ApiPath<Uuid>,
) -> Result<StatusCode, Error> {
    service::delete(&state.store, &principal, id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// A new signing secret; for 24 hours deliveries carry signatures under both.
#[utoipa::path(post, path = "/api/v1/webhooks/{id}/rotate-secret", tag = "webhooks", params(("id" = Uuid, Path)),
    responses((status = 200, body = Webhook), (status = 404, body = Problem)), security(("api_key" = [])))]
async fn rotate_secret(
    State(state): State<AppState>,
    principal: Principal,
    ApiPath(id): ApiPath<Uuid>,
) -> Result<Json<Webhook>, Error> {
    Ok(Json(
        service::rotate_secret(&state.store, &principal, id).await?,
    ))
}

/// The endpoint's delivery log, newest first.
#[utoipa::path(get, path = "/api/v1/webhooks/{id}/deliveries", tag = "webhooks", params(("id" = Uuid, Path), DeliveryQuery),
    responses((status = 200, body = Page<Delivery>), (status = 404, body = Problem)), security(("api_key" = [])))]
async fn deliveries(
    State(state): State<AppState>,
    principal: Principal,
    ApiPath(id): ApiPath<Uuid>,
    ApiQuery(q): ApiQuery<DeliveryQuery>,
) -> Result<Json<Page<Delivery>>, Error> {
    let limit = page_size(q.limit)?;
    let rows = service::deliveries(
        &state.store,
        &principal,
        id,
        q.state.as_deref(),
        position(&q.cursor, "-created_at")?,
        limit,
    )
    .await?;
    Ok(Json(paginate(rows, limit, |d| Cursor {
        sort: "-created_at".into(),
        key: serde_json::json!(d.created_at),
        id: d.id,
    })))
}

/// One delivery with every attempt: status, latency and an excerpt of the answer.
#[utoipa::path(get, path = "/api/v1/webhooks/{id}/deliveries/{delivery_id}", tag = "webhooks",
    params(("id" = Uuid, Path), ("delivery_id" = Uuid, Path)),
    responses((status = 200, body = DeliveryLog), (status = 404, body = Problem)), security(("api_key" = [])))]
async fn delivery(
    State(state): State<AppState>,
    principal: Principal,
    ApiPath((id, delivery_id)): ApiPath<(Uuid, Uuid)>,
) -> Result<Json<DeliveryLog>, Error> {
    Ok(Json(
        service::delivery(&state.store, &principal, id, delivery_id).await?,
    ))
}

/// Send a delivery again with a fresh retry schedule.
#[utoipa::path(post, path = "/api/v1/webhooks/{id}/deliveries/{delivery_id}/replay", tag = "webhooks",
    params(("id" = Uuid, Path), ("delivery_id" = Uuid, Path)),
    responses((status = 202, body = Delivery), (status = 404, body = Problem), (status = 409, body = Problem)), security(("api_key" = [])))]
async fn replay(
    State(state): State<AppState>,
    principal: Principal,
    ApiPath((id, delivery_id)): ApiPath<(Uuid, Uuid)>,
) -> Result<(StatusCode, Json<Delivery>), Error> {
    Ok((
        StatusCode::ACCEPTED,
        Json(service::replay(&state.store, &state.settings, &principal, id, delivery_id).await?),
    ))
}
