//! The durable job queue, in the same database as the business data so a job is enqueued
//! in the transaction of the write that causes it. Claiming takes batches with
//! `FOR UPDATE SKIP LOCKED` on PostgreSQL and inside the single writer on SQLite; a claim is
//! a lease that a live worker renews and a dead worker's lease runs out, so its jobs return.

use chrono::{DateTime, Utc};
use sea_orm::{ConnectionTrait, DbBackend, DbErr, FromQueryResult, Value};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use crate::{
    store::{
        Db, Store, Wake, exec, find_in_workspace, query::SqlBuilder, rows_per_statement, statement,
    },
    text_enum,
};

text_enum! {
    pub enum JobState {
        /// Waiting for `run_at`, or for a worker.
        Queued = "queued",
        /// Held by a worker under a lease.
        Running = "running",
        Succeeded = "succeeded",
        /// Out of attempts, or failed for good; kept with its last error for replay.
        Dead = "dead",
        Cancelled = "cancelled",
    }
}

crate::table! {
    /// A job as stored.
    #[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
    pub struct Job in "jobs" {
        pub id: Uuid,
        pub workspace_id: Option<Uuid>,
        pub kind: String,
        #[schema(value_type = Object)]
        pub payload: serde_json::Value,
        pub priority: i32,
        /// `queued`, `running`, `succeeded`, `dead` or `cancelled`.
        pub state: String,
        pub run_at: DateTime<Utc>,
        pub attempts: i32,
        pub max_attempts: i32,
        pub unique_key: Option<String>,
        pub last_error: Option<String>,
        #[schema(value_type = Option<Object>)]
        pub result: Option<serde_json::Value>,
        /// 0 to 100.
        pub progress: i32,
        pub progress_message: Option<String>,
        pub lease_owner: Option<String>,
        pub lease_expires_at: Option<DateTime<Utc>>,
        pub created_at: DateTime<Utc>,
        pub started_at: Option<DateTime<Utc>>,
        pub finished_at: Option<DateTime<Utc>>,
        pub updated_at: DateTime<Utc>,
    }
}

/// A job to enqueue.
#[derive(Clone, Debug)]
pub struct NewJob {
    pub kind: String,
    pub workspace_id: Option<Uuid>,
    pub payload: serde_json::Value,
    /// Higher runs first.
    pub priority: i32,
    /// Not before; now if absent.
    pub run_at: Option<DateTime<Utc>>,
    pub max_attempts: i32,
    /// While a job with this kind and key is queued or running, another is not added.
    pub unique_key: Option<String>,
}

/// A kind of job and the type of its payload, declared once by the area that runs it.
/// [`NewJob::of`] builds a job of the kind from a value of that type, and the handler
/// reads it back with [`JobContext::payload`](super::worker::JobContext::payload), so a
/// job cannot be enqueued with a payload its handler does not read.
pub trait JobKind {
    /// `webhook.deliver`: the kind its handler registers.
    const KIND: &'static str;
    type Payload: Serialize + serde::de::DeserializeOwned;
}

impl NewJob {
    /// A job of kind `K` carrying `payload`.
    pub fn of<K: JobKind>(payload: &K::Payload) -> Self {
        // A payload type whose value does not serialise (a map with non-string keys) is a
        // bug in its declaration; the handler then refuses the null it gets.
        Self::new(K::KIND, serde_json::to_value(payload).unwrap_or_default())
    }

    /// A job with a payload as raw JSON: for kinds declared elsewhere (cron schedules kept
    /// in the database, tools and tests).
    pub fn new(kind: impl Into<String>, payload: serde_json::Value) -> Self {
        Self {
            kind: kind.into(),
            workspace_id: None,
            payload,
            priority: 0,
            run_at: None,
            max_attempts: 10,
            unique_key: None,
        }
    }
}

/// What enqueueing did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Enqueued {
    Created(Uuid),
    /// A job with the same unique key is already pending.
    AlreadyPending(Uuid),
}

impl Enqueued {
    pub fn id(self) -> Uuid {
        match self {
            Enqueued::Created(id) | Enqueued::AlreadyPending(id) => id,
        }
    }
}

const UNIQUE_CONFLICT: &str = "ON CONFLICT (kind, unique_key) WHERE unique_key IS NOT NULL AND state IN ('queued', 'running') DO NOTHING";

