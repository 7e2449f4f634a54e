//! Building list queries safely: every value is bound (`$n`), never formatted into SQL, and
//! sorts are chosen from a fixed list so column names never come from the caller.

use chrono::{DateTime, Utc};
use sea_orm::Value;
use uuid::Uuid;

use crate::{auth::OwnerScope, error::Error, http::pagination::Cursor};

/// SQL text with its bound values, written with `$n` placeholders.
#[derive(Debug, Default)]
pub struct SqlBuilder {
    pub sql: String,
    pub values: Vec<Value>,
}

impl SqlBuilder {
    pub fn new(base: &str) -> Self {
        Self {
            sql: base.to_owned(),
            values: Vec::new(),
        }
    }

    /// Bind a value; returns its placeholder.
    pub fn bind(&mut self, v: impl Into<Value>) -> String {
        self.values.push(v.into());
        format!("${}", self.values.len())
    }

    pub fn push(&mut self, s: &str) -> &mut Self {
        self.sql.push_str(s);
        self
    }

    /// Bind every value of every row and push them as `(..), (..)`: the body of a
    /// multi-row `VALUES` list.
    pub fn push_rows(&mut self, rows: impl IntoIterator<Item = Vec<Value>>) -> &mut Self {
        for (i, row) in rows.into_iter().enumerate() {
            let marks: Vec<String> = row.into_iter().map(|v| self.bind(v)).collect();
            self.sql.push_str(if i == 0 { "(" } else { ", (" });
            self.sql.push_str(&marks.join(", "));
            self.sql.push(')');
        }
        self
    }

    /// ` AND <column> <op> $n`.
    pub fn and(&mut self, column: &str, op: &str, v: impl Into<Value>) -> &mut Self {
        let p = self.bind(v);
        self.sql.push_str(&format!(" AND {column} {op} {p}"));
        self
    }
}

/// What a sort column holds, to read a cursor's key back into a bound value.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KeyKind {
    Timestamp,
    Integer,
    Text,
    /// Creation order, read off the id alone: ids are UUIDv7, whose leading 48 bits are the
    /// millisecond the row was made, so no index needs `created_at` beside `id`. The
    /// cursor's key (the creation time) is only shown; the id is the position.
    CreationOrder,
}

/// One sort a list offers: the name callers use, its column and kind.
#[derive(Clone, Copy, Debug)]
pub struct SortField {
    pub name: &'static str,
    pub column: &'static str,
    pub kind: KeyKind,
}

/// A chosen sort: field and direction (`-name` is descending).
#[derive(Clone, Copy, Debug)]
pub struct Sort {
    pub field: SortField,
    pub descending: bool,
}

impl Sort {
    /// Parse `sort=` against the fields a list offers.
    pub fn parse(raw: Option<&str>, fields: &[SortField], default: &str) -> Result<Self, Error> {
        let raw = raw.unwrap_or(default).trim();
        let (descending, name) = match raw.strip_prefix('-') {
            Some(n) => (true, n),
            None => (false, raw),
        };
        let field = fields
            .iter()
            .find(|f| f.name == name)
            .copied()
            .ok_or_else(|| {
                let names: Vec<&str> = fields.iter().map(|f| f.name).collect();
                Error::invalid(
                    "sort",
                    format!(
                        "unknown sort `{raw}`; use one of {} (prefix - for descending)",
                        names.join(", ")
                    ),
                )
            })?;
        Ok(Self { field, descending })
    }

    /// The name a cursor is bound to.
    pub fn name(&self) -> String {
        if self.descending {
            format!("-{}", self.field.name)
        } else {
            self.field.name.to_owned()
        }
    }

    /// Read a cursor against this sort: the page position it names, or why it is not one
    /// this list returned. Checked at the edge, before any SQL.
    pub fn position(&self, cursor: &Cursor) -> Result<Position, Error> {
        let bad = || Error::invalid("cursor", "is not a cursor this list returned");
        let key: Option<Value> = match self.field.kind {
            KeyKind::CreationOrder => None,
            KeyKind::Timestamp => Some(
                serde_json::from_value::<DateTime<Utc>>(cursor.key.clone())
                    .map_err(|_| bad())?
                    .into(),
            ),
            KeyKind::Integer => Some(cursor.key.as_i64().ok_or_else(bad)?.into()),
            KeyKind::Text => Some(cursor.key.as_str().ok_or_else(bad)?.to_owned().into()),
        };
        Ok(Position { key, id: cursor.id })
    }

    /// ` AND (col, id) < ($a, $b)` (or ` AND id < $a` in creation order) for a position.
    /// `prefix` qualifies the columns (e.g. `c.`).
    pub fn after(&self, b: &mut SqlBuilder, prefix: &str, at: &Position) {
        let op = if self.descending { "<" } else { ">" };
        match &at.key {
            Some(key) => {
                let k = b.bind(key.clone());
                let i = b.bind(at.id);
                b.push(&format!(
                    " AND ({prefix}{col}, {prefix}id) {op} ({k}, {i})",
                    col = self.field.column
                ));
            }
            None => {
                let i = b.bind(at.id);
                b.push(&format!(" AND {prefix}id {op} {i}"));
            }
        }
    }

