//! Domain events: written in the transaction of the change they describe (the outbox), with
//! the envelope of seed 002 and a per-workspace sequence number. The sequence is taken from
//! a per-workspace counter row whose lock is held until commit, so within a workspace the
//! sequence order is the commit order and a consumer that remembers the last number it saw
//! never skips an event that commits late.

use chrono::{DateTime, Utc};
use sea_orm::{DbBackend, DbErr, FromQueryResult, Value};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use crate::store::{
    Db, Wake, exec,
    query::{SqlBuilder, like_escape},
    rows_per_statement, statement,
};

/// An event as stored and as delivered: the seed 002 envelope plus its position.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct Event {
    pub event_id: Uuid,
    /// Topic, e.g. `contact.created`.
    pub event_type: String,
    pub timestamp: DateTime<Utc>,
    pub workspace_id: Uuid,
    /// Position in the workspace's event log, from 1, without gaps.
    pub seq: i64,
    pub entity_id: Option<String>,
    pub entity_type: String,
    /// What produced it: `api`, `dashboard`, `worker`, `cli`.
    pub source: String,
    #[schema(value_type = Object)]
    pub data: serde_json::Value,
    /// `{"version": 1, "retry_count": 0}`.
    #[schema(value_type = Object)]
    pub metadata: serde_json::Value,
}

crate::table! {
    struct Row in "events" {
        id: Uuid,
        workspace_id: Uuid,
        seq: i64,
        event_type: String,
        entity_type: String,
        entity_id: Option<String>,
        source: String,
        data: serde_json::Value,
        metadata: serde_json::Value,
        created_at: DateTime<Utc>,
    }
}

impl From<Row> for Event {
    fn from(r: Row) -> Self {
        Event {
            event_id: r.id,
            event_type: r.event_type,
            timestamp: r.created_at,
            workspace_id: r.workspace_id,
            seq: r.seq,
            entity_id: r.entity_id,
            entity_type: r.entity_type,
            source: r.source,
            data: r.data,
            metadata: r.metadata,
        }
    }
}

/// The event columns of table alias `alias`, each named `{prefix}{column}`, for queries
/// that read an event beside other rows; decode with [`from_prefixed`].
pub fn columns_as(alias: &str, prefix: &str) -> String {
    crate::store::query::columns_as(Row::COLUMNS, alias, prefix)
}

/// The event in a row selected with [`columns_as`].
pub fn from_prefixed(row: &sea_orm::QueryResult, prefix: &str) -> Result<Event, DbErr> {
    Row::from_query_result(row, prefix).map(Event::from)
}

/// An event to record.
pub struct NewEvent<'a> {
    pub workspace_id: Uuid,
    pub event_type: &'a str,
    pub entity_type: &'a str,
    pub entity_id: Option<String>,
    pub source: &'a str,
    pub data: serde_json::Value,
}

/// Record an event in the caller's transaction.
pub async fn emit<C: Db>(conn: &C, e: NewEvent<'_>) -> Result<Event, DbErr> {
    emit_many(conn, vec![e])
        .await?
        .pop()
        .ok_or_else(|| DbErr::Custom("no event recorded".into()))
}

