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
pub mod topics;
pub mod ui;
pub mod worker;

/// A job that does no work: for checking a deployment's workers, the live stream and
/// benchmarks. With `{"steps": n, "step_ms": m}` it takes `n` steps of `m` ms and reports
/// its progress after each.
pub struct Noop;

/// What a [`Noop`] job does.
#[derive(Clone, Debug, Default, serde::Serialize, serde::Deserialize)]
pub struct NoopSteps {
    #[serde(default)]
    pub steps: u64,
    #[serde(default)]
    pub step_ms: u64,
}

impl jobs::JobKind for Noop {
    const KIND: &'static str = "noop";
    type Payload = NoopSteps;
}

#[async_trait::async_trait]
impl worker::JobHandler for Noop {
    fn kind(&self) -> &'static str {
        <Self as jobs::JobKind>::KIND
    }

    async fn run(&self, ctx: &worker::JobContext) -> worker::Outcome {
        let plan = match ctx.payload::<Noop>() {
            Ok(p) => p,
            Err(e) => return worker::Outcome::Fail(e),
        };
        let steps = plan.steps.min(1000);
        let pause = std::time::Duration::from_millis(plan.step_ms.min(10_000));
        for step in 1..=steps {
            tokio::time::sleep(pause).await;
            let percent = i32::try_from(step * 100 / steps).unwrap_or(100);
            ctx.progress(percent, &format!("step {step} of {steps}"))
                .await;
        }
        worker::Outcome::Done(None)
    }
}
