//! Webhook use cases: endpoints (create, change, rotate the secret, delete), the fan-out
//! that turns committed events into deliveries, and replaying a delivery.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use super::{
    model::{check_events, check_url, new_secret},
    settings::WebhookSettings,
    store::{self, Delivery, EndpointRow, NewDelivery},
};
use salesos_model::patch::patch;

use crate::platform::{
    audit::{self, Actor, Change},
    auth::Principal,
    error::{Error, FieldError},
    runtime::{
        consumer::Consumer,
        events::{self, Event},
        jobs::{self, NewJob},
        topics::{TopicPattern, Topics},
    },
    settings::Settings,
    store::{Store, WriteTxn},
};

pub const DELIVER_JOB: &str = "webhook.deliver";
const CONSUMER: &str = "webhooks";

/// An endpoint as the API shows it (the secret only when created or rotated).
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct Webhook {
    pub id: Uuid,
    pub url: String,
    pub description: Option<String>,
    /// Topic patterns: `contact.created`, `email.*`, `*`.
    pub events: Vec<String>,
    pub enabled: bool,
    /// Why SalesOS turned it off (e.g. the receiver answered 410 Gone).
    pub disabled_reason: Option<String>,
    /// `whsec_…`: present only in the answer that created or rotated it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub secret: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl Webhook {
    /// The endpoint as shown; `secret` only in the answer that made it.
    fn from_row(r: &EndpointRow, secret: Option<String>) -> Self {
        Webhook {
            id: r.id,
            url: r.url.clone(),
            description: r.description.clone(),
            events: r.patterns(),
            enabled: r.enabled,
            disabled_reason: r.disabled_reason.clone(),
            secret,
            created_at: r.created_at,
            updated_at: r.updated_at,
        }
    }
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewWebhook {
    /// An absolute `https://` URL (`http://` only when the deployment allows it) to a
    /// public address.
    #[schema(pattern = r"^\s*[hH][tT][tT][pP][sS]?://[^/?#@\s]+")]
    pub url: String,
    /// 1 to 50 topic patterns, e.g. `contact.*`.
    #[schema(value_type = Vec<TopicPattern>, min_items = 1, max_items = 50)]
    pub events: Vec<String>,
    #[serde(default = "yes")]
    pub enabled: bool,
    pub description: Option<String>,
}

fn yes() -> bool {
    true
}

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct WebhookPatch {
    #[schema(pattern = r"^\s*[hH][tT][tT][pP][sS]?://[^/?#@\s]+")]
    pub url: Option<String>,
    #[schema(value_type = Option<Vec<TopicPattern>>, min_items = 1, max_items = 50)]
    pub events: Option<Vec<String>>,
    /// Turning an endpoint on again clears the reason it was turned off.
    pub enabled: Option<bool>,
    #[serde(default, deserialize_with = "patch")]
    #[schema(value_type = Option<String>, nullable)]
    pub description: Option<Option<String>>,
}

fn audit_change(
    principal: &Principal,
    action: &'static str,
    id: Uuid,
    before: Option<&Webhook>,
    after: Option<&Webhook>,
) -> Change<'static> {
    Change {
        workspace_id: Some(principal.workspace_id),
        action,
        entity_type: "webhook",
        entity_id: Some(id.to_string()),
        before: before.and_then(|w| serde_json::to_value(w).ok()),
        after: after.and_then(|w| serde_json::to_value(w).ok()),
    }
}

/// An endpoint URL as this deployment allows it. Addresses are refused here in every
/// spelling; names are checked when connecting, against what they resolve to then (a
/// name checked now could point elsewhere by delivery time).
fn check_endpoint_url(settings: &Settings, raw: &str) -> Result<reqwest::Url, FieldError> {
    let hooks = settings.section::<WebhookSettings>();
    check_url(raw, hooks.allow_http, hooks.allow_private_networks)
}

pub async fn create(
    store: &Store,
    settings: &Settings,
    topics: &Topics,
    principal: &Principal,
    input: NewWebhook,
) -> Result<Webhook, Error> {
    principal.require(crate::actions::MANAGE_WEBHOOKS)?;
    let mut errors = Vec::new();
    if let Err(e) = check_endpoint_url(settings, &input.url) {
        errors.push(e);
    }
    if let Err(e) = check_events(&input.events, topics) {
        errors.push(e);
    }
    if !errors.is_empty() {
        return Err(Error::Invalid(errors));
    }
    let at = store.now();
    let row = EndpointRow {
        id: store.clock().new_id(),
        workspace_id: principal.workspace_id,
        url: input.url.trim().to_owned(),
        description: input
            .description
            .map(|d| d.trim().to_owned())
            .filter(|d| !d.is_empty()),
        events: serde_json::json!(input.events),
        enabled: input.enabled,
        disabled_reason: None,
        secret: String::new(),
        previous_secret: None,
        previous_secret_expires_at: None,
        created_at: at,
        updated_at: at,
    };
    let mut row = row;
    let secret = new_secret();
    row.secret = row.seal_secret(store.keyring(), &secret).map_err(sealing)?;
    let txn = store.write().await?;
    store::insert_endpoint(&txn, &row).await?;
    let shown = Webhook::from_row(&row, None);
    audit::record(
        &txn,
        &Actor::from(principal),
        audit_change(principal, "webhook.created", row.id, None, Some(&shown)),
    )
    .await?;
    txn.commit().await?;
    Ok(Webhook::from_row(&row, Some(secret)))
}