/// Enqueue in the caller's transaction; every node's workers wake when it commits.
pub async fn enqueue<C: Db>(conn: &C, job: NewJob) -> Result<Enqueued, DbErr> {
    let id = conn.new_id();
    let at = conn.now();
    let sql = format!(
        "INSERT INTO jobs (id, workspace_id, kind, payload, priority, state, run_at, attempts, max_attempts, \
         unique_key, progress, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, 'queued', $6, 0, $7, $8, 0, $9, $9) \
         {UNIQUE_CONFLICT}"
    );
    let inserted = exec(
        conn,
        &sql,
        vec![
            id.into(),
            job.workspace_id.into(),
            job.kind.clone().into(),
            job.payload.into(),
            job.priority.into(),
            job.run_at.unwrap_or(at).into(),
            job.max_attempts.max(1).into(),
            job.unique_key.clone().into(),
            at.into(),
        ],
    )
    .await?;
    if inserted == 0 {
        let stmt = statement(
            conn.get_database_backend(),
            "SELECT id FROM jobs WHERE kind = $1 AND unique_key = $2 AND state IN ('queued', 'running')",
            vec![job.kind.into(), job.unique_key.into()],
        );
        let existing = conn
            .query_one_raw(stmt)
            .await?
            .map(|r| r.try_get::<Uuid>("", "id"))
            .transpose()?
            .unwrap_or(id);
        return Ok(Enqueued::AlreadyPending(existing));
    }
    conn.wake(Wake::Jobs).await?;
    Ok(Enqueued::Created(id))
}

/// Enqueue many jobs in one statement per chunk, for bulk producers; wakes the workers
/// once. A job whose unique key is already pending is skipped. Returns how many were
/// queued.
pub async fn enqueue_batch<C: Db>(conn: &C, jobs: &[NewJob]) -> Result<u64, DbErr> {
    let mut total = 0;
    for chunk in jobs.chunks(rows_per_statement(conn.get_database_backend(), 13)) {
        let at = conn.now();
        let mut b = SqlBuilder::new(
            "INSERT INTO jobs (id, workspace_id, kind, payload, priority, state, run_at, attempts, max_attempts, \
             unique_key, progress, created_at, updated_at) VALUES ",
        );
        b.push_rows(chunk.iter().map(|job| {
            vec![
                conn.new_id().into(),
                job.workspace_id.into(),
                job.kind.clone().into(),
                job.payload.clone().into(),
                job.priority.into(),
                "queued".into(),
                job.run_at.unwrap_or(at).into(),
                0i32.into(),
                job.max_attempts.max(1).into(),
                job.unique_key.clone().into(),
                0i32.into(),
                at.into(),
                at.into(),
            ]
        }));
        b.push(" ");
        b.push(UNIQUE_CONFLICT);
        total += exec(conn, &b.sql, b.values).await?;
    }
    if total > 0 {
        conn.wake(Wake::Jobs).await?;
    }
    Ok(total)
}

/// The PostgreSQL channel workers listen on.
pub const CHANNEL: &str = "salesos_jobs";

/// Add a job that `owner` already holds under a lease: the caller runs it right away
/// (the CLI running an import itself). Should the caller die, the lease runs out and any
/// worker takes the job over.
pub async fn enqueue_claimed<C: Db>(
    conn: &C,
    job: NewJob,
    owner: &str,
    lease: chrono::Duration,
) -> Result<Uuid, DbErr> {
    let id = conn.new_id();
    let at = conn.now();
    exec(
        conn,
        "INSERT INTO jobs (id, workspace_id, kind, payload, priority, state, run_at, attempts, max_attempts, \
         unique_key, progress, lease_owner, lease_expires_at, created_at, started_at, updated_at) \
         VALUES ($1, $2, $3, $4, $5, 'running', $6, 1, $7, $8, 0, $9, $10, $6, $6, $6)",
        vec![
            id.into(),
            job.workspace_id.into(),
            job.kind.into(),
            job.payload.into(),
            job.priority.into(),
            at.into(),
            job.max_attempts.into(),
            job.unique_key.into(),
            owner.into(),
            (at + lease).into(),
        ],
    )
    .await?;
    Ok(id)
}