    pub fn order_by(&self, prefix: &str) -> String {
        let dir = if self.descending { "DESC" } else { "ASC" };
        if self.field.kind == KeyKind::CreationOrder {
            return format!(" ORDER BY {prefix}id {dir}");
        }
        format!(
            " ORDER BY {prefix}{col} {dir}, {prefix}id {dir}",
            col = self.field.column
        )
    }

    /// The cursor after a row with this sort key and id.
    pub fn cursor(&self, key: serde_json::Value, id: Uuid) -> Cursor {
        Cursor {
            sort: self.name(),
            key,
            id,
        }
    }
}

/// Where a page starts: a cursor read against its sort by [`Sort::position`].
#[derive(Clone, Debug)]
pub struct Position {
    /// The sort key's value, bound as the column holds it; none in creation order.
    key: Option<Value>,
    id: Uuid,
}

/// Created/updated time windows every list offers.
#[derive(Clone, Copy, Debug, Default)]
pub struct TimeRanges {
    pub created_after: Option<DateTime<Utc>>,
    pub created_before: Option<DateTime<Utc>>,
    pub updated_after: Option<DateTime<Utc>>,
    pub updated_before: Option<DateTime<Utc>>,
}

impl SqlBuilder {
    /// Restrict to the records a caller's role may see.
    pub fn owner_scope(&mut self, scope: OwnerScope) -> &mut Self {
        match scope {
            OwnerScope::All => {}
            OwnerScope::OwnOrUnassigned(Some(user)) => {
                let p = self.bind(user);
                self.push(&format!(" AND (owner_id IS NULL OR owner_id = {p})"));
            }
            OwnerScope::OwnOrUnassigned(None) => {
                self.push(" AND owner_id IS NULL");
            }
        }
        self
    }

    /// `owner_id` filter: a user, or `Some(None)` for unassigned.
    pub fn owner_is(&mut self, owner: Option<Option<Uuid>>) -> &mut Self {
        match owner {
            Some(Some(o)) => {
                self.and("owner_id", "=", o);
            }
            Some(None) => {
                self.push(" AND owner_id IS NULL");
            }
            None => {}
        }
        self
    }

    pub fn time_ranges(&mut self, r: &TimeRanges) -> &mut Self {
        for (col, op, v) in [
            ("created_at", ">=", r.created_after),
            ("created_at", "<", r.created_before),
            ("updated_at", ">=", r.updated_after),
            ("updated_at", "<", r.updated_before),
        ] {
            if let Some(v) = v {
                self.and(col, op, v);
            }
        }
        self
    }
}

/// Parse an `owner_id` query parameter: a user id, or `none` for unassigned records.
pub fn parse_owner_filter(raw: Option<&str>) -> Result<Option<Option<Uuid>>, Error> {
    match raw.map(str::trim) {
        None | Some("") => Ok(None),
        Some("none") => Ok(Some(None)),
        Some(id) => id
            .parse::<Uuid>()
            .map(|u| Some(Some(u)))
            .map_err(|_| Error::invalid("owner_id", "must be a user id or `none`")),
    }
}

/// `INSERT INTO table (c1, …) VALUES ($1, …)`.
/// `a.x AS p_x, a.y AS p_y` for a comma-separated column list, so rows of several tables
/// can be read from one result (sea-orm's `from_query_result(row, "p_")` decodes them).
pub fn columns_as(columns: &str, alias: &str, prefix: &str) -> String {
    columns
        .split(',')
        .map(str::trim)
        .map(|c| format!("{alias}.{c} AS {prefix}{c}"))
        .collect::<Vec<_>>()
        .join(", ")
}

pub fn insert_sql(table: &str, columns: &[&str]) -> String {
    let placeholders: Vec<String> = (1..=columns.len()).map(|i| format!("${i}")).collect();
    format!(
        "INSERT INTO {table} ({}) VALUES ({})",
        columns.join(", "),
        placeholders.join(", ")
    )
}

/// `UPDATE table SET c1 = $1, …, updated_at = $n+1 WHERE workspace_id = $n+2 AND id = $n+3`:
/// bind the column values, then `updated_at`, the workspace and the id.
pub fn update_sql(table: &str, columns: &[&str]) -> String {
    let n = columns.len();
    let sets: Vec<String> = columns
        .iter()
        .enumerate()
        .map(|(i, c)| format!("{c} = ${}", i + 1))
        .collect();
    format!(
        "UPDATE {table} SET {}, updated_at = ${} WHERE workspace_id = ${} AND id = ${}",
        sets.join(", "),
        n + 1,
        n + 2,
        n + 3
    )
}

