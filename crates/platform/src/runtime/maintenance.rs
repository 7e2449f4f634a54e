//! Housekeeping on a schedule: expired sessions and setup links, idempotency keys past
//! their 24 hours, and finished jobs past their retention. Dead jobs stay for inspection.

use super::worker::{JobContext, JobHandler, Outcome};
use crate::store::Db;
use crate::store::exec;

pub const KIND: &str = "maintenance.cleanup";
/// Every hour, on the hour (UTC).
pub const SCHEDULE: &str = "0 * * * *";
const FINISHED_JOB_RETENTION_DAYS: i64 = 14;

pub struct Cleanup;

#[async_trait::async_trait]
impl JobHandler for Cleanup {
    fn kind(&self) -> &'static str {
        KIND
    }

    fn timeout(&self) -> std::time::Duration {
        std::time::Duration::from_secs(600)
    }

    async fn run(&self, ctx: &JobContext) -> Outcome {
        let conn = ctx.store.conn();
        let at = conn.now();
        let steps: [(&str, &str, sea_orm::Value); 4] = [
            (
                "sessions",
                "DELETE FROM sessions WHERE expires_at < $1",
                at.into(),
            ),
            (
                "setup_tokens",
                "DELETE FROM setup_tokens WHERE expires_at < $1",
                at.into(),
            ),
            (
                "idempotency_keys",
                "DELETE FROM idempotency_keys WHERE created_at < $1",
                (at - chrono::Duration::hours(24)).into(),
            ),
            (
                "jobs",
                "DELETE FROM jobs WHERE state IN ('succeeded', 'cancelled') AND finished_at < $1",
                (at - chrono::Duration::days(FINISHED_JOB_RETENTION_DAYS)).into(),
            ),
        ];
        let mut removed = serde_json::Map::new();
        for (i, (what, sql, cutoff)) in steps.into_iter().enumerate() {
            match exec(conn, sql, vec![cutoff]).await {
                Ok(n) => {
                    removed.insert(what.into(), n.into());
                }
                Err(e) => {
                    return Outcome::Retry {
                        error: format!("cleaning {what}: {e}"),
                        after: None,
                    };
                }
            }
            ctx.progress(i32::try_from((i + 1) * 25).unwrap_or(100), what)
                .await;
        }
        Outcome::Done(Some(serde_json::Value::Object(removed)))
    }
}
