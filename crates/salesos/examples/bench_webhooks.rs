//! Signed webhook deliveries per second to a local receiver, for `bench/webhooks.sh`.
//!
//! Starts SalesOS (SQLite in a temporary directory, or `--database-url`), registers a
//! webhook through the API, commits `--events` events in batches, and times how long until
//! the receiver has taken every delivery. The receiver verifies each signature. Prints one
//! JSON line.

use std::{
    net::SocketAddr,
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
    time::{Duration, Instant},
};

use axum::{Router, body::Bytes, http::HeaderMap, routing::post};
use base64::{Engine, engine::general_purpose::STANDARD};
use hmac::{Hmac, KeyInit, Mac};
#[path = "common/bench.rs"]
mod bench;

use salesos_platform::{
    runtime::events::{self, NewEvent},
    settings::{Secret, Settings},
};
use sha2::Sha256;

fn arg(name: &str) -> Option<String> {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1).cloned())
}

#[derive(Clone)]
struct Receiver {
    got: Arc<AtomicUsize>,
    bad: Arc<AtomicUsize>,
    secret: Arc<std::sync::OnceLock<Vec<u8>>>,
}

fn verify(secret: &[u8], headers: &HeaderMap, body: &[u8]) -> bool {
    let h = |n: &str| headers.get(n).and_then(|v| v.to_str().ok()).unwrap_or("");
    let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(secret) else {
        return false;
    };
    mac.update(format!("{}.{}.", h("webhook-id"), h("webhook-timestamp")).as_bytes());
    mac.update(body);
    let want = format!("v1,{}", STANDARD.encode(mac.finalize().into_bytes()));
    h("webhook-signature").split(' ').any(|s| s == want)
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let n: usize = arg("--events")
        .and_then(|v| v.parse().ok())
        .unwrap_or(20_000);
    let concurrency: usize = arg("--concurrency")
        .and_then(|v| v.parse().ok())
        .unwrap_or(128);
    let dir = std::env::temp_dir().join(format!("salesos-bench-hooks-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let mut settings = Settings {
        data_dir: dir.clone(),
        database_url: arg("--database-url").map(Secret::new),
        bind: "127.0.0.1:0".parse()?,
        db_max_connections: arg("--db-connections")
            .and_then(|v| v.parse().ok())
            .unwrap_or(16),
        worker_concurrency: concurrency,
        rate_limit_per_minute: 1_000_000,
        ..Settings::default()
    };
    let hooks = settings.section_mut::<salesos_webhooks::settings::WebhookSettings>();
    hooks.allow_http = true;
    hooks.allow_private_networks = true;
    let backend = if settings.database_url.is_some() {
        "postgres"
    } else {
        "sqlite"
    };

    let receiver = Receiver {
        got: Arc::default(),
        bad: Arc::default(),
        secret: Arc::default(),
    };
    let r = receiver.clone();
    let hook_app = Router::new().route(
        "/hook",
        post(move |headers: HeaderMap, body: Bytes| {
            let r = r.clone();
            async move {
                let ok = r.secret.get().is_some_and(|s| verify(s, &headers, &body));
                if !ok {
                    r.bad.fetch_add(1, Ordering::Relaxed);
                }
                r.got.fetch_add(1, Ordering::Relaxed);
                "ok"
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let hook_addr: SocketAddr = listener.local_addr()?;
    tokio::spawn(async move { axum::serve(listener, hook_app).await });

    let bench = bench::start(settings).await?;
    let store = bench.store.clone();
    let port = bench.port;
    let hook: serde_json::Value = reqwest::Client::new()
        .post(format!("http://127.0.0.1:{port}/api/v1/webhooks"))
        .bearer_auth(&bench.key)
        .json(
            &serde_json::json!({"url": format!("http://{hook_addr}/hook"), "events": ["contact.bulk_created"]}),
        )
        .send()
        .await?
        .json()
        .await?;
    let secret = hook
        .get("secret")
        .and_then(serde_json::Value::as_str)
        .and_then(|s| s.strip_prefix("whsec_"))
        .ok_or_else(|| anyhow::anyhow!("no secret in {hook}"))?;
    let _ = receiver.secret.set(STANDARD.decode(secret)?);

    let started = Instant::now();
    // Committed in transactions of 1,000 events, as a bulk producer (an import) does.
    for chunk in 0..n.div_ceil(1000) {
        let batch = (chunk * 1000..((chunk + 1) * 1000).min(n))
            .map(|i| NewEvent {
                workspace_id: bench.workspace_id,
                event_type: "contact.bulk_created",
                entity_type: "bench",
                entity_id: Some(i.to_string()),
                source: "api",
                data: serde_json::json!({"i": i}),
            })
            .collect();
        let txn = store.write().await?;
        events::emit_many(&txn, batch).await?;
        txn.commit().await?;
    }
    let emitted_s = started.elapsed().as_secs_f64();
    let deadline = Instant::now() + Duration::from_secs(600);
    while receiver.got.load(Ordering::Relaxed) < n && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let secs = started.elapsed().as_secs_f64();
    let got = receiver.got.load(Ordering::Relaxed);
    println!(
        "{}",
        serde_json::json!({
            "backend": backend,
            "events": n,
            "concurrency": concurrency,
            "delivered": got,
            "bad_signatures": receiver.bad.load(Ordering::Relaxed),
            "seconds": (secs * 100.0).round() / 100.0,
            "events_committed_after_s": (emitted_s * 100.0).round() / 100.0,
            "deliveries_per_s": (got as f64 / secs).round(),
        })
    );
    bench.stop().await;
    let _ = std::fs::remove_dir_all(dir);
    Ok(())
}
