//! The worker: claims due jobs in batches, runs each under its kind's timeout with at most
//! `concurrency` at once, renews its leases while they run, reaps leases of dead workers,
//! and records each outcome (success, retry with backoff, or dead). It wakes on commits in
//! this process, on PostgreSQL `NOTIFY` from other nodes (relayed by the bus), and
//! otherwise polls slowly.

use crate::store::Db;
use std::{collections::HashMap, sync::Arc, time::Duration};

use tokio::{
    sync::{Semaphore, watch},
    task::JoinHandle,
};
use tracing::Instrument;
use uuid::Uuid;

use super::{
    events::{self, NewEvent},
    jobs::{self, Job, JobState},
};
use crate::store::Store;

/// What a handler says about one attempt.
#[derive(Debug)]
pub enum Outcome {
    Done(Option<serde_json::Value>),
    /// Try again: after `after`, or after the kind's backoff.
    Retry {
        error: String,
        after: Option<Duration>,
    },
    /// Give up now: the job goes to the dead list.
    Fail(String),
    /// Not now: back to the queue for this long, the attempt not counted.
    Snooze(Duration),
}

/// What a running job can reach.
pub struct JobContext {
    pub job: Job,
    pub store: Store,
    writes: Arc<std::sync::Mutex<Vec<OutcomeWrite>>>,
}

impl JobContext {
    /// The job's payload as kind `K` declares it; the error says what does not fit.
    pub fn payload<K: super::jobs::JobKind>(&self) -> Result<K::Payload, String> {
        serde_json::from_value(self.job.payload.clone())
            .map_err(|e| format!("the payload of a {} job does not fit: {e}", K::KIND))
    }
}

/// A row a handler wants written together with its job's outcome.
struct OutcomeWrite {
    /// A statement template over rows (see [`crate::store::exec_rows`]).
    template: &'static str,
    row: Vec<sea_orm::Value>,
}

impl JobContext {
    pub fn new(job: Job, store: Store) -> Self {
        Self {
            job,
            store,
            writes: Arc::default(),
        }
    }

    /// Write this row in the transaction that records the attempt's outcome, and only if
    /// the outcome is recorded (the lease still held). `template` is a statement over rows
    /// (see [`crate::store::exec_rows`]); the rows every job of a batch attaches
    /// to one template are written by one statement. Bookkeeping that must agree with the
    /// job's state goes here, and costs neither a transaction nor a statement of its own.
    pub fn write_with_outcome(&self, template: &'static str, row: Vec<sea_orm::Value>) {
        if let Ok(mut w) = self.writes.lock() {
            w.push(OutcomeWrite { template, row });
        }
    }

    /// Report progress (0–100) and a short message: recorded on the job, and sent to the
    /// workspace's live subscribers.
    pub async fn progress(&self, percent: i32, message: &str) {
        let percent = percent.clamp(0, 100);
        if let Err(e) =
            jobs::set_progress(self.store.conn(), self.job.id, percent, Some(message)).await
        {
            tracing::warn!(job_id = %self.job.id, error = %e, "could not record progress");
            return;
        }
        self.announce_progress(percent, message);
    }

    /// Send progress to the workspace's live subscribers only: for handlers that record
    /// it themselves, in the transactions that make it.
    pub fn announce_progress(&self, percent: i32, message: &str) {
        let percent = percent.clamp(0, 100);
        if let Some(ws) = self.job.workspace_id {
            let note = super::bus::LiveMessage {
                kind: super::bus::LiveKind::JobProgress,
                topic: super::topics::JOB_PROGRESS.name.into(),
                workspace_id: ws,
                data: serde_json::to_value(super::topics::JobProgress {
                    job_id: self.job.id,
                    kind: &self.job.kind,
                    progress: percent,
                    message,
                    entity_type: "job",
                    entity_id: self.job.id,
                })
                .unwrap_or_default(),
            };
            let _ = self.store.signals().live_out.send(Arc::new(note));
        }
    }
}

/// Runs one kind of job.
#[async_trait::async_trait]
pub trait JobHandler: Send + Sync {
    fn kind(&self) -> &'static str;
    fn timeout(&self) -> Duration {
        Duration::from_secs(60)
    }
    /// Delay before the attempt after `attempt` (1-based) failed.
    fn backoff(&self, attempt: i32) -> Duration {
        jobs::backoff(attempt)
    }
    /// Whether finishing a job of this kind writes `job.completed` / `job.failed`. Jobs that
    /// deliver events themselves (webhooks) say no, or every delivery would cause another.
    fn emits_events(&self) -> bool {
        true
    }
    async fn run(&self, ctx: &JobContext) -> Outcome;
}

