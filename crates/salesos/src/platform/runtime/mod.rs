//! The runtime spine: the durable job queue and its workers, and the event log (outbox)
//! that every state change writes in its transaction. Areas register job handlers; the
//! application wiring starts the workers.

pub mod api;
pub mod cron;
pub mod events;
pub mod jobs;
pub mod maintenance;
pub mod ui;
pub mod worker;

/// A job that does nothing: for checking a deployment's workers and for benchmarks.
pub struct Noop;

#[async_trait::async_trait]
impl worker::JobHandler for Noop {
    fn kind(&self) -> &'static str {
        "noop"
    }

    async fn run(&self, _ctx: &worker::JobContext) -> worker::Outcome {
        worker::Outcome::Done(None)
    }
}