/// Record many events in the caller's transaction, in order: one counter statement per
/// workspace reserves a block of sequence numbers, and multi-row inserts write
/// them. Bulk producers (imports, the benchmark) use this; it costs two statements
/// for any number of events of one workspace.
pub async fn emit_many<C: Db>(conn: &C, new: Vec<NewEvent<'_>>) -> Result<Vec<Event>, DbErr> {
    // Reserve each workspace's block; the counter row stays locked until commit.
    let mut next: Vec<(Uuid, i64)> = Vec::new();
    for e in &new {
        match next.iter_mut().find(|(ws, _)| *ws == e.workspace_id) {
            Some((_, n)) => *n += 1,
            None => next.push((e.workspace_id, 1)),
        }
    }
    for (ws, n) in &mut next {
        let stmt = statement(
            conn.get_database_backend(),
            "INSERT INTO workspace_counters (workspace_id, event_seq) VALUES ($1, $2) \
             ON CONFLICT (workspace_id) DO UPDATE SET event_seq = workspace_counters.event_seq + $2 \
             RETURNING event_seq",
            vec![(*ws).into(), (*n).into()],
        );
        let last: i64 = conn
            .query_one_raw(stmt)
            .await?
            .ok_or_else(|| DbErr::Custom("event counter returned no row".into()))?
            .try_get("", "event_seq")?;
        // From now on: the next number to hand out in this workspace.
        *n = last - *n + 1;
    }
    let at = conn.now();
    let mut events = Vec::with_capacity(new.len());
    for e in new {
        let seq = next
            .iter_mut()
            .find(|(ws, _)| *ws == e.workspace_id)
            .map(|(_, n)| {
                *n += 1;
                *n - 1
            })
            .ok_or_else(|| DbErr::Custom("event workspace without a counter".into()))?;
        events.push(Event {
            event_id: conn.new_id(),
            event_type: e.event_type.to_owned(),
            timestamp: at,
            workspace_id: e.workspace_id,
            seq,
            entity_id: e.entity_id,
            entity_type: e.entity_type.to_owned(),
            source: e.source.to_owned(),
            data: e.data,
            metadata: serde_json::json!({"version": 1, "retry_count": 0}),
        });
    }
    for chunk in events.chunks(rows_per_statement(conn.get_database_backend(), 10)) {
        let mut b = SqlBuilder::new(&format!(
            "INSERT INTO events ({row_columns}) VALUES ",
            row_columns = Row::COLUMNS
        ));
        b.push_rows(chunk.iter().map(|e| {
            vec![
                e.event_id.into(),
                e.workspace_id.into(),
                e.seq.into(),
                e.event_type.clone().into(),
                e.entity_type.clone().into(),
                e.entity_id.clone().into(),
                e.source.clone().into(),
                e.data.clone().into(),
                e.metadata.clone().into(),
                e.timestamp.into(),
            ]
        }));
        exec(conn, &b.sql, b.values).await?;
    }
    // Every node's consumers wake when the transaction commits: once per transaction, not
    // once per event.
    if !events.is_empty() {
        conn.wake(Wake::Events).await?;
    }
    Ok(events)
}

/// Record the event a caller's change causes (`contact.created`, …), in its transaction.
pub async fn record<C: Db>(
    conn: &C,
    principal: &crate::auth::Principal,
    topic: &super::topics::Topic,
    entity_type: &str,
    entity_id: Uuid,
    data: serde_json::Value,
) -> Result<Event, DbErr> {
    emit(
        conn,
        NewEvent {
            workspace_id: principal.workspace_id,
            event_type: topic.name,
            entity_type,
            entity_id: Some(entity_id.to_string()),
            source: principal.source(),
            data,
        },
    )
    .await
}

/// Does `event_type` match a topic pattern (`contact.*`, `*`, `email.sent`)?
pub fn topic_matches(pattern: &str, event_type: &str) -> bool {
    match pattern.strip_suffix('*') {
        Some(prefix) => event_type.starts_with(prefix),
        None => pattern == event_type,
    }
}

/// Check a topic pattern: dotted words, optionally ending in `*`.
pub fn valid_pattern(pattern: &str) -> bool {
    let body = pattern.strip_suffix('*').unwrap_or(pattern);
    !pattern.is_empty()
        && pattern.len() <= 100
        && body
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '.' || c == '_')
}