/// The handlers this node runs, by kind.
#[derive(Clone, Default)]
pub struct Registry {
    handlers: HashMap<&'static str, Arc<dyn JobHandler>>,
}

impl Registry {
    pub fn with(mut self, handler: impl JobHandler + 'static) -> Self {
        self.handlers.insert(handler.kind(), Arc::new(handler));
        self
    }

    /// Add a handler; each kind has one.
    pub fn add(&mut self, handler: Arc<dyn JobHandler>) -> anyhow::Result<()> {
        let kind = handler.kind();
        anyhow::ensure!(
            self.handlers.insert(kind, handler).is_none(),
            "two handlers for job kind {kind}"
        );
        Ok(())
    }

    pub fn kinds(&self) -> Vec<&'static str> {
        let mut k: Vec<_> = self.handlers.keys().copied().collect();
        k.sort_unstable();
        k
    }
}

#[derive(Clone, Debug)]
pub struct WorkerConfig {
    /// Jobs run at once.
    pub concurrency: usize,
    /// Jobs claimed per round trip.
    pub batch: u64,
    pub lease: Duration,
    /// Sleep when idle and no wake-up arrives.
    pub poll: Duration,
    /// How long a stopping worker waits for running jobs before handing them back.
    pub grace: Duration,
}

impl Default for WorkerConfig {
    fn default() -> Self {
        Self {
            concurrency: 16,
            batch: 256,
            lease: Duration::from_secs(30),
            poll: Duration::from_secs(1),
            grace: Duration::from_secs(10),
        }
    }
}

/// Start the worker; it stops (finishing or releasing what it holds) when `shutdown`
/// turns true.
pub fn spawn(
    store: Store,
    registry: Registry,
    config: WorkerConfig,
    shutdown: watch::Receiver<bool>,
) -> JoinHandle<()> {
    // Host and process id say which node holds a job; the uuid tells apart workers of
    // one process.
    let owner = format!("{}:{}:{}", hostname(), std::process::id(), Uuid::new_v4());
    tokio::spawn(run(store, Arc::new(registry), config, owner, shutdown))
}

fn hostname() -> String {
    std::fs::read_to_string("/etc/hostname")
        .map(|h| h.trim().to_owned())
        .ok()
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "node".into())
}

async fn run(
    store: Store,
    registry: Arc<Registry>,
    config: WorkerConfig,
    owner: String,
    mut shutdown: watch::Receiver<bool>,
) {
    let lease = chrono::Duration::from_std(config.lease).unwrap_or(chrono::Duration::seconds(30));
    let permits = Arc::new(Semaphore::new(config.concurrency.max(1)));
    // Commits in this process signal directly; other nodes' commits arrive through the
    // bus's PostgreSQL listener (see `bus`).
    let mut wake = store.signals().jobs.subscribe();
    // A clock moved forward (in tests) may have made retries and snoozed jobs due.
    let mut moved = store.clock().moves();
    let heartbeat = {
        let (store, owner, mut stop) = (store.clone(), owner.clone(), shutdown.clone());
        let every = config.lease / 3;
        tokio::spawn(async move {
            loop {
                tokio::select! {
                    _ = tokio::time::sleep(every) => {}
                    _ = stop.changed() => break,
                }
                if let Err(e) = jobs::heartbeat(store.conn(), &owner, lease).await {
                    tracing::warn!(error = %e, "lease heartbeat failed");
                }
            }
        })
    };
    let (done_tx, done_rx) = tokio::sync::mpsc::channel::<Finished>(4096);
    let completer = tokio::spawn(record_outcomes(store.clone(), owner.clone(), done_rx));
    let kinds = registry.kinds();
    let refill = u32::try_from((config.concurrency / 2).max(1)).unwrap_or(1);
    let mut last_reap = tokio::time::Instant::now() - Duration::from_secs(3600);
    tracing::info!(owner = %owner, kinds = ?registry.kinds(), "worker started");
    loop {
        if *shutdown.borrow() {
            break;
        }
        if last_reap.elapsed() >= config.lease / 2 {
            last_reap = tokio::time::Instant::now();
            match jobs::reap_expired(store.conn()).await {
                Ok(0) => {}
                Ok(n) => {
                    tracing::warn!(count = n, "returned jobs of a stopped worker to the queue")
                }
                Err(e) => tracing::warn!(error = %e, "lease reaper failed"),
            }
        }
        let free = permits.available_permits() as u64;
        let claimed = if free == 0 {
            Vec::new()
        } else {
            match jobs::claim(&store, &owner, &kinds, free.min(config.batch), lease).await {
                Ok(j) => j,
                Err(e) => {
                    tracing::warn!(error = %e, "claiming jobs failed");
                    tokio::time::sleep(config.poll).await;
                    continue;
                }
            }
        };
        let idle = claimed.is_empty();
        for job in claimed {
            let Ok(permit) = permits.clone().acquire_owned().await else {
                break;
            };
            let (store, registry, done) = (store.clone(), registry.clone(), done_tx.clone());
            tokio::spawn(async move {
                let finished = execute(store, &registry, job).await;
                drop(permit);
                let _ = done.send(finished).await;
            });
        }
        if idle {
            tokio::select! {
                _ = wake.changed() => {}
                _ = moved.changed() => {}
                _ = tokio::time::sleep(config.poll) => {}
                _ = shutdown.changed() => {}
            }
        } else {
            // Claim again once half the slots are free: fewer, larger claims.
            let _ = permits.acquire_many(refill).await;
        }
    }
    // Finish what runs, within the grace period; hand back the rest.
    let all = u32::try_from(config.concurrency.max(1)).unwrap_or(u32::MAX);
    if tokio::time::timeout(config.grace, permits.acquire_many(all))
        .await
        .is_err()
    {
        tracing::warn!("grace period over; releasing running jobs");
    }
    drop(done_tx);
    let _ = completer.await;
    heartbeat.abort();
    match jobs::release(store.conn(), &owner).await {
        Ok(0) => {}
        Ok(n) => tracing::info!(count = n, "released jobs for other workers"),
        Err(e) => tracing::warn!(error = %e, "could not release jobs; their leases will expire"),
    }
    tracing::info!(owner = %owner, "worker stopped");
}

