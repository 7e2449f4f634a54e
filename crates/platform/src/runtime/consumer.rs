//! Durable event consumers: the one way an area reacts to committed events. A consumer
//! has a name (its position in each workspace's event log is kept under it in
//! `consumer_offsets`), topic patterns, and a batch handler that runs inside the
//! transaction that also advances its position, so a batch is handled once in effect:
//! either both commit or neither does, and the batch comes again. One node at a time runs
//! a consumer's batch (an advisory lock on PostgreSQL, the write turn on SQLite). It wakes
//! on every commit in its process (and, on PostgreSQL, on other nodes' through the bus's
//! `NOTIFY`), polls once a second otherwise, backs off after a failure, and stops with the
//! node. `/metrics` shows each consumer's lag.

use std::{sync::Arc, time::Duration};

use async_trait::async_trait;
use sea_orm::{DbErr, FromQueryResult};
use tokio::sync::watch;

use super::events::{self, Event, topic_matches};
use crate::{
    error::Error,
    store::{Store, WriteTxn, statement},
};

/// Something that handles committed events, declared by an area.
#[async_trait]
pub trait Consumer: Send + Sync {
    /// Durable and unique: its positions are kept under this name.
    fn name(&self) -> &'static str;

    /// The event types it wants, as patterns (`contact.*`, `email.sent`, `*`). Other
    /// events pass it by: its position moves over them.
    fn topics(&self) -> &'static [&'static str];

    /// Events read per batch, across workspaces.
    fn batch_size(&self) -> u64 {
        500
    }

    /// Handle `events` (in each workspace's order) in `txn`, the transaction that then
    /// advances the consumer's position. An error rolls both back; the batch comes again
    /// after a backoff.
    async fn handle(&self, txn: &WriteTxn, events: &[Event]) -> Result<(), Error>;
}

/// Handle the consumer's next batch, if any: how many events it moved over.
pub async fn run_once(store: &Store, consumer: &dyn Consumer) -> Result<usize, Error> {
    // A cheap look before taking the write turn.
    if events::pending_unlocked(store.conn(), consumer.name(), 1)
        .await?
        .is_empty()
    {
        return Ok(0);
    }
    let txn = store.write().await?;
    let mut batch = events::pending_for(&txn, consumer.name(), consumer.batch_size()).await?;
    let read = batch.len();
    let mut last: Vec<(uuid::Uuid, i64)> = Vec::new();
    for event in &batch {
        match last.last_mut() {
            Some((ws, seq)) if *ws == event.workspace_id => *seq = event.seq,
            _ => last.push((event.workspace_id, event.seq)),
        }
    }
    let topics = consumer.topics();
    batch.retain(|e| topics.iter().any(|t| topic_matches(t, &e.event_type)));
    if !batch.is_empty() {
        consumer.handle(&txn, &batch).await?;
    }
    for (ws, seq) in last {
        events::advance(&txn, consumer.name(), ws, seq).await?;
    }
    txn.commit().await?;
    tracing::debug!(
        consumer = consumer.name(),
        read,
        handled = batch.len(),
        "events consumed"
    );
    Ok(read)
}

/// How long to wait after `failures` failed batches in a row: 100 ms doubling to 30 s,
/// with up to a quarter more at random so nodes do not retry in step.
pub fn backoff(failures: u32) -> Duration {
    let base = 0.1 * 2f64.powi(failures.saturating_sub(1).min(20) as i32);
    let capped = base.min(30.0);
    Duration::from_secs_f64(capped * (1.0 + rand::random::<f64>() * 0.25))
}

/// Run `consumer` until `shutdown` turns true.
pub fn spawn(
    store: Store,
    consumer: Arc<dyn Consumer>,
    mut shutdown: watch::Receiver<bool>,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut wake = store.signals().events.subscribe();
        let mut failures = 0u32;
        loop {
            if *shutdown.borrow() {
                return;
            }
            let wait = match run_once(&store, consumer.as_ref()).await {
                Ok(n) if n > 0 => {
                    failures = 0;
                    continue;
                }
                Ok(_) => {
                    failures = 0;
                    Duration::from_secs(1)
                }
                Err(e) => {
                    failures += 1;
                    let wait = backoff(failures);
                    tracing::warn!(consumer = consumer.name(), error = %e, failures,
                                   retry_in_ms = wait.as_millis() as u64, "event consumer failed; will retry");
                    wait
                }
            };
            // After a failure, wait out the backoff even if commits arrive meanwhile.
            let woken = async {
                if failures == 0 {
                    let _ = wake.changed().await;
                } else {
                    std::future::pending::<()>().await;
                }
            };
            tokio::select! {
                _ = woken => {}
                _ = tokio::time::sleep(wait) => {}
                _ = shutdown.changed() => return,
            }
        }
    })
}

/// How many committed events `consumer` has yet to move over, across workspaces.
pub async fn lag<C: crate::store::Db>(conn: &C, consumer: &str) -> Result<i64, DbErr> {
    #[derive(FromQueryResult)]
    struct Lag {
        lag: i64,
    }
    let stmt = statement(
        conn.get_database_backend(),
        "SELECT CAST(COALESCE(SUM(c.event_seq - COALESCE(o.last_seq, 0)), 0) AS bigint) AS lag \
         FROM workspace_counters c \
         LEFT JOIN consumer_offsets o ON o.consumer = $1 AND o.workspace_id = c.workspace_id",
        vec![consumer.into()],
    );
    Ok(Lag::find_by_statement(stmt)
        .one(conn)
        .await?
        .map_or(0, |l| l.lag))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_to_half_a_minute_with_some_jitter() {
        for (failures, low) in [(1, 0.1), (2, 0.2), (3, 0.4), (10, 30.0), (40, 30.0)] {
            let d = backoff(failures).as_secs_f64();
            assert!(d >= low && d <= low * 1.25 + 1e-9, "{failures}: {d}");
        }
    }
}
