//! The live stream: `GET /api/v1/stream` over a real WebSocket.

use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use salesos_platform::runtime::{
    events::{self, NewEvent},
    jobs::{self, NewJob},
};
use serde_json::{Value, json};
use tokio_tungstenite::{
    MaybeTlsStream, WebSocketStream,
    tungstenite::{Message, client::IntoClientRequest, protocol::frame::coding::CloseCode},
};

use crate::helpers::{TestApp, spawn_app, spawn_app_with};

pub type Ws = WebSocketStream<MaybeTlsStream<tokio::net::TcpStream>>;

pub async fn connect(addr: std::net::SocketAddr, key: &str) -> Ws {
    let mut req = format!("ws://{addr}/api/v1/stream")
        .into_client_request()
        .expect("request");
    req.headers_mut().insert(
        "authorization",
        format!("Bearer {key}").parse().expect("header"),
    );
    let (ws, _) = tokio_tungstenite::connect_async(req)
        .await
        .expect("websocket handshake");
    ws
}

pub async fn send(ws: &mut Ws, msg: Value) {
    ws.send(Message::Text(msg.to_string().into()))
        .await
        .expect("send");
}

/// The next JSON text message (skipping pings), within `wait`.
pub async fn next_json(ws: &mut Ws, wait: Duration) -> Option<Value> {
    let deadline = tokio::time::Instant::now() + wait;
    loop {
        let frame = tokio::time::timeout_at(deadline, ws.next()).await.ok()??;
        match frame.ok()? {
            Message::Text(t) => return serde_json::from_str(&t).ok(),
            Message::Close(_) => return None,
            _ => {}
        }
    }
}

/// Read until a message of type `kind` arrives (skipping heartbeats and others).
pub async fn next_of(ws: &mut Ws, kind: &str) -> Value {
    loop {
        let m = next_json(ws, Duration::from_secs(10))
            .await
            .unwrap_or_else(|| panic!("no `{kind}` message arrived"));
        if m["type"] == kind {
            return m;
        }
    }
}

pub async fn subscribe(ws: &mut Ws, topics: Value) {
    send(ws, json!({"type": "subscribe", "topics": topics})).await;
    let ack = next_of(ws, "subscribed").await;
    assert!(ack["topics"].is_array(), "{ack}");
}

async fn stream_app() -> TestApp {
    spawn_app_with(|s| s.stream_heartbeat = Duration::from_millis(300)).await
}

#[tokio::test]
async fn events_of_the_callers_workspace_arrive_as_they_commit() {
    let app = stream_app().await;
    let other_key = app.other_workspace_key().await;
    let mut ws = connect(app.addr, &app.admin_key).await;
    let mut other = connect(app.addr, &other_key).await;
    subscribe(&mut ws, json!(["contact.*"])).await;
    subscribe(&mut other, json!(["*"])).await;

    let created = app.contact(json!({"email": "live@example.com"})).await;
    let m = next_of(&mut ws, "event").await;
    assert_eq!(m["topic"], "contact.created", "{m}");
    assert_eq!(m["workspace_id"], app.workspace_id.to_string());
    assert_eq!(m["data"]["event_type"], "contact.created");
    assert_eq!(m["data"]["entity_id"], created["id"]);
    assert!(m["data"]["seq"].as_i64().unwrap_or(0) >= 1, "{m}");

    // Another workspace never sees it: its next message is a heartbeat, not the event.
    for _ in 0..3 {
        let m = next_json(&mut other, Duration::from_secs(2))
            .await
            .expect("heartbeat");
        assert_eq!(m["type"], "heartbeat", "leaked across workspaces: {m}");
    }

    // Topics not subscribed to are not sent; filters narrow further.
    send(
        &mut ws,
        json!({"type": "set_filters", "filters": {"source": ["worker"]}}),
    )
    .await;
    let f = next_of(&mut ws, "filters").await;
    assert_eq!(f["filters"]["source"][0], "worker");
    app.contact(json!({"email": "filtered@example.com"})).await;
    send(&mut ws, json!({"type": "set_filters", "filters": {}})).await;
    next_of(&mut ws, "filters").await;
    let third = app.contact(json!({"email": "third@example.com"})).await;
    let m = next_of(&mut ws, "event").await;
    assert_eq!(
        m["data"]["entity_id"], third["id"],
        "the filtered-out event must not arrive: {m}"
    );
}

