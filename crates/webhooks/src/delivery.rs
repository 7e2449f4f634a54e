//! The `webhook.deliver` job: sign and POST one event to one endpoint, record the attempt,
//! and decide what comes next (done, retry on the schedule or after `Retry-After`, give up,
//! or switch the endpoint off on 410 Gone). Requests go only to public addresses unless
//! private networks are allowed: the resolver drops private answers and IP-literal hosts
//! are checked, so neither DNS tricks nor redirects (which are not followed) reach inside.

use salesos_platform::{secrets::SecretError, store::Db};
use std::{
    collections::HashMap,
    net::SocketAddr,
    sync::Arc,
    time::{Duration, Instant},
};

use reqwest::dns::{Addrs, Name, Resolve, Resolving};
use tokio::sync::{mpsc, oneshot};
use uuid::Uuid;

use super::{
    model::{Verdict, delay_before, is_public, private_host, signature_header, verdict},
    service::DELIVER_JOB,
    store::{self, AttemptRecord, Bundle},
};
use crate::platform::{
    runtime::{
        jobs::JobKind,
        worker::{JobContext, JobHandler, Outcome},
    },
    settings::Settings,
    store::Store,
};
use crate::settings::WebhookSettings;

/// Consecutive failures after which an endpoint cools off on this node.
const TRIP_AFTER: u32 = 5;
/// Requests in flight to an endpoint that has just failed (its probes).
const PROBES: u32 = 2;
/// A response slower than this counts against the endpoint even when it is a 2xx.
const SLOW: Duration = Duration::from_secs(5);

/// How one endpoint is doing, as this node sees it. A failing or hanging endpoint must not
/// take the worker slots every other endpoint's deliveries need: after one failure it gets
/// at most `PROBES` requests in flight, after `TRIP_AFTER` in a row none until it has
/// cooled off (doubling up to a minute); its deliveries wait in the queue meanwhile,
/// without spending attempts.
#[derive(Default)]
struct Health {
    failures: u32,
    cool_until: Option<Instant>,
    in_flight: u32,
}

/// Health by endpoint.
#[derive(Default)]
struct Endpoints(std::sync::Mutex<HashMap<Uuid, Health>>);

/// A request in flight to an endpoint; says how it went when dropped or judged.
struct InFlight<'a> {
    endpoints: &'a Endpoints,
    id: Uuid,
    judged: bool,
}

impl Endpoints {
    /// A slot for a request to `id`, or how long to wait.
    fn enter(&self, id: Uuid) -> Result<InFlight<'_>, Duration> {
        let Ok(mut all) = self.0.lock() else {
            return Ok(InFlight {
                endpoints: self,
                id,
                judged: true,
            });
        };
        let h = all.entry(id).or_default();
        let now = Instant::now();
        if let Some(until) = h.cool_until.filter(|u| *u > now) {
            return Err(until - now + Duration::from_millis(rand::random_range(0..250)));
        }
        if h.failures > 0 && h.in_flight >= PROBES {
            return Err(Duration::from_millis(500 + rand::random_range(0..500)));
        }
        h.in_flight += 1;
        Ok(InFlight {
            endpoints: self,
            id,
            judged: false,
        })
    }

    fn leave(&self, id: Uuid, healthy: Option<bool>) {
        let Ok(mut all) = self.0.lock() else { return };
        let h = all.entry(id).or_default();
        h.in_flight = h.in_flight.saturating_sub(1);
        match healthy {
            Some(true) => {
                h.failures = 0;
                h.cool_until = None;
            }
            Some(false) => {
                h.failures += 1;
                if h.failures >= TRIP_AFTER {
                    let secs = 2u64.saturating_pow(h.failures - TRIP_AFTER).min(60);
                    h.cool_until = Some(Instant::now() + Duration::from_secs(secs));
                }
            }
            None => {}
        }
    }
}

impl InFlight<'_> {
    fn judge(mut self, healthy: bool) {
        self.judged = true;
        self.endpoints.leave(self.id, Some(healthy));
    }
}

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        if !self.judged {
            self.endpoints.leave(self.id, None);
        }
    }
}
const EXCERPT: usize = 500;

/// A request to the [`Reader`]: a delivery id and where to send its bundle.
type ReadRequest = (Uuid, oneshot::Sender<Result<Option<Bundle>, String>>);

