//! The bus: committed events and live notes (job progress) leave the database and reach
//! every node's live subscribers, and, with NATS JetStream, any outside consumer.
//!
//! The event log in the database stays the source of truth; the bus only carries it.
//!
//! - **In-process** (default): each node tails the event log itself, waking on its own
//!   commits and on PostgreSQL `NOTIFY` from other nodes, and hands new events to its local
//!   subscribers. Job progress crosses nodes through `NOTIFY` on PostgreSQL.
//! - **NATS JetStream** (`--bus nats://…`): one relay at a time (a durable consumer of the
//!   event log, position kept in `consumer_offsets`) publishes each committed event to the
//!   stream `SALESOS` on `salesos.<workspace_id>.<event_type>`, with `Nats-Msg-Id` set to
//!   the event id, so a relay that dies between publishing and recording its position
//!   causes no duplicate in the stream. Every node subscribes to the subjects for its live
//!   subscribers; outside consumers create their own durable JetStream consumers and keep
//!   their own position. Job progress travels as plain NATS messages on
//!   `salesos_live.<workspace_id>.job.progress`.
//!
//! Within the process, producers send to `Signals::live_out` and subscribers read
//! `Signals::live`; the tasks here connect the two, locally or across nodes.

use std::{collections::HashMap, sync::Arc, time::Duration};

use futures_util::StreamExt;
use sea_orm::{ConnectionTrait, DbBackend, FromQueryResult};
use serde::{Deserialize, Serialize};
use tokio::{
    sync::{broadcast, watch},
    task::JoinHandle,
};
use uuid::Uuid;

use super::events::{self, Event};
use crate::{
    settings::Settings,
    store::{Store, exec, statement},
};

/// The JetStream stream that holds every workspace's events.
pub const STREAM: &str = "SALESOS";
/// The PostgreSQL channel that says "an event committed".
pub const EVENTS_CHANNEL: &str = "salesos_events";
/// The PostgreSQL channel that carries live notes between nodes on the in-process bus.
pub const LIVE_CHANNEL: &str = "salesos_live";
/// The durable consumer of the event log that feeds JetStream.
const RELAY: &str = "bus.relay";

/// What a live subscriber receives.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum LiveKind {
    #[serde(rename = "event")]
    Event,
    #[serde(rename = "job.progress")]
    JobProgress,
}

/// One message for live subscribers, already in the shape the stream sends.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct LiveMessage {
    #[serde(rename = "type")]
    pub kind: LiveKind,
    /// The event type (`contact.created`), or `job.progress`.
    pub topic: String,
    pub workspace_id: Uuid,
    pub data: serde_json::Value,
}

impl LiveMessage {
    pub fn event(e: &Event) -> Self {
        Self {
            kind: LiveKind::Event,
            topic: e.event_type.clone(),
            workspace_id: e.workspace_id,
            data: serde_json::to_value(e).unwrap_or_default(),
        }
    }
}

/// Where events go: chosen by `--bus` / `SALESOS_BUS`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum BusKind {
    InProcess,
    Nats(String),
}

impl BusKind {
    pub fn parse(value: &str) -> Result<Self, String> {
        let v = value.trim();
        if v.is_empty() || v == "in-process" {
            Ok(Self::InProcess)
        } else if v.starts_with("nats://") || v.starts_with("tls://") {
            Ok(Self::Nats(v.to_owned()))
        } else {
            Err(format!(
                "expected `in-process` or a NATS URL like nats://127.0.0.1:4222, got `{v}`"
            ))
        }
    }
}

/// The bus tasks of one node.
pub struct Bus {
    tasks: Vec<JoinHandle<()>>,
}

impl Bus {
    /// Connect (for NATS: make sure the stream exists) and start relaying.
    pub async fn start(
        store: &Store,
        settings: &Settings,
        shutdown: watch::Receiver<bool>,
    ) -> anyhow::Result<Self> {
        let mut tasks = Vec::new();
        if store.backend() == DbBackend::Postgres {
            tasks.push(listen(store.clone(), shutdown.clone()));
        }
        match &settings.bus {
            BusKind::InProcess => {
                tasks.push(tail_events(store.clone(), shutdown.clone()).await?);
                tasks.push(forward_live_in_process(store.clone(), shutdown));
            }
            BusKind::Nats(url) => {
                let client = async_nats::ConnectOptions::new()
                    .name("salesos")
                    .connect(url.as_str())
                    .await
                    .map_err(|e| anyhow::anyhow!("cannot connect to the NATS bus at {url}: {e}"))?;
                let js = async_nats::jetstream::new(client.clone());
                ensure_stream(&js).await?;
                tasks.push(relay(store.clone(), js, shutdown.clone()));
                tasks.push(subscribe_nats(store.clone(), client.clone(), shutdown.clone()).await?);
                tasks.push(forward_live_nats(store.clone(), client, shutdown));
            }
        }
        Ok(Self { tasks })
    }

