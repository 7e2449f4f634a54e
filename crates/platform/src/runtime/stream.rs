//! `GET /api/v1/stream`: a WebSocket carrying the caller's workspace's events as they
//! commit, and job progress.
//!
//! Client → server:
//! - `{"type":"subscribe","topics":["contact.*","job.*"]}` adds topics (`*` for all);
//! - `{"type":"unsubscribe","topics":["job.*"]}` removes them;
//! - `{"type":"set_filters","filters":{"entity_type":["contact"],"source":["api"]}}` keeps
//!   only messages whose `data` has one of the listed values for each named field
//!   (`entity_type`, `entity_id`, `source`, `kind`); `{}` clears them;
//! - `{"type":"ping"}` is answered with `{"type":"pong"}`.
//!
//! Server → client: `{"type":"event","topic":…,"workspace_id":…,"data":{envelope}}`,
//! `{"type":"job.progress","topic":"job.progress","data":{"job_id","kind","progress","message"}}`,
//! `{"type":"subscribed","topics":[…]}`, `{"type":"filters","filters":{…}}`,
//! `{"type":"heartbeat","timestamp":…}` and `{"type":"error","message":…}`.
//!
//! A client that falls too far behind, or whose socket stays full for `SEND_TIMEOUT`, is
//! disconnected (close code 1008): one slow reader never holds up the node or anyone else.
//! A client silent for three heartbeats (no frame, not even a pong) is disconnected too.

use std::{
    collections::{BTreeMap, BTreeSet},
    sync::Arc,
    time::Duration,
};

use axum::{
    extract::{
        State, WebSocketUpgrade,
        ws::{CloseFrame, Message, Utf8Bytes, WebSocket, close_code},
    },
    http::{HeaderMap, header},
    response::Response,
};
use futures_util::{SinkExt, StreamExt};
use serde::Deserialize;
use tokio::sync::broadcast::{self, error::RecvError};
use uuid::Uuid;

use super::{bus::LiveMessage, events, topics::Topics};
use crate::{
    auth::{Credential, Principal},
    error::Error,
    state::AppState,
};

/// How long one message may wait for a client's socket before the client is dropped.
const SEND_TIMEOUT: Duration = Duration::from_secs(5);
/// Fields of `data` a filter may name.
const FILTER_FIELDS: [&str; 4] = ["entity_type", "entity_id", "source", "kind"];

#[derive(Debug, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
enum ClientMessage {
    Subscribe {
        topics: Vec<String>,
    },
    Unsubscribe {
        topics: Vec<String>,
    },
    SetFilters {
        filters: BTreeMap<String, Vec<String>>,
    },
    Ping,
}

/// What one connection wants.
#[derive(Default)]
struct Interest {
    topics: BTreeSet<String>,
    filters: BTreeMap<String, Vec<String>>,
}

impl Interest {
    fn wants(&self, workspace_id: Uuid, m: &LiveMessage) -> bool {
        m.workspace_id == workspace_id
            && self
                .topics
                .iter()
                .any(|t| events::topic_matches(t, &m.topic))
            && self.filters.iter().all(|(field, values)| {
                let v = match m.data.get(field) {
                    Some(serde_json::Value::String(s)) => s.clone(),
                    Some(other) => other.to_string(),
                    None => return false,
                };
                values.contains(&v)
            })
    }

