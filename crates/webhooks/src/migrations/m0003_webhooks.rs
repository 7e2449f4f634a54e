//! Outbound webhooks: endpoints, one delivery per event and endpoint, and every attempt.

use salesos_platform::store::migrations::{Migration as Step, Schema};

pub struct Migration;

const WEBHOOKS: &str = r#"
CREATE TABLE webhook_endpoints (
    id {uuid} PRIMARY KEY,
    workspace_id {uuid} NOT NULL REFERENCES workspaces(id) ON DELETE CASCADE,
    url text NOT NULL,
    description text,
    events {json} NOT NULL,
    enabled {bool} NOT NULL,
    disabled_reason text,
    secret text NOT NULL,
    previous_secret text,
    previous_secret_expires_at {ts},
    created_at {ts} NOT NULL,
    updated_at {ts} NOT NULL
);
CREATE INDEX webhook_endpoints_workspace ON webhook_endpoints (workspace_id, created_at, id);
CREATE TABLE webhook_deliveries (
    id {uuid} PRIMARY KEY,
    workspace_id {uuid} NOT NULL REFERENCES workspaces(id) ON DELETE CASCADE,
    endpoint_id {uuid} NOT NULL REFERENCES webhook_endpoints(id) ON DELETE CASCADE,
    event_id {uuid} NOT NULL REFERENCES events(id) ON DELETE CASCADE,
    event_type text NOT NULL,
    state text NOT NULL,
    attempts integer NOT NULL,
    last_status integer,
    last_error text,
    last_latency_ms integer,
    created_at {ts} NOT NULL,
    updated_at {ts} NOT NULL
);
CREATE UNIQUE INDEX webhook_deliveries_once ON webhook_deliveries (endpoint_id, event_id);
CREATE INDEX webhook_deliveries_endpoint ON webhook_deliveries (endpoint_id, state, created_at, id);
CREATE TABLE webhook_attempts (
    id {uuid} PRIMARY KEY,
    delivery_id {uuid} NOT NULL REFERENCES webhook_deliveries(id) ON DELETE CASCADE,
    attempt integer NOT NULL,
    status integer,
    latency_ms integer NOT NULL,
    response_excerpt text,
    error text,
    created_at {ts} NOT NULL
);
CREATE INDEX webhook_attempts_delivery ON webhook_attempts (delivery_id, attempt);
"#;

#[async_trait::async_trait]
impl Step for Migration {
    fn name(&self) -> &'static str {
        "m0003_webhooks"
    }

    async fn up(&self, schema: &Schema<'_>) -> Result<(), sea_orm::DbErr> {
        schema.run(WEBHOOKS).await
    }
}
