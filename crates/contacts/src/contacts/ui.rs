//! Contact pages: the searchable list, the detail page with its timeline, and the forms
//! that edit a contact or log a note. They call the same use cases as the API.

use axum::{
    Form, Router,
    extract::{Path, Query, State},
    http::HeaderMap,
    response::{Html, IntoResponse, Redirect, Response},
    routing::{get, post},
};
use minijinja::context;
use serde::Deserialize;
use uuid::Uuid;

use super::{
    model::{ContactInput, ContactStatus},
    service::{self, ContactQuery},
};
use crate::{
    activities::{ActivityKind, NewActivity, TimelineQuery},
    platform::{
        auth::{Principal, store as auth_store},
        error::Error,
        state::AppState,
        web::{PageError, page, to_value},
    },
};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/app/contacts", get(list_page).post(create))
        .route("/app/contacts/{id}", get(detail).post(update))
        .route("/app/contacts/{id}/notes", post(add_note))
}

#[derive(Deserialize)]
struct ListParams {
    q: Option<String>,
    status: Option<String>,
    cursor: Option<String>,
}

/// The list; an htmx request (live search, next page) gets only the rows.
async fn list_page(
    State(state): State<AppState>,
    principal: Principal,
    headers: HeaderMap,
    Query(p): Query<ListParams>,
) -> Result<Response, PageError> {
    let status = match p.status.as_deref().filter(|s| !s.is_empty()) {
        Some(s) => Some(
            s.parse::<ContactStatus>()
                .map_err(|e| Error::invalid("status", e))?,
        ),
        None => None,
    };
    let q = p.q.clone().unwrap_or_default();
    let page_data = service::list(
        &state.store,
        &principal,
        ContactQuery {
            q: Some(q.clone()),
            status,
            cursor: p.cursor.filter(|c| !c.is_empty()),
            limit: Some(50),
            ..Default::default()
        },
    )
    .await?;
    let ctx = context! {
        contacts => to_value(&page_data.data), next_cursor => page_data.next_cursor, q => q,
        status => p.status.unwrap_or_default(),
        statuses => ContactStatus::ALL.iter().map(|s| s.as_str()).collect::<Vec<_>>(),
        can_write => principal.role.allows(crate::actions::WRITE_SALES),
    };
    if headers.contains_key("hx-request") && !headers.contains_key("hx-boosted") {
        return Ok(Html(state.templates.render("contacts/rows.html", ctx)?).into_response());
    }
    Ok(
        page(&state, &principal, "contacts/list.html", "contacts", ctx)
            .await?
            .into_response(),
    )
}

async fn detail(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<Uuid>,
) -> Result<Html<String>, PageError> {
    render_detail(&state, &principal, id, None).await
}

async fn render_detail(
    state: &AppState,
    principal: &Principal,
    id: Uuid,
    errors: Option<Vec<crate::platform::error::FieldError>>,
) -> Result<Html<String>, PageError> {
    let contact = service::get(&state.store, principal, id).await?;
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
    let members = auth_store::members(state.store.conn(), principal.workspace_id).await?;
    Ok(page(state, principal, "contacts/detail.html", "contacts", context! {
        contact => to_value(&contact), timeline => to_value(&timeline.data), errors => to_value(&errors.unwrap_or_default()),
        statuses => ContactStatus::ALL.iter().map(|s| s.as_str()).collect::<Vec<_>>(),
        members => members.into_iter().map(|m| context!{ id => m.user_id.to_string(), name => m.display_name }).collect::<Vec<_>>(),
        can_write => principal.role.allows(crate::actions::WRITE_SALES),
        note_kinds => ActivityKind::ALL.iter().filter(|k| **k != ActivityKind::System).map(|k| k.as_str()).collect::<Vec<_>>(),
    })
    .await?)
}

/// The edit form: every field shown; an empty box clears the field.
#[derive(Deserialize)]
struct ContactForm {
    first_name: Option<String>,
    last_name: Option<String>,
    email: Option<String>,
    phone: Option<String>,
    title: Option<String>,
    company: Option<String>,
    status: Option<String>,
    timezone: Option<String>,
    country: Option<String>,
    city: Option<String>,
    owner_id: Option<String>,
}

fn set(v: Option<String>) -> Option<Option<String>> {
    v.map(|s| Some(s.trim().to_owned()).filter(|s| !s.is_empty()))
}

impl ContactForm {
    fn into_input(self) -> Result<ContactInput, Error> {
        let status = match self.status.as_deref().filter(|s| !s.is_empty()) {
            Some(s) => Some(
                s.parse::<ContactStatus>()
                    .map_err(|e| Error::invalid("status", e))?,
            ),
            None => None,
        };
        let owner_id = match self.owner_id {
            None => None,
            Some(s) if s.trim().is_empty() => Some(None),
            Some(s) => {
                Some(Some(s.trim().parse::<Uuid>().map_err(|_| {
                    Error::invalid("owner_id", "is not a user id")
                })?))
            }
        };
        Ok(ContactInput {
            first_name: set(self.first_name),
            last_name: set(self.last_name),
            email: set(self.email),
            phone: set(self.phone),
            title: set(self.title),
            company: set(self.company),
            timezone: set(self.timezone),
            country: set(self.country),
            city: set(self.city),
            status,
            owner_id,
            ..Default::default()
        })
    }
}

async fn update(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<Uuid>,
    Form(form): Form<ContactForm>,
) -> Result<Response, PageError> {
    match service::update(&state.store, &principal, id, form.into_input()?).await {
        Ok(_) => Ok(Redirect::to(&format!("/app/contacts/{id}")).into_response()),
        Err(Error::Invalid(errors)) => {
            let html = render_detail(&state, &principal, id, Some(errors)).await?;
            Ok((axum::http::StatusCode::UNPROCESSABLE_ENTITY, html).into_response())
        }
        Err(Error::Conflict { field, message }) => {
            let errors = vec![crate::platform::error::FieldError::new(field, message)];
            let html = render_detail(&state, &principal, id, Some(errors)).await?;
            Ok((axum::http::StatusCode::CONFLICT, html).into_response())
        }
        Err(e) => Err(e.into()),
    }
}

async fn create(
    State(state): State<AppState>,
    principal: Principal,
    Form(form): Form<ContactForm>,
) -> Result<Response, PageError> {
    let contact = service::create(&state.store, &principal, form.into_input()?).await?;
    Ok(Redirect::to(&format!("/app/contacts/{}", contact.id)).into_response())
}

#[derive(Deserialize)]
struct NoteForm {
    kind: String,
    subject: String,
    body: Option<String>,
}

async fn add_note(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<Uuid>,
    Form(form): Form<NoteForm>,
) -> Result<Redirect, PageError> {
    let kind = form
        .kind
        .parse::<ActivityKind>()
        .map_err(|e| Error::invalid("kind", e))?;
    service::log_activity(
        &state.store,
        &principal,
        id,
        NewActivity {
            kind,
            subject: form.subject,
            body: form.body.filter(|b| !b.trim().is_empty()),
            occurred_at: None,
            metadata: None,
        },
    )
    .await?;
    Ok(Redirect::to(&format!("/app/contacts/{id}")))
}
