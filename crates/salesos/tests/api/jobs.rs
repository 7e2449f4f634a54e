//! The job queue through the real database, a real worker, and the jobs API.

use std::{
    sync::{
        Arc,
        atomic::{AtomicU32, Ordering},
    },
    time::Duration,
};

use reqwest::StatusCode;
use salesos_platform::runtime::{
    jobs::{self, Enqueued, NewJob},
    worker::{self, JobContext, JobHandler, Outcome, Registry, WorkerConfig},
};
use sea_orm::ConnectionTrait;
use serde_json::{Value, json};
use tokio::sync::watch;

use chrono::SubsecRound;
use salesos_platform::clock::Clock;

use crate::helpers::{TestApp, eventually, spawn_app, spawn_app_on};

/// Fails until its `succeed_on` attempt.
struct Flaky {
    calls: Arc<AtomicU32>,
    succeed_on: i32,
}

#[async_trait::async_trait]
impl JobHandler for Flaky {
    fn kind(&self) -> &'static str {
        "test.flaky"
    }
    async fn run(&self, ctx: &JobContext) -> Outcome {
        self.calls.fetch_add(1, Ordering::SeqCst);
        if ctx.job.attempts >= self.succeed_on {
            Outcome::Done(Some(json!({"attempt": ctx.job.attempts})))
        } else {
            Outcome::Retry {
                error: format!("boom on attempt {}", ctx.job.attempts),
                after: Some(Duration::from_millis(20)),
            }
        }
    }
}

/// Reports progress, then takes its time.
struct Slow;

#[async_trait::async_trait]
impl JobHandler for Slow {
    fn kind(&self) -> &'static str {
        "test.slow"
    }
    fn timeout(&self) -> Duration {
        Duration::from_millis(1500)
    }
    async fn run(&self, ctx: &JobContext) -> Outcome {
        ctx.progress(42, "halfway").await;
        let wait = ctx.job.payload["sleep_ms"].as_u64().unwrap_or(0);
        tokio::time::sleep(Duration::from_millis(wait)).await;
        Outcome::Done(None)
    }
}

struct TestWorker {
    stop: watch::Sender<bool>,
    handle: tokio::task::JoinHandle<()>,
    calls: Arc<AtomicU32>,
}

impl TestWorker {
    async fn stop(self) {
        let _ = self.stop.send(true);
        let _ = self.handle.await;
    }
}

fn start_worker(app: &TestApp, succeed_on: i32) -> TestWorker {
    let calls = Arc::new(AtomicU32::new(0));
    let registry = Registry::default()
        .with(Flaky {
            calls: calls.clone(),
            succeed_on,
        })
        .with(Slow);
    let (stop, rx) = watch::channel(false);
    let config = WorkerConfig {
        lease: Duration::from_secs(1),
        poll: Duration::from_millis(200),
        ..Default::default()
    };
    let handle = worker::spawn(app.store.clone(), registry, config, rx);
    TestWorker {
        stop,
        handle,
        calls,
    }
}

async fn enqueue(app: &TestApp, job: NewJob) -> Enqueued {
    let txn = app.store.write().await.expect("txn");
    let e = jobs::enqueue(
        &txn,
        NewJob {
            workspace_id: Some(app.workspace_id),
            ..job
        },
    )
    .await
    .expect("enqueue");
    txn.commit().await.expect("commit");
    e
}

async fn wait_for_state(app: &TestApp, id: uuid::Uuid, state: &str) -> Value {
    eventually(&format!("job {id} to be {state}"), || async {
        let job = app.get(&format!("/api/v1/jobs/{id}")).await;
        (job.body["state"] == state).then_some(job.body)
    })
    .await
}