    /// Apply a client message; the reply to send. Subscriptions must name topics that
    /// exist among `known`.
    fn apply(&mut self, msg: ClientMessage, known: &Topics) -> Result<serde_json::Value, String> {
        match msg {
            ClientMessage::Subscribe { topics } => {
                if let Some(err) = topics.iter().find_map(|t| known.check(t).err()) {
                    return Err(err);
                }
                self.topics.extend(topics);
                Ok(serde_json::json!({"type": "subscribed", "topics": self.topics}))
            }
            ClientMessage::Unsubscribe { topics } => {
                if let Some(bad) = topics.iter().find(|t| !events::valid_pattern(t)) {
                    return Err(format!("`{bad}` is not a topic pattern"));
                }
                for t in topics {
                    self.topics.remove(&t);
                }
                Ok(serde_json::json!({"type": "subscribed", "topics": self.topics}))
            }
            ClientMessage::SetFilters { filters } => {
                if let Some(bad) = filters
                    .keys()
                    .find(|k| !FILTER_FIELDS.contains(&k.as_str()))
                {
                    return Err(format!(
                        "cannot filter on `{bad}`; filters may name {}",
                        FILTER_FIELDS.join(", ")
                    ));
                }
                self.filters = filters;
                Ok(serde_json::json!({"type": "filters", "filters": self.filters}))
            }
            ClientMessage::Ping => Ok(serde_json::json!({"type": "pong"})),
        }
    }
}

/// Open the live stream of the caller's workspace.
pub async fn open(
    State(state): State<AppState>,
    principal: Principal,
    headers: HeaderMap,
    ws: WebSocketUpgrade,
) -> Result<Response, Error> {
    principal.require(crate::auth::actions::READ_WORKSPACE)?;
    // A browser sends the session cookie with a WebSocket from any site; only our own
    // pages may use it (API keys are not sent by browsers on their own).
    if matches!(principal.credential, Credential::Session { .. }) && !same_origin(&headers) {
        return Err(Error::Forbidden(
            "a WebSocket signed in with a session must come from this site's pages".into(),
        ));
    }
    // Subscribe before the handshake completes, so nothing committed after it is missed.
    let rx = state.store.signals().live.subscribe();
    let heartbeat = state.settings.stream_heartbeat;
    let workspace_id = principal.workspace_id;
    let topics = state.topics.clone();
    let clock = state.store.clock().clone();
    Ok(ws
        .max_message_size(64 * 1024)
        .on_upgrade(move |socket| serve(socket, workspace_id, rx, heartbeat, topics, clock)))
}

fn same_origin(headers: &HeaderMap) -> bool {
    let origin = headers.get(header::ORIGIN).and_then(|v| v.to_str().ok());
    let host = headers.get(header::HOST).and_then(|v| v.to_str().ok());
    match (origin, host) {
        (Some(origin), Some(host)) => origin
            .split_once("://")
            .is_some_and(|(_, rest)| rest.trim_end_matches('/') == host),
        // Non-browser clients send no Origin.
        (None, _) => true,
        _ => false,
    }
}

