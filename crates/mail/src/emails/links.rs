//! The links in sent mail and the pages behind them. A link's token names the email and
//! what the link does, signed with the workspace's link key (HMAC-SHA256, 128 bits kept):
//! nobody can make a token for an email they did not get. The key is made on the first
//! send, sealed with the master key (rotation reseals it, so old links keep working).
//!
//! Unsubscribing is RFC 8058's one click: `POST /u/{token}` (what a mail client's button
//! sends, `List-Unsubscribe=One-Click`, or the page's button) unsubscribes at once and
//! answers 200, no redirect, no login. `GET /u/{token}` only shows the page with the
//! button: link scanners follow GETs, and a GET never unsubscribes.

use axum::{
    Router,
    extract::{Path, State},
    http::{HeaderValue, StatusCode, header},
    response::{Html, IntoResponse, Response},
    routing::get,
};
use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD as B64};
use ring::hmac;
use salesos_model::EmailAddress;
use sea_orm::FromQueryResult;
use uuid::Uuid;

use super::store;
use crate::{
    platform::{
        runtime::events,
        secrets::{self, SealedColumn},
        state::AppState,
        store::{Db, Store, exec, statement},
    },
    suppressions::{Reason, service::add_automatic},
    topics::EMAIL_UNSUBSCRIBED,
};

const TABLE: &str = "mail_link_keys";

/// Where the link keys are kept sealed.
pub const LINK_KEY: SealedColumn = SealedColumn {
    table: TABLE,
    column: "secret",
};

/// What a token's link does.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Purpose {
    Unsubscribe,
    /// The open pixel.
    Open,
    /// The email's link number `n`.
    Click(u16),
}

impl Purpose {
    fn bytes(self) -> Vec<u8> {
        match self {
            Purpose::Unsubscribe => vec![b'u'],
            Purpose::Open => vec![b'o'],
            Purpose::Click(n) => {
                let mut v = vec![b'c'];
                v.extend_from_slice(&n.to_be_bytes());
                v
            }
        }
    }
}

#[derive(FromQueryResult)]
struct KeyRow {
    secret: String,
}

/// The workspace's link key, made on first use.
pub async fn key<C: Db>(conn: &C, store: &Store, workspace_id: Uuid) -> anyhow::Result<hmac::Key> {
    let context = secrets::context(TABLE, workspace_id);
    let sealed = match read_key(conn, workspace_id).await? {
        Some(row) => row.secret,
        None => {
            let mut raw = [0u8; 32];
            rand::fill(&mut raw);
            let sealed = store.keyring().seal(&context, &hex::encode(raw))?;
            exec(
                conn,
                "INSERT INTO mail_link_keys (id, secret, created_at) VALUES ($1, $2, $3) \
                 ON CONFLICT DO NOTHING",
                vec![workspace_id.into(), sealed.into(), conn.now().into()],
            )
            .await?;
            // Another node may have made it first: theirs is the key.
            read_key(conn, workspace_id)
                .await?
                .ok_or_else(|| anyhow::anyhow!("the link key was not stored"))?
                .secret
        }
    };
    let opened = store.keyring().open(&context, &sealed)?;
    let raw = hex::decode(opened.expose())?;
    Ok(hmac::Key::new(hmac::HMAC_SHA256, &raw))
}

async fn read_key<C: Db>(conn: &C, workspace_id: Uuid) -> Result<Option<KeyRow>, sea_orm::DbErr> {
    let stmt = statement(
        conn.get_database_backend(),
        "SELECT secret FROM mail_link_keys WHERE id = $1",
        vec![workspace_id.into()],
    );
    KeyRow::find_by_statement(stmt).one(conn).await
}

fn signed(key: &hmac::Key, purpose: Purpose, email_id: Uuid) -> Vec<u8> {
    let mut data = purpose.bytes();
    data.extend_from_slice(email_id.as_bytes());
    let tag = hmac::sign(key, &data);
    data.extend_from_slice(tag.as_ref().get(..16).unwrap_or_default());
    data
}

