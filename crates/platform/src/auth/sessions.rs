//! Dashboard sessions: a random token in an HttpOnly, SameSite=Strict cookie, stored as a
//! digest with a per-session CSRF token, an idle timeout and an absolute lifetime.

use std::time::Duration;

use axum::http::{HeaderMap, header};
use uuid::Uuid;

use super::{Credential, Principal, Role, store, tokens};
use crate::{error::Error, store::Db};

pub const COOKIE: &str = "salesos_session";
const TOUCH_INTERVAL_SECS: i64 = 60;

/// How long sessions live and how their cookie is marked.
#[derive(Clone, Copy, Debug)]
pub struct SessionPolicy {
    pub idle_timeout: Duration,
    pub max_age: Duration,
    pub secure_cookie: bool,
}

/// A new session: the cookie value to set, and its CSRF token.
pub struct StartedSession {
    pub token: String,
    pub csrf_token: String,
}

pub async fn start<C: Db>(
    conn: &C,
    policy: &SessionPolicy,
    user_id: Uuid,
    workspace_id: Uuid,
) -> Result<StartedSession, Error> {
    let token = tokens::random_token(43);
    let csrf_token = tokens::random_token(43);
    let max_age = chrono::Duration::from_std(policy.max_age)
        .map_err(|e| Error::Internal(anyhow::anyhow!("session max age: {e}")))?;
    store::insert_session(
        conn,
        store::NewSession {
            token_hash: &tokens::digest(&token),
            user_id,
            workspace_id,
            csrf_token: &csrf_token,
            expires_at: conn.now() + max_age,
        },
    )
    .await?;
    Ok(StartedSession { token, csrf_token })
}

/// The caller behind a session cookie, or `None` when it is unknown, expired or idle.
pub async fn resolve<C: Db>(
    conn: &C,
    policy: &SessionPolicy,
    token: &str,
) -> Result<Option<Principal>, Error> {
    let Some(row) = store::find_session(conn, &tokens::digest(token)).await? else {
        return Ok(None);
    };
    let at = conn.now();
    let idle = chrono::Duration::from_std(policy.idle_timeout).unwrap_or(chrono::Duration::MAX);
    let role = row.role.as_deref().and_then(|r| r.parse::<Role>().ok());
    let (Some(role), true) = (role, row.is_active) else {
        store::delete_session(conn, row.id).await?;
        return Ok(None);
    };
    if row.expires_at <= at || row.last_seen_at + idle <= at {
        store::delete_session(conn, row.id).await?;
        return Ok(None);
    }
    if (at - row.last_seen_at).num_seconds() >= TOUCH_INTERVAL_SECS {
        store::touch_session(conn, row.id).await?;
    }
    Ok(Some(Principal {
        workspace_id: row.workspace_id,
        user_id: Some(row.user_id),
        role,
        credential: Credential::Session {
            session_id: row.id,
            csrf_token: row.csrf_token,
        },
        request_id: None,
    }))
}

/// `Set-Cookie` value that installs the session.
pub fn set_cookie(policy: &SessionPolicy, token: &str) -> String {
    format!(
        "{COOKIE}={token}; Path=/; HttpOnly; SameSite=Strict; Max-Age={}{}",
        policy.max_age.as_secs(),
        if policy.secure_cookie { "; Secure" } else { "" }
    )
}

/// `Set-Cookie` value that removes it.
pub fn clear_cookie(policy: &SessionPolicy) -> String {
    format!(
        "{COOKIE}=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0{}",
        if policy.secure_cookie { "; Secure" } else { "" }
    )
}

/// The session token from the request's cookies.
pub fn token_from(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == COOKIE)
        .map(|(_, value)| value.to_owned())
        .filter(|v| !v.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cookie_is_locked_down() {
        let policy = SessionPolicy {
            idle_timeout: Duration::from_secs(60),
            max_age: Duration::from_secs(3600),
            secure_cookie: true,
        };
        let c = set_cookie(&policy, "tok");
        for attr in [
            "HttpOnly",
            "SameSite=Strict",
            "Secure",
            "Max-Age=3600",
            "Path=/",
        ] {
            assert!(c.contains(attr), "{c} lacks {attr}");
        }
    }

    #[test]
    fn token_is_found_among_other_cookies() {
        let mut h = HeaderMap::new();
        h.insert(
            header::COOKIE,
            "theme=dark; salesos_session=abc123; x=y"
                .parse()
                .expect("header"),
        );
        assert_eq!(token_from(&h).as_deref(), Some("abc123"));
    }
}