    pub async fn stop(self) {
        for t in self.tasks {
            let _ = t.await;
        }
    }
}

/// The stream every event goes to: file-backed, a week of history, and a ten-minute window
/// in which a republished event id is recognised and dropped.
pub async fn ensure_stream(js: &async_nats::jetstream::Context) -> anyhow::Result<()> {
    js.get_or_create_stream(async_nats::jetstream::stream::Config {
        name: STREAM.into(),
        subjects: vec!["salesos.>".into()],
        storage: async_nats::jetstream::stream::StorageType::File,
        max_age: Duration::from_secs(7 * 24 * 3600),
        duplicate_window: Duration::from_secs(600),
        ..Default::default()
    })
    .await
    .map_err(|e| anyhow::anyhow!("cannot create the JetStream stream {STREAM}: {e}"))?;
    Ok(())
}

/// The subject of an event on the bus.
pub fn subject(e: &Event) -> String {
    format!("salesos.{}.{}", e.workspace_id, e.event_type)
}

fn bump(tx: &watch::Sender<u64>) {
    tx.send_modify(|v| *v = v.wrapping_add(1));
}

/// Turn PostgreSQL notifications from other nodes into this node's wake-ups and live notes.
fn listen(store: Store, mut shutdown: watch::Receiver<bool>) -> JoinHandle<()> {
    tokio::spawn(async move {
        loop {
            let pool = store.conn().get_postgres_connection_pool().clone();
            match sea_orm::sqlx::postgres::PgListener::connect_with(&pool).await {
                Ok(mut listener) => {
                    let channels = [super::jobs::CHANNEL, EVENTS_CHANNEL, LIVE_CHANNEL];
                    if listener.listen_all(channels).await.is_ok() {
                        loop {
                            tokio::select! {
                                n = listener.recv() => match n {
                                    Ok(n) => match n.channel() {
                                        super::jobs::CHANNEL => bump(&store.signals().jobs),
                                        EVENTS_CHANNEL => bump(&store.signals().events),
                                        _ => match serde_json::from_str::<LiveMessage>(n.payload()) {
                                            Ok(m) => { let _ = store.signals().live.send(Arc::new(m)); }
                                            Err(e) => tracing::warn!(error = %e, "unreadable live note"),
                                        },
                                    },
                                    Err(_) => break,
                                },
                                _ = shutdown.changed() => return,
                            }
                        }
                    }
                }
                Err(e) => tracing::warn!(error = %e, "cannot LISTEN; falling back to polling"),
            }
            tokio::select! {
                _ = tokio::time::sleep(Duration::from_secs(2)) => {}
                _ = shutdown.changed() => return,
            }
        }
    })
}

#[derive(FromQueryResult)]
struct Counter {
    workspace_id: Uuid,
    event_seq: i64,
}

async fn counters(store: &Store) -> Result<Vec<Counter>, sea_orm::DbErr> {
    let stmt = statement(
        store.backend(),
        "SELECT workspace_id, event_seq FROM workspace_counters",
        vec![],
    );
    Counter::find_by_statement(stmt).all(store.conn()).await
}

/// In-process bus: read events committed after this node started and hand them to the
/// local subscribers, each workspace's in order.
async fn tail_events(
    store: Store,
    mut shutdown: watch::Receiver<bool>,
) -> anyhow::Result<JoinHandle<()>> {
    let mut seen: HashMap<Uuid, i64> = counters(&store)
        .await?
        .into_iter()
        .map(|c| (c.workspace_id, c.event_seq))
        .collect();
    let mut wake = store.signals().events.subscribe();
    Ok(tokio::spawn(async move {
        loop {
            match tail_once(&store, &mut seen).await {
                Ok(true) => continue,
                Ok(false) => {}
                Err(e) => tracing::warn!(error = %e, "reading the event log failed; will retry"),
            }
            tokio::select! {
                _ = wake.changed() => {}
                _ = tokio::time::sleep(Duration::from_secs(1)) => {}
                _ = shutdown.changed() => return,
            }
        }
    }))
}

