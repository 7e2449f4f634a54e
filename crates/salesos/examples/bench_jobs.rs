//! No-op job throughput and enqueue→start latency on the real queue, for `bench/jobs.sh`.
//!
//! `cargo run --release --example bench_jobs -- --database-url URL --jobs 100000`
//! prints one JSON line: enqueue rate (batched), drain rate, and latency percentiles.

use std::{
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use salesos_platform::{
    runtime::{
        jobs::{self, NewJob},
        worker::{self, JobContext, JobHandler, Outcome, Registry, WorkerConfig},
    },
    settings::{Secret, Settings},
    store::Store,
};
use sea_orm::ConnectionTrait;

struct Timed {
    latencies: Arc<Mutex<Vec<f64>>>,
}

#[async_trait::async_trait]
impl JobHandler for Timed {
    fn kind(&self) -> &'static str {
        "bench.noop"
    }
    fn emits_events(&self) -> bool {
        false
    }
    async fn run(&self, ctx: &JobContext) -> Outcome {
        let waited = (ctx.store.now() - ctx.job.created_at)
            .num_microseconds()
            .unwrap_or(0) as f64
            / 1000.0;
        if let Ok(mut l) = self.latencies.lock() {
            l.push(waited);
        }
        Outcome::Done(None)
    }
}

fn arg(name: &str) -> Option<String> {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1).cloned())
}

fn pct(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let i = ((p * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len()) - 1;
    sorted.get(i).copied().unwrap_or(0.0)
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let n: usize = arg("--jobs")
        .and_then(|v| v.parse().ok())
        .unwrap_or(100_000);
    let concurrency: usize = arg("--concurrency")
        .and_then(|v| v.parse().ok())
        .unwrap_or(64);
    let dir = tempfile_dir();
    let settings = Settings {
        data_dir: dir.clone(),
        database_url: arg("--database-url").map(Secret::new),
        db_max_connections: 16,
        ..Settings::default()
    };
    let store = Store::connect(&settings).await?;
    store.migrate(&salesos::app::areas()?.migrations()).await?;
    salesos_platform::store::exec(
        store.conn(),
        "DELETE FROM jobs WHERE kind = 'bench.noop'",
        vec![],
    )
    .await?;

    // 1. Throughput: enqueue in batches, then drain.
    let started = Instant::now();
    let batch: Vec<NewJob> = (0..1000)
        .map(|_| NewJob::new("bench.noop", serde_json::json!({})))
        .collect();
    for _ in 0..n / 1000 {
        let txn = store.write().await?;
        jobs::enqueue_batch(&txn, &batch).await?;
        txn.commit().await?;
    }
    let enqueue_s = started.elapsed().as_secs_f64();
    let latencies = Arc::new(Mutex::new(Vec::with_capacity(n)));
    let (stop, rx) = tokio::sync::watch::channel(false);
    let config = WorkerConfig {
        concurrency,
        batch: 500,
        poll: Duration::from_millis(50),
        ..Default::default()
    };
    let drain_start = Instant::now();
    let handle = worker::spawn(
        store.clone(),
        Registry::default().with(Timed {
            latencies: latencies.clone(),
        }),
        config.clone(),
        rx,
    );
    while latencies.lock().map(|l| l.len()).unwrap_or(0) < n {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    // Drained means every job is recorded as succeeded, not only started.
    loop {
        let row = store
            .conn()
            .query_one_raw(salesos_platform::store::statement(
                store.backend(),
                "SELECT COUNT(*) AS n FROM jobs WHERE kind = 'bench.noop' AND state = 'succeeded'",
                vec![],
            ))
            .await?;
        let done: i64 = row.map(|r| r.try_get("", "n")).transpose()?.unwrap_or(0);
        if usize::try_from(done).unwrap_or(0) >= n {
            break;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let drain_s = drain_start.elapsed().as_secs_f64();
    let _ = stop.send(true);
    let _ = handle.await;

    // 2. Latency: one job at a time into an idle worker.
    let lat = Arc::new(Mutex::new(Vec::new()));
    let (stop, rx) = tokio::sync::watch::channel(false);
    let handle = worker::spawn(
        store.clone(),
        Registry::default().with(Timed {
            latencies: lat.clone(),
        }),
        config,
        rx,
    );
    tokio::time::sleep(Duration::from_millis(200)).await;
    for i in 0..500 {
        let txn = store.write().await?;
        jobs::enqueue(&txn, NewJob::new("bench.noop", serde_json::json!({"i": i}))).await?;
        txn.commit().await?;
        let want = i + 1;
        let deadline = Instant::now() + Duration::from_secs(5);
        while lat.lock().map(|l| l.len()).unwrap_or(0) < want && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_micros(200)).await;
        }
    }
    let _ = stop.send(true);
    let _ = handle.await;
    let mut l = lat.lock().map(|l| l.clone()).unwrap_or_default();
    l.sort_by(f64::total_cmp);
    println!(
        "{}",
        serde_json::json!({
            "backend": if settings.database_url.is_some() { "postgres" } else { "sqlite" },
            "jobs": n,
            "concurrency": concurrency,
            "enqueue_jobs_per_s": (n as f64 / enqueue_s).round(),
            "drain_jobs_per_s": (n as f64 / drain_s).round(),
            "latency_ms": {"p50": pct(&l, 0.5), "p99": pct(&l, 0.99), "samples": l.len()},
        })
    );
    let _ = std::fs::remove_dir_all(dir);
    Ok(())
}

fn tempfile_dir() -> std::path::PathBuf {
    let d = std::env::temp_dir().join(format!("salesos-bench-jobs-{}", std::process::id()));
    let _ = std::fs::create_dir_all(&d);
    d
}
