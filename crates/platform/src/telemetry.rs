//! Logs and metrics. Logs are JSON lines (or pretty, for a terminal) with the request id of
//! the span they belong to. Metrics go to a Prometheus recorder owned by the application,
//! not installed globally, so several applications (tests, nodes) live in one process.

use std::sync::Once;

use metrics::{Key, Label, Metadata, Recorder};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusRecorder};
use tracing_subscriber::{EnvFilter, fmt, prelude::*};

use crate::settings::LogFormat;

static LOGGING: Once = Once::new();

/// Install the log subscriber once per process; later calls are no-ops.
pub fn init_logging(format: LogFormat) {
    LOGGING.call_once(|| {
        let filter = EnvFilter::try_from_env("SALESOS_LOG")
            .unwrap_or_else(|_| EnvFilter::new("info,sqlx=warn,sea_orm=warn"));
        let registry = tracing_subscriber::registry().with(filter);
        let _ = match format {
            LogFormat::Json => registry
                .with(
                    fmt::layer()
                        .json()
                        .with_current_span(true)
                        .with_span_list(false)
                        .with_writer(std::io::stderr),
                )
                .try_init(),
            LogFormat::Pretty => registry
                .with(fmt::layer().with_writer(std::io::stderr))
                .try_init(),
        };
    });
}

const HTTP_REQUESTS: &str = "salesos_http_requests_total";
const HTTP_DURATION: &str = "salesos_http_request_duration_seconds";
const LATENCY_BUCKETS: &[f64] = &[
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];
static METADATA: Metadata<'static> =
    Metadata::new(module_path!(), metrics::Level::INFO, Some(module_path!()));

/// The application's metrics.
pub struct Metrics {
    recorder: PrometheusRecorder,
}

impl Metrics {
    pub fn new() -> anyhow::Result<Self> {
        let recorder = PrometheusBuilder::new()
            .set_buckets_for_metric(Matcher::Full(HTTP_DURATION.into()), LATENCY_BUCKETS)?
            .build_recorder();
        let build = Key::from_parts(
            "salesos_build_info",
            vec![Label::new("version", env!("CARGO_PKG_VERSION"))],
        );
        recorder.register_gauge(&build, &METADATA).set(1.0);
        Ok(Self { recorder })
    }

    /// Count one HTTP request and its latency under its route template (never the raw path,
    /// which would make one series per record id).
    pub fn http_request(&self, method: &str, route: &str, status: u16, seconds: f64) {
        let labels = vec![
            Label::new("method", method.to_owned()),
            Label::new("route", route.to_owned()),
            Label::new("status", status.to_string()),
        ];
        self.recorder
            .register_counter(&Key::from_parts(HTTP_REQUESTS, labels.clone()), &METADATA)
            .increment(1);
        self.recorder
            .register_histogram(&Key::from_parts(HTTP_DURATION, labels), &METADATA)
            .record(seconds);
    }

    pub fn gauge(&self, name: &'static str, value: f64) {
        self.recorder
            .register_gauge(&Key::from_name(name), &METADATA)
            .set(value);
    }

    /// How many committed events an event consumer has yet to handle.
    pub fn consumer_lag(&self, consumer: &'static str, events: i64) {
        self.recorder
            .register_gauge(
                &Key::from_parts(
                    "salesos_event_consumer_lag",
                    vec![Label::new("consumer", consumer)],
                ),
                &METADATA,
            )
            .set(events as f64);
    }

    /// The Prometheus text exposition.
    pub fn render(&self) -> String {
        self.recorder.handle().render()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_requests_histogram_and_build_info() {
        let m = Metrics::new().expect("metrics");
        m.http_request("GET", "/api/v1/contacts", 200, 0.003);
        let text = m.render();
        assert!(text.contains("salesos_build_info{version="), "{text}");
        assert!(
            text.contains(r#"salesos_http_requests_total{method="GET",route="/api/v1/contacts",status="200"} 1"#),
            "{text}"
        );
        assert!(
            text.contains("salesos_http_request_duration_seconds_bucket"),
            "{text}"
        );
    }
}