/// Reads what the attempts running at once need in one query: each attempt queues its
/// delivery id; the reader takes everything queued, reads it together and answers each.
/// Under load a claimed batch of deliveries costs one read instead of one per delivery,
/// and when idle a lone attempt waits for nobody.
#[derive(Default)]
struct Reader {
    tx: std::sync::OnceLock<mpsc::UnboundedSender<ReadRequest>>,
}

impl Reader {
    async fn read(&self, store: &Store, id: Uuid) -> Result<Option<Bundle>, sea_orm::DbErr> {
        let tx = self.tx.get_or_init(|| {
            let (tx, rx) = mpsc::unbounded_channel();
            tokio::spawn(read_batches(store.clone(), rx));
            tx
        });
        let (reply, answer) = oneshot::channel();
        if tx.send((id, reply)).is_err() {
            return Ok(store::delivery_bundles(store.conn(), &[id])
                .await?
                .remove(&id));
        }
        answer
            .await
            .map_err(|_| sea_orm::DbErr::Custom("the delivery reader stopped".into()))?
            .map_err(sea_orm::DbErr::Custom)
    }
}

async fn read_batches(store: Store, mut rx: mpsc::UnboundedReceiver<ReadRequest>) {
    let mut batch = Vec::with_capacity(1024);
    while rx.recv_many(&mut batch, 1024).await > 0 {
        let ids: Vec<Uuid> = batch.iter().map(|(id, _)| *id).collect();
        match store::delivery_bundles(store.conn(), &ids).await {
            Ok(found) => {
                for (id, reply) in batch.drain(..) {
                    let _ = reply.send(Ok(found.get(&id).cloned()));
                }
            }
            Err(e) => {
                let msg = e.to_string();
                for (_, reply) in batch.drain(..) {
                    let _ = reply.send(Err(msg.clone()));
                }
            }
        }
    }
}

/// Resolves names to public addresses only.
struct PublicOnly;

impl Resolve for PublicOnly {
    fn resolve(&self, name: Name) -> Resolving {
        Box::pin(async move {
            let host = name.as_str().to_owned();
            let addrs: Vec<SocketAddr> =
                tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            let public: Vec<SocketAddr> = addrs.into_iter().filter(|a| is_public(a.ip())).collect();
            if public.is_empty() {
                return Err(format!(
                    "{host} resolves only to private, loopback or link-local addresses; refused"
                )
                .into());
            }
            Ok(Box::new(public.into_iter()) as Addrs)
        })
    }
}

/// Delivers webhooks.
pub struct Deliver {
    client: reqwest::Client,
    schedule: Vec<f64>,
    allow_private: bool,
    timeout: Duration,
    endpoints: Endpoints,
    reader: Reader,
}

/// The payload of a delivery job: which delivery to attempt.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub struct DeliveryRef {
    pub delivery_id: Uuid,
}

impl JobKind for Deliver {
    const KIND: &'static str = DELIVER_JOB;
    type Payload = DeliveryRef;
}

impl Deliver {
    pub fn new(settings: &Settings) -> anyhow::Result<Self> {
        let hooks = settings.section::<WebhookSettings>();
        let tls = salesos_platform::tls::client_config()?;
        let mut builder = reqwest::Client::builder()
            .tls_backend_preconfigured(tls)
            .redirect(reqwest::redirect::Policy::none())
            .timeout(hooks.timeout)
            .user_agent(concat!("SalesOS-Webhooks/", env!("CARGO_PKG_VERSION")))
            // Keep as many connections to a receiver as this node may have requests in
            // flight: fewer, and every busy moment opens and closes connections.
            .pool_max_idle_per_host(settings.worker_concurrency.max(1));
        if !hooks.allow_private_networks {
            builder = builder.dns_resolver(Arc::new(PublicOnly));
        }
        Ok(Self {
            client: builder.build()?,
            schedule: hooks.retry_schedule,
            allow_private: hooks.allow_private_networks,
            timeout: hooks.timeout,
            endpoints: Endpoints::default(),
            reader: Reader::default(),
        })
    }
}

