//! Account pages: the searchable list and the detail page with its contacts and timeline.

use axum::{
    Form, Router,
    extract::{Path, Query, State},
    http::HeaderMap,
    response::{Html, IntoResponse, Redirect, Response},
    routing::get,
};
use minijinja::context;
use serde::Deserialize;
use uuid::Uuid;

use super::{
    model::{AccountInput, AccountStatus},
    service::{self, AccountQuery},
};
use crate::{
    platform::{
        auth::Principal,
        error::{Error, FieldError},
        state::AppState,
        web::{PageError, page, to_value},
    },
    {
        activities::TimelineQuery,
        contacts::service::{self as contacts, ContactQuery},
    },
};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/app/accounts", get(list_page).post(create))
        .route("/app/accounts/{id}", get(detail).post(update))
}

#[derive(Deserialize)]
struct ListParams {
    q: Option<String>,
    cursor: Option<String>,
}

async fn list_page(
    State(state): State<AppState>,
    principal: Principal,
    headers: HeaderMap,
    Query(p): Query<ListParams>,
) -> Result<Response, PageError> {
    let q = p.q.unwrap_or_default();
    let data = service::list(
        &state.store,
        &principal,
        AccountQuery {
            q: Some(q.clone()),
            cursor: p.cursor.filter(|c| !c.is_empty()),
            limit: Some(50),
            ..Default::default()
        },
    )
    .await?;
    let ctx = context! {
        accounts => to_value(&data.data), next_cursor => data.next_cursor, q => q,
        can_write => principal.role.allows(crate::actions::WRITE_SALES),
    };
    if headers.contains_key("hx-request") && !headers.contains_key("hx-boosted") {
        return Ok(Html(state.templates.render("accounts/rows.html", ctx)?).into_response());
    }
    Ok(
        page(&state, &principal, "accounts/list.html", "accounts", ctx)
            .await?
            .into_response(),
    )
}

async fn detail(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<Uuid>,
) -> Result<Html<String>, PageError> {
    render_detail(&state, &principal, id, Vec::new()).await
}

async fn render_detail(
    state: &AppState,
    principal: &Principal,
    id: Uuid,
    errors: Vec<FieldError>,
) -> Result<Html<String>, PageError> {
    let account = service::get(&state.store, principal, id).await?;
    let people = contacts::of_account(
        &state.store,
        principal,
        id,
        ContactQuery {
            limit: Some(100),
            ..Default::default()
        },
    )
    .await?;
    let timeline = service::timeline(
        &state.store,
        principal,
        id,
        TimelineQuery {
            limit: Some(100),
            cursor: None,
            kind: None,
        },
    )
    .await?;
    Ok(page(state, principal, "accounts/detail.html", "accounts", context! {
        account => to_value(&account), contacts => to_value(&people.data), more_contacts => people.next_cursor.is_some(),
        timeline => to_value(&timeline.data), errors => to_value(&errors),
        statuses => AccountStatus::ALL.iter().map(|s| s.as_str()).collect::<Vec<_>>(),
        can_write => principal.role.allows(crate::actions::WRITE_SALES),
    })
    .await?)
}

#[derive(Deserialize)]
struct AccountForm {
    name: Option<String>,
    domain: Option<String>,
    industry: Option<String>,
    location: Option<String>,
    status: Option<String>,
}

impl AccountForm {
    fn into_input(self) -> Result<AccountInput, Error> {
        let clear =
            |v: Option<String>| v.map(|s| Some(s.trim().to_owned()).filter(|s| !s.is_empty()));
        let status = match self.status.as_deref().filter(|s| !s.is_empty()) {
            Some(s) => Some(
                s.parse::<AccountStatus>()
                    .map_err(|e| Error::invalid("status", e))?,
            ),
            None => None,
        };
        Ok(AccountInput {
            name: self.name,
            domain: clear(self.domain),
            industry: clear(self.industry),
            location: clear(self.location),
            status,
            ..Default::default()
        })
    }
}

async fn update(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<Uuid>,
    Form(form): Form<AccountForm>,
) -> Result<Response, PageError> {
    match service::update(&state.store, &principal, id, form.into_input()?).await {
        Ok(_) => Ok(Redirect::to(&format!("/app/accounts/{id}")).into_response()),
        Err(Error::Invalid(errors)) => Ok((
            axum::http::StatusCode::UNPROCESSABLE_ENTITY,
            render_detail(&state, &principal, id, errors).await?,
        )
            .into_response()),
        Err(Error::Conflict { field, message }) => Ok((
            axum::http::StatusCode::CONFLICT,
            render_detail(
                &state,
                &principal,
                id,
                vec![FieldError::new(field, message)],
            )
            .await?,
        )
            .into_response()),
        Err(e) => Err(e.into()),
    }
}

async fn create(
    State(state): State<AppState>,
    principal: Principal,
    Form(form): Form<AccountForm>,
) -> Result<Redirect, PageError> {
    let account = service::create(&state.store, &principal, form.into_input()?).await?;
    Ok(Redirect::to(&format!("/app/accounts/{}", account.id)))
}
