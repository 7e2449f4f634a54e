//! The runtime spine: the durable job queue and its workers, and the event log (outbox)
//! that every state change writes in its transaction. Areas register job handlers; the
//! application wiring starts the workers.

pub mod api;
pub mod bus;
pub mod consumer;
pub mod cron;
pub mod events;
pub mod jobs;
pub mod maintenance;
pub mod stream;
pub mod ui;
pub mod worker;

/// A job that does no work: for checking a deployment's workers, the live stream and
/// benchmarks. With `{"steps": n, "step_ms": m}` it takes `n` steps of `m` ms and reports
/// its progress after each.
pub struct Noop;

#[async_trait::async_trait]
impl worker::JobHandler for Noop {
    fn kind(&self) -> &'static str {
        "noop"
    }

    async fn run(&self, ctx: &worker::JobContext) -> worker::Outcome {
        let steps = ctx
            .job
            .payload
            .get("steps")
            .and_then(serde_json::Value::as_u64)
            .unwrap_or(0)
            .min(1000);
        let pause = std::time::Duration::from_millis(
            ctx.job
                .payload
                .get("step_ms")
                .and_then(serde_json::Value::as_u64)
                .unwrap_or(0)
                .min(10_000),
        );
        for step in 1..=steps {
            tokio::time::sleep(pause).await;
            let percent = i32::try_from(step * 100 / steps).unwrap_or(100);
            ctx.progress(percent, &format!("step {step} of {steps}"))
                .await;
        }
        worker::Outcome::Done(None)
    }
}