/// The token of `purpose` for `email_id`.
pub fn token(key: &hmac::Key, purpose: Purpose, email_id: Uuid) -> String {
    B64.encode(signed(key, purpose, email_id))
}

/// The email a token of `purpose` names, if it decodes; its signature is checked with
/// [`verify`].
pub fn email_of(token: &str, purpose: Purpose) -> Option<Uuid> {
    let raw = B64.decode(token).ok()?;
    let head = purpose.bytes();
    if raw.len() != head.len() + 32 || !raw.starts_with(&head) {
        return None;
    }
    Uuid::from_slice(raw.get(head.len()..head.len() + 16)?).ok()
}

/// What a tracking token is for and the email it names: the pixel or a link.
pub fn tracked(token: &str) -> Option<(Purpose, Uuid)> {
    let raw = B64.decode(token).ok()?;
    let purpose = match (raw.first(), raw.get(1..3)) {
        (Some(b'o'), _) => Purpose::Open,
        (Some(b'c'), Some(n)) => Purpose::Click(u16::from_be_bytes([*n.first()?, *n.get(1)?])),
        _ => return None,
    };
    Some((purpose, email_of(token, purpose)?))
}

/// Whether `token` is the one `key` makes for `email_id` (constant time).
pub fn verify(key: &hmac::Key, token: &str, purpose: Purpose, email_id: Uuid) -> bool {
    let Ok(raw) = B64.decode(token) else {
        return false;
    };
    let expected = signed(key, purpose, email_id);
    // Every byte compared, whichever differs first.
    raw.len() == expected.len()
        && raw
            .iter()
            .zip(&expected)
            .fold(0u8, |acc, (a, b)| acc | (a ^ b))
            == 0
}

/// Routes anyone may reach: the unsubscribe page and its one-click POST, the open pixel
/// and the tracked links.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/u/{token}", get(page).post(unsubscribe))
        .merge(super::tracking::router())
}

fn no_store(mut res: Response) -> Response {
    res.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    res.headers_mut()
        .insert("x-robots-tag", HeaderValue::from_static("noindex"));
    res
}

fn html_page(status: StatusCode, title: &str, body: &str) -> Response {
    let doc = format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>{title}</title><link rel=\"stylesheet\" href=\"/assets/pico.min.css\"></head>\
         <body><main class=\"container\" style=\"max-width:36rem;margin-top:4rem\">{body}</main></body></html>"
    );
    no_store((status, Html(doc)).into_response())
}

fn unknown() -> Response {
    html_page(
        StatusCode::NOT_FOUND,
        "Link not found",
        "<h1>This link is not valid</h1><p>It may have been copied incompletely.</p>",
    )
}

/// The email a request's token names, if the token is its own.
async fn checked_email(state: &AppState, token: &str) -> Result<Option<store::EmailRow>, Response> {
    let Some(id) = email_of(token, Purpose::Unsubscribe) else {
        return Ok(None);
    };
    let conn = state.store.conn();
    let email = match store::by_id(conn, id).await {
        Ok(Some(e)) => e,
        Ok(None) => return Ok(None),
        Err(e) => return Err(failure(&e.to_string())),
    };
    let key = key(conn, &state.store, email.workspace_id)
        .await
        .map_err(|e| failure(&e.to_string()))?;
    Ok(verify(&key, token, Purpose::Unsubscribe, id).then_some(email))
}

fn failure(error: &str) -> Response {
    tracing::error!(error, "unsubscribe link failed");
    html_page(
        StatusCode::SERVICE_UNAVAILABLE,
        "Try again",
        "<h1>Something went wrong</h1><p>Please try again in a moment.</p>",
    )
}