fn sealing(e: salesos_platform::secrets::SecretError) -> Error {
    Error::Internal(anyhow::anyhow!("cannot seal the signing secret: {e}"))
}

async fn find(store: &Store, principal: &Principal, id: Uuid) -> Result<EndpointRow, Error> {
    principal.require(crate::actions::MANAGE_WEBHOOKS)?;
    store::get_endpoint(store.conn(), principal.workspace_id, id)
        .await?
        .ok_or(Error::NotFound("webhook"))
}

pub async fn get(store: &Store, principal: &Principal, id: Uuid) -> Result<Webhook, Error> {
    Ok(Webhook::from_row(&find(store, principal, id).await?, None))
}

pub async fn update(
    store: &Store,
    settings: &Settings,
    topics: &Topics,
    principal: &Principal,
    id: Uuid,
    input: WebhookPatch,
) -> Result<Webhook, Error> {
    let before = find(store, principal, id).await?;
    let mut row = before.clone();
    let mut errors = Vec::new();
    if let Some(url) = input.url {
        match check_endpoint_url(settings, &url) {
            Ok(_) => row.url = url.trim().to_owned(),
            Err(e) => errors.push(e),
        }
    }
    if let Some(ev) = input.events {
        match check_events(&ev, topics) {
            Ok(()) => row.events = serde_json::json!(ev),
            Err(e) => errors.push(e),
        }
    }
    if !errors.is_empty() {
        return Err(Error::Invalid(errors));
    }
    if let Some(enabled) = input.enabled {
        row.enabled = enabled;
        if enabled {
            row.disabled_reason = None;
        }
    }
    if let Some(d) = input.description {
        row.description = d.map(|d| d.trim().to_owned()).filter(|d| !d.is_empty());
    }
    let txn = store.write().await?;
    store::update_endpoint(&txn, &row).await?;
    let (b, a) = (
        Webhook::from_row(&before, None),
        Webhook::from_row(&row, None),
    );
    audit::record(
        &txn,
        &Actor::from(principal),
        audit_change(principal, "webhook.updated", id, Some(&b), Some(&a)),
    )
    .await?;
    txn.commit().await?;
    Ok(a)
}

/// A new secret; the old one keeps signing for 24 hours so receivers can switch over.
pub async fn rotate_secret(
    store: &Store,
    principal: &Principal,
    id: Uuid,
) -> Result<Webhook, Error> {
    let mut row = find(store, principal, id).await?;
    row.previous_secret = Some(row.secret.clone());
    row.previous_secret_expires_at = Some(store.now() + chrono::Duration::hours(24));
    let secret = new_secret();
    row.secret = row.seal_secret(store.keyring(), &secret).map_err(sealing)?;
    let txn = store.write().await?;
    store::update_endpoint(&txn, &row).await?;
    audit::record(
        &txn,
        &Actor::from(principal),
        audit_change(principal, "webhook.secret_rotated", id, None, None),
    )
    .await?;
    txn.commit().await?;
    Ok(Webhook::from_row(&row, Some(secret)))
}

pub async fn delete(store: &Store, principal: &Principal, id: Uuid) -> Result<(), Error> {
    let before = find(store, principal, id).await?;
    let txn = store.write().await?;
    store::delete_endpoint(&txn, principal.workspace_id, id).await?;
    let b = Webhook::from_row(&before, None);
    audit::record(
        &txn,
        &Actor::from(principal),
        audit_change(principal, "webhook.deleted", id, Some(&b), None),
    )
    .await?;
    txn.commit().await?;
    Ok(())
}

pub async fn list(
    store: &Store,
    principal: &Principal,
    after: Option<(DateTime<Utc>, Uuid)>,
    limit: u64,
) -> Result<Vec<Webhook>, Error> {
    principal.require(crate::actions::MANAGE_WEBHOOKS)?;
    let rows =
        store::list_endpoints(store.conn(), principal.workspace_id, false, after, limit).await?;
    Ok(rows.iter().map(|r| Webhook::from_row(r, None)).collect())
}

pub async fn deliveries(
    store: &Store,
    principal: &Principal,
    id: Uuid,
    state: Option<&str>,
    after: Option<(DateTime<Utc>, Uuid)>,
    limit: u64,
) -> Result<Vec<Delivery>, Error> {
    find(store, principal, id).await?;
    Ok(store::list_deliveries(store.conn(), id, state, after, limit).await?)
}