#[tokio::test]
async fn failing_jobs_retry_with_backoff_then_succeed() {
    let app = spawn_app().await;
    let w = start_worker(&app, 3);
    let id = enqueue(
        &app,
        NewJob {
            max_attempts: 5,
            ..NewJob::new("test.flaky", json!({}))
        },
    )
    .await
    .id();
    let job = wait_for_state(&app, id, "succeeded").await;
    assert_eq!(job["attempts"], 3);
    assert_eq!(job["result"], json!({"attempt": 3}));
    assert_eq!(job["progress"], 100);
    assert_eq!(w.calls.load(Ordering::SeqCst), 3, "each attempt ran once");
    let events = app.get("/api/v1/events?type=job.*").await;
    assert_eq!(events.body["data"][0]["event_type"], "job.completed");
    assert_eq!(events.body["data"][0]["entity_id"], id.to_string());
    w.stop().await;
}

#[tokio::test]
async fn jobs_out_of_attempts_go_dead_and_can_be_replayed() {
    let app = spawn_app().await;
    let w = start_worker(&app, 100);
    let id = enqueue(
        &app,
        NewJob {
            max_attempts: 2,
            ..NewJob::new("test.flaky", json!({}))
        },
    )
    .await
    .id();
    let dead = wait_for_state(&app, id, "dead").await;
    assert_eq!(dead["attempts"], 2);
    assert_eq!(dead["last_error"], "boom on attempt 2");
    let dead_list = app.get("/api/v1/jobs?state=dead").await;
    assert_eq!(dead_list.body["data"][0]["id"], id.to_string());
    let failed = app.get("/api/v1/events?type=job.failed").await;
    assert_eq!(failed.body["data"].as_array().map(Vec::len), Some(1));

    let retried = app
        .post(&format!("/api/v1/jobs/{id}/retry"), json!({}))
        .await;
    assert_eq!(retried.status, StatusCode::OK, "{}", retried.body);
    let dead_again = wait_for_state(&app, id, "dead").await;
    assert_eq!(
        dead_again["attempts"], 2,
        "a replay starts with fresh attempts"
    );
    assert_eq!(w.calls.load(Ordering::SeqCst), 4);

    let not_dead = app
        .post(
            &format!("/api/v1/jobs/{}/retry", uuid::Uuid::new_v4()),
            json!({}),
        )
        .await;
    assert_eq!(not_dead.status, StatusCode::NOT_FOUND);
    w.stop().await;
}