/// Claim up to `limit` due jobs of the given kinds for `owner` under a lease.
pub async fn claim(
    store: &Store,
    owner: &str,
    kinds: &[&str],
    limit: u64,
    lease: chrono::Duration,
) -> Result<Vec<Job>, DbErr> {
    if kinds.is_empty() {
        return Ok(Vec::new());
    }
    let at = store.now();
    let mut b = SqlBuilder::new(
        "UPDATE jobs SET state = 'running', lease_owner = $1, lease_expires_at = $2, attempts = attempts + 1, \
         started_at = COALESCE(started_at, $3), updated_at = $3 \
         WHERE id IN (SELECT id FROM jobs WHERE state = 'queued' AND run_at <= $3",
    );
    b.values = vec![owner.into(), (at + lease).into(), at.into()];
    let kinds: Vec<String> = kinds.iter().map(|k| b.bind(k.to_string())).collect();
    b.push(&format!(" AND kind IN ({})", kinds.join(", ")));
    b.push(&format!(
        " ORDER BY priority DESC, run_at, id LIMIT {limit}"
    ));
    if store.backend() == DbBackend::Postgres {
        b.push(" FOR UPDATE SKIP LOCKED");
    }
    b.push(&format!(
        ") RETURNING {job_columns}",
        job_columns = Job::COLUMNS
    ));
    let txn = store.write().await?;
    if store.backend() == DbBackend::Postgres {
        // The claim must walk `jobs_claim` in order and stop at the limit. Right after a bulk
        // enqueue the planner's statistics still describe a near-empty queue, and it picks a
        // bitmap scan plus a sort of every due job instead: 90 ms per claim at 50k queued
        // jobs rather than 4 ms. Ruling those plans out for this one statement keeps the
        // claim cheap whatever the statistics say.
        txn.execute_unprepared(
            "SET LOCAL synchronous_commit TO OFF; SET LOCAL enable_sort TO off; SET LOCAL enable_bitmapscan TO off",
        )
        .await?;
    }
    let stmt = statement(store.backend(), &b.sql, b.values);
    let mut jobs = Job::find_by_statement(stmt).all(&txn).await?;
    txn.commit().await?;
    jobs.sort_by(|a, b| b.priority.cmp(&a.priority).then(a.run_at.cmp(&b.run_at)));
    Ok(jobs)
}

/// Commit this transaction without waiting for the WAL flush (PostgreSQL). Used for claims
/// and completions only: losing one in a crash means a job runs again, which every job
/// tolerates (side effects carry idempotency keys); enqueues stay fully durable.
pub async fn relax_durability<C: Db>(conn: &C) -> Result<(), DbErr> {
    if conn.get_database_backend() == DbBackend::Postgres {
        conn.execute_unprepared("SET LOCAL synchronous_commit TO OFF")
            .await?;
    }
    Ok(())
}

/// Extend the leases of every job `owner` holds.
pub async fn heartbeat<C: Db>(
    conn: &C,
    owner: &str,
    lease: chrono::Duration,
) -> Result<u64, DbErr> {
    exec(
        conn,
        "UPDATE jobs SET lease_expires_at = $1 WHERE lease_owner = $2 AND state = 'running'",
        vec![(conn.now() + lease).into(), owner.into()],
    )
    .await
}