#[tokio::test]
async fn bad_messages_get_errors_that_name_the_problem_and_the_stream_goes_on() {
    let app = stream_app().await;
    let mut ws = connect(app.addr, &app.admin_key).await;
    send(
        &mut ws,
        json!({"type": "subscribe", "topics": ["Not A Topic"]}),
    )
    .await;
    let e = next_of(&mut ws, "error").await;
    assert!(
        e["message"].as_str().unwrap_or("").contains("Not A Topic"),
        "{e}"
    );
    ws.send(Message::Text("{not json".into()))
        .await
        .expect("send");
    let e = next_of(&mut ws, "error").await;
    assert!(
        e["message"]
            .as_str()
            .unwrap_or("")
            .contains("unreadable message"),
        "{e}"
    );
    send(
        &mut ws,
        json!({"type": "set_filters", "filters": {"password": ["x"]}}),
    )
    .await;
    let e = next_of(&mut ws, "error").await;
    assert!(
        e["message"].as_str().unwrap_or("").contains("password"),
        "{e}"
    );
    send(&mut ws, json!({"type": "ping"})).await;
    next_of(&mut ws, "pong").await;
    let hb = next_of(&mut ws, "heartbeat").await;
    assert!(hb["timestamp"].is_string(), "{hb}");
}

/// Sign in to the dashboard and return the session cookie as a `Cookie` header value.
async fn session_cookie(app: &TestApp) -> String {
    let res = app
        .client
        .post(app.url("/login"))
        .form(&[
            ("email", app.admin_email.as_str()),
            ("password", crate::helpers::PASSWORD),
            ("next", "/app"),
        ])
        .send()
        .await
        .expect("login");
    res.headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .filter_map(|v| v.split(';').next())
        .collect::<Vec<_>>()
        .join("; ")
}

#[tokio::test]
async fn the_stream_needs_a_caller_and_refuses_cross_site_sessions() {
    let app = spawn_app().await;
    let plain = format!("ws://{}/api/v1/stream", app.addr)
        .into_client_request()
        .expect("request");
    match tokio_tungstenite::connect_async(plain).await {
        Err(tokio_tungstenite::tungstenite::Error::Http(res)) => {
            assert_eq!(res.status(), 401)
        }
        other => panic!("expected 401, got {:?}", other.map(|(_, r)| r.status())),
    }
    let session_cookie = session_cookie(&app).await;
    let mut req = format!("ws://{}/api/v1/stream", app.addr)
        .into_client_request()
        .expect("request");
    req.headers_mut()
        .insert("cookie", session_cookie.parse().expect("cookie"));
    req.headers_mut()
        .insert("origin", "https://evil.example".parse().expect("origin"));
    match tokio_tungstenite::connect_async(req).await {
        Err(tokio_tungstenite::tungstenite::Error::Http(res)) => {
            assert_eq!(res.status(), 403)
        }
        other => panic!("expected 403, got {:?}", other.map(|(_, r)| r.status())),
    }
    let mut req = format!("ws://{}/api/v1/stream", app.addr)
        .into_client_request()
        .expect("request");
    req.headers_mut()
        .insert("cookie", session_cookie.parse().expect("cookie"));
    req.headers_mut().insert(
        "origin",
        format!("http://{}", app.addr).parse().expect("origin"),
    );
    let (mut ws, _) = tokio_tungstenite::connect_async(req)
        .await
        .expect("same-site session is let in");
    subscribe(&mut ws, json!(["*"])).await;
}