async fn serve(
    socket: WebSocket,
    workspace_id: Uuid,
    mut rx: broadcast::Receiver<Arc<LiveMessage>>,
    heartbeat: Duration,
    topics: Topics,
    clock: crate::clock::Clock,
) {
    let (mut sink, mut incoming) = socket.split();
    let mut interest = Interest::default();
    let mut beat = tokio::time::interval(heartbeat);
    beat.tick().await;
    let mut last_heard = tokio::time::Instant::now();
    let close = |code, reason: &str| {
        Message::Close(Some(CloseFrame {
            code,
            reason: Utf8Bytes::from(reason.to_owned()),
        }))
    };
    loop {
        let outgoing: Option<Message> = tokio::select! {
            frame = incoming.next() => {
                let Some(Ok(frame)) = frame else { return };
                last_heard = tokio::time::Instant::now();
                match frame {
                    Message::Text(text) => {
                        let reply = serde_json::from_str::<ClientMessage>(&text)
                            .map_err(|e| format!("unreadable message: {e}"))
                            .and_then(|m| interest.apply(m, &topics))
                            .unwrap_or_else(|message| serde_json::json!({"type": "error", "message": message}));
                        Some(Message::Text(reply.to_string().into()))
                    }
                    Message::Binary(_) => Some(Message::Text(
                        serde_json::json!({"type": "error", "message": "send JSON text messages"}).to_string().into(),
                    )),
                    Message::Close(_) => return,
                    Message::Ping(_) | Message::Pong(_) => None,
                }
            }
            live = rx.recv() => match live {
                Ok(m) if interest.wants(workspace_id, &m) => {
                    serde_json::to_string(&*m).ok().map(|s| Message::Text(s.into()))
                }
                Ok(_) => None,
                Err(RecvError::Lagged(n)) => {
                    tracing::info!(missed = n, "dropping a live stream client that fell behind");
                    let _ = tokio::time::timeout(SEND_TIMEOUT, sink.send(close(close_code::POLICY, "too slow: fell behind the stream"))).await;
                    return;
                }
                Err(RecvError::Closed) => return,
            },
            _ = beat.tick() => {
                if last_heard.elapsed() > heartbeat * 3 {
                    let _ = tokio::time::timeout(SEND_TIMEOUT, sink.send(close(close_code::POLICY, "no answer to heartbeats"))).await;
                    return;
                }
                if tokio::time::timeout(SEND_TIMEOUT, sink.send(Message::Ping(Default::default()))).await.is_err() {
                    return;
                }
                Some(Message::Text(
                    serde_json::json!({"type": "heartbeat", "timestamp": clock.now()}).to_string().into(),
                ))
            }
        };
        if let Some(m) = outgoing {
            match tokio::time::timeout(SEND_TIMEOUT, sink.send(m)).await {
                Ok(Ok(())) => {}
                Ok(Err(_)) => return,
                Err(_) => {
                    tracing::info!("dropping a live stream client whose socket stayed full");
                    return;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn msg(ws: Uuid, topic: &str, data: serde_json::Value) -> LiveMessage {
        LiveMessage {
            kind: super::super::bus::LiveKind::Event,
            topic: topic.into(),
            workspace_id: ws,
            data,
        }
    }

    #[test]
    fn interest_matches_workspace_topics_and_filters() {
        let ws = Uuid::new_v4();
        let mut i = Interest::default();
        const CONTACT_CREATED: crate::runtime::topics::Topic =
            crate::runtime::topics::Topic::of::<serde_json::Value>("contact.created", "test");
        let known = Topics::new(vec![CONTACT_CREATED]).expect("topics");
        let m = msg(
            ws,
            "contact.created",
            serde_json::json!({"entity_type": "contact", "source": "api"}),
        );
        assert!(!i.wants(ws, &m), "nothing before subscribing");
        i.apply(
            ClientMessage::Subscribe {
                topics: vec!["contact.*".into()],
            },
            &known,
        )
        .expect("subscribe");
        assert!(i.wants(ws, &m));
        assert!(!i.wants(Uuid::new_v4(), &m), "never another workspace");
        assert!(!i.wants(ws, &msg(ws, "account.created", serde_json::json!({}))));
        let f = BTreeMap::from([("source".to_string(), vec!["worker".to_string()])]);
        i.apply(ClientMessage::SetFilters { filters: f }, &known)
            .expect("filters");
        assert!(!i.wants(ws, &m));
        i.apply(
            ClientMessage::SetFilters {
                filters: BTreeMap::new(),
            },
            &known,
        )
        .expect("clear");
        assert!(i.wants(ws, &m));
        let bad = BTreeMap::from([("password".to_string(), vec![])]);
        let err = i
            .apply(ClientMessage::SetFilters { filters: bad }, &known)
            .expect_err("unknown field");
        assert!(err.contains("password"), "{err}");
        let err = i
            .apply(
                ClientMessage::Subscribe {
                    topics: vec!["Bad Topic".into()],
                },
                &known,
            )
            .expect_err("bad topic");
        assert!(err.contains("Bad Topic"), "{err}");
        let err = i
            .apply(
                ClientMessage::Subscribe {
                    topics: vec!["email.*".into()],
                },
                &known,
            )
            .expect_err("no such topic");
        assert!(
            err.contains("contact.created"),
            "lists the topics there are: {err}"
        );
    }
}