/// Mark many jobs done in one statement; returns the ids whose lease still held.
pub async fn complete_many<C: Db>(
    conn: &C,
    done: &[(Uuid, Option<serde_json::Value>)],
    owner: &str,
) -> Result<Vec<Uuid>, DbErr> {
    let mut kept = Vec::with_capacity(done.len());
    // Results differ per job; the common case (no result) goes in one statement. Only a
    // running job has a lease owner, so `lease_owner = owner` says "still held" without
    // naming the state: a `state = 'running'` condition would tempt the planner into the
    // small `jobs_leases` index, which churns with every claim, instead of the primary key.
    let (plain, with_result): (Vec<_>, Vec<_>) = done.iter().partition(|(_, r)| r.is_none());
    for chunk in plain.chunks(rows_per_statement(conn.get_database_backend(), 1)) {
        let at = conn.now();
        let mut b = SqlBuilder::new(
            "UPDATE jobs SET state = 'succeeded', progress = 100, finished_at = $1, updated_at = $1, \
             lease_owner = NULL, lease_expires_at = NULL, last_error = NULL WHERE lease_owner = $2",
        );
        b.values = vec![at.into(), owner.into()];
        let ids: Vec<String> = chunk.iter().map(|(id, _)| b.bind(*id)).collect();
        b.push(&format!(" AND id IN ({}) RETURNING id", ids.join(", ")));
        let stmt = statement(conn.get_database_backend(), &b.sql, b.values);
        for row in conn.query_all_raw(stmt).await? {
            kept.push(row.try_get::<Uuid>("", "id")?);
        }
    }
    // Jobs with a result: one statement joins their ids to their results.
    for chunk in with_result.chunks(rows_per_statement(conn.get_database_backend(), 2)) {
        let at = conn.now();
        let mut b = SqlBuilder::new(
            "UPDATE jobs SET state = 'succeeded', result = v.column2, progress = 100, finished_at = $1, \
             updated_at = $1, lease_owner = NULL, lease_expires_at = NULL, last_error = NULL \
             FROM (VALUES ",
        );
        b.values = vec![at.into(), owner.into()];
        b.push_rows(chunk.iter().map(|(id, result)| {
            vec![
                (*id).into(),
                result.clone().map(Value::from).unwrap_or(Value::Json(None)),
            ]
        }));
        b.push(") AS v WHERE jobs.id = v.column1 AND jobs.lease_owner = $2 RETURNING jobs.id");
        let stmt = statement(conn.get_database_backend(), &b.sql, b.values);
        for row in conn.query_all_raw(stmt).await? {
            kept.push(row.try_get::<Uuid>("", "id")?);
        }
    }
    Ok(kept)
}

/// Record a failed attempt: back to the queue at `retry_at`, or dead when `retry_at` is
/// `None` or no attempts are left. Returns the state the job ends in, if the lease held.
pub async fn fail<C: Db>(
    conn: &C,
    job: &Job,
    owner: &str,
    error: &str,
    retry_at: Option<DateTime<Utc>>,
) -> Result<Option<JobState>, DbErr> {
    let at = conn.now();
    let state = match retry_at {
        Some(_) if job.attempts < job.max_attempts => JobState::Queued,
        _ => JobState::Dead,
    };
    let error: String = error.chars().take(4000).collect();
    let n = exec(
        conn,
        "UPDATE jobs SET state = $1, last_error = $2, run_at = $3, updated_at = $4, \
         finished_at = CASE WHEN $1 = 'dead' THEN $4 ELSE NULL END, lease_owner = NULL, lease_expires_at = NULL \
         WHERE id = $5 AND lease_owner = $6 AND state = 'running'",
        vec![
            state.as_str().into(),
            error.into(),
            retry_at.unwrap_or(at).into(),
            at.into(),
            job.id.into(),
            owner.into(),
        ],
    )
    .await?;
    Ok((n == 1).then_some(state))
}

/// Put a held job back in the queue until `run_at` without counting the attempt: the
/// handler chose not to run it now (its target is cooling off). `false` if the lease was
/// lost.
pub async fn snooze<C: Db>(
    conn: &C,
    id: Uuid,
    owner: &str,
    run_at: DateTime<Utc>,
) -> Result<bool, DbErr> {
    Ok(exec(
        conn,
        "UPDATE jobs SET state = 'queued', attempts = attempts - 1, run_at = $1, updated_at = $2, \
         lease_owner = NULL, lease_expires_at = NULL WHERE id = $3 AND lease_owner = $4",
        vec![run_at.into(), conn.now().into(), id.into(), owner.into()],
    )
    .await?
        == 1)
}

/// Return jobs whose lease ran out (their worker died) to the queue, or to the dead list
/// when they have no attempts left.
pub async fn reap_expired<C: Db>(conn: &C) -> Result<u64, DbErr> {
    let at = conn.now();
    let n = exec(
        conn,
        "UPDATE jobs SET state = CASE WHEN attempts >= max_attempts THEN 'dead' ELSE 'queued' END, \
         last_error = 'lease expired: the worker holding the job stopped', run_at = $1, updated_at = $1, \
         lease_owner = NULL, lease_expires_at = NULL \
         WHERE state = 'running' AND lease_expires_at < $1",
        vec![at.into()],
    )
    .await?;
    if n > 0 {
        conn.wake(Wake::Jobs).await?;
    }
    Ok(n)
}