/// Escape `%`, `_` and `\` for a `LIKE … ESCAPE '\'` pattern.
pub fn like_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if matches!(c, '%' | '_' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// A list's search text as given in `field`: `None` when blank, refused when it holds NUL
/// (no text can match it, and PostgreSQL refuses it as a parameter). Every way into a
/// search (API, CSV export, dashboard) goes through the list's query and so through here.
pub fn search_text(field: &str, q: Option<String>) -> Result<Option<String>, Error> {
    match q {
        Some(q) if q.contains('\0') => {
            Err(Error::invalid(field, crate::http::extract::NUL_MESSAGE))
        }
        Some(q) if q.trim().is_empty() => Ok(None),
        q => Ok(q),
    }
}

/// Split a search into lower-cased terms.
pub fn search_terms(q: &str) -> Vec<String> {
    q.split_whitespace()
        .map(str::to_lowercase)
        .filter(|t| !t.is_empty())
        .take(8)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn search_text_is_blank_given_or_refused() {
        assert_eq!(search_text("q", Some("  ".into())).expect("blank"), None);
        assert_eq!(search_text("q", None).expect("none"), None);
        assert_eq!(
            search_text("q", Some("ada".into()))
                .expect("ada")
                .as_deref(),
            Some("ada")
        );
        let err = search_text("q", Some("a\0b".into())).expect_err("nul");
        assert!(
            matches!(err, Error::Invalid(ref f) if f[0].field == "q"),
            "{err:?}"
        );
    }

    const FIELDS: &[SortField] = &[
        SortField {
            name: "created_at",
            column: "created_at",
            kind: KeyKind::Timestamp,
        },
        SortField {
            name: "score",
            column: "engagement_score",
            kind: KeyKind::Integer,
        },
    ];

    #[test]
    fn sorts_parse_from_a_fixed_list() {
        let s = Sort::parse(Some("-score"), FIELDS, "-created_at").expect("sort");
        assert!(s.descending);
        assert_eq!(s.field.column, "engagement_score");
        assert_eq!(
            s.order_by("c."),
            " ORDER BY c.engagement_score DESC, c.id DESC"
        );
        let err = Sort::parse(Some("email; DROP TABLE x"), FIELDS, "-created_at").expect_err("bad");
        assert!(matches!(err, Error::Invalid(ref v) if v[0].field == "sort"));
    }

    #[test]
    fn creation_order_pages_by_the_id_alone() {
        const BY_ID: &[SortField] = &[SortField {
            name: "created_at",
            column: "id",
            kind: KeyKind::CreationOrder,
        }];
        let s = Sort::parse(None, BY_ID, "-created_at").expect("sort");
        assert_eq!(s.order_by(""), " ORDER BY id DESC");
        let mut b = SqlBuilder::new("SELECT * FROM t WHERE w = $1");
        b.values.push(1i32.into());
        let c = s.cursor(serde_json::json!("2026-01-01T00:00:00Z"), Uuid::nil());
        s.after(&mut b, "", &s.position(&c).expect("a cursor of this sort"));
        assert_eq!(b.sql, "SELECT * FROM t WHERE w = $1 AND id < $2");
        assert_eq!(b.values.len(), 2, "the time is shown, not bound");
    }

    #[test]
    fn a_cursor_that_does_not_fit_its_sort_is_refused_before_any_sql() {
        let s = Sort::parse(None, FIELDS, "-created_at").expect("sort");
        let c = s.cursor(serde_json::json!(42), Uuid::nil());
        let err = s.position(&c).expect_err("not a time");
        assert!(matches!(err, Error::Invalid(ref v) if v[0].field == "cursor"));
    }

    #[test]
    fn keyset_condition_binds_values() {
        let s = Sort::parse(None, FIELDS, "-created_at").expect("sort");
        let mut b = SqlBuilder::new("SELECT * FROM t WHERE w = $1");
        b.values.push(1i32.into());
        let c = s.cursor(serde_json::json!("2026-01-01T00:00:00Z"), Uuid::nil());
        s.after(&mut b, "", &s.position(&c).expect("a cursor of this sort"));
        assert_eq!(
            b.sql,
            "SELECT * FROM t WHERE w = $1 AND (created_at, id) < ($2, $3)"
        );
        assert_eq!(b.values.len(), 3);
    }

    #[test]
    fn insert_and_update_statements_number_their_placeholders() {
        assert_eq!(
            insert_sql("t", &["a", "b"]),
            "INSERT INTO t (a, b) VALUES ($1, $2)"
        );
        assert_eq!(
            update_sql("t", &["a", "b"]),
            "UPDATE t SET a = $1, b = $2, updated_at = $3 WHERE workspace_id = $4 AND id = $5"
        );
    }

    #[test]
    fn owner_filters_parse() {
        assert_eq!(parse_owner_filter(Some("none")).expect("none"), Some(None));
        assert_eq!(parse_owner_filter(None).expect("absent"), None);
        assert!(parse_owner_filter(Some("bob")).is_err());
    }

    #[test]
    fn like_patterns_are_escaped() {
        assert_eq!(like_escape("50%_off\\"), "50\\%\\_off\\\\");
        assert_eq!(search_terms("  Jane   ACME "), vec!["jane", "acme"]);
    }
}
