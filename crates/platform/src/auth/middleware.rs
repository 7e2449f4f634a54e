//! Authentication and per-caller rate limits at the HTTP edge. API routes take a bearer
//! API key or a dashboard session (with a CSRF token on unsafe methods); the request then
//! carries a [`Principal`] that handlers extract.

use std::net::SocketAddr;

use axum::{
    extract::{ConnectInfo, FromRequestParts, Request, State},
    http::{HeaderMap, Method, header, request::Parts},
    middleware::Next,
    response::{IntoResponse, Response},
};

use super::{Credential, Principal, api_keys, sessions};
use crate::{error::Error, state::AppState};

pub const CSRF_HEADER: &str = "x-csrf-token";

/// Who is calling, if they said: `Ok(None)` when no credential was presented.
pub async fn identify(
    state: &AppState,
    headers: &HeaderMap,
    method: &Method,
) -> Result<Option<Principal>, Error> {
    if let Some(auth) = headers.get(header::AUTHORIZATION) {
        let value = auth
            .to_str()
            .map_err(|_| Error::Unauthenticated("unreadable Authorization header".into()))?;
        let key = value
            .strip_prefix("Bearer ")
            .or_else(|| value.strip_prefix("bearer "))
            .ok_or_else(|| {
                Error::Unauthenticated("expected `Authorization: Bearer sos_…`".into())
            })?;
        let conn = state.store.conn();
        return api_keys::authenticate(conn, &state.keys, key.trim())
            .await
            .map(Some);
    }
    let Some(token) = sessions::token_from(headers) else {
        return Ok(None);
    };
    let Some(principal) = sessions::resolve(state.store.conn(), &state.sessions, &token).await?
    else {
        return Ok(None);
    };
    if !is_safe(method) {
        check_csrf(&principal, headers)?;
    }
    Ok(Some(principal))
}

fn is_safe(method: &Method) -> bool {
    matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS)
}

/// A session's unsafe request must echo the session's CSRF token in a header.
pub fn check_csrf(principal: &Principal, headers: &HeaderMap) -> Result<(), Error> {
    if let Credential::Session { csrf_token, .. } = &principal.credential {
        let sent = headers
            .get(CSRF_HEADER)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        if !super::tokens::constant_time_eq(sent.as_bytes(), csrf_token.as_bytes()) {
            return Err(Error::Forbidden("missing or wrong CSRF token".into()));
        }
    }
    Ok(())
}

/// The rate-limit key of a caller.
fn limit_key(principal: &Principal) -> String {
    match (&principal.credential, principal.user_id) {
        (Credential::ApiKey { key_id }, _) => format!("key:{key_id}"),
        (Credential::Session { .. }, Some(user)) => format!("user:{user}"),
        (Credential::Session { session_id, .. }, None) => format!("session:{session_id}"),
    }
}

fn request_id(headers: &HeaderMap) -> Option<String> {
    headers
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
}

/// Middleware for `/api/v1`: a caller must be identified; their rate limit applies.
pub async fn require_caller(
    State(state): State<AppState>,
    mut req: Request,
    next: Next,
) -> Response {
    let principal = match identify(&state, req.headers(), req.method()).await {
        Ok(Some(p)) => p,
        Ok(None) => {
            let mut res =
                Error::Unauthenticated("send `Authorization: Bearer <API key>` or sign in".into())
                    .into_response();
            res.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                header::HeaderValue::from_static("Bearer"),
            );
            return res;
        }
        Err(e) => return e.into_response(),
    };
    if let Err(retry_after_secs) = state.api_limiter.check(&limit_key(&principal)) {
        return Error::RateLimited { retry_after_secs }.into_response();
    }
    let principal = Principal {
        request_id: request_id(req.headers()),
        ..principal
    };
    req.extensions_mut().insert(principal);
    next.run(req).await
}

/// The client address for per-IP limits.
pub fn client_ip(req: &Request) -> String {
    req.extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0.ip().to_string())
        .unwrap_or_else(|| "unknown".into())
}

/// Middleware for routes anyone may call: limited per client IP.
pub async fn limit_by_ip(State(state): State<AppState>, req: Request, next: Next) -> Response {
    if let Err(retry_after_secs) = state.api_limiter.check(&format!("ip:{}", client_ip(&req))) {
        return Error::RateLimited { retry_after_secs }.into_response();
    }
    next.run(req).await
}

impl<S: Send + Sync> FromRequestParts<S> for Principal {
    type Rejection = Error;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        parts
            .extensions
            .get::<Principal>()
            .cloned()
            .ok_or_else(|| Error::Unauthenticated("no caller on this request".into()))
    }
}
