//! The workspace's sender settings: the postal address its mail carries. The US CAN-SPAM
//! Act asks every commercial email for the sender's valid physical postal address; SalesOS
//! puts it in each email's footer, and says so on an email sent without one.

use axum::{Json, extract::State};
use sea_orm::FromQueryResult;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::{router::OpenApiRouter, routes};
use uuid::Uuid;

use crate::{
    actions::MANAGE_MAILBOXES,
    platform::{
        auth::Principal,
        error::Error,
        http::{extract::ApiJson, problem::Problem},
        state::AppState,
        store::{Db, Store, exec, statement},
    },
};

pub const MAX_ADDRESS: usize = 500;

/// What every email of the workspace says about its sender.
#[derive(Clone, Debug, Default, Serialize, Deserialize, ToSchema, FromQueryResult)]
pub struct MailProfile {
    /// The postal address in each email's footer, such as `Acme Inc, 1 Main St, Springfield,
    /// IL 62701, USA`; `null` when not set.
    pub postal_address: Option<String>,
}

/// A change to the sender settings.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MailProfileInput {
    /// `null` clears it.
    #[schema(min_length = 1, max_length = 500)]
    pub postal_address: Option<String>,
}

pub async fn get<C: Db>(conn: &C, workspace_id: Uuid) -> Result<MailProfile, Error> {
    let stmt = statement(
        conn.get_database_backend(),
        "SELECT postal_address FROM mail_workspace_settings WHERE id = $1",
        vec![workspace_id.into()],
    );
    Ok(MailProfile::find_by_statement(stmt)
        .one(conn)
        .await?
        .unwrap_or_default())
}

pub async fn put(
    store: &Store,
    principal: &Principal,
    input: MailProfileInput,
) -> Result<MailProfile, Error> {
    principal.require(MANAGE_MAILBOXES)?;
    let address = match input.postal_address {
        Some(a) => {
            let a = a.trim().to_owned();
            if a.is_empty() || a.chars().count() > MAX_ADDRESS || a.contains('\0') {
                return Err(Error::invalid(
                    "postal_address",
                    format!("must be 1 to {MAX_ADDRESS} characters"),
                ));
            }
            Some(a)
        }
        None => None,
    };
    let txn = store.write().await?;
    exec(
        &txn,
        "INSERT INTO mail_workspace_settings (id, postal_address, updated_at) VALUES ($1, $2, $3) \
         ON CONFLICT (id) DO UPDATE SET postal_address = $2, updated_at = $3",
        vec![
            principal.workspace_id.into(),
            address.clone().into(),
            txn.now().into(),
        ],
    )
    .await?;
    txn.commit().await?;
    Ok(MailProfile {
        postal_address: address,
    })
}

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(show, change))
}

/// The workspace's sender settings.
#[utoipa::path(get, path = "/api/v1/mail-settings", tag = "emails",
    responses((status = 200, body = MailProfile)), security(("api_key" = [])))]
async fn show(
    State(state): State<AppState>,
    principal: Principal,
) -> Result<Json<MailProfile>, Error> {
    Ok(Json(get(state.store.conn(), principal.workspace_id).await?))
}

/// Set the postal address every email's footer carries (CAN-SPAM).
#[utoipa::path(put, path = "/api/v1/mail-settings", tag = "emails", request_body = MailProfileInput,
    responses((status = 200, body = MailProfile), (status = 422, body = Problem)), security(("api_key" = [])))]
async fn change(
    State(state): State<AppState>,
    principal: Principal,
    ApiJson(input): ApiJson<MailProfileInput>,
) -> Result<Json<MailProfile>, Error> {
    Ok(Json(put(&state.store, &principal, input).await?))
}
