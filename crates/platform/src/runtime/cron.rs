//! Cron schedules (croner syntax, with an optional seconds field) evaluated in their own
//! IANA time zone and stored in the database. Every node ticks; a tick fires only on the
//! node whose compare-and-set moves `next_run_at` forward, and the job it enqueues carries
//! the tick in its unique key, so each tick runs once however many nodes there are.

use crate::store::Db;
use std::{str::FromStr, time::Duration};

use chrono::{DateTime, Utc};
use croner::Cron;
use sea_orm::{DbErr, FromQueryResult};
use tokio::sync::watch;
use uuid::Uuid;

use super::jobs::{self, NewJob};
use crate::store::{Store, exec, statement};

/// The first tick of `expression` in `timezone` strictly after `after`.
pub fn next_after(
    expression: &str,
    timezone: &str,
    after: DateTime<Utc>,
) -> Result<DateTime<Utc>, String> {
    let cron = Cron::from_str(expression)
        .map_err(|e| format!("`{expression}` is not a cron expression: {e}"))?;
    let tz: chrono_tz::Tz = timezone
        .parse()
        .map_err(|_| format!("`{timezone}` is not an IANA time zone"))?;
    let local = after.with_timezone(&tz);
    cron.find_next_occurrence(&local, false)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|e| format!("`{expression}` has no next occurrence: {e}"))
}

/// A schedule to keep in the database (created, or updated in place by its key).
pub struct Schedule<'a> {
    pub key: &'a str,
    pub workspace_id: Option<Uuid>,
    pub expression: &'a str,
    pub timezone: &'a str,
    pub job_kind: &'a str,
    pub payload: serde_json::Value,
}

/// Create or update a schedule by key.
pub async fn ensure<C: Db>(conn: &C, s: Schedule<'_>) -> Result<(), DbErr> {
    let at = conn.now();
    let next = next_after(s.expression, s.timezone, at).map_err(DbErr::Custom)?;
    exec(
        conn,
        "INSERT INTO cron_schedules (id, schedule_key, workspace_id, expression, timezone, job_kind, payload, enabled, \
         next_run_at, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $10) \
         ON CONFLICT (schedule_key) DO UPDATE SET expression = excluded.expression, timezone = excluded.timezone, \
         job_kind = excluded.job_kind, payload = excluded.payload, updated_at = excluded.updated_at, \
         next_run_at = CASE WHEN cron_schedules.expression = excluded.expression AND cron_schedules.timezone = excluded.timezone \
                            THEN cron_schedules.next_run_at ELSE excluded.next_run_at END",
        vec![
            conn.new_id().into(),
            s.key.into(),
            s.workspace_id.into(),
            s.expression.into(),
            s.timezone.into(),
            s.job_kind.into(),
            s.payload.into(),
            true.into(),
            next.into(),
            at.into(),
        ],
    )
    .await?;
    Ok(())
}

#[derive(FromQueryResult)]
struct Due {
    id: Uuid,
    schedule_key: String,
    workspace_id: Option<Uuid>,
    expression: String,
    timezone: String,
    job_kind: String,
    payload: serde_json::Value,
    next_run_at: DateTime<Utc>,
}

/// Fire every due schedule once; returns how many fired on this node.
pub async fn tick(store: &Store) -> Result<usize, DbErr> {
    let at = store.now();
    let stmt = statement(
        store.backend(),
        "SELECT id, schedule_key, workspace_id, expression, timezone, job_kind, payload, next_run_at \
         FROM cron_schedules WHERE enabled AND next_run_at <= $1 ORDER BY next_run_at LIMIT 100",
        vec![at.into()],
    );
    let due = Due::find_by_statement(stmt).all(store.conn()).await?;
    let mut fired = 0;
    for d in due {
        let next = match next_after(&d.expression, &d.timezone, at) {
            Ok(n) => n,
            Err(e) => {
                tracing::warn!(schedule = %d.schedule_key, error = %e, "schedule cannot be evaluated; disabling it");
                exec(
                    store.conn(),
                    "UPDATE cron_schedules SET enabled = $1 WHERE id = $2",
                    vec![false.into(), d.id.into()],
                )
                .await?;
                continue;
            }
        };
        let txn = store.write().await?;
        let won = exec(
            &txn,
            "UPDATE cron_schedules SET next_run_at = $1, last_run_at = $2, updated_at = $3 WHERE id = $4 AND next_run_at = $2",
            vec![next.into(), d.next_run_at.into(), at.into(), d.id.into()],
        )
        .await?;
        if won == 1 {
            jobs::enqueue(
                &txn,
                NewJob {
                    workspace_id: d.workspace_id,
                    unique_key: Some(format!(
                        "cron:{}:{}",
                        d.schedule_key,
                        d.next_run_at.timestamp()
                    )),
                    max_attempts: 3,
                    ..NewJob::new(
                        d.job_kind.clone(),
                        with_tick(d.payload.clone(), d.next_run_at),
                    )
                },
            )
            .await?;
            fired += 1;
        }
        txn.commit().await?;
    }
    Ok(fired)
}

fn with_tick(mut payload: serde_json::Value, tick: DateTime<Utc>) -> serde_json::Value {
    if let Some(obj) = payload.as_object_mut() {
        obj.insert("scheduled_for".into(), serde_json::json!(tick));
    }
    payload
}

/// Tick every second, and whenever the store's clock is moved, until `shutdown`.
pub fn spawn(store: Store, mut shutdown: watch::Receiver<bool>) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut moved = store.clock().moves();
        loop {
            if let Err(e) = tick(&store).await {
                tracing::warn!(error = %e, "cron tick failed");
            }
            tokio::select! {
                _ = tokio::time::sleep(Duration::from_secs(1)) => {}
                _ = moved.changed() => {}
                _ = shutdown.changed() => return,
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> DateTime<Utc> {
        s.parse().expect("time")
    }

    #[test]
    fn ticks_follow_the_schedules_time_zone_across_dst() {
        // 09:00 in New York: 14:00 UTC in winter, 13:00 UTC once DST starts (8 March 2026).
        let winter =
            next_after("0 9 * * *", "America/New_York", at("2026-03-06T20:00:00Z")).expect("next");
        assert_eq!(winter, at("2026-03-07T14:00:00Z"));
        let summer =
            next_after("0 9 * * *", "America/New_York", at("2026-03-07T20:00:00Z")).expect("next");
        assert_eq!(summer, at("2026-03-08T13:00:00Z"));
        let seconds =
            next_after("*/15 * * * * *", "UTC", at("2026-01-01T00:00:07Z")).expect("next");
        assert_eq!(seconds, at("2026-01-01T00:00:15Z"));
    }

    #[test]
    fn bad_schedules_are_named() {
        assert!(
            next_after("every day", "UTC", chrono::DateTime::UNIX_EPOCH)
                .expect_err("bad")
                .contains("every day")
        );
        assert!(
            next_after("0 9 * * *", "Mars/Base", chrono::DateTime::UNIX_EPOCH)
                .expect_err("bad")
                .contains("Mars/Base")
        );
    }
}
