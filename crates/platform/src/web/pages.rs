//! Platform pages: first-run setup, sign-in and sign-out, and the API keys page.

use axum::{
    Form,
    extract::{FromRequest, Query, Request, State},
    http::{HeaderMap, HeaderValue, StatusCode, header},
    response::{Html, IntoResponse, Redirect, Response},
};
use minijinja::context;
use serde::Deserialize;

use super::{PageError, page, to_value};
use crate::{
    audit::{self, Actor, Change},
    auth::{
        Principal, Role,
        api::{self as keys_api, CreateApiKey, ListQuery},
        middleware::client_ip,
        onboarding::{self, FirstAdmin},
        password, sessions, store as auth_store,
    },
    error::Error,
    state::AppState,
};

#[derive(Deserialize)]
pub struct NextQuery {
    next: Option<String>,
}

/// Only same-site paths are followed after sign-in.
fn safe_next(next: Option<&str>) -> &str {
    match next {
        Some(n) if n.starts_with('/') && !n.starts_with("//") && !n.starts_with("/\\") => n,
        _ => "/app",
    }
}

pub async fn login_form(
    State(state): State<AppState>,
    Query(q): Query<NextQuery>,
) -> Result<Html<String>, PageError> {
    Ok(Html(state.templates.render(
        "login.html",
        context! { next => safe_next(q.next.as_deref()) },
    )?))
}

#[derive(Deserialize)]
pub struct LoginForm {
    email: String,
    password: String,
    next: Option<String>,
}

/// Check the password (rate-limited per client IP and email), start a session.
pub async fn login(State(state): State<AppState>, req: Request) -> Result<Response, PageError> {
    let ip = client_ip(&req);
    let Form(form): Form<LoginForm> = Form::from_request(req, &state)
        .await
        .map_err(|e| Error::BadRequest(e.body_text()))?;
    let email = form.email.trim().to_lowercase();
    let limit_key = format!("{ip}|{email}");
    let next = safe_next(form.next.as_deref()).to_owned();
    let retry = |message: &str, status: StatusCode| -> Result<Response, PageError> {
        let html = state.templates.render(
            "login.html",
            context! { next => next.clone(), email => email.clone(), error => message },
        )?;
        Ok((status, Html(html)).into_response())
    };
    if let Err(secs) = state.login_limiter.check(&limit_key) {
        let mut res = retry(
            &format!("Too many failed attempts. Try again in {secs} seconds."),
            StatusCode::TOO_MANY_REQUESTS,
        )?;
        res.headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from(secs));
        return Ok(res);
    }
    let conn = state.store.conn();
    let user = auth_store::find_user_by_email(conn, &email).await?;
    let verified = match &user {
        Some(u) if u.is_active => password::verify(form.password, u.password_hash.clone()).await,
        _ => {
            // Spend the same time as a real check so unknown emails don't stand out.
            let _ = password::hash(form.password).await;
            false
        }
    };
    let (Some(user), true) = (user, verified) else {
        return retry("Wrong email or password.", StatusCode::UNAUTHORIZED);
    };
    let Some((workspace, _role)) = auth_store::memberships_of(conn, user.id)
        .await?
        .into_iter()
        .next()
    else {
        return retry(
            "This user belongs to no workspace yet.",
            StatusCode::FORBIDDEN,
        );
    };
    state.login_limiter.forgive(&limit_key);
    let started = sessions::start(conn, &state.sessions, user.id, workspace.id).await?;
    audit::record(
        conn,
        &Actor {
            kind: "user",
            id: Some(user.id.to_string()),
            request_id: None,
        },
        Change {
            workspace_id: Some(workspace.id),
            action: "session.created",
            entity_type: "user",
            entity_id: Some(user.id.to_string()),
            before: None,
            after: Some(serde_json::json!({"ip": ip})),
        },
    )
    .await?;
    let mut res = Redirect::to(&next).into_response();
    set_cookie(
        res.headers_mut(),
        &sessions::set_cookie(&state.sessions, &started.token),
    );
    Ok(res)
}

fn set_cookie(headers: &mut HeaderMap, value: &str) {
    if let Ok(v) = HeaderValue::from_str(value) {
        headers.append(header::SET_COOKIE, v);
    }
}

