//! Scale-out: several `salesos` processes on one PostgreSQL and one NATS share the work; one
//! is killed with SIGKILL while it holds jobs, and nothing is lost or done twice in effect.
//!
//! Runs on PostgreSQL (`SALESOS_TEST_DATABASE_URL`) with NATS reachable; see `bus.rs`.

use std::{
    collections::{HashMap, HashSet},
    net::SocketAddr,
    path::Path,
    process::{Child, Command, Stdio},
    sync::{Arc, Mutex},
    time::Duration,
};

use async_nats::jetstream;
use axum::{Router, http::HeaderMap, routing::post};
use salesos_platform::store::{Store, statement};
use sea_orm::{ConnectionTrait, FromQueryResult};
use serde_json::{Value, json};

use crate::{
    bus::{drain, nats_url},
    helpers::{empty_settings, eventually},
    stream::{connect, next_json, subscribe},
};

const CONTACTS: usize = 60;

/// A receiver that takes 150 ms per webhook, so deliveries are in flight when a node dies,
/// and records each request's `webhook-id` (the idempotency key of the side effect).
async fn slow_receiver() -> (Arc<Mutex<Vec<(String, String)>>>, SocketAddr) {
    let got = Arc::new(Mutex::new(Vec::new()));
    let state = got.clone();
    let app = Router::new().route(
        "/hook",
        post(move |headers: HeaderMap, body: String| {
            let state = state.clone();
            async move {
                tokio::time::sleep(Duration::from_millis(150)).await;
                let id = headers
                    .get("webhook-id")
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or("")
                    .to_owned();
                let event: Value = serde_json::from_str(&body).unwrap_or_default();
                let event_id = event["event_id"].as_str().unwrap_or("").to_owned();
                state.lock().expect("lock").push((id, event_id));
                "ok"
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move { axum::serve(listener, app).await.expect("serve") });
    (got, addr)
}

struct Node {
    child: Child,
}

impl Node {
    fn start(dir: &Path, name: &str, db: &str, nats: &str, args: &[&str]) -> Self {
        let log = std::fs::File::create(dir.join(format!("{name}.log"))).expect("log file");
        let child = Command::new(env!("CARGO_BIN_EXE_salesos"))
            .args(args)
            .arg("--data-dir")
            .arg(dir)
            .arg("--database-url")
            .arg(db)
            .arg("--bus")
            .arg(nats)
            .env("SALESOS_JOB_LEASE_SECS", "3")
            .env("SALESOS_WEBHOOK_ALLOW_PRIVATE_NETWORKS", "true")
            .env("SALESOS_WEBHOOK_ALLOW_HTTP", "true")
            .env("SALESOS_WEBHOOK_RETRY_SCHEDULE", "0,1,1,1,1,1")
            .env("SALESOS_LOG_FORMAT", "json")
            .env("RUST_LOG", "info")
            .stdout(Stdio::null())
            .stderr(log.try_clone().expect("log"))
            .spawn()
            .expect("start a node");
        Node { child }
    }

    fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Stop gracefully (SIGTERM), as an operator would.
    fn stop(mut self) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let _ = self.child.wait();
    }
}

fn cli(dir: &Path, db: &str, args: &[&str]) -> Value {
    let out = Command::new(env!("CARGO_BIN_EXE_salesos"))
        .args(args)
        .arg("--data-dir")
        .arg(dir)
        .arg("--database-url")
        .arg(db)
        .output()
        .expect("run salesos");
    assert!(
        out.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    serde_json::from_str(stdout.lines().last().unwrap_or("")).expect("one JSON line")
}

#[derive(FromQueryResult)]
struct Row {
    id: uuid::Uuid,
    state: String,
    attempts: i32,
}

async fn deliver_jobs(store: &Store, owner_like: Option<&str>) -> Vec<Row> {
    let (sql, values) = match owner_like {
        Some(o) => (
            "SELECT id, state, attempts FROM jobs WHERE kind = 'webhook.deliver' AND state = 'running' AND lease_owner LIKE $1",
            vec![o.into()],
        ),
        None => (
            "SELECT id, state, attempts FROM jobs WHERE kind = 'webhook.deliver'",
            vec![],
        ),
    };
    Row::find_by_statement(statement(store.backend(), sql, values))
        .all(store.conn())
        .await
        .expect("jobs")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nodes_share_work_and_survive_one_killed_mid_job() {
    if std::env::var("SALESOS_TEST_DATABASE_URL").is_err() {
        eprintln!("skipping: scale-out needs PostgreSQL (set SALESOS_TEST_DATABASE_URL)");
        return;
    }
    let Some(nats) = nats_url().await else { return };
    let (settings, _guard) = empty_settings().await;
    let db = settings
        .database_url
        .as_ref()
        .expect("postgres url")
        .expose()
        .to_owned();
    let dir = settings.data_dir.clone();
    let store = Store::connect(&settings).await.expect("store");

    cli(&dir, &db, &["migrate"]);
    cli(
        &dir,
        &db,
        &[
            "admin",
            "create-user",
            "--workspace",
            "scale",
            "--email",
            "ops@scale.test",
            "--password",
            "correct horse battery",
            "--role",
            "admin",
        ],
    );
    let key = cli(
        &dir,
        &db,
        &[
            "admin",
            "create-api-key",
            "--workspace",
            "scale",
            "--role",
            "admin",
        ],
    )["key"]
        .as_str()
        .expect("key")
        .to_owned();

    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .expect("free port")
        .local_addr()
        .expect("addr")
        .port();
    let addr: SocketAddr = format!("127.0.0.1:{port}").parse().expect("addr");
    let bind = addr.to_string();
    let server = Node::start(&dir, "serve", &db, &nats, &["serve", "--bind", &bind]);
    let victim = Node::start(
        &dir,
        "worker-1",
        &db,
        &nats,
        &["worker", "--concurrency", "8"],
    );
    let survivor = Node::start(
        &dir,
        "worker-2",
        &db,
        &nats,
        &["worker", "--concurrency", "8"],
    );

    let http = reqwest::Client::new();
    let url = |p: &str| format!("http://{addr}{p}");
    let log = dir.join("serve.log");
    eventually(
        &format!("the serve node to be ready (see {})", log.display()),
        || async {
            http.get(url("/ready"))
                .send()
                .await
                .is_ok_and(|r| r.status().is_success())
                .then_some(())
        },
    )
    .await;

    let (received, hook_addr) = slow_receiver().await;
    let hook = http
        .post(url("/api/v1/webhooks"))
        .bearer_auth(&key)
        .json(&json!({"url": format!("http://{hook_addr}/hook"), "events": ["contact.created"]}))
        .send()
        .await
        .expect("webhook");
    assert_eq!(hook.status(), 201, "{:?}", hook.text().await);

    // Subscribers: a live WebSocket client on the serve node, and a durable JetStream
    // consumer as an outside system would use.
    let mut live = connect(addr, &key).await;
    subscribe(&mut live, json!(["contact.created"])).await;
    let workspace: String = {
        let row = store
            .conn()
            .query_one_raw(statement(
                store.backend(),
                "SELECT id FROM workspaces WHERE slug = 'scale'",
                vec![],
            ))
            .await
            .expect("query")
            .expect("workspace");
        row.try_get::<uuid::Uuid>("", "id").expect("id").to_string()
    };
    let js = jetstream::new(async_nats::connect(nats.as_str()).await.expect("nats"));
    let filter = format!("salesos.{workspace}.contact.created");
    let durable = format!("scale-{}", workspace.replace('-', ""));
    drain(&js, &durable, &filter).await;

    let mut contact_ids = HashSet::new();
    for i in 0..CONTACTS {
        let r = http
            .post(url("/api/v1/contacts"))
            .bearer_auth(&key)
            .json(&json!({"email": format!("lead{i}@scale.test")}))
            .send()
            .await
            .expect("contact");
        assert_eq!(r.status(), 201);
        let body: Value = r.json().await.expect("json");
        contact_ids.insert(body["id"].as_str().expect("id").to_owned());
    }

    // Kill the victim with SIGKILL while it holds deliveries.
    let owner = format!("%:{}:%", victim.pid());
    let held = eventually("the victim node to hold a job", || async {
        let held = deliver_jobs(&store, Some(&owner)).await;
        (!held.is_empty()).then_some(held)
    })
    .await;
    let mut victim = victim;
    victim.child.kill().expect("SIGKILL");
    let _ = victim.child.wait();
    let held: HashSet<uuid::Uuid> = held.iter().map(|j| j.id).collect();

    // Everything finishes on the nodes left.
    let jobs = eventually("every delivery to finish on the nodes left", || async {
        let jobs = deliver_jobs(&store, None).await;
        (jobs.len() == CONTACTS && jobs.iter().all(|j| j.state == "succeeded")).then_some(jobs)
    })
    .await;

    // The dead node's leases were taken over: what it held ran again elsewhere.
    let by_id: HashMap<uuid::Uuid, &Row> = jobs.iter().map(|j| (j.id, j)).collect();
    assert!(
        held.iter()
            .all(|id| by_id.get(id).is_some_and(|j| j.state == "succeeded")),
        "a job the dead node held did not finish"
    );
    assert!(
        held.iter()
            .any(|id| by_id.get(id).is_some_and(|j| j.attempts >= 2)),
        "no job of the dead node was taken over by another"
    );

    // Exactly once in effect: every event was delivered, and every repeat of a request
    // carries the same webhook-id, so the receiver can tell it is a repeat.
    let got = received.lock().expect("lock").clone();
    let distinct: HashSet<&String> = got.iter().map(|(id, _)| id).collect();
    assert_eq!(distinct.len(), CONTACTS, "one delivery id per event");
    let mut event_of: HashMap<&String, &String> = HashMap::new();
    for (id, event) in &got {
        assert_eq!(
            *event_of.entry(id).or_insert(event),
            event,
            "a webhook-id reused for another event"
        );
    }
    let delivered_events: HashSet<&String> = event_of.values().copied().collect();
    assert_eq!(delivered_events.len(), CONTACTS);

    // Every event reached every subscriber: the live client and the durable consumer.
    let mut heard = HashSet::new();
    while heard.len() < CONTACTS {
        let m = next_json(&mut live, Duration::from_secs(10))
            .await
            .unwrap_or_else(|| panic!("the live client heard {} of {CONTACTS}", heard.len()));
        if m["type"] == "event" {
            heard.insert(m["data"]["entity_id"].as_str().unwrap_or("").to_owned());
        }
    }
    assert_eq!(heard, contact_ids);
    let mut consumed = Vec::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
    while consumed.len() < CONTACTS && tokio::time::Instant::now() < deadline {
        consumed.extend(drain(&js, &durable, &filter).await);
    }
    let consumed_ids: Vec<String> = consumed
        .iter()
        .map(|m| {
            let v: Value = serde_json::from_slice(&m.payload).unwrap_or_default();
            v["entity_id"].as_str().unwrap_or("").to_owned()
        })
        .collect();
    assert_eq!(consumed_ids.len(), CONTACTS, "each event once on the bus");
    assert_eq!(
        consumed_ids.into_iter().collect::<HashSet<_>>(),
        contact_ids
    );

    survivor.stop();
    server.stop();
    let _ = js
        .delete_consumer_from_stream(&durable, salesos_platform::runtime::bus::STREAM)
        .await;
}
