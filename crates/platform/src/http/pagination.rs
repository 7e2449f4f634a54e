//! Keyset pagination shared by every list: `limit` and an opaque `cursor` that carries the
//! sort key and id of the last row served, so paging while rows are added never repeats or
//! skips a row (unlike OFFSET).

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use crate::error::Error;

pub const DEFAULT_LIMIT: u64 = 50;
pub const MAX_LIMIT: u64 = 500;

/// A page of a list: `{"data": [...], "next_cursor": string|null}`.
#[derive(Debug, Serialize, ToSchema)]
pub struct Page<T> {
    pub data: Vec<T>,
    /// Pass as `cursor` to get the next page; `null` on the last page.
    pub next_cursor: Option<String>,
}

/// The position after the last row of a page.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Cursor {
    /// The sort the cursor was made for; a cursor is refused under another sort.
    #[serde(rename = "s")]
    pub sort: String,
    /// The sort key of the last row (a timestamp, number or text).
    #[serde(rename = "k")]
    pub key: serde_json::Value,
    #[serde(rename = "i")]
    pub id: Uuid,
}

impl Cursor {
    pub fn encode(&self) -> String {
        URL_SAFE_NO_PAD.encode(serde_json::to_vec(self).unwrap_or_default())
    }

    /// Read a cursor given back by a client for the list sorted by `sort`.
    pub fn decode(raw: &str, sort: &str) -> Result<Self, Error> {
        let bad = || Error::invalid("cursor", "is not a cursor this list returned");
        let bytes = URL_SAFE_NO_PAD.decode(raw.trim()).map_err(|_| bad())?;
        let cursor: Cursor = serde_json::from_slice(&bytes).map_err(|_| bad())?;
        if cursor.sort != sort {
            return Err(Error::invalid(
                "cursor",
                format!(
                    "was made for sort `{}`, not `{sort}`; start again without a cursor",
                    cursor.sort
                ),
            ));
        }
        Ok(cursor)
    }
}

/// Validate a `limit` parameter.
pub fn page_size(limit: Option<u64>) -> Result<u64, Error> {
    match limit {
        None => Ok(DEFAULT_LIMIT),
        Some(n) if (1..=MAX_LIMIT).contains(&n) => Ok(n),
        Some(_) => Err(Error::invalid(
            "limit",
            format!("must be between 1 and {MAX_LIMIT}"),
        )),
    }
}

/// Cut a fetched `limit + 1` rows down to a page, making the cursor from the last row kept.
pub fn paginate<T, F>(mut rows: Vec<T>, limit: u64, cursor_of: F) -> Page<T>
where
    F: Fn(&T) -> Cursor,
{
    let limit = usize::try_from(limit).unwrap_or(usize::MAX);
    let more = rows.len() > limit;
    rows.truncate(limit);
    let next_cursor = if more {
        rows.last().map(|r| cursor_of(r).encode())
    } else {
        None
    };
    Page {
        data: rows,
        next_cursor,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursor_round_trips_and_refuses_other_sorts() {
        let c = Cursor {
            sort: "-created_at".into(),
            key: serde_json::json!("2026-01-01T00:00:00Z"),
            id: Uuid::new_v4(),
        };
        let raw = c.encode();
        assert_eq!(Cursor::decode(&raw, "-created_at").expect("decode"), c);
        assert!(Cursor::decode(&raw, "created_at").is_err());
        assert!(Cursor::decode("not-a-cursor", "-created_at").is_err());
    }

    #[test]
    fn limits_are_bounded() {
        assert_eq!(page_size(None).expect("default"), 50);
        assert!(page_size(Some(0)).is_err());
        assert!(page_size(Some(501)).is_err());
        assert_eq!(page_size(Some(500)).expect("max"), 500);
    }

    #[test]
    fn paginate_sets_cursor_only_when_more_rows_exist() {
        let mk = |n: u64| Cursor {
            sort: "x".into(),
            key: serde_json::json!(n),
            id: Uuid::nil(),
        };
        let page = paginate(vec![1u64, 2, 3], 2, |n| mk(*n));
        assert_eq!(page.data, vec![1, 2]);
        let next = Cursor::decode(page.next_cursor.as_deref().expect("more"), "x").expect("c");
        assert_eq!(next.key, serde_json::json!(2));
        let last = paginate(vec![1u64, 2], 2, |n| mk(*n));
        assert!(last.next_cursor.is_none());
    }
}
