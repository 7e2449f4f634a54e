//! `Idempotency-Key` on POST: the first request with a key is run and its answer stored;
//! a repeat with the same body gets that answer again and changes nothing, a repeat with a
//! different body is refused (422), and a repeat while the first still runs gets 409.
//! Keys are scoped to the workspace and kept for 24 hours.

use crate::store::Db;
use axum::{
    body::{Body, to_bytes},
    extract::{Request, State},
    http::{HeaderValue, Method, StatusCode, header},
    middleware::Next,
    response::{IntoResponse, Response},
};
use sea_orm::FromQueryResult;
use sha2::{Digest, Sha256};

use crate::{
    auth::Principal,
    error::Error,
    secrets::stored::answer_context,
    state::AppState,
    store::{exec, statement, unique_violation},
};

pub const HEADER: &str = "idempotency-key";
const REPLAYED: &str = "idempotent-replayed";
const MAX_KEY_LEN: usize = 255;
const MAX_STORED_RESPONSE: usize = 1024 * 1024;

#[derive(FromQueryResult)]
struct Stored {
    request_hash: String,
    status_code: Option<i32>,
    content_type: Option<String>,
    response_body: Option<String>,
}

pub async fn middleware(State(state): State<AppState>, req: Request, next: Next) -> Response {
    match run(state, req, next).await {
        Ok(res) => res,
        Err(e) => e.into_response(),
    }
}

