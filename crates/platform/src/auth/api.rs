//! `/api/v1/api-keys`: admins list, create and revoke their workspace's keys.

use axum::{Json, extract::State, http::StatusCode};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use super::{Principal, Role, api_keys, store};
use crate::{
    audit::{self, Actor, Change},
    error::Error,
    http::{
        extract::{ApiJson, ApiPath, ApiQuery},
        pagination::{Cursor, Page, page_size, paginate},
        problem::Problem,
    },
    state::AppState,
};

/// An API key as listed: never its secret.
#[derive(Debug, Serialize, ToSchema)]
pub struct ApiKey {
    pub id: Uuid,
    pub name: String,
    /// The public part of the key, `sos_<prefix>_…`.
    pub prefix: String,
    pub role: Role,
    pub created_by: Option<Uuid>,
    pub created_at: DateTime<Utc>,
    pub expires_at: Option<DateTime<Utc>>,
    pub revoked_at: Option<DateTime<Utc>>,
    pub last_used_at: Option<DateTime<Utc>>,
}

impl TryFrom<store::ApiKeyRow> for ApiKey {
    type Error = Error;
    fn try_from(r: store::ApiKeyRow) -> Result<Self, Error> {
        Ok(Self {
            role: r
                .role
                .parse()
                .map_err(|e: String| Error::Internal(anyhow::anyhow!(e)))?,
            id: r.id,
            name: r.name,
            prefix: r.prefix,
            created_by: r.created_by,
            created_at: r.created_at,
            expires_at: r.expires_at,
            revoked_at: r.revoked_at,
            last_used_at: r.last_used_at,
        })
    }
}

/// A newly created key: `key` is shown this once.
#[derive(Debug, Serialize, ToSchema)]
pub struct CreatedApiKey {
    #[serde(flatten)]
    pub api_key: ApiKey,
    /// The full key, `sos_<prefix>_<secret>`. It cannot be shown again.
    pub key: String,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateApiKey {
    /// A label that says what the key is for: 1 to 100 characters, not only spaces.
    #[schema(min_length = 1, max_length = 100, pattern = r"\S")]
    pub name: String,
    /// The role the key acts with.
    pub role: Role,
    /// When the key stops working; never, if absent.
    pub expires_at: Option<DateTime<Utc>>,
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

/// Create a key in the caller's workspace (admins only).
pub async fn create_key(
    state: &AppState,
    principal: &Principal,
    input: CreateApiKey,
) -> Result<CreatedApiKey, Error> {
    principal.require(crate::auth::actions::MANAGE_API_KEYS)?;
    let name = input.name.trim();
    if name.is_empty() || name.chars().count() > 100 {
        return Err(Error::invalid("name", "must be 1 to 100 characters"));
    }
    if input.expires_at.is_some_and(|e| e <= state.store.now()) {
        return Err(Error::invalid("expires_at", "must be in the future"));
    }
    let txn = state.store.write().await?;
    let issued = api_keys::issue(
        &txn,
        principal.workspace_id,
        input.role,
        name,
        principal.user_id,
        input.expires_at,
    )
    .await?;
    audit::record(
        &txn,
        &Actor::from(principal),
        Change {
            workspace_id: Some(principal.workspace_id),
            action: "api_key.created",
            entity_type: "api_key",
            entity_id: Some(issued.row.id.to_string()),
            before: None,
            after: Some(
                serde_json::json!({"name": name, "role": input.role, "prefix": issued.row.prefix}),
            ),
        },
    )
    .await?;
    txn.commit().await?;
    Ok(CreatedApiKey {
        api_key: issued.row.try_into()?,
        key: issued.key,
    })
}

/// Revoke a key of the caller's workspace (admins only).
pub async fn revoke_key(state: &AppState, principal: &Principal, id: Uuid) -> Result<(), Error> {
    principal.require(crate::auth::actions::MANAGE_API_KEYS)?;
    let txn = state.store.write().await?;
    let Some(before) = store::find_api_key(&txn, principal.workspace_id, id).await? else {
        return Err(Error::NotFound("API key"));
    };
    store::revoke_api_key(&txn, principal.workspace_id, id).await?;
    audit::record(
        &txn,
        &Actor::from(principal),
        Change {
            workspace_id: Some(principal.workspace_id),
            action: "api_key.revoked",
            entity_type: "api_key",
            entity_id: Some(id.to_string()),
            before: Some(serde_json::json!({"name": before.name, "revoked_at": before.revoked_at})),
            after: Some(serde_json::json!({"name": before.name, "revoked": true})),
        },
    )
    .await?;
    txn.commit().await?;
    Ok(())
}

pub async fn list_keys(
    state: &AppState,
    principal: &Principal,
    q: ListQuery,
) -> Result<Page<ApiKey>, Error> {
    principal.require(crate::auth::actions::MANAGE_API_KEYS)?;
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
    let rows =
        store::list_api_keys(state.store.conn(), principal.workspace_id, after, limit).await?;
    let keys = rows
        .into_iter()
        .map(ApiKey::try_from)
        .collect::<Result<Vec<_>, _>>()?;
    Ok(paginate(keys, limit, |k| Cursor {
        sort: "-created_at".into(),
        key: serde_json::json!(k.created_at),
        id: k.id,
    }))
}

/// List the workspace's API keys, newest first.
#[utoipa::path(
    get, path = "/api/v1/api-keys", tag = "api-keys", params(ListQuery),
    responses(
        (status = 200, body = Page<ApiKey>),
        (status = 403, description = "Admins only", body = Problem),
    ),
    security(("api_key" = []))
)]
pub async fn list(
    State(state): State<AppState>,
    principal: Principal,
    ApiQuery(q): ApiQuery<ListQuery>,
) -> Result<Json<Page<ApiKey>>, Error> {
    Ok(Json(list_keys(&state, &principal, q).await?))
}

/// Create an API key; the answer holds the full key, shown only this once.
#[utoipa::path(
    post, path = "/api/v1/api-keys", tag = "api-keys", request_body = CreateApiKey,
    params(("Idempotency-Key" = Option<String>, Header, description = "Repeat-safe POST")),
    responses(
        (status = 201, body = CreatedApiKey),
        (status = 403, description = "Admins only", body = Problem),
        (status = 422, description = "Invalid input", body = Problem),
    ),
    security(("api_key" = []))
)]
pub async fn create(
    State(state): State<AppState>,
    principal: Principal,
    ApiJson(input): ApiJson<CreateApiKey>,
) -> Result<(StatusCode, Json<CreatedApiKey>), Error> {
    Ok((
        StatusCode::CREATED,
        Json(create_key(&state, &principal, input).await?),
    ))
}

/// Revoke an API key; it stops working at once on every node.
#[utoipa::path(
    delete, path = "/api/v1/api-keys/{id}", tag = "api-keys",
    params(("id" = Uuid, Path, description = "API key id")),
    responses(
        (status = 204, description = "Revoked"),
        (status = 404, body = Problem),
    ),
    security(("api_key" = []))
)]
pub async fn revoke(
    State(state): State<AppState>,
    principal: Principal,
    ApiPath(id): ApiPath<Uuid>,
) -> Result<StatusCode, Error> {
    revoke_key(&state, &principal, id).await?;
    Ok(StatusCode::NO_CONTENT)
}