#[tokio::test]
async fn job_progress_is_streamed_live() {
    let app = stream_app().await;
    let mut ws = connect(app.addr, &app.admin_key).await;
    subscribe(&mut ws, json!(["job.*"])).await;
    let txn = app.store.write().await.expect("txn");
    let id = jobs::enqueue(
        &txn,
        NewJob {
            workspace_id: Some(app.workspace_id),
            ..NewJob::new("noop", json!({"steps": 4, "step_ms": 20}))
        },
    )
    .await
    .expect("enqueue")
    .id();
    txn.commit().await.expect("commit");
    // Progress notes go out as the job reports them; the completion is an event, relayed
    // from the event log after its commit, so it may overtake the last note (on
    // PostgreSQL the relay is woken by NOTIFY). Read until both have come.
    let mut seen = Vec::new();
    let mut completed = false;
    while !completed || seen.last() != Some(&100) {
        let m = next_json(&mut ws, Duration::from_secs(10))
            .await
            .expect("progress or completion");
        match m["type"].as_str() {
            Some("job.progress") => {
                assert_eq!(m["data"]["job_id"], id.to_string());
                seen.push(m["data"]["progress"].as_i64().unwrap_or(-1));
            }
            Some("event") if m["topic"] == "job.completed" => {
                assert_eq!(m["data"]["data"]["job_id"], id.to_string());
                completed = true;
            }
            _ => {}
        }
    }
    assert_eq!(seen, vec![25, 50, 75, 100]);
}

#[tokio::test]
async fn a_client_that_stops_reading_is_dropped_and_others_carry_on() {
    // Heartbeats far apart, so the slow client is dropped for not reading, not for
    // missing pongs while this test is busy writing events.
    let app = spawn_app_with(|s| s.stream_heartbeat = Duration::from_secs(20)).await;
    let mut slow = connect(app.addr, &app.admin_key).await;
    let mut fast = connect(app.addr, &app.admin_key).await;
    subscribe(&mut slow, json!(["*"])).await;
    subscribe(&mut fast, json!(["import.completed"])).await;
    // 12,000 events in one commit: far more than a client may fall behind by.
    let txn = app.store.write().await.expect("txn");
    for i in 0..12_000 {
        events::emit(
            &txn,
            NewEvent {
                workspace_id: app.workspace_id,
                event_type: "contact.bulk_created",
                entity_type: "test",
                entity_id: Some(i.to_string()),
                source: "api",
                data: json!({"i": i, "pad": "x".repeat(2000)}),
            },
        )
        .await
        .expect("emit");
    }
    events::emit(
        &txn,
        NewEvent {
            workspace_id: app.workspace_id,
            event_type: "import.completed",
            entity_type: "test",
            entity_id: None,
            source: "api",
            data: json!({}),
        },
    )
    .await
    .expect("emit");
    txn.commit().await.expect("commit");

    // The reader that keeps up gets its event, and the server still answers.
    let done = next_of(&mut fast, "event").await;
    assert_eq!(done["topic"], "import.completed");
    assert_eq!(app.get("/api/v1/contacts").await.status, 200);

    // The one that did not read was dropped: it is closed (1008 when the server could
    // still say why) before everything reached it.
    let mut received = 0;
    let close = loop {
        match tokio::time::timeout(Duration::from_secs(30), slow.next()).await {
            Ok(Some(Ok(Message::Close(frame)))) => break frame,
            Ok(Some(Ok(_))) => received += 1,
            Ok(Some(Err(_))) | Ok(None) => break None,
            Err(_) => panic!("the slow client was never dropped ({received} messages read)"),
        }
    };
    if let Some(frame) = close {
        assert_eq!(frame.code, CloseCode::Policy, "{frame:?}");
        assert!(frame.reason.contains("too slow"), "{frame:?}");
    }
    assert!(
        received < 12_001,
        "a client that stopped reading was still sent everything ({received} messages)"
    );
}