/// One round of the tail; `true` when there may be more.
async fn tail_once(store: &Store, seen: &mut HashMap<Uuid, i64>) -> Result<bool, sea_orm::DbErr> {
    let mut more = false;
    for c in counters(store).await? {
        let last = seen.get(&c.workspace_id).copied().unwrap_or(0);
        if c.event_seq <= last {
            continue;
        }
        let batch = events::list(store.conn(), c.workspace_id, last, None, 500).await?;
        // An event whose number is taken but whose transaction has not committed yet is
        // not visible; stop before a gap and pick it up on the next round.
        let mut next = last;
        for e in &batch {
            if e.seq != next + 1 {
                break;
            }
            next = e.seq;
            let _ = store.signals().live.send(Arc::new(LiveMessage::event(e)));
        }
        seen.insert(c.workspace_id, next);
        more |= batch.len() == 500;
    }
    Ok(more)
}

/// The next live note made in this process; `None` once stopping. A forwarder that fell
/// behind skips what it missed: notes are progress, and the next one supersedes them.
async fn next_note(
    out: &mut broadcast::Receiver<Arc<LiveMessage>>,
    shutdown: &mut watch::Receiver<bool>,
) -> Option<Arc<LiveMessage>> {
    loop {
        let note = tokio::select! {
            n = out.recv() => n,
            _ = shutdown.changed() => return None,
        };
        match note {
            Ok(n) => return Some(n),
            Err(broadcast::error::RecvError::Lagged(_)) => continue,
            Err(broadcast::error::RecvError::Closed) => return None,
        }
    }
}

/// In-process bus: live notes made here reach local subscribers directly, and other nodes
/// through `NOTIFY` on PostgreSQL (which also brings them back here).
fn forward_live_in_process(store: Store, mut shutdown: watch::Receiver<bool>) -> JoinHandle<()> {
    let mut out = store.signals().live_out.subscribe();
    tokio::spawn(async move {
        while let Some(note) = next_note(&mut out, &mut shutdown).await {
            if store.backend() == DbBackend::Postgres {
                let payload = serde_json::to_string(&*note).unwrap_or_default();
                if let Err(e) = exec(
                    store.conn(),
                    "SELECT pg_notify($1, $2)",
                    vec![LIVE_CHANNEL.into(), payload.into()],
                )
                .await
                {
                    tracing::debug!(error = %e, "could not share a live note");
                }
            } else {
                let _ = store.signals().live.send(note);
            }
        }
    })
}

/// NATS bus: publish committed events to JetStream in order, then record the position.
fn relay(
    store: Store,
    js: async_nats::jetstream::Context,
    mut shutdown: watch::Receiver<bool>,
) -> JoinHandle<()> {
    let mut wake = store.signals().events.subscribe();
    tokio::spawn(async move {
        loop {
            match relay_once(&store, &js).await {
                Ok(n) if n > 0 => continue,
                Ok(_) => {}
                Err(e) => tracing::warn!(error = %e, "relaying events to NATS failed; will retry"),
            }
            tokio::select! {
                _ = wake.changed() => {}
                _ = tokio::time::sleep(Duration::from_millis(500)) => {}
                _ = shutdown.changed() => return,
            }
        }
    })
}

/// Publish the next events the relay has not published; returns how many.
pub async fn relay_once(
    store: &Store,
    js: &async_nats::jetstream::Context,
) -> anyhow::Result<usize> {
    if store.backend() == DbBackend::Postgres {
        // One relay across nodes: the others skip while it holds the lock.
        let txn = store.write().await?;
        let locked = txn
            .query_one_raw(statement(
                DbBackend::Postgres,
                "SELECT pg_try_advisory_xact_lock(hashtext($1)) AS locked",
                vec![RELAY.into()],
            ))
            .await?
            .map(|r| r.try_get::<bool>("", "locked"))
            .transpose()?
            .unwrap_or(false);
        if !locked {
            return Ok(0);
        }
        let pending = events::pending_unlocked(&txn, RELAY, 500).await?;
        publish_all(js, &pending).await?;
        advance_all(&txn, &pending).await?;
        txn.commit().await?;
        Ok(pending.len())
    } else {
        let pending = events::pending_unlocked(store.conn(), RELAY, 500).await?;
        if pending.is_empty() {
            return Ok(0);
        }
        publish_all(js, &pending).await?;
        let txn = store.write().await?;
        advance_all(&txn, &pending).await?;
        txn.commit().await?;
        Ok(pending.len())
    }
}