/// A delivery with every attempt made.
#[derive(Debug, Serialize, ToSchema)]
pub struct DeliveryLog {
    #[serde(flatten)]
    pub delivery: Delivery,
    pub attempt_log: Vec<store::Attempt>,
}

pub async fn delivery(
    store: &Store,
    principal: &Principal,
    endpoint: Uuid,
    id: Uuid,
) -> Result<DeliveryLog, Error> {
    find(store, principal, endpoint).await?;
    let delivery = store::get_delivery(store.conn(), principal.workspace_id, id)
        .await?
        .filter(|d| d.endpoint_id == endpoint)
        .ok_or(Error::NotFound("delivery"))?;
    let attempt_log = store::attempts_of(store.conn(), id).await?;
    Ok(DeliveryLog {
        delivery,
        attempt_log,
    })
}

fn deliver_job(workspace_id: Uuid, delivery_id: Uuid, hooks: &WebhookSettings) -> NewJob {
    NewJob {
        workspace_id: Some(workspace_id),
        unique_key: Some(delivery_id.to_string()),
        max_attempts: i32::try_from(hooks.retry_schedule.len()).unwrap_or(10),
        priority: 0,
        ..NewJob::of::<crate::delivery::Deliver>(&crate::delivery::DeliveryRef { delivery_id })
    }
}

/// Send a delivery again (a dead one, or one to repeat), with a fresh schedule.
pub async fn replay(
    store: &Store,
    settings: &Settings,
    principal: &Principal,
    endpoint: Uuid,
    id: Uuid,
) -> Result<Delivery, Error> {
    find(store, principal, endpoint).await?;
    let txn = store.write().await?;
    let d = store::get_delivery(&txn, principal.workspace_id, id)
        .await?
        .filter(|d| d.endpoint_id == endpoint)
        .ok_or(Error::NotFound("delivery"))?;
    if d.state == "pending" || d.state == "retrying" {
        return Err(Error::conflict(
            "state",
            format!("the delivery is {} already", d.state),
        ));
    }
    store::set_delivery_state(&txn, id, "pending").await?;
    let hooks = settings.section::<WebhookSettings>();
    jobs::enqueue(&txn, deliver_job(principal.workspace_id, id, &hooks)).await?;
    audit::record(
        &txn,
        &Actor::from(principal),
        Change {
            workspace_id: Some(principal.workspace_id),
            action: "webhook.delivery_replayed",
            entity_type: "webhook_delivery",
            entity_id: Some(id.to_string()),
            before: None,
            after: None,
        },
    )
    .await?;
    let d = store::get_delivery(&txn, principal.workspace_id, id)
        .await?
        .ok_or(Error::NotFound("delivery"))?;
    txn.commit().await?;
    Ok(d)
}

/// The fan-out: an event consumer that turns committed events into deliveries for every
/// enabled endpoint that wants them, in the transaction that advances its position, so
/// each event is fanned out once.
pub struct FanOut {
    hooks: WebhookSettings,
}

impl FanOut {
    pub fn new(settings: &Settings) -> Self {
        Self {
            hooks: settings.section::<WebhookSettings>(),
        }
    }
}

#[async_trait::async_trait]
impl Consumer for FanOut {
    fn name(&self) -> &'static str {
        CONSUMER
    }

    /// Every event: which ones an endpoint wants is its own setting.
    fn topics(&self) -> &'static [&'static str] {
        &["*"]
    }

    async fn handle(&self, txn: &WriteTxn, events: &[Event]) -> Result<(), Error> {
        let mut endpoints: Option<(Uuid, Vec<EndpointRow>)> = None;
        let mut wanted = Vec::new();
        for event in events {
            if endpoints
                .as_ref()
                .is_none_or(|(ws, _)| *ws != event.workspace_id)
            {
                let rows =
                    store::list_endpoints(txn, event.workspace_id, true, None, 10_000).await?;
                endpoints = Some((event.workspace_id, rows));
            }
            if let Some((_, rows)) = &endpoints {
                wanted.extend(
                    rows.iter()
                        .filter(|ep| {
                            ep.patterns()
                                .iter()
                                .any(|p| events::topic_matches(p, &event.event_type))
                        })
                        .map(|ep| NewDelivery {
                            workspace_id: event.workspace_id,
                            endpoint_id: ep.id,
                            event_id: event.event_id,
                            event_type: &event.event_type,
                        }),
                );
            }
        }
        // Multi-row inserts: a batch of events costs a few statements, not two per delivery.
        let made = store::insert_deliveries(txn, &wanted).await?;
        if !made.is_empty() {
            let jobs: Vec<NewJob> = made
                .iter()
                .map(|(id, ws)| deliver_job(*ws, *id, &self.hooks))
                .collect();
            jobs::enqueue_batch(txn, &jobs).await?;
        }
        tracing::debug!(
            events = events.len(),
            deliveries = made.len(),
            "webhook fan-out"
        );
        Ok(())
    }
}