#[tokio::test]
async fn unique_jobs_are_not_queued_twice_and_cancel_works() {
    let app = spawn_app().await;
    let later = app.clock.now() + chrono::Duration::hours(1);
    let job = || NewJob {
        unique_key: Some("sync:contact:1".into()),
        run_at: Some(later),
        ..NewJob::new("test.flaky", json!({}))
    };
    let first = enqueue(&app, job()).await;
    let second = enqueue(&app, job()).await;
    assert!(matches!(first, Enqueued::Created(_)));
    assert_eq!(second, Enqueued::AlreadyPending(first.id()));

    let cancelled = app
        .post(&format!("/api/v1/jobs/{}/cancel", first.id()), json!({}))
        .await;
    assert_eq!(cancelled.status, StatusCode::OK);
    assert_eq!(cancelled.body["state"], "cancelled");
    let again = app
        .post(&format!("/api/v1/jobs/{}/cancel", first.id()), json!({}))
        .await;
    assert_eq!(again.status, StatusCode::CONFLICT);
    // Once the first is no longer pending, the key is free again.
    assert!(matches!(enqueue(&app, job()).await, Enqueued::Created(_)));

    let (_, viewer) = app
        .member("viewer@acme.test", salesos_platform::auth::Role::Viewer)
        .await;
    let refused = app
        .call(
            reqwest::Method::POST,
            &format!("/api/v1/jobs/{}/retry", first.id()),
            &viewer,
            None,
        )
        .await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);
    let other = app.other_workspace_key().await;
    let hidden = app
        .call(
            reqwest::Method::GET,
            &format!("/api/v1/jobs/{}", first.id()),
            &other,
            None,
        )
        .await;
    assert_eq!(hidden.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn a_dead_workers_lease_runs_out_and_its_job_runs_elsewhere() {
    let app = spawn_app().await;
    let id = enqueue(&app, NewJob::new("test.flaky", json!({})))
        .await
        .id();
    // A worker that claims the job and then dies without a word.
    let claimed = jobs::claim(
        &app.store,
        "doomed-node",
        &["test.flaky"],
        10,
        chrono::Duration::milliseconds(300),
    )
    .await
    .expect("claim");
    assert_eq!(claimed.len(), 1);
    let w = start_worker(&app, 1);
    let done = wait_for_state(&app, id, "succeeded").await;
    assert_eq!(done["attempts"], 2, "the dead node's attempt counts");
    assert_eq!(
        w.calls.load(Ordering::SeqCst),
        1,
        "the job ran once in effect"
    );
    w.stop().await;
}

#[tokio::test]
async fn progress_is_visible_and_timeouts_count_as_failures() {
    let app = spawn_app().await;
    let w = start_worker(&app, 1);
    let id = enqueue(&app, NewJob::new("test.slow", json!({"sleep_ms": 800})))
        .await
        .id();
    wait_for_state(&app, id, "running").await;
    let seen = eventually("the job's progress to show", || async {
        let job = app.get(&format!("/api/v1/jobs/{id}")).await.body;
        (job["progress"] == 42).then_some(job)
    })
    .await;
    assert_eq!(seen["progress_message"], "halfway");
    wait_for_state(&app, id, "succeeded").await;

    let slow = enqueue(
        &app,
        NewJob {
            max_attempts: 1,
            ..NewJob::new("test.slow", json!({"sleep_ms": 5000}))
        },
    )
    .await
    .id();
    let dead = wait_for_state(&app, slow, "dead").await;
    assert!(
        dead["last_error"]
            .as_str()
            .unwrap_or("")
            .contains("timed out"),
        "{dead}"
    );
    w.stop().await;
}

#[tokio::test]
async fn the_event_log_reads_in_order_with_filters_and_paging() {
    let app = spawn_app().await;
    let c = app.contact(json!({"email": "e@acme.test"})).await;
    let id = c["id"].as_str().expect("id");
    app.patch(&format!("/api/v1/contacts/{id}"), json!({"title": "CEO"}))
        .await;
    app.post("/api/v1/accounts", json!({"name": "Acme"})).await;
    app.delete(&format!("/api/v1/contacts/{id}")).await;

    let all = app.get("/api/v1/events").await;
    let types: Vec<&str> = all.body["data"]
        .as_array()
        .expect("data")
        .iter()
        .map(|e| e["event_type"].as_str().expect("t"))
        .collect();
    assert_eq!(
        types,
        [
            "contact.created",
            "contact.updated",
            "account.created",
            "contact.deleted"
        ]
    );
    let seqs: Vec<i64> = all.body["data"]
        .as_array()
        .expect("data")
        .iter()
        .map(|e| e["seq"].as_i64().expect("seq"))
        .collect();
    assert_eq!(seqs, [1, 2, 3, 4], "a gapless per-workspace sequence");
    let first = &all.body["data"][0];
    for field in [
        "event_id",
        "event_type",
        "timestamp",
        "workspace_id",
        "entity_id",
        "entity_type",
        "source",
        "data",
        "metadata",
    ] {
        assert!(!first[field].is_null(), "envelope lacks {field}: {first}");
    }
    assert_eq!(first["source"], "api");
    assert_eq!(first["metadata"], json!({"version": 1, "retry_count": 0}));
    assert_eq!(all.body["data"][1]["data"]["changes"]["title"]["to"], "CEO");

    let contacts_only = app.get("/api/v1/events?type=contact.*&after=1").await;
    let seqs: Vec<i64> = contacts_only.body["data"]
        .as_array()
        .expect("data")
        .iter()
        .map(|e| e["seq"].as_i64().expect("seq"))
        .collect();
    assert_eq!(seqs, [2, 4]);
    let page = app.get("/api/v1/events?limit=2").await;
    let next = page.body["next_cursor"].as_str().expect("cursor");
    let page2 = app
        .get(&format!("/api/v1/events?limit=2&cursor={next}"))
        .await;
    assert_eq!(page2.body["data"][0]["seq"], 3);
    assert_eq!(
        app.get("/api/v1/events?type=Contact;DROP").await.status,
        StatusCode::UNPROCESSABLE_ENTITY
    );
    let other = app.other_workspace_key().await;
    let theirs = app
        .call(reqwest::Method::GET, "/api/v1/events", &other, None)
        .await;
    assert_eq!(
        theirs.body["data"].as_array().map(Vec::len),
        Some(0),
        "never another workspace's events"
    );
}

#[tokio::test]
async fn cron_ticks_fire_once_however_many_nodes_tick() {
    use salesos_platform::runtime::cron;
    // Time stands still unless the test moves it: every tick below is one the test made due.
    let start: chrono::DateTime<chrono::Utc> = "2026-10-24T10:59:58.5Z".parse().expect("time");
    let app = spawn_app_on(Clock::frozen(start), |_| {}).await;
    cron::ensure(
        app.store.conn(),
        cron::Schedule {
            key: "test:every-second",
            workspace_id: Some(app.workspace_id),
            expression: "* * * * * *",
            timezone: "Europe/Berlin",
            job_kind: "test.cron",
            payload: json!({"hello": "world"}),
        },
    )
    .await
    .expect("schedule");
    // Two more nodes ticking the same database next to the app's own ticker.
    let (stop, rx) = watch::channel(false);
    let others = [
        cron::spawn(app.store.clone(), rx.clone()),
        cron::spawn(app.store.clone(), rx),
    ];
    async fn ticks(app: &TestApp) -> Vec<String> {
        let fired = app.get("/api/v1/jobs?kind=test.cron&limit=100").await;
        fired.body["data"]
            .as_array()
            .expect("data")
            .iter()
            .map(|j| {
                assert_eq!(j["payload"]["hello"], "world");
                j["payload"]["scheduled_for"]
                    .as_str()
                    .expect("tick")
                    .to_owned()
            })
            .collect()
    }
    assert!(
        ticks(&app).await.is_empty(),
        "nothing is due before time moves"
    );
    // Three seconds, one at a time: each makes exactly one tick due.
    for n in 1..=3 {
        app.advance(Duration::from_secs(1));
        eventually(&format!("tick {n}"), || async {
            (ticks(&app).await.len() >= n).then_some(())
        })
        .await;
    }
    let _ = stop.send(true);
    for t in others {
        let _ = t.await;
    }
    let mut fired = ticks(&app).await;
    fired.sort();
    let want: Vec<String> = (1..=3)
        .map(|s| {
            (start.trunc_subsecs(0) + chrono::Duration::seconds(s))
                .to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true)
        })
        .collect();
    assert_eq!(
        fired, want,
        "each due tick fired once, on one node of three"
    );
}