/// The page behind the link: a button, nothing done yet.
async fn page(State(state): State<AppState>, Path(token): Path<String>) -> Response {
    let email = match checked_email(&state, &token).await {
        Ok(Some(e)) => e,
        Ok(None) => return unknown(),
        Err(res) => return res,
    };
    if email.unsubscribed_at.is_some() {
        return html_page(
            StatusCode::OK,
            "Unsubscribed",
            "<h1>You are unsubscribed</h1><p>You will not get more email from us.</p>",
        );
    }
    let address = crate::platform::web::escape(&email.to_address);
    html_page(
        StatusCode::OK,
        "Unsubscribe",
        &format!(
            "<h1>Unsubscribe</h1><p>Stop email to <strong>{address}</strong>?</p>\
             <form method=\"post\"><input type=\"hidden\" name=\"List-Unsubscribe\" value=\"One-Click\">\
             <button type=\"submit\" id=\"unsubscribe\">Unsubscribe</button></form>"
        ),
    )
}

/// One click: the address is suppressed before this answers, so the next send job refuses.
async fn unsubscribe(State(state): State<AppState>, Path(token): Path<String>) -> Response {
    let email = match checked_email(&state, &token).await {
        Ok(Some(e)) => e,
        Ok(None) => return unknown(),
        Err(res) => return res,
    };
    match record(&state.store, &email).await {
        Ok(()) => html_page(
            StatusCode::OK,
            "Unsubscribed",
            "<h1>You are unsubscribed</h1><p>You will not get more email from us.</p>",
        ),
        Err(e) => failure(&e.to_string()),
    }
}

/// Suppress the address, mark the email and say so, in one transaction; a second click
/// changes nothing.
async fn record(store: &Store, email: &store::EmailRow) -> anyhow::Result<()> {
    let txn = store.write().await?;
    let now = txn.now();
    if store::mark_unsubscribed(&txn, email.id, now).await? {
        if let Ok(address) = EmailAddress::parse(&email.to_address) {
            add_automatic(
                &txn,
                email.workspace_id,
                &address,
                Reason::Unsubscribed,
                "unsubscribe_link",
                Some(format!("email {}", email.id)),
            )
            .await
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        }
        events::emit(
            &txn,
            events::NewEvent {
                workspace_id: email.workspace_id,
                event_type: EMAIL_UNSUBSCRIBED.name,
                entity_type: "email",
                entity_id: Some(email.id.to_string()),
                source: "unsubscribe_link",
                data: serde_json::to_value(super::Unsubscribed {
                    email_id: email.id,
                    contact_id: email.contact_id,
                    email: email.to_address.clone(),
                    unsubscribed_at: now,
                })
                .unwrap_or_default(),
            },
        )
        .await?;
    }
    txn.commit().await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_token_names_its_email_and_only_its_key_makes_it() {
        let key = hmac::Key::new(hmac::HMAC_SHA256, b"0123456789abcdef0123456789abcdef");
        let other = hmac::Key::new(hmac::HMAC_SHA256, b"another key, another workspace..");
        let id = Uuid::from_u128(0x0190_0000_0000_7000_8000_0000_0000_0001);
        let t = token(&key, Purpose::Unsubscribe, id);
        assert_eq!(t.len(), 44);
        assert_eq!(email_of(&t, Purpose::Unsubscribe), Some(id));
        assert!(verify(&key, &t, Purpose::Unsubscribe, id));
        assert!(!verify(&other, &t, Purpose::Unsubscribe, id));
        assert!(!verify(&key, &t, Purpose::Unsubscribe, Uuid::from_u128(2)));
        let mut forged = B64.decode(&t).expect("b64");
        if let Some(last) = forged.last_mut() {
            *last ^= 1;
        }
        assert!(!verify(&key, &B64.encode(forged), Purpose::Unsubscribe, id));
        assert_eq!(email_of("not a token", Purpose::Unsubscribe), None);
        let click = token(&key, Purpose::Click(7), id);
        assert_eq!(tracked(&click), Some((Purpose::Click(7), id)));
        assert!(verify(&key, &click, Purpose::Click(7), id));
        assert!(!verify(&key, &click, Purpose::Click(8), id));
        assert_eq!(
            tracked(&token(&key, Purpose::Open, id)),
            Some((Purpose::Open, id))
        );
        assert_eq!(tracked(&t), None, "an unsubscribe token tracks nothing");
    }
}
