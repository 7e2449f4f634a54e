//! Outbound webhooks delivered to a real HTTP receiver on loopback.

use std::{
    collections::VecDeque,
    net::SocketAddr,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use axum::{Router, body::Bytes, http::HeaderMap, routing::post};
use base64::{Engine, engine::general_purpose::STANDARD};
use hmac::{Hmac, KeyInit, Mac};
use reqwest::StatusCode;
use salesos_webhooks::settings::WebhookSettings;
use serde_json::{Value, json};
use sha2::Sha256;

use crate::helpers::{TestApp, eventually, spawn_app, spawn_app_with};

#[derive(Clone, Debug)]
struct Received {
    headers: HeaderMap,
    body: Vec<u8>,
}

/// Answers to give, in order: status and an optional `Retry-After`.
type Script = VecDeque<(u16, Option<&'static str>)>;

#[derive(Clone, Default)]
struct Receiver {
    got: Arc<Mutex<Vec<Received>>>,
    /// Answers to give, in order (status, Retry-After); 200 once they run out.
    script: Arc<Mutex<Script>>,
}

impl Receiver {
    async fn start() -> (Self, SocketAddr) {
        let r = Receiver::default();
        let state = r.clone();
        let app = Router::new().route(
            "/hook",
            post(move |headers: HeaderMap, body: Bytes| {
                let state = state.clone();
                async move {
                    state.got.lock().expect("lock").push(Received {
                        headers,
                        body: body.to_vec(),
                    });
                    let (status, retry) = state
                        .script
                        .lock()
                        .expect("lock")
                        .pop_front()
                        .unwrap_or((200, None));
                    let mut res = axum::response::Response::new(axum::body::Body::from(format!(
                        "answer {status}"
                    )));
                    *res.status_mut() = axum::http::StatusCode::from_u16(status).expect("status");
                    if let Some(r) = retry {
                        res.headers_mut()
                            .insert("retry-after", r.parse().expect("header"));
                    }
                    res
                }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        tokio::spawn(async move { axum::serve(listener, app).await.expect("serve") });
        (r, addr)
    }

    fn answer(&self, answers: &[(u16, Option<&'static str>)]) {
        self.script
            .lock()
            .expect("lock")
            .extend(answers.iter().copied());
    }

    fn received(&self) -> Vec<Received> {
        self.got.lock().expect("lock").clone()
    }

    async fn wait_for(&self, n: usize) -> Vec<Received> {
        eventually(&format!("{n} requests at the receiver"), || async {
            let got = self.received();
            (got.len() >= n).then_some(got)
        })
        .await
    }
}

fn verify(secret: &str, r: &Received) -> bool {
    let id = r.headers["webhook-id"].to_str().expect("id");
    let ts = r.headers["webhook-timestamp"].to_str().expect("ts");
    let key = STANDARD
        .decode(secret.trim_start_matches("whsec_"))
        .expect("secret");
    let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(&key).expect("key");
    mac.update(format!("{id}.{ts}.").as_bytes());
    mac.update(&r.body);
    let expected = format!("v1,{}", STANDARD.encode(mac.finalize().into_bytes()));
    r.headers["webhook-signature"]
        .to_str()
        .expect("sig")
        .split(' ')
        .any(|s| s == expected)
}

async fn app_for_webhooks() -> TestApp {
    spawn_app_with(|s| {
        let hooks = s.section_mut::<WebhookSettings>();
        hooks.allow_http = true;
        hooks.allow_private_networks = true;
        hooks.retry_schedule = vec![0.0, 0.2, 0.2];
    })
    .await
}

async fn subscribe(app: &TestApp, addr: SocketAddr, events: Value) -> Value {
    let res = app
        .post(
            "/api/v1/webhooks",
            json!({"url": format!("http://{addr}/hook"), "events": events}),
        )
        .await;
    assert_eq!(res.status, StatusCode::CREATED, "{}", res.body);
    res.body
}

async fn wait_delivery(app: &TestApp, hook: &str, state: &str) -> Value {
    eventually(&format!("a {state} delivery"), || async {
        let list = app
            .get(&format!("/api/v1/webhooks/{hook}/deliveries"))
            .await;
        list.body["data"]
            .as_array()
            .and_then(|a| a.iter().find(|d| d["state"] == state))
            .cloned()
    })
    .await
}

#[tokio::test]
async fn events_are_delivered_signed_to_matching_endpoints() {
    let app = app_for_webhooks().await;
    let (rx, addr) = Receiver::start().await;
    let hook = subscribe(&app, addr, json!(["contact.*"])).await;
    let secret = hook["secret"]
        .as_str()
        .expect("secret shown once")
        .to_owned();
    assert!(secret.starts_with("whsec_"));
    let shown = app
        .get(&format!(
            "/api/v1/webhooks/{}",
            hook["id"].as_str().expect("id")
        ))
        .await;
    assert!(
        shown.body.get("secret").is_none(),
        "the secret is not shown again"
    );

    app.post("/api/v1/accounts", json!({"name": "Not subscribed"}))
        .await;
    app.contact(json!({"email": "hooked@acme.test"})).await;
    let got = rx.wait_for(1).await;
    app.settled().await;
    assert_eq!(
        rx.received().len(),
        1,
        "account.created does not match contact.*"
    );
    let body: Value = serde_json::from_slice(&got[0].body).expect("json");
    assert_eq!(body["type"], "contact.created");
    assert_eq!(body["data"]["email"], "hooked@acme.test");
    assert_eq!(body["workspace_id"], app.workspace_id.to_string());
    assert!(body["event_id"].is_string() && body["timestamp"].is_string());
    assert!(
        verify(&secret, &got[0]),
        "signature verifies with the endpoint secret"
    );
    assert!(
        !verify(&format!("whsec_{}", STANDARD.encode([7u8; 32])), &got[0]),
        "and not with another"
    );
    let delivered = wait_delivery(&app, hook["id"].as_str().expect("id"), "succeeded").await;
    assert_eq!(delivered["attempts"], 1);
    assert_eq!(delivered["last_status"], 200);
}

#[tokio::test]
async fn failed_deliveries_retry_on_schedule_and_honour_retry_after() {
    let app = app_for_webhooks().await;
    let (rx, addr) = Receiver::start().await;
    rx.answer(&[(500, None), (429, Some("0.1"))]);
    let hook = subscribe(&app, addr, json!(["*"])).await;
    let hook_id = hook["id"].as_str().expect("id");
    app.contact(json!({"email": "retry@acme.test"})).await;
    let got = rx.wait_for(3).await;
    let ids: Vec<&str> = got
        .iter()
        .map(|r| r.headers["webhook-id"].to_str().expect("id"))
        .collect();
    assert!(
        ids.iter().all(|i| *i == ids[0]),
        "the same message id on every attempt"
    );
    let counts: Vec<i64> = got
        .iter()
        .map(|r| {
            serde_json::from_slice::<Value>(&r.body).expect("json")["metadata"]["retry_count"]
                .as_i64()
                .expect("n")
        })
        .collect();
    assert_eq!(counts, [0, 1, 2]);
    let d = wait_delivery(&app, hook_id, "succeeded").await;
    let log = app
        .get(&format!(
            "/api/v1/webhooks/{hook_id}/deliveries/{}",
            d["id"].as_str().expect("id")
        ))
        .await;
    let statuses: Vec<i64> = log.body["attempt_log"]
        .as_array()
        .expect("log")
        .iter()
        .map(|a| a["status"].as_i64().expect("s"))
        .collect();
    assert_eq!(statuses, [500, 429, 200], "{}", log.body);
    assert_eq!(log.body["attempt_log"][0]["response_excerpt"], "answer 500");
    app.settled().await;
    assert_eq!(
        rx.received().len(),
        3,
        "a `*` subscriber is not fed events about its own deliveries"
    );
}

#[tokio::test]
async fn dead_deliveries_can_be_replayed_and_410_disables_the_endpoint() {
    let app = app_for_webhooks().await;
    let (rx, addr) = Receiver::start().await;
    rx.answer(&[(500, None), (503, None), (500, None)]);
    let hook = subscribe(&app, addr, json!(["contact.created"])).await;
    let hook_id = hook["id"].as_str().expect("id").to_owned();
    app.contact(json!({"email": "dead@acme.test"})).await;
    let dead = wait_delivery(&app, &hook_id, "dead").await;
    assert_eq!(dead["attempts"], 3, "the whole schedule was tried");
    let dead_list = app
        .get(&format!("/api/v1/webhooks/{hook_id}/deliveries?state=dead"))
        .await;
    assert_eq!(dead_list.body["data"].as_array().map(Vec::len), Some(1));
    let replay = app
        .post(
            &format!(
                "/api/v1/webhooks/{hook_id}/deliveries/{}/replay",
                dead["id"].as_str().expect("id")
            ),
            json!({}),
        )
        .await;
    assert_eq!(replay.status, StatusCode::ACCEPTED, "{}", replay.body);
    wait_delivery(&app, &hook_id, "succeeded").await;
    assert_eq!(rx.received().len(), 4);

    rx.answer(&[(410, None)]);
    app.contact(json!({"email": "gone@acme.test"})).await;
    rx.wait_for(5).await;
    let disabled = eventually("the 410 to disable the endpoint", || async {
        let h = app.get(&format!("/api/v1/webhooks/{hook_id}")).await;
        (h.body["enabled"] == false).then_some(h.body)
    })
    .await;
    assert!(
        disabled["disabled_reason"]
            .as_str()
            .unwrap_or("")
            .contains("410"),
        "{disabled}"
    );
    app.contact(json!({"email": "after@acme.test"})).await;
    app.settled().await;
    assert_eq!(
        rx.received().len(),
        5,
        "a disabled endpoint gets nothing more"
    );
}

#[tokio::test]
async fn rotated_secrets_sign_with_both_during_the_overlap() {
    let app = app_for_webhooks().await;
    let (rx, addr) = Receiver::start().await;
    let hook = subscribe(&app, addr, json!(["contact.*"])).await;
    let old = hook["secret"].as_str().expect("secret").to_owned();
    let rotated = app
        .post(
            &format!(
                "/api/v1/webhooks/{}/rotate-secret",
                hook["id"].as_str().expect("id")
            ),
            json!({}),
        )
        .await;
    let new = rotated.body["secret"]
        .as_str()
        .expect("new secret")
        .to_owned();
    assert_ne!(old, new);
    app.contact(json!({"email": "rotate@acme.test"})).await;
    let got = rx.wait_for(1).await;
    assert_eq!(
        got[0].headers["webhook-signature"]
            .to_str()
            .expect("sig")
            .split(' ')
            .count(),
        2
    );
    assert!(verify(&new, &got[0]) && verify(&old, &got[0]));
}

#[tokio::test]
async fn private_addresses_are_refused_at_creation_update_and_connect() {
    let app = spawn_app_with(|s| {
        let hooks = s.section_mut::<WebhookSettings>();
        hooks.allow_http = true;
        hooks.retry_schedule = vec![0.0, 0.1];
    })
    .await;
    let (rx, addr) = Receiver::start().await;
    let port = addr.port();
    // Every spelling of this machine, the cloud metadata address and private networks.
    for url in [
        format!("http://{addr}/hook"),
        format!("http://2130706433:{port}/hook"),
        format!("http://0x7f.1:{port}/hook"),
        format!("http://[::ffff:127.0.0.1]:{port}/hook"),
        format!("http://[64:ff9b::7f00:1]:{port}/hook"),
        format!("http://localhost:{port}/hook"),
        "https://169.254.169.254/latest/meta-data".to_owned(),
        "https://[64:ff9b::a9fe:a9fe]/latest/meta-data".to_owned(),
        "https://10.0.0.8/hook".to_owned(),
    ] {
        let res = app
            .post(
                "/api/v1/webhooks",
                json!({"url": url, "events": ["contact.*"]}),
            )
            .await;
        assert_eq!(
            res.status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{url}: {}",
            res.body
        );
        assert_eq!(res.problem_fields(), ["url"], "{url}");
        let said = res.body["errors"][0]["message"].as_str().unwrap_or("");
        assert!(said.contains("refused"), "{url}: {said}");
    }
    // An update cannot point an endpoint there either, and leaves it as it was.
    let hook = app
        .post(
            "/api/v1/webhooks",
            json!({"url": "https://hooks.example.com/in", "events": ["contact.*"]}),
        )
        .await;
    assert_eq!(hook.status, StatusCode::CREATED, "{}", hook.body);
    let id = hook.body["id"].as_str().expect("id").to_owned();
    let moved = app
        .patch(
            &format!("/api/v1/webhooks/{id}"),
            json!({"url": format!("http://[::ffff:7f00:1]:{port}/hook")}),
        )
        .await;
    assert_eq!(
        moved.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{}",
        moved.body
    );
    assert_eq!(moved.problem_fields(), ["url"]);
    let kept = app.get(&format!("/api/v1/webhooks/{id}")).await;
    assert_eq!(kept.body["url"], "https://hooks.example.com/in");

    // A name is judged by what it resolves to when connecting (DNS can change after the
    // endpoint was saved), and an address saved before these checks is still refused.
    // Both are written to the row directly, as an older release or a DNS change leaves them.
    let literal = app
        .post(
            "/api/v1/webhooks",
            json!({"url": "https://hooks.example.com/a", "events": ["contact.*"]}),
        )
        .await
        .body;
    let named = app
        .post(
            "/api/v1/webhooks",
            json!({"url": "https://hooks.example.com/b", "events": ["contact.*"]}),
        )
        .await
        .body;
    for (hook, url) in [
        (&literal, format!("http://{addr}/hook")),
        (&named, format!("http://localhost:{port}/hook")),
    ] {
        salesos_platform::store::exec(
            app.store.conn(),
            "UPDATE webhook_endpoints SET url = $1 WHERE id = $2",
            vec![
                url.into(),
                hook["id"]
                    .as_str()
                    .expect("id")
                    .parse::<uuid::Uuid>()
                    .expect("uuid")
                    .into(),
            ],
        )
        .await
        .expect("rewrite url");
    }
    // The endpoint on a public name goes, so nothing here looks a name up beyond loopback.
    assert_eq!(
        app.delete(&format!("/api/v1/webhooks/{id}")).await.status,
        StatusCode::NO_CONTENT
    );
    app.contact(json!({"email": "ssrf@acme.test"})).await;
    let d1 = wait_delivery(&app, literal["id"].as_str().expect("id"), "dead").await;
    assert!(
        d1["last_error"].as_str().unwrap_or("").contains("refused"),
        "{d1}"
    );
    let d2 = wait_delivery(&app, named["id"].as_str().expect("id"), "dead").await;
    assert!(
        d2["last_error"].as_str().unwrap_or("").contains("refused"),
        "{d2}"
    );
    assert!(
        rx.received().is_empty(),
        "nothing reached the private address"
    );
}

#[tokio::test]
async fn webhook_input_is_validated_and_admin_only() {
    let app = spawn_app().await;
    let http = app
        .post(
            "/api/v1/webhooks",
            json!({"url": "http://hooks.example.com/x", "events": ["contact.*"]}),
        )
        .await;
    assert_eq!(http.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(http.problem_fields(), ["url"]);
    let bad = app
        .post(
            "/api/v1/webhooks",
            json!({"url": "https://hooks.example.com/x", "events": ["contact.*", "Bad Topic"]}),
        )
        .await;
    assert_eq!(bad.problem_fields(), ["events[1]"]);
    // A topic no area emits is refused with the list of those there are.
    let unknown = app
        .post(
            "/api/v1/webhooks",
            json!({"url": "https://hooks.example.com/x", "events": ["meeting.booked"]}),
        )
        .await;
    assert_eq!(unknown.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(unknown.problem_fields(), ["events[0]"]);
    let said = unknown.body["errors"][0]["message"].as_str().unwrap_or("");
    assert!(
        said.contains("meeting.booked") && said.contains("contact.created, contact.deleted"),
        "{said}"
    );
    let none = app
        .post(
            "/api/v1/webhooks",
            json!({"url": "https://hooks.example.com/x", "events": []}),
        )
        .await;
    assert_eq!(none.problem_fields(), ["events"]);
    let (_, manager) = app
        .member("m@acme.test", salesos_platform::auth::Role::Manager)
        .await;
    let refused = app
        .call(reqwest::Method::GET, "/api/v1/webhooks", &manager, None)
        .await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn a_hanging_endpoint_does_not_hold_up_the_others() {
    let app = spawn_app_with(|s| {
        let hooks = s.section_mut::<WebhookSettings>();
        hooks.allow_http = true;
        hooks.allow_private_networks = true;
        hooks.retry_schedule = vec![0.0; 10];
        hooks.timeout = Duration::from_secs(1);
        s.worker_concurrency = 4;
    })
    .await;
    // A receiver that never answers in time.
    let hang = Router::new().route(
        "/hook",
        post(|| async {
            tokio::time::sleep(Duration::from_secs(30)).await;
            "late"
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let hang_addr = listener.local_addr().expect("addr");
    tokio::spawn(async move { axum::serve(listener, hang).await.expect("serve") });
    let (healthy, healthy_addr) = Receiver::start().await;
    subscribe(&app, hang_addr, json!(["contact.created"])).await;
    subscribe(&app, healthy_addr, json!(["contact.created"])).await;

    let started = Instant::now();
    for i in 0..40 {
        app.contact(json!({"email": format!("iso{i}@example.com")}))
            .await;
    }
    // 40 deliveries each way through 4 worker slots: were the hanging endpoint's requests
    // allowed to take the slots, its 1 s timeouts alone would need 10 s.
    healthy.wait_for(40).await;
    let took = started.elapsed();
    assert!(
        took < Duration::from_secs(6),
        "the healthy endpoint waited {took:?} behind the hanging one"
    );
    // The hanging endpoint's deliveries wait in the queue without burning their attempts.
    let dead = app
        .get("/api/v1/jobs?kind=webhook.deliver&state=dead")
        .await;
    assert_eq!(
        dead.body["data"].as_array().map(Vec::len),
        Some(0),
        "{}",
        dead.body
    );
}

/// Everything the database holds, as an attacker with a copy of it would read it: the
/// PostgreSQL database through `pg_dump`, the SQLite database as its files' bytes (the
/// main file and its write-ahead log, free pages included).
fn database_dump(app: &TestApp) -> Vec<u8> {
    match &app.settings.database_url {
        Some(url) => {
            let out = std::process::Command::new("pg_dump")
                .arg("--data-only")
                .arg(url.expose())
                .output()
                .expect("run pg_dump (PostgreSQL's client tools)");
            assert!(
                out.status.success(),
                "pg_dump: {}",
                String::from_utf8_lossy(&out.stderr)
            );
            out.stdout
        }
        None => ["salesos.db", "salesos.db-wal"]
            .iter()
            .filter_map(|f| std::fs::read(app.settings.data_dir.join(f)).ok())
            .flatten()
            .collect(),
    }
}

/// Whether `dump` holds `secret` in any form it travels in: as written, its base64 body,
/// or the key's raw bytes.
fn reveals(dump: &[u8], secret: &str) -> bool {
    let body = secret.trim_start_matches("whsec_");
    let raw = STANDARD.decode(body).expect("base64 secret");
    [secret.as_bytes(), body.as_bytes(), &raw]
        .iter()
        .any(|needle| dump.windows(needle.len()).any(|w| w == *needle))
}

fn salesos_cli(app: &TestApp, args: &[&str]) -> Value {
    salesos_cli_with(app, args, None)
}

/// Run the `salesos` binary on the app's data directory and database, with
/// `SALESOS_MASTER_KEY` set to `master_key` (or unset); its last line of output, as JSON.
fn salesos_cli_with(app: &TestApp, args: &[&str], master_key: Option<&str>) -> Value {
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_salesos"));
    cmd.args(args)
        .arg("--data-dir")
        .arg(&app.settings.data_dir)
        .env_remove("SALESOS_DATABASE_URL")
        .env_remove("SALESOS_MASTER_KEY");
    if let Some(key) = master_key {
        cmd.env("SALESOS_MASTER_KEY", key);
    }
    if let Some(url) = &app.settings.database_url {
        cmd.arg("--database-url").arg(url.expose());
    }
    let out = cmd.output().expect("run salesos");
    assert!(
        out.status.success(),
        "salesos {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    serde_json::from_str(stdout.lines().last().expect("a line")).expect("JSON")
}

#[tokio::test]
async fn signing_secrets_are_sealed_at_rest_and_survive_a_master_key_rotation() {
    let app = app_for_webhooks().await;
    let (rx, addr) = Receiver::start().await;
    // Made with an Idempotency-Key, so the answer that holds the secret is stored too.
    let create = || async {
        let res = app
            .client
            .post(app.url("/api/v1/webhooks"))
            .bearer_auth(&app.admin_key)
            .header("Idempotency-Key", "hook-1")
            .json(&json!({"url": format!("http://{addr}/hook"), "events": ["contact.*"]}))
            .send()
            .await
            .expect("request");
        let replayed = res.headers().contains_key("idempotent-replayed");
        (replayed, res.json::<Value>().await.expect("json"))
    };
    let (_, hook) = create().await;
    let id = hook["id"].as_str().expect("id").to_owned();
    let first = hook["secret"].as_str().expect("secret").to_owned();
    let rotated = app
        .post(&format!("/api/v1/webhooks/{id}/rotate-secret"), json!({}))
        .await;
    let second = rotated.body["secret"].as_str().expect("secret").to_owned();

    // The repeat gets the same answer back, secret included, from the sealed copy.
    let (replayed, again) = create().await;
    assert!(replayed);
    assert_eq!(again["secret"], first.as_str());

    let sealed_with = |app: &TestApp| {
        let conn = app.store.conn().clone();
        let id = id.clone();
        async move {
            #[derive(sea_orm::FromQueryResult)]
            struct Row {
                secret: String,
                previous_secret: Option<String>,
            }
            let row = <Row as sea_orm::FromQueryResult>::find_by_statement(
                salesos_platform::store::statement(
                    sea_orm::ConnectionTrait::get_database_backend(&conn),
                    "SELECT secret, previous_secret FROM webhook_endpoints WHERE id = $1",
                    vec![uuid::Uuid::parse_str(&id).expect("uuid").into()],
                ),
            )
            .one(&conn)
            .await
            .expect("read")
            .expect("row");
            [Some(row.secret), row.previous_secret]
                .into_iter()
                .flatten()
                .map(|s| s.split(':').take(2).collect::<Vec<_>>().join(":"))
                .collect::<Vec<_>>()
        }
    };
    let key_before = app.store.keyring().active_id();
    assert_eq!(
        sealed_with(&app).await,
        [format!("v1:{key_before}"), format!("v1:{key_before}")]
    );
    let dump = database_dump(&app);
    // The dump holds the rows: the webhook's URL is there as written.
    let url = format!("http://{addr}/hook");
    assert!(
        dump.windows(url.len()).any(|w| w == url.as_bytes()),
        "the dump holds the webhook's row"
    );
    for s in [&first, &second] {
        assert!(!reveals(&dump, s), "the database reveals a signing secret");
    }
    let key_file = std::fs::read_to_string(app.settings.data_dir.join("master.key"))
        .expect("the master key file");
    assert!(!key_file.contains(&first));

    // The operator rotates the master key while the server runs.
    let done = salesos_cli(&app, &["admin", "rotate-master-key"]);
    let key_after = done["key_id"].as_str().expect("key id").to_owned();
    assert_ne!(key_after, key_before);
    assert_eq!(done["retired"], json!([key_before]));
    // Two webhook secrets and the stored answer.
    assert_eq!(done["resealed"], 3, "{done}");
    assert_eq!(
        sealed_with(&app).await,
        [format!("v1:{key_after}"), format!("v1:{key_after}")]
    );
    assert_eq!(
        std::fs::read_to_string(app.settings.data_dir.join("master.key"))
            .expect("key file")
            .lines()
            .filter(|l| !l.starts_with('#'))
            .count(),
        1,
        "the old key is gone from the file"
    );

    // The running server, which read the old key at start, still signs with both
    // secrets, and what it seals now is under the new key.
    app.contact(json!({"email": "after-rotation@acme.test"}))
        .await;
    let got = rx.wait_for(1).await;
    assert!(verify(&first, &got[0]) && verify(&second, &got[0]));
    wait_delivery(&app, &id, "succeeded").await;
    let (_, replay) = create().await;
    assert_eq!(replay["secret"], first.as_str());
    let third = app
        .post(&format!("/api/v1/webhooks/{id}/rotate-secret"), json!({}))
        .await;
    assert_eq!(third.status, StatusCode::OK, "{}", third.body);
    assert_eq!(sealed_with(&app).await[0], format!("v1:{key_after}"));
    let third = third.body["secret"].as_str().expect("secret").to_owned();

    let shown = app.get(&format!("/api/v1/webhooks/{id}")).await;
    assert!(shown.body.get("secret").is_none());
    let dump = database_dump(&app);
    for s in [&first, &second, &third] {
        assert!(!reveals(&dump, s), "the database reveals a signing secret");
    }
}

#[tokio::test]
async fn keys_given_in_the_environment_rotate_by_putting_the_new_one_first() {
    let old = salesos_platform::secrets::generate_key().expect("key");
    let new = salesos_platform::secrets::generate_key().expect("key");
    let given = old.clone();
    let app = spawn_app_with(move |s| {
        s.master_key = Some(salesos_platform::settings::Secret::new(given));
        let hooks = s.section_mut::<WebhookSettings>();
        hooks.allow_http = true;
        hooks.allow_private_networks = true;
    })
    .await;
    assert!(
        !app.settings.data_dir.join("master.key").exists(),
        "no key file when the key is given"
    );
    let (rx, addr) = Receiver::start().await;
    let hook = subscribe(&app, addr, json!(["contact.*"])).await;

    let done = salesos_cli_with(
        &app,
        &["admin", "rotate-master-key"],
        Some(&format!("{new},{old}")),
    );
    let new_id = salesos_platform::secrets::key_id(&new).expect("id");
    assert_eq!(done["key_id"], new_id.as_str());
    assert_eq!(
        done["retired"],
        json!([salesos_platform::secrets::key_id(&old).expect("id")])
    );
    assert_eq!(done["resealed"], 1, "{done}");
    assert!(
        done["next_step"]
            .as_str()
            .is_some_and(|s| s.contains("remove the other 1 key")),
        "{done}"
    );

    // This server still holds only the old key: it cannot open the resealed secret and
    // leaves the delivery for later rather than dropping it.
    app.contact(json!({"email": "rollout@acme.test"})).await;
    let waiting = wait_delivery(&app, hook["id"].as_str().expect("id"), "retrying").await;
    assert!(
        waiting["last_error"]
            .as_str()
            .is_some_and(|e| e.contains(&new_id)),
        "{waiting}"
    );
    assert!(rx.received().is_empty());
}

#[tokio::test]
async fn the_server_log_never_holds_a_signing_secret() {
    // The real binary, logging everything at debug level, as an operator might run it
    // while looking into a problem.
    let (settings, _guard) = crate::helpers::empty_settings().await;
    let dir = settings.data_dir.clone();
    let cli = |args: &[&str]| {
        let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_salesos"));
        cmd.args(args).arg("--data-dir").arg(&dir);
        if let Some(url) = &settings.database_url {
            cmd.arg("--database-url").arg(url.expose());
        }
        cmd.env_remove("SALESOS_DATABASE_URL")
            .env_remove("SALESOS_MASTER_KEY")
            .env("SALESOS_LOG", "debug")
            .env("SALESOS_WEBHOOK_ALLOW_HTTP", "true")
            .env("SALESOS_WEBHOOK_ALLOW_PRIVATE_NETWORKS", "true");
        cmd
    };
    let out = cli(&[
        "admin",
        "create-user",
        "--workspace",
        "logs",
        "--email",
        "ops@logs.test",
        "--password",
        "correct horse battery",
        "--role",
        "admin",
    ])
    .output()
    .expect("create user");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = cli(&[
        "admin",
        "create-api-key",
        "--workspace",
        "logs",
        "--role",
        "admin",
    ])
    .output()
    .expect("create key");
    let key: Value = serde_json::from_slice(&out.stdout).expect("key JSON");
    let key = key["key"].as_str().expect("key").to_owned();

    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .expect("port")
        .local_addr()
        .expect("addr")
        .port();
    let log_path = dir.join("server.log");
    let log = std::fs::File::create(&log_path).expect("log file");
    let mut server = cli(&["serve", "--bind", &format!("127.0.0.1:{port}")])
        .stdout(log.try_clone().expect("log"))
        .stderr(log)
        .spawn()
        .expect("start the server");
    let base = format!("http://127.0.0.1:{port}");
    let client = reqwest::Client::new();
    eventually("the server answers", || async {
        client.get(format!("{base}/health")).send().await.ok()
    })
    .await;

    let (rx, addr) = Receiver::start().await;
    let hook: Value = client
        .post(format!("{base}/api/v1/webhooks"))
        .bearer_auth(&key)
        .header("Idempotency-Key", "logged-hook")
        .json(&json!({"url": format!("http://{addr}/hook"), "events": ["contact.*"]}))
        .send()
        .await
        .expect("create")
        .json()
        .await
        .expect("json");
    let first = hook["secret"].as_str().expect("secret").to_owned();
    let rotated: Value = client
        .post(format!(
            "{base}/api/v1/webhooks/{}/rotate-secret",
            hook["id"].as_str().expect("id")
        ))
        .bearer_auth(&key)
        .send()
        .await
        .expect("rotate")
        .json()
        .await
        .expect("json");
    let second = rotated["secret"].as_str().expect("secret").to_owned();
    let res = client
        .post(format!("{base}/api/v1/contacts"))
        .bearer_auth(&key)
        .json(&json!({"email": "logged@logs.test"}))
        .send()
        .await
        .expect("contact");
    assert_eq!(res.status(), StatusCode::CREATED);
    let got = rx.wait_for(1).await;
    assert!(verify(&first, &got[0]) && verify(&second, &got[0]));

    let _ = std::process::Command::new("kill")
        .args(["-TERM", &server.id().to_string()])
        .status();
    let _ = server.wait();
    let logged = std::fs::read(&log_path).expect("read the log");
    // The log is there and detailed: it names the requests it served.
    let text = String::from_utf8_lossy(&logged);
    assert!(text.contains("/api/v1/webhooks"), "{text}");
    for s in [&first, &second] {
        assert!(!reveals(&logged, s), "the log holds a signing secret");
    }
}