#[tokio::test]
async fn scheduled_cleanup_removes_expired_state() {
    let app = spawn_app().await;
    let res = app
        .client
        .post(app.url("/api/v1/contacts"))
        .bearer_auth(&app.admin_key)
        .header("Idempotency-Key", "old-key")
        .json(&json!({"email": "idem@acme.test"}))
        .send()
        .await
        .expect("post");
    assert_eq!(res.status(), StatusCode::CREATED);
    assert_eq!(idempotency_keys(&app).await, 1);
    // Two days pass.
    app.advance(Duration::from_secs(2 * 86_400));
    let id = enqueue(
        &app,
        NewJob::new(salesos_platform::runtime::maintenance::KIND, json!({})),
    )
    .await
    .id();
    wait_for_state(&app, id, "succeeded").await;
    // Two days on, the daily cleanup's own (workspace-less) schedule is due too: whichever
    // run came first removed the key.
    app.settled().await;
    assert_eq!(idempotency_keys(&app).await, 0, "the expired key is gone");
}

async fn idempotency_keys(app: &TestApp) -> i64 {
    app.store
        .conn()
        .query_one_raw(salesos_platform::store::statement(
            app.store.backend(),
            "SELECT COUNT(*) AS n FROM idempotency_keys",
            vec![],
        ))
        .await
        .expect("count")
        .expect("row")
        .try_get::<i64>("", "n")
        .expect("n")
}