/// A workspace's events after position `after`, oldest first, optionally of matching types.
pub async fn list<C: Db>(
    conn: &C,
    workspace_id: Uuid,
    after: i64,
    pattern: Option<&str>,
    limit: u64,
) -> Result<Vec<Event>, DbErr> {
    let mut b = SqlBuilder::new(&format!(
        "SELECT {row_columns} FROM events WHERE workspace_id = $1",
        row_columns = Row::COLUMNS
    ));
    b.values.push(workspace_id.into());
    b.and("seq", ">", after);
    if let Some(p) = pattern.filter(|p| *p != "*") {
        match p.strip_suffix('*') {
            Some(prefix) => {
                let v = b.bind(format!("{}%", like_escape(prefix)));
                b.push(&format!(" AND event_type LIKE {v} ESCAPE '\\'"));
            }
            None => {
                b.and("event_type", "=", p.to_owned());
            }
        }
    }
    b.push(&format!(" ORDER BY seq LIMIT {limit}"));
    let stmt = statement(conn.get_database_backend(), &b.sql, b.values);
    Ok(Row::find_by_statement(stmt)
        .all(conn)
        .await?
        .into_iter()
        .map(Event::from)
        .collect())
}

/// The next events a durable consumer has not seen, across workspaces, with each
/// workspace's events in order. Call inside the transaction that records what the consumer
/// did with them and advances its offsets, so each event is handled exactly once.
pub async fn pending_for<C: Db>(conn: &C, consumer: &str, limit: u64) -> Result<Vec<Event>, DbErr> {
    if conn.get_database_backend() == DbBackend::Postgres {
        // One node at a time per consumer; the lock ends with the transaction.
        exec(
            conn,
            "SELECT pg_advisory_xact_lock(hashtext($1))",
            vec![consumer.into()],
        )
        .await?;
    }
    pending_unlocked(conn, consumer, limit).await
}

/// [`pending_for`] without taking the consumer's lock, for callers that hold it already or
/// tolerate handling an event twice.
pub async fn pending_unlocked<C: Db>(
    conn: &C,
    consumer: &str,
    limit: u64,
) -> Result<Vec<Event>, DbErr> {
    let sql = format!(
        "SELECT e.id, e.workspace_id, e.seq, e.event_type, e.entity_type, e.entity_id, e.source, e.data, \
                e.metadata, e.created_at \
         FROM workspace_counters c \
         LEFT JOIN consumer_offsets o ON o.consumer = $1 AND o.workspace_id = c.workspace_id \
         JOIN events e ON e.workspace_id = c.workspace_id AND e.seq > COALESCE(o.last_seq, 0) \
         WHERE c.event_seq > COALESCE(o.last_seq, 0) \
         ORDER BY e.workspace_id, e.seq LIMIT {limit}"
    );
    let stmt = statement(conn.get_database_backend(), &sql, vec![consumer.into()]);
    Ok(Row::find_by_statement(stmt)
        .all(conn)
        .await?
        .into_iter()
        .map(Event::from)
        .collect())
}

/// Record that `consumer` has handled a workspace's events up to `seq`.
pub async fn advance<C: Db>(
    conn: &C,
    consumer: &str,
    workspace_id: Uuid,
    seq: i64,
) -> Result<(), DbErr> {
    exec(
        conn,
        "INSERT INTO consumer_offsets (consumer, workspace_id, last_seq, updated_at) VALUES ($1, $2, $3, $4) \
         ON CONFLICT (consumer, workspace_id) DO UPDATE SET last_seq = excluded.last_seq, updated_at = excluded.updated_at",
        vec![consumer.into(), workspace_id.into(), Value::from(seq), conn.now().into()],
    )
    .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn topic_patterns() {
        assert!(topic_matches("contact.*", "contact.created"));
        assert!(topic_matches("*", "email.sent"));
        assert!(topic_matches("email.sent", "email.sent"));
        assert!(!topic_matches("email.sent", "email.opened"));
        assert!(!topic_matches("contact.*", "account.created"));
        assert!(valid_pattern("email.*") && valid_pattern("contact.created") && valid_pattern("*"));
        assert!(!valid_pattern("") && !valid_pattern("Contact; drop") && !valid_pattern("a*b"));
    }
}