#[async_trait::async_trait]
impl JobHandler for Deliver {
    fn kind(&self) -> &'static str {
        DELIVER_JOB
    }

    fn timeout(&self) -> Duration {
        self.timeout + Duration::from_secs(5)
    }

    fn emits_events(&self) -> bool {
        false
    }

    async fn run(&self, ctx: &JobContext) -> Outcome {
        match self.attempt(ctx).await {
            Ok(outcome) => outcome,
            Err(e) => Outcome::Retry {
                error: format!("storage error: {e}"),
                after: None,
            },
        }
    }
}

impl Deliver {
    async fn attempt(&self, ctx: &JobContext) -> Result<Outcome, sea_orm::DbErr> {
        let conn = ctx.store.conn();
        let id = match ctx.payload::<Deliver>() {
            Ok(p) => p.delivery_id,
            Err(e) => return Ok(Outcome::Fail(e)),
        };
        let Some((endpoint, event)) = self.reader.read(&ctx.store, id).await? else {
            return Ok(Outcome::Fail("the delivery no longer exists".into()));
        };
        let endpoint = match endpoint {
            Some(e) if e.enabled => e,
            Some(_) | None => {
                store::set_delivery_state(conn, id, "cancelled").await?;
                return Ok(Outcome::Done(Some(
                    serde_json::json!({"skipped": "endpoint disabled or deleted"}),
                )));
            }
        };
        let Some(event) = event else {
            return Ok(Outcome::Fail("the event no longer exists".into()));
        };
        let attempt = ctx.job.attempts;
        let body = serde_json::to_vec(&serde_json::json!({
            "event_id": event.event_id,
            "type": event.event_type,
            "timestamp": event.timestamp,
            "workspace_id": event.workspace_id,
            "seq": event.seq,
            "entity_type": event.entity_type,
            "entity_id": event.entity_id,
            "source": event.source,
            "data": event.data,
            "metadata": {"version": 1, "retry_count": attempt - 1},
        }))
        .unwrap_or_default();
        let msg_id = format!("msg_{}", id.simple());
        let timestamp = conn.now().timestamp();
        let secrets = match endpoint.live_secrets(conn.keyring(), conn.now()) {
            Ok(s) => s,
            // A node that does not hold the key yet (a key rollout under way) leaves the
            // delivery to one that does, or to itself once it does.
            Err(e) => {
                let retry = matches!(e, SecretError::UnknownKey(_));
                let error = format!("the endpoint's signing secret: {e}");
                return Ok(self.unsent(ctx, id, attempt, error, retry));
            }
        };
        let opened: Vec<&str> = secrets.iter().map(|s| s.expose()).collect();
        let Some(signature) = signature_header(&opened, &msg_id, timestamp, &body) else {
            return Ok(Outcome::Fail(
                "the endpoint's signing secret is not a whsec_ secret".into(),
            ));
        };
        if let Some(refusal) = self.refuse_literal(&endpoint.url) {
            store::record_attempt(
                conn,
                AttemptRecord {
                    delivery_id: id,
                    attempt,
                    status: None,
                    latency_ms: 0,
                    excerpt: None,
                    error: Some(&refusal),
                    state: "dead",
                    clock: conn.clock(),
                },
            )
            .await?;
            return Ok(Outcome::Fail(refusal));
        }

        let slot = match self.endpoints.enter(endpoint.id) {
            Ok(slot) => slot,
            Err(wait) => return Ok(Outcome::Snooze(wait)),
        };
        let started = Instant::now();
        let sent = self
            .client
            .post(&endpoint.url)
            .header("content-type", "application/json")
            .header("webhook-id", &msg_id)
            .header("webhook-timestamp", timestamp.to_string())
            .header("webhook-signature", signature)
            .body(body)
            .send()
            .await;
        let (status, retry_after, excerpt, error) = match sent {
            Ok(mut res) => {
                let status = res.status().as_u16();
                let retry_after = res
                    .headers()
                    .get("retry-after")
                    .and_then(|v| v.to_str().ok())
                    .map(str::to_owned);
                let mut buf = Vec::new();
                while buf.len() < EXCERPT {
                    match res.chunk().await {
                        Ok(Some(c)) => buf.extend_from_slice(&c),
                        _ => break,
                    }
                }
                buf.truncate(EXCERPT);
                (
                    Some(status),
                    retry_after,
                    Some(String::from_utf8_lossy(&buf).into_owned()),
                    None,
                )
            }
            Err(e) => (None, None, None, Some(describe(&e, self.timeout))),
        };
        let elapsed = started.elapsed();
        slot.judge(status.is_some_and(|s| (200..300).contains(&s) || s == 410) && elapsed < SLOW);
        let latency_ms = i32::try_from(started.elapsed().as_millis()).unwrap_or(i32::MAX);
        let judged = match (status, &error) {
            (Some(s), _) => verdict(s, retry_after.as_deref()),
            (None, _) => Verdict::Retry { after_secs: None },
        };
        let error_text = match (&error, status) {
            (Some(e), _) => Some(e.clone()),
            (None, Some(s)) if !(200..300).contains(&s) => Some(format!("receiver answered {s}")),
            _ => None,
        };
        let (state, outcome) = match judged {
            Verdict::Delivered => (
                "succeeded",
                Outcome::Done(Some(
                    serde_json::json!({"status": status, "latency_ms": latency_ms}),
                )),
            ),
            Verdict::Gone => {
                let mut ep = endpoint.clone();
                ep.enabled = false;
                ep.disabled_reason = Some(format!(
                    "the receiver answered 410 Gone on {}",
                    conn.now().to_rfc3339()
                ));
                store::update_endpoint(conn, &ep).await?;
                (
                    "dead",
                    Outcome::Fail("410 Gone: the endpoint was disabled".into()),
                )
            }
            Verdict::Retry { after_secs } => {
                let next = usize::try_from(attempt).unwrap_or(0) + 1;
                match (after_secs, delay_before(&self.schedule, next)) {
                    (_, None) => (
                        "dead",
                        Outcome::Fail(
                            error_text
                                .clone()
                                .unwrap_or_else(|| "out of attempts".into()),
                        ),
                    ),
                    (Some(server), Some(_)) | (None, Some(server)) => (
                        "retrying",
                        Outcome::Retry {
                            error: error_text.clone().unwrap_or_default(),
                            after: Some(Duration::from_secs_f64(server.min(86_400.0))),
                        },
                    ),
                }
            }
        };
        // The delivery log is written with the job's outcome, in the worker's batched
        // transaction: it changes exactly when the job's state does.
        for (template, row) in store::attempt_rows(AttemptRecord {
            delivery_id: id,
            attempt,
            status: status.map(i32::from),
            latency_ms,
            excerpt: excerpt.as_deref(),
            error: error_text.as_deref(),
            state,
            clock: ctx.store.clock(),
        }) {
            ctx.write_with_outcome(template, row);
        }
        Ok(outcome)
    }