/// End the session and clear its cookie.
pub async fn logout(
    State(state): State<AppState>,
    principal: Principal,
) -> Result<Response, PageError> {
    if let crate::auth::Credential::Session { session_id, .. } = &principal.credential {
        let txn = state.store.write().await?;
        auth_store::delete_session(&txn, *session_id).await?;
        audit::record(
            &txn,
            &Actor::from(&principal),
            Change {
                workspace_id: Some(principal.workspace_id),
                action: "session.deleted",
                entity_type: "user",
                entity_id: principal.user_id.map(|u| u.to_string()),
                before: None,
                after: None,
            },
        )
        .await?;
        txn.commit().await?;
    }
    let mut res = Redirect::to("/login").into_response();
    res.headers_mut()
        .insert("hx-redirect", HeaderValue::from_static("/login"));
    set_cookie(res.headers_mut(), &sessions::clear_cookie(&state.sessions));
    Ok(res)
}

#[derive(Deserialize)]
pub struct SetupQuery {
    token: Option<String>,
}

pub async fn setup_form(
    State(state): State<AppState>,
    Query(q): Query<SetupQuery>,
) -> Result<Response, PageError> {
    let token = q.token.unwrap_or_default();
    if !onboarding::setup_token_valid(&state.store, &token).await? {
        return Err(Error::Forbidden(
            "this setup link is not valid: SalesOS is set up already, or the link expired (restart the server for a new one)".into(),
        )
        .into());
    }
    Ok(Html(
        state
            .templates
            .render("setup.html", context! { token => token })?,
    )
    .into_response())
}

#[derive(Deserialize)]
pub struct SetupForm {
    token: String,
    workspace_name: String,
    display_name: String,
    email: String,
    password: String,
}

/// Create the first workspace and admin, and sign them in.
pub async fn setup(
    State(state): State<AppState>,
    Form(f): Form<SetupForm>,
) -> Result<Response, PageError> {
    let created = onboarding::complete_setup(
        &state.store,
        FirstAdmin {
            token: &f.token,
            workspace_name: &f.workspace_name,
            display_name: &f.display_name,
            email: &f.email,
            password: &f.password,
        },
    )
    .await;
    let created = match created {
        Ok(c) => c,
        Err(Error::Invalid(errors)) => {
            let html = state.templates.render(
                "setup.html",
                context! { token => f.token, errors => to_value(&errors), workspace_name => f.workspace_name,
                           display_name => f.display_name, email => f.email },
            )?;
            return Ok((StatusCode::UNPROCESSABLE_ENTITY, Html(html)).into_response());
        }
        Err(e) => return Err(e.into()),
    };
    let started = sessions::start(
        state.store.conn(),
        &state.sessions,
        created.user_id,
        created.workspace_id,
    )
    .await?;
    let mut res = Redirect::to("/app").into_response();
    set_cookie(
        res.headers_mut(),
        &sessions::set_cookie(&state.sessions, &started.token),
    );
    Ok(res)
}

/// `/` and `/app`: to the dashboard's first page, or to sign-in.
pub async fn home(State(state): State<AppState>) -> Redirect {
    Redirect::to(state.templates.home())
}

pub async fn api_keys_page(
    State(state): State<AppState>,
    principal: Principal,
) -> Result<Html<String>, PageError> {
    let keys = keys_api::list_keys(
        &state,
        &principal,
        ListQuery {
            limit: Some(500),
            cursor: None,
        },
    )
    .await?;
    Ok(page(
        &state,
        &principal,
        "api_keys.html",
        "api-keys",
        context! {
            keys => to_value(&keys.data), roles => Role::ALL.map(|r| r.as_str()),
        },
    )
    .await?)
}

#[derive(Deserialize)]
pub struct NewKeyForm {
    name: String,
    role: String,
}

/// Create a key from the page; the full key is shown once, in the answer.
pub async fn api_keys_create(
    State(state): State<AppState>,
    principal: Principal,
    Form(f): Form<NewKeyForm>,
) -> Result<Html<String>, PageError> {
    let role: Role = f
        .role
        .parse()
        .map_err(|e: String| Error::invalid("role", e))?;
    let created = keys_api::create_key(
        &state,
        &principal,
        CreateApiKey {
            name: f.name,
            role,
            expires_at: None,
        },
    )
    .await?;
    let keys = keys_api::list_keys(
        &state,
        &principal,
        ListQuery {
            limit: Some(500),
            cursor: None,
        },
    )
    .await?;
    Ok(page(&state, &principal, "api_keys.html", "api-keys", context! {
        keys => to_value(&keys.data), roles => Role::ALL.map(|r| r.as_str()), new_key => created.key,
    })
    .await?)
}

pub async fn api_keys_revoke(
    State(state): State<AppState>,
    principal: Principal,
    axum::extract::Path(id): axum::extract::Path<uuid::Uuid>,
) -> Result<Redirect, PageError> {
    keys_api::revoke_key(&state, &principal, id).await?;
    Ok(Redirect::to("/app/settings/api-keys"))
}