#[tokio::test]
async fn the_jobs_page_lists_dead_letters_and_replays_them() {
    let app = spawn_app().await;
    let id = enqueue(
        &app,
        NewJob {
            max_attempts: 1,
            ..NewJob::new("test.manual", json!({}))
        },
    )
    .await
    .id();
    let claimed = jobs::claim(
        &app.store,
        "node-a",
        &["test.manual"],
        1,
        chrono::Duration::seconds(30),
    )
    .await
    .expect("claim");
    jobs::fail(
        app.store.conn(),
        &claimed[0],
        "node-a",
        "the provider said no",
        None,
    )
    .await
    .expect("fail");

    let (client, csrf) = app.browser_session(&app.admin_email).await;
    let page = client
        .get(app.url("/app/jobs?state=dead"))
        .send()
        .await
        .expect("page")
        .text()
        .await
        .expect("html");
    assert!(
        page.contains("test.manual") && page.contains("the provider said no"),
        "dead letter listed"
    );
    assert!(
        page.contains(&format!("/app/jobs/{id}/retry")),
        "with a replay button"
    );
    let replay = client
        .post(app.url(&format!("/app/jobs/{id}/retry")))
        .form(&[("_csrf", csrf.as_str())])
        .send()
        .await
        .expect("replay");
    assert_eq!(replay.status(), StatusCode::SEE_OTHER);
    let job = app.get(&format!("/api/v1/jobs/{id}")).await;
    assert_eq!(job.body["state"], "queued");
    assert_eq!(job.body["attempts"], 0);
}