/// A stopping worker hands back what it holds without counting the attempt.
pub async fn release<C: Db>(conn: &C, owner: &str) -> Result<u64, DbErr> {
    let at = conn.now();
    let n = exec(
        conn,
        "UPDATE jobs SET state = 'queued', attempts = attempts - 1, run_at = $1, updated_at = $1, \
         lease_owner = NULL, lease_expires_at = NULL WHERE lease_owner = $2 AND state = 'running'",
        vec![at.into(), owner.into()],
    )
    .await?;
    if n > 0 {
        conn.wake(Wake::Jobs).await?;
    }
    Ok(n)
}

pub async fn set_progress<C: Db>(
    conn: &C,
    id: Uuid,
    percent: i32,
    message: Option<&str>,
) -> Result<(), DbErr> {
    exec(
        conn,
        "UPDATE jobs SET progress = $1, progress_message = $2, updated_at = $3 WHERE id = $4 AND state = 'running'",
        vec![percent.clamp(0, 100).into(), message.map(str::to_owned).into(), conn.now().into(), id.into()],
    )
    .await?;
    Ok(())
}

pub async fn get<C: Db>(conn: &C, workspace_id: Uuid, id: Uuid) -> Result<Option<Job>, DbErr> {
    find_in_workspace(conn, workspace_id, id).await
}

/// Put a dead or cancelled job back in the queue with fresh attempts.
pub async fn retry<C: Db>(conn: &C, workspace_id: Uuid, id: Uuid) -> Result<u64, DbErr> {
    let at = conn.now();
    let n = exec(
        conn,
        "UPDATE jobs SET state = 'queued', attempts = 0, run_at = $1, updated_at = $1, finished_at = NULL, \
         progress = 0, progress_message = NULL WHERE workspace_id = $2 AND id = $3 AND state IN ('dead', 'cancelled')",
        vec![at.into(), workspace_id.into(), id.into()],
    )
    .await?;
    if n > 0 {
        conn.wake(Wake::Jobs).await?;
    }
    Ok(n)
}

/// Cancel a queued or running job; a running one finishes its attempt but its outcome is
/// not applied.
pub async fn cancel<C: Db>(conn: &C, workspace_id: Uuid, id: Uuid) -> Result<u64, DbErr> {
    let at = conn.now();
    exec(
        conn,
        "UPDATE jobs SET state = 'cancelled', finished_at = $1, updated_at = $1, lease_owner = NULL, \
         lease_expires_at = NULL WHERE workspace_id = $2 AND id = $3 AND state IN ('queued', 'running')",
        vec![at.into(), workspace_id.into(), id.into()],
    )
    .await
}

/// A workspace's jobs, newest first.
pub async fn list<C: Db>(
    conn: &C,
    workspace_id: Uuid,
    kind: Option<&str>,
    state: Option<JobState>,
    after: Option<(DateTime<Utc>, Uuid)>,
    limit: u64,
) -> Result<Vec<Job>, DbErr> {
    let mut b = SqlBuilder::new(&format!(
        "SELECT {job_columns} FROM jobs WHERE workspace_id = $1",
        job_columns = Job::COLUMNS
    ));
    b.values.push(workspace_id.into());
    if let Some(k) = kind {
        b.and("kind", "=", k.to_owned());
    }
    if let Some(s) = state {
        b.and("state", "=", s.as_str());
    }
    if let Some((at, id)) = after {
        let a = b.bind(at);
        let i = b.bind(id);
        b.push(&format!(" AND (created_at, id) < ({a}, {i})"));
    }
    b.push(&format!(
        " ORDER BY created_at DESC, id DESC LIMIT {}",
        limit + 1
    ));
    let stmt = statement(conn.get_database_backend(), &b.sql, b.values);
    Job::find_by_statement(stmt).all(conn).await
}

/// Exponential backoff with jitter: 2^attempt seconds (capped at one hour), plus up to 25%.
pub fn backoff(attempt: i32) -> std::time::Duration {
    let base = 2f64.powi(attempt.clamp(0, 12)).min(3600.0);
    let jitter = base * 0.25 * rand::random::<f64>();
    std::time::Duration::from_secs_f64(base + jitter)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_with_jitter_and_a_cap() {
        for attempt in 0..20 {
            let d = backoff(attempt).as_secs_f64();
            let base = 2f64.powi(attempt.min(12)).min(3600.0);
            assert!(
                d >= base && d <= base * 1.25 + 1e-9,
                "attempt {attempt}: {d}"
            );
        }
    }
}