/// Run one job this process already holds (see [`jobs::enqueue_claimed`]) to the end of
/// its attempt, renewing its lease meanwhile, and record the outcome as a worker would.
/// Returns the job as recorded.
pub async fn run_claimed(
    store: &Store,
    registry: &Registry,
    job: Job,
    owner: &str,
    lease: Duration,
) -> Result<Option<Job>, sea_orm::DbErr> {
    let renew = chrono::Duration::from_std(lease).unwrap_or(chrono::Duration::seconds(30));
    let heartbeat = {
        let (store, owner) = (store.clone(), owner.to_owned());
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(lease / 3).await;
                if let Err(e) = jobs::heartbeat(store.conn(), &owner, renew).await {
                    tracing::warn!(error = %e, "lease heartbeat failed");
                }
            }
        })
    };
    let (id, workspace) = (job.id, job.workspace_id);
    let finished = execute(store.clone(), registry, job).await;
    heartbeat.abort();
    record_batch(store, owner, std::slice::from_ref(&finished)).await?;
    match workspace {
        Some(ws) => jobs::get(store.conn(), ws, id).await,
        None => Ok(None),
    }
}

/// A finished attempt waiting to be recorded.
struct Finished {
    job: Job,
    outcome: Outcome,
    emits_events: bool,
    backoff: Duration,
    writes: Vec<OutcomeWrite>,
}

/// Run one claimed job; the outcome is recorded by [`record_outcomes`].
async fn execute(store: Store, registry: &Registry, job: Job) -> Finished {
    let span =
        tracing::info_span!("job", job_id = %job.id, kind = %job.kind, attempt = job.attempts);
    execute_attempt(store, registry, job).instrument(span).await
}

async fn execute_attempt(store: Store, registry: &Registry, job: Job) -> Finished {
    let Some(handler) = registry.handlers.get(job.kind.as_str()).cloned() else {
        let outcome = Outcome::Fail(format!(
            "no handler for job kind `{}` on this node",
            job.kind
        ));
        return Finished {
            backoff: jobs::backoff(job.attempts),
            job,
            outcome,
            emits_events: true,
            writes: Vec::new(),
        };
    };
    let ctx = JobContext::new(job.clone(), store.clone());
    let writes = ctx.writes.clone();
    let timeout = handler.timeout();
    let h = handler.clone();
    // A panic in a handler is contained in its own task and counts as a failed attempt.
    let attempt = tokio::spawn(async move {
        match tokio::time::timeout(timeout, h.run(&ctx)).await {
            Ok(outcome) => outcome,
            Err(_) => Outcome::Retry {
                error: format!("timed out after {} s", timeout.as_secs()),
                after: None,
            },
        }
    });
    let outcome = match attempt.await {
        Ok(o) => o,
        Err(e) => Outcome::Retry {
            error: format!("handler panicked: {e}"),
            after: None,
        },
    };
    let writes = writes
        .lock()
        .map(|mut w| std::mem::take(&mut *w))
        .unwrap_or_default();
    Finished {
        backoff: handler.backoff(job.attempts),
        emits_events: handler.emits_events(),
        job,
        outcome,
        writes,
    }
}