    /// An attempt that sent nothing, logged with the job's outcome: tried again on the
    /// schedule when `retry`, else given up.
    fn unsent(
        &self,
        ctx: &JobContext,
        id: Uuid,
        attempt: i32,
        error: String,
        retry: bool,
    ) -> Outcome {
        let next = usize::try_from(attempt).unwrap_or(0) + 1;
        let (state, outcome) = match delay_before(&self.schedule, next).filter(|_| retry) {
            Some(after) => (
                "retrying",
                Outcome::Retry {
                    error: error.clone(),
                    after: Some(Duration::from_secs_f64(after.min(86_400.0))),
                },
            ),
            None => ("dead", Outcome::Fail(error.clone())),
        };
        for (template, row) in store::attempt_rows(AttemptRecord {
            delivery_id: id,
            attempt,
            status: None,
            latency_ms: 0,
            excerpt: None,
            error: Some(&error),
            state,
            clock: ctx.store.clock(),
        }) {
            ctx.write_with_outcome(template, row);
        }
        outcome
    }

    /// URLs whose host is an IP literal skip the resolver: check them here.
    fn refuse_literal(&self, url: &str) -> Option<String> {
        if self.allow_private {
            return None;
        }
        private_host(&reqwest::Url::parse(url).ok()?)
    }
}

fn describe(e: &reqwest::Error, timeout: Duration) -> String {
    let mut msg = e.to_string();
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        msg.push_str(": ");
        msg.push_str(&s.to_string());
        source = s.source();
    }
    if e.is_timeout() {
        format!("timed out after {} s", timeout.as_secs())
    } else {
        msg
    }
}
