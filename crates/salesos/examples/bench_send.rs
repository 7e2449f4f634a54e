//! Emails per second from `POST /api/v1/emails/send` to a local SMTP sink, for
//! `bench/send.sh`: each one rendered from a template, its links and pixel tracked,
//! DKIM-signed (RSA-2048) and handed over by its send job. Then the open pixel's
//! requests per second under `wrk` (the script runs it against the URL printed here).
//!
//! Starts SalesOS (SQLite in a temporary directory, or `--database-url`), adds a sending
//! domain and `--emails / 2000` mailboxes on the sink (2,000 a day is the most a mailbox
//! may send), the contacts, and a template; then times from the first request until every
//! email is `sent` (the sink answered 250). Prints one JSON line, and with `--hold` keeps
//! serving for the tracking run until its standard input closes.

// JSON answers are read with `v["field"]`, and mailboxes by `i % len`: a miss is a broken
// benchmark, which should stop.
#![allow(clippy::indexing_slicing)]

use std::time::{Duration, Instant};

#[path = "common/bench.rs"]
mod bench;

use salesos_platform::settings::{Secret, Settings};
use serde_json::{Value, json};

fn arg(name: &str) -> Option<String> {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1).cloned())
}

async fn post(
    client: &reqwest::Client,
    url: String,
    key: &str,
    body: Value,
) -> anyhow::Result<Value> {
    let res = client.post(url).bearer_auth(key).json(&body).send().await?;
    let status = res.status();
    let v: Value = res.json().await?;
    anyhow::ensure!(status.is_success(), "{status}: {v}");
    Ok(v)
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let n: usize = arg("--emails")
        .and_then(|v| v.parse().ok())
        .unwrap_or(50_000);
    let sink: u16 = arg("--smtp-port")
        .and_then(|v| v.parse().ok())
        .ok_or_else(|| anyhow::anyhow!("--smtp-port of the SMTP sink is required"))?;
    let concurrency: usize = arg("--concurrency")
        .and_then(|v| v.parse().ok())
        .unwrap_or(64);
    let dir = std::env::temp_dir().join(format!("salesos-bench-send-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let settings = Settings {
        data_dir: dir.clone(),
        database_url: arg("--database-url").map(Secret::new),
        bind: "127.0.0.1:0".parse()?,
        public_url: Some("https://t.bench.test".into()),
        db_max_connections: arg("--db-connections")
            .and_then(|v| v.parse().ok())
            .unwrap_or(16),
        worker_concurrency: concurrency,
        rate_limit_per_minute: 100_000_000,
        ..Settings::default()
    };
    let backend = if settings.database_url.is_some() {
        "postgres"
    } else {
        "sqlite"
    };
    let bench = bench::start(settings).await?;
    let store = bench.store.clone();
    let port = bench.port;
    let key = bench.key.clone();
    let client = reqwest::Client::new();
    let api = |path: &str| format!("http://127.0.0.1:{port}{path}");

    post(
        &client,
        api("/api/v1/domains"),
        &key,
        json!({"domain": "bench.test"}),
    )
    .await?;
    client
        .put(api("/api/v1/mail-settings"))
        .bearer_auth(&key)
        .json(&json!({"postal_address": "Bench Inc, 1 Main St, Springfield"}))
        .send()
        .await?;
    let mut mailboxes = Vec::new();
    for i in 0..n.div_ceil(2000) {
        let m = post(
            &client,
            api("/api/v1/mailboxes"),
            &key,
            json!({"from_name": format!("Sender {i}"), "from_address": format!("s{i}@bench.test"),
                   "transport": "smtp", "daily_cap": 2000, "hourly_cap": 2000,
                   "smtp": {"host": "127.0.0.1", "port": sink, "security": "none"}}),
        )
        .await?;
        mailboxes.push(m["id"].as_str().unwrap_or_default().to_owned());
    }
    let template = post(
        &client,
        api("/api/v1/templates"),
        &key,
        json!({"name": "Bench", "subject": "{Quick|Short} question, {{ contact.first_name }}",
               "html": "<p>Hi {{ contact.first_name }},</p><p>We help teams like {{ contact.company | default(\"yours\") }} \
                        send less and land more. <a href=\"https://bench.test/pricing\">Pricing</a> \
                        <a href=\"https://bench.test/demo\">Book a demo</a></p>"}),
    )
    .await?;
    let template_id = template["id"].as_str().unwrap_or_default().to_owned();

    let setup = Instant::now();
    let sem = std::sync::Arc::new(tokio::sync::Semaphore::new(concurrency));
    let ids = futures_util::future::try_join_all((0..n).map(|i| {
        let (client, key, sem) = (client.clone(), key.clone(), sem.clone());
        let url = api("/api/v1/contacts");
        async move {
            let _permit = sem.acquire().await?;
            post(
                &client,
                url,
                &key,
                json!({"first_name": format!("P{i}"), "email": format!("p{i}@example.test"),
                                           "company": format!("Company {}", i % 500)}),
            )
            .await
            .map(|c| c["id"].as_str().unwrap_or_default().to_owned())
        }
    }))
    .await;
    let contacts = ids?;
    let setup_s = setup.elapsed().as_secs_f64();

    // The timed part: every request, then until every email is sent.
    let started = Instant::now();
    let mut first_email = None;
    let sends =
        futures_util::future::try_join_all(contacts.iter().enumerate().map(|(i, contact)| {
            let (client, key, sem) = (client.clone(), key.clone(), sem.clone());
            let url = api("/api/v1/emails/send");
            let body = json!({"contact_id": contact, "mailbox_id": mailboxes[i % mailboxes.len()],
                          "template_id": template_id, "track_opens": true, "track_clicks": true});
            async move {
                let _permit = sem.acquire().await?;
                post(&client, url, &key, body).await
            }
        }))
        .await?;
    if let Some(e) = sends.first() {
        first_email = e["id"].as_str().map(str::to_owned);
    }
    let requested_s = started.elapsed().as_secs_f64();
    let conn = store.conn();
    let deadline = Instant::now() + Duration::from_secs(3600);
    let count = |status: &'static str| {
        salesos_mail::emails::store::count(
            conn,
            "SELECT COUNT(*) AS n FROM emails WHERE status = $1",
            vec![status.into()],
        )
    };
    let mut sent = 0;
    while Instant::now() < deadline {
        sent = count("sent").await?;
        if sent as usize >= n {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let secs = started.elapsed().as_secs_f64();
    let failed = count("failed").await? + count("uncertain").await?;
    let pixel = match &first_email {
        Some(id) => {
            let detail: Value = client
                .get(api(&format!("/api/v1/emails/{id}")))
                .bearer_auth(&key)
                .send()
                .await?
                .json()
                .await?;
            detail["html"]
                .as_str()
                .and_then(|h| {
                    h.split("https://t.bench.test")
                        .find(|p| p.starts_with("/t/o/"))
                })
                .and_then(|p| p.split('"').next())
                .map(api)
        }
        None => None,
    };
    println!(
        "{}",
        json!({
            "backend": backend,
            "emails": n,
            "mailboxes": mailboxes.len(),
            "concurrency": concurrency,
            "sent": sent,
            "failed_or_uncertain": failed,
            "contacts_setup_s": (setup_s * 100.0).round() / 100.0,
            "requests_done_after_s": (requested_s * 100.0).round() / 100.0,
            "seconds": (secs * 100.0).round() / 100.0,
            "emails_per_s": (sent as f64 / secs).round(),
            "pixel_url": pixel,
        })
    );
    if std::env::args().any(|a| a == "--hold") {
        let _ = tokio::task::spawn_blocking(|| {
            let mut s = String::new();
            let _ = std::io::Read::read_to_string(&mut std::io::stdin(), &mut s);
        })
        .await;
    }
    bench.stop().await;
    let _ = std::fs::remove_dir_all(dir);
    Ok(())
}