/// Record finished attempts in batches: one transaction for everything that finished
/// meanwhile, so throughput is not bound by one commit per job.
async fn record_outcomes(
    store: Store,
    owner: String,
    mut rx: tokio::sync::mpsc::Receiver<Finished>,
) {
    let mut batch = Vec::with_capacity(512);
    while rx.recv_many(&mut batch, 512).await > 0 {
        if let Err(e) = record_batch(&store, &owner, &batch).await {
            tracing::error!(error = %e, count = batch.len(), "could not record job outcomes; their leases will expire and the jobs return");
        }
        batch.clear();
    }
}

async fn record_batch(
    store: &Store,
    owner: &str,
    batch: &[Finished],
) -> Result<(), sea_orm::DbErr> {
    let txn = store.write().await?;
    jobs::relax_durability(&txn).await?;
    let done: Vec<(Uuid, Option<serde_json::Value>)> = batch
        .iter()
        .filter_map(|f| match &f.outcome {
            Outcome::Done(result) => Some((f.job.id, result.clone())),
            _ => None,
        })
        .collect();
    let kept: std::collections::HashSet<Uuid> = jobs::complete_many(&txn, &done, owner)
        .await?
        .into_iter()
        .collect();
    // The attached rows of every outcome that was recorded, by template.
    let mut writes: Vec<(&'static str, Vec<Vec<sea_orm::Value>>)> = Vec::new();
    let mut attach = |f: &Finished| {
        for w in &f.writes {
            match writes.iter_mut().find(|(t, _)| *t == w.template) {
                Some((_, rows)) => rows.push(w.row.clone()),
                None => writes.push((w.template, vec![w.row.clone()])),
            }
        }
    };
    for f in batch {
        let (state, error) = match &f.outcome {
            Outcome::Done(_) if kept.contains(&f.job.id) => (JobState::Succeeded, None),
            Outcome::Done(_) => {
                tracing::warn!(job_id = %f.job.id, "job outcome dropped: lease no longer held");
                continue;
            }
            Outcome::Retry { error, after } => {
                let delay = after.unwrap_or(f.backoff);
                let retry_at = txn.now()
                    + chrono::Duration::from_std(delay).unwrap_or(chrono::Duration::seconds(60));
                match jobs::fail(&txn, &f.job, owner, error, Some(retry_at)).await? {
                    Some(s) => (s, Some(error.clone())),
                    None => continue,
                }
            }
            Outcome::Fail(error) => match jobs::fail(&txn, &f.job, owner, error, None).await? {
                Some(s) => (s, Some(error.clone())),
                None => continue,
            },
            Outcome::Snooze(delay) => {
                let run_at = txn.now()
                    + chrono::Duration::from_std(*delay).unwrap_or(chrono::Duration::seconds(60));
                if jobs::snooze(&txn, f.job.id, owner, run_at).await? {
                    attach(f);
                }
                continue;
            }
        };
        attach(f);
        match state {
            JobState::Dead => {
                tracing::warn!(job_id = %f.job.id, kind = %f.job.kind, error = ?error, "job is dead")
            }
            JobState::Queued => {
                tracing::info!(job_id = %f.job.id, kind = %f.job.kind, error = ?error, "job will be retried")
            }
            _ => {}
        }
        if let Some(ws) = f.job.workspace_id
            && f.emits_events
            && (state == JobState::Succeeded || state == JobState::Dead)
        {
            let event = if state == JobState::Succeeded {
                super::topics::JOB_COMPLETED.name
            } else {
                super::topics::JOB_FAILED.name
            };
            events::emit(
                &txn,
                NewEvent {
                    workspace_id: ws,
                    event_type: event,
                    entity_type: "job",
                    entity_id: Some(f.job.id.to_string()),
                    source: "worker",
                    data: serde_json::to_value(super::topics::JobFinished {
                        job_id: f.job.id,
                        kind: &f.job.kind,
                        state: state.as_str(),
                        attempts: f.job.attempts,
                        error: error.as_deref(),
                    })
                    .unwrap_or_default(),
                },
            )
            .await?;
        }
    }
    for (template, rows) in writes {
        crate::store::exec_rows(&txn, template, rows).await?;
    }
    txn.commit().await
}