#[tokio::test]
async fn bulk_writes_keep_order_uniqueness_and_leases() {
    use salesos_platform::runtime::events::{self, NewEvent};
    let app = spawn_app().await;
    let other = app.clock.new_id();
    salesos_platform::store::exec(
        app.store.conn(),
        "INSERT INTO workspaces (id, slug, name, created_at) VALUES ($1, 'bulk-other', 'Other', $2)",
        vec![other.into(), app.clock.now().into()],
    )
    .await
    .expect("second workspace");

    // 700 events, two workspaces interleaved: many multi-row statements on SQLite, one on
    // PostgreSQL. Each workspace's numbers follow on without gaps, in the order given.
    let before = app.get("/api/v1/events?limit=200").await.body["data"]
        .as_array()
        .expect("data")
        .len();
    let new: Vec<NewEvent> = (0..700)
        .map(|i| NewEvent {
            workspace_id: if i % 3 == 0 { other } else { app.workspace_id },
            event_type: "test.bulk",
            entity_type: "test",
            entity_id: Some(i.to_string()),
            source: "api",
            data: json!({"i": i}),
        })
        .collect();
    let txn = app.store.write().await.expect("txn");
    let made = events::emit_many(&txn, new).await.expect("emit_many");
    txn.commit().await.expect("commit");
    assert_eq!(made.len(), 700);
    let mine: Vec<i64> = made
        .iter()
        .filter(|e| e.workspace_id == app.workspace_id)
        .map(|e| e.seq)
        .collect();
    let first = i64::try_from(before).expect("count") + 1;
    assert_eq!(mine, (first..first + 466).collect::<Vec<_>>());
    let mut listed = Vec::new();
    let mut after = 0;
    loop {
        let page = app
            .get(&format!(
                "/api/v1/events?type=test.*&after={after}&limit=200"
            ))
            .await;
        let data = page.body["data"].as_array().expect("data").clone();
        let Some(last) = data.last() else { break };
        after = last["seq"].as_i64().expect("seq");
        listed.extend(data);
    }
    let order: Vec<i64> = listed
        .iter()
        .map(|e| e["entity_id"].as_str().expect("id").parse().expect("n"))
        .collect();
    let expected: Vec<i64> = (0..700).filter(|i| i % 3 != 0).collect();
    assert_eq!(order, expected, "the workspace's own events, in order");
    assert_eq!(listed[1]["data"], json!({"i": 2}));

    // Bulk enqueue skips a unique key already pending and keeps the rest.
    let held = enqueue(
        &app,
        NewJob {
            unique_key: Some("bulk-7".into()),
            ..NewJob::new("test.bulk", json!({}))
        },
    )
    .await;
    let batch: Vec<NewJob> = (0..600)
        .map(|i| NewJob {
            workspace_id: Some(app.workspace_id),
            unique_key: Some(format!("bulk-{i}")),
            ..NewJob::new("test.bulk", json!({"i": i}))
        })
        .collect();
    let txn = app.store.write().await.expect("txn");
    let queued = jobs::enqueue_batch(&txn, &batch).await.expect("batch");
    txn.commit().await.expect("commit");
    assert_eq!(queued, 599, "bulk-7 was pending already");

    // Completing many: results are kept per job, and a job whose lease another worker
    // holds now is left alone.
    let lease = chrono::Duration::seconds(30);
    let mine = jobs::claim(&app.store, "node-a", &["test.bulk"], 300, lease)
        .await
        .expect("claim");
    let theirs = jobs::claim(&app.store, "node-b", &["test.bulk"], 1, lease)
        .await
        .expect("claim");
    assert_eq!((mine.len(), theirs.len()), (300, 1));
    let mut done: Vec<(uuid::Uuid, Option<Value>)> = mine
        .iter()
        .enumerate()
        .map(|(i, j)| (j.id, (i % 2 == 0).then(|| json!({"n": i}))))
        .collect();
    done.push((theirs[0].id, Some(json!({"stolen": true}))));
    let txn = app.store.write().await.expect("txn");
    let kept = jobs::complete_many(&txn, &done, "node-a")
        .await
        .expect("complete");
    txn.commit().await.expect("commit");
    assert_eq!(kept.len(), 300);
    assert!(!kept.contains(&theirs[0].id));
    let with_result = app.get(&format!("/api/v1/jobs/{}", mine[4].id)).await;
    assert_eq!(with_result.body["state"], "succeeded");
    assert_eq!(with_result.body["result"], json!({"n": 4}));
    let plain = app.get(&format!("/api/v1/jobs/{}", mine[5].id)).await;
    assert_eq!(plain.body["state"], "succeeded");
    assert_eq!(plain.body["result"], Value::Null);
    let stolen = app.get(&format!("/api/v1/jobs/{}", theirs[0].id)).await;
    assert_eq!(stolen.body["state"], "running");
    assert_eq!(stolen.body["result"], Value::Null);
    assert!(matches!(held, Enqueued::Created(_)));
}

#[tokio::test]
async fn many_concurrent_writers_all_commit_in_turn() {
    use salesos_platform::runtime::events::{self, NewEvent};
    let app = spawn_app().await;
    let writers: Vec<_> = (0..64)
        .map(|i| {
            let (store, ws) = (app.store.clone(), app.workspace_id);
            tokio::spawn(async move {
                let txn = store.write().await?;
                let e = events::emit(
                    &txn,
                    NewEvent {
                        workspace_id: ws,
                        event_type: "test.concurrent",
                        entity_type: "test",
                        entity_id: Some(i.to_string()),
                        source: "api",
                        data: json!({}),
                    },
                )
                .await?;
                txn.commit().await?;
                Ok::<i64, sea_orm::DbErr>(e.seq)
            })
        })
        .collect();
    let mut seqs = Vec::new();
    for w in writers {
        seqs.push(w.await.expect("task").expect("write"));
    }
    seqs.sort_unstable();
    seqs.dedup();
    assert_eq!(seqs.len(), 64, "every writer committed its own number");
    assert_eq!(seqs.last().copied().expect("some") - seqs[0], 63, "no gaps");
}