async fn publish_all(js: &async_nats::jetstream::Context, pending: &[Event]) -> anyhow::Result<()> {
    // Publish the batch, then wait for every acknowledgement: JetStream keeps the order in
    // which one connection published.
    let mut acks = Vec::with_capacity(pending.len());
    for e in pending {
        let mut headers = async_nats::HeaderMap::new();
        headers.insert("Nats-Msg-Id", e.event_id.to_string().as_str());
        let body = serde_json::to_vec(e)?;
        acks.push(
            js.publish_with_headers(subject(e), headers, body.into())
                .await
                .map_err(|err| anyhow::anyhow!("publishing {} failed: {err}", e.event_id))?,
        );
    }
    for ack in acks {
        ack.await
            .map_err(|err| anyhow::anyhow!("NATS did not store an event: {err}"))?;
    }
    Ok(())
}

async fn advance_all<C: crate::store::Db>(
    conn: &C,
    pending: &[Event],
) -> Result<(), sea_orm::DbErr> {
    let mut last: HashMap<Uuid, i64> = HashMap::new();
    for e in pending {
        last.insert(e.workspace_id, e.seq);
    }
    for (ws, seq) in last {
        events::advance(conn, RELAY, ws, seq).await?;
    }
    Ok(())
}

/// NATS bus: this node's live subscribers get every event as JetStream stores it, and the
/// live notes of every node.
async fn subscribe_nats(
    store: Store,
    client: async_nats::Client,
    mut shutdown: watch::Receiver<bool>,
) -> anyhow::Result<JoinHandle<()>> {
    let mut events = client
        .subscribe("salesos.>")
        .await
        .map_err(|e| anyhow::anyhow!("cannot subscribe to the NATS bus: {e}"))?;
    let mut notes = client
        .subscribe("salesos_live.>")
        .await
        .map_err(|e| anyhow::anyhow!("cannot subscribe to the NATS bus: {e}"))?;
    Ok(tokio::spawn(async move {
        loop {
            let message = tokio::select! {
                m = events.next() => m.map(|m| (true, m)),
                m = notes.next() => m.map(|m| (false, m)),
                _ = shutdown.changed() => return,
            };
            let Some((is_event, m)) = message else { return };
            let live = if is_event {
                serde_json::from_slice::<Event>(&m.payload).map(|e| LiveMessage::event(&e))
            } else {
                serde_json::from_slice::<LiveMessage>(&m.payload)
            };
            match live {
                Ok(l) => {
                    let _ = store.signals().live.send(Arc::new(l));
                }
                Err(e) => {
                    tracing::warn!(subject = %m.subject, error = %e, "unreadable bus message")
                }
            }
        }
    }))
}

fn forward_live_nats(
    store: Store,
    client: async_nats::Client,
    mut shutdown: watch::Receiver<bool>,
) -> JoinHandle<()> {
    let mut out = store.signals().live_out.subscribe();
    tokio::spawn(async move {
        while let Some(note) = next_note(&mut out, &mut shutdown).await {
            let subject = format!("salesos_live.{}.{}", note.workspace_id, note.topic);
            let body = serde_json::to_vec(&*note).unwrap_or_default();
            if let Err(e) = client.publish(subject, body.into()).await {
                tracing::debug!(error = %e, "could not share a live note");
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bus_urls() {
        assert_eq!(BusKind::parse("").ok(), Some(BusKind::InProcess));
        assert_eq!(BusKind::parse("in-process").ok(), Some(BusKind::InProcess));
        assert_eq!(
            BusKind::parse("nats://127.0.0.1:4222").ok(),
            Some(BusKind::Nats("nats://127.0.0.1:4222".into()))
        );
        let err = BusKind::parse("kafka://x").err().unwrap_or_default();
        assert!(err.contains("kafka://x"), "{err}");
    }
}
