//! API keys `sos_<prefix>_<secret>`: the prefix finds the row, the secret is checked
//! against an Argon2id hash once, and a verified key's SHA-256 digest is then cached in
//! memory so later requests skip Argon2. Revocation and expiry are read from the row on
//! every request, so they take effect at once on every node.

use std::{collections::HashMap, sync::Mutex};

use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::{
    Credential, Principal, Role, password,
    store::{self, ApiKeyRow},
    tokens,
};
use crate::{error::Error, store::Db};

const PREFIX_LEN: usize = 10;
const SECRET_LEN: usize = 32;
/// Don't write `last_used_at` more often than this per key.
const TOUCH_INTERVAL_SECS: i64 = 60;
const CACHE_CAPACITY: usize = 10_000;

/// A key as handed to its owner: the only time the full secret exists outside the caller.
pub struct IssuedKey {
    pub row: ApiKeyRow,
    pub key: String,
}

/// Split `sos_<prefix>_<secret>`.
pub fn parse(key: &str) -> Option<(&str, &str)> {
    let rest = key.strip_prefix("sos_")?;
    let (prefix, secret) = rest.split_once('_')?;
    let ok = prefix.len() == PREFIX_LEN
        && secret.len() == SECRET_LEN
        && prefix
            .bytes()
            .chain(secret.bytes())
            .all(|c| c.is_ascii_alphanumeric());
    ok.then_some((prefix, secret))
}

/// Make a new key and store its hash.
pub async fn issue<C: Db>(
    conn: &C,
    workspace_id: Uuid,
    role: Role,
    name: &str,
    created_by: Option<Uuid>,
    expires_at: Option<DateTime<Utc>>,
) -> Result<IssuedKey, Error> {
    let prefix = tokens::random_token(PREFIX_LEN);
    let secret = tokens::random_token(SECRET_LEN);
    let key = format!("sos_{prefix}_{secret}");
    let row = ApiKeyRow {
        id: conn.new_id(),
        workspace_id,
        name: name.to_owned(),
        prefix,
        secret_hash: password::hash(secret).await?,
        role: role.as_str().to_owned(),
        created_by,
        created_at: conn.now(),
        expires_at,
        revoked_at: None,
        last_used_at: None,
    };
    store::insert_api_key(conn, &row).await?;
    Ok(IssuedKey { row, key })
}

/// Digests of keys already verified with Argon2, by prefix.
#[derive(Default)]
pub struct KeyCache {
    verified: Mutex<HashMap<String, String>>,
}

impl KeyCache {
    fn hit(&self, prefix: &str, digest: &str) -> bool {
        self.verified
            .lock()
            .map(|m| {
                m.get(prefix)
                    .is_some_and(|d| tokens::constant_time_eq(d.as_bytes(), digest.as_bytes()))
            })
            .unwrap_or(false)
    }

    fn remember(&self, prefix: &str, digest: String) {
        if let Ok(mut m) = self.verified.lock() {
            if m.len() >= CACHE_CAPACITY {
                m.clear();
            }
            m.insert(prefix.to_owned(), digest);
        }
    }
}

/// Turn a presented key into the caller it stands for.
pub async fn authenticate<C: Db>(
    conn: &C,
    cache: &KeyCache,
    presented: &str,
) -> Result<Principal, Error> {
    let invalid = || Error::Unauthenticated("invalid API key".into());
    let (prefix, secret) = parse(presented).ok_or_else(invalid)?;
    let row = store::find_api_key_by_prefix(conn, prefix)
        .await?
        .ok_or_else(invalid)?;
    let digest = tokens::digest(presented);
    if !cache.hit(prefix, &digest) {
        if !password::verify(secret.to_owned(), row.secret_hash.clone()).await {
            return Err(invalid());
        }
        cache.remember(prefix, digest);
    }
    let at = conn.now();
    if row.revoked_at.is_some() {
        return Err(Error::Unauthenticated("API key has been revoked".into()));
    }
    if row.expires_at.is_some_and(|e| e <= at) {
        return Err(Error::Unauthenticated("API key has expired".into()));
    }
    let role: Role = row
        .role
        .parse()
        .map_err(|e: String| Error::Internal(anyhow::anyhow!(e)))?;
    if row
        .last_used_at
        .is_none_or(|t| (at - t).num_seconds() >= TOUCH_INTERVAL_SECS)
    {
        store::touch_api_key(conn, row.id).await?;
    }
    Ok(Principal {
        workspace_id: row.workspace_id,
        user_id: row.created_by,
        role,
        credential: Credential::ApiKey { key_id: row.id },
        request_id: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_format_is_strict() {
        let k = format!("sos_{}_{}", "a".repeat(10), "B".repeat(32));
        assert_eq!(
            parse(&k),
            Some(("aaaaaaaaaa", "BBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBB"))
        );
        assert!(parse("sos_short_secret").is_none());
        assert!(parse(&k.replace("sos_", "sk_")).is_none());
        assert!(parse(&format!("sos_{}_{}!", "a".repeat(10), "B".repeat(31))).is_none());
    }

    #[test]
    fn cache_matches_only_the_verified_digest() {
        let cache = KeyCache::default();
        cache.remember("p", tokens::digest("sos_p_right"));
        assert!(cache.hit("p", &tokens::digest("sos_p_right")));
        assert!(!cache.hit("p", &tokens::digest("sos_p_wrong")));
        assert!(!cache.hit("q", &tokens::digest("sos_p_right")));
    }
}