async fn run(state: AppState, req: Request, next: Next) -> Result<Response, Error> {
    if req.method() != Method::POST {
        return Ok(next.run(req).await);
    }
    let Some(raw_key) = req.headers().get(HEADER) else {
        return Ok(next.run(req).await);
    };
    // As the document states it: 1 to 255 printable ASCII characters, not all spaces
    // (checked as sent, then trimmed).
    let key = raw_key
        .to_str()
        .ok()
        .filter(|k| k.len() <= MAX_KEY_LEN && k.bytes().all(|b| (b' '..=b'~').contains(&b)))
        .map(str::trim)
        .filter(|k| !k.is_empty())
        .ok_or_else(|| {
            Error::invalid(
                "Idempotency-Key",
                format!("must be 1 to {MAX_KEY_LEN} visible ASCII characters"),
            )
        })?
        .to_owned();
    let Some(workspace_id) = req.extensions().get::<Principal>().map(|p| p.workspace_id) else {
        return Ok(next.run(req).await);
    };

    let (parts, body) = req.into_parts();
    let mut hasher = Sha256::new();
    hasher.update(parts.method.as_str().as_bytes());
    hasher.update(b" ");
    hasher.update(parts.uri.path().as_bytes());
    hasher.update(b"\n");
    // A file upload is not held in memory to be hashed: its size stands for its content
    // (the same key with an upload of another size is refused as a different request).
    let multipart = parts
        .headers
        .get(axum::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("multipart/form-data"));
    let body = if multipart {
        let size = parts
            .headers
            .get(axum::http::header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("streamed");
        hasher.update(b"multipart ");
        hasher.update(size.as_bytes());
        body
    } else {
        let bytes = to_bytes(body, state.settings.max_body_bytes)
            .await
            .map_err(|_| Error::PayloadTooLarge)?;
        hasher.update(&bytes);
        Body::from(bytes)
    };
    let request_hash = hex::encode(hasher.finalize());

    let conn = state.store.conn();
    let expired_before = conn.now() - chrono::Duration::hours(24);
    exec(
        conn,
        "DELETE FROM idempotency_keys WHERE workspace_id = $1 AND idempotency_key = $2 AND created_at < $3",
        vec![workspace_id.into(), key.clone().into(), expired_before.into()],
    )
    .await?;
    let claimed = exec(
        conn,
        "INSERT INTO idempotency_keys (workspace_id, idempotency_key, request_hash, created_at) \
         VALUES ($1, $2, $3, $4)",
        vec![
            workspace_id.into(),
            key.clone().into(),
            request_hash.clone().into(),
            conn.now().into(),
        ],
    )
    .await;
    match claimed {
        Ok(_) => {}
        Err(e) if unique_violation(&e).is_some() => {
            return replay(conn, workspace_id, &key, &request_hash).await;
        }
        Err(e) => return Err(e.into()),
    }

    let res = next.run(Request::from_parts(parts, body)).await;
    let status = res.status();
    if status.is_server_error() || status == StatusCode::TOO_MANY_REQUESTS {
        // Not an answer worth repeating: let the client try again with the same key.
        forget(conn, workspace_id, &key).await?;
        return Ok(res);
    }
    let (mut parts, body) = res.into_parts();
    let bytes = match to_bytes(body, MAX_STORED_RESPONSE).await {
        Ok(b) => b,
        Err(e) => {
            forget(conn, workspace_id, &key).await?;
            return Err(Error::Internal(anyhow::anyhow!(
                "response too large to store: {e}"
            )));
        }
    };
    let content_type = parts
        .headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    // Sealed: the answer may hold a secret shown once (a new webhook's signing secret).
    let sealed = conn
        .keyring()
        .seal(
            &answer_context(workspace_id, &key),
            &String::from_utf8_lossy(&bytes),
        )
        .map_err(|e| Error::Internal(anyhow::anyhow!("cannot seal the stored answer: {e}")))?;
    exec(
        conn,
        "UPDATE idempotency_keys SET status_code = $1, content_type = $2, response_body = $3 \
         WHERE workspace_id = $4 AND idempotency_key = $5",
        vec![
            i32::from(status.as_u16()).into(),
            content_type.into(),
            sealed.into(),
            workspace_id.into(),
            key.into(),
        ],
    )
    .await?;
    parts.headers.remove(header::CONTENT_LENGTH);
    Ok(Response::from_parts(parts, Body::from(bytes)))
}

async fn forget<C: Db>(conn: &C, workspace_id: uuid::Uuid, key: &str) -> Result<(), Error> {
    exec(
        conn,
        "DELETE FROM idempotency_keys WHERE workspace_id = $1 AND idempotency_key = $2",
        vec![workspace_id.into(), key.into()],
    )
    .await?;
    Ok(())
}

async fn replay<C: Db>(
    conn: &C,
    workspace_id: uuid::Uuid,
    key: &str,
    request_hash: &str,
) -> Result<Response, Error> {
    let stmt = statement(
        conn.get_database_backend(),
        "SELECT request_hash, status_code, content_type, response_body FROM idempotency_keys \
         WHERE workspace_id = $1 AND idempotency_key = $2",
        vec![workspace_id.into(), key.into()],
    );
    let Some(stored) = Stored::find_by_statement(stmt).one(conn).await? else {
        return Err(Error::conflict(
            "Idempotency-Key",
            "the first request with this key just failed; retry",
        ));
    };
    if stored.request_hash != request_hash {
        return Err(Error::IdempotencyMismatch(
            "this Idempotency-Key was used with a different request body".into(),
        ));
    }
    let (Some(code), body) = (stored.status_code, stored.response_body) else {
        return Err(Error::conflict(
            "Idempotency-Key",
            "a request with this key is still being processed",
        ));
    };
    let status = u16::try_from(code)
        .ok()
        .and_then(|c| StatusCode::from_u16(c).ok())
        .unwrap_or(StatusCode::OK);
    let body = match body {
        Some(sealed) => conn
            .keyring()
            .open(&answer_context(workspace_id, key), &sealed)
            .map_err(|e| Error::Internal(anyhow::anyhow!("the stored answer does not open: {e}")))?
            .expose()
            .to_owned(),
        None => String::new(),
    };
    let mut res = (status, body).into_response();
    if let Some(ct) = stored
        .content_type
        .and_then(|c| HeaderValue::from_str(&c).ok())
    {
        res.headers_mut().insert(header::CONTENT_TYPE, ct);
    }
    res.headers_mut()
        .insert(REPLAYED, HeaderValue::from_static("true"));
    Ok(res)
}
