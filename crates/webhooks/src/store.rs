//! Queries for webhook endpoints, deliveries and attempts.

use chrono::{DateTime, Utc};
use salesos_platform::{
    clock::Clock,
    secrets::{self, Keyring, SealedColumn, SecretError},
    settings::Secret,
    store::Db,
};
use sea_orm::{DbErr, FromQueryResult};
use serde::Serialize;
use utoipa::ToSchema;
use uuid::Uuid;

use crate::platform::{
    runtime::events::{self, Event},
    store::{
        exec, exec_rows, find_in_workspace,
        query::{SqlBuilder, columns_as},
        rows_per_statement, statement,
    },
};

salesos_platform::table! {
    #[derive(Clone, Debug)]
    pub struct EndpointRow in "webhook_endpoints" {
        pub id: Uuid,
        pub workspace_id: Uuid,
        pub url: String,
        pub description: Option<String>,
        pub events: serde_json::Value,
        pub enabled: bool,
        pub disabled_reason: Option<String>,
        pub secret: String,
        pub previous_secret: Option<String>,
        pub previous_secret_expires_at: Option<DateTime<Utc>>,
        pub created_at: DateTime<Utc>,
        pub updated_at: DateTime<Utc>,
    }
}

impl EndpointRow {
    pub fn patterns(&self) -> Vec<String> {
        serde_json::from_value(self.events.clone()).unwrap_or_default()
    }

    /// The associated data its secrets are sealed with.
    fn context(&self) -> String {
        secrets::context(ENDPOINTS, self.id)
    }

    /// Seal `plain` as its signing secret.
    pub fn seal_secret(&self, ring: &Keyring, plain: &str) -> Result<String, SecretError> {
        ring.seal(&self.context(), plain)
    }

    /// The secrets a signature is made with now, opened: the current one, and the
    /// previous one while its overlap lasts.
    pub fn live_secrets(
        &self,
        ring: &Keyring,
        at: DateTime<Utc>,
    ) -> Result<Vec<Secret>, SecretError> {
        let ctx = self.context();
        let mut s = vec![ring.open(&ctx, &self.secret)?];
        if let (Some(prev), Some(until)) = (&self.previous_secret, self.previous_secret_expires_at)
            && until > at
        {
            s.push(ring.open(&ctx, prev)?);
        }
        Ok(s)
    }
}

const ENDPOINTS: &str = "webhook_endpoints";

/// Where webhooks keep sealed secrets: the signing secret and, during a rotation's
/// overlap, the one before it.
pub const SEALED: &[SealedColumn] = &[
    SealedColumn {
        table: ENDPOINTS,
        column: "secret",
    },
    SealedColumn {
        table: ENDPOINTS,
        column: "previous_secret",
    },
];

pub async fn insert_endpoint<C: Db>(conn: &C, e: &EndpointRow) -> Result<(), DbErr> {
    exec(
        conn,
        &format!("INSERT INTO webhook_endpoints ({endpoint_row_columns}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)", endpoint_row_columns = EndpointRow::COLUMNS),
        vec![
            e.id.into(),
            e.workspace_id.into(),
            e.url.clone().into(),
            e.description.clone().into(),
            e.events.clone().into(),
            e.enabled.into(),
            e.disabled_reason.clone().into(),
            e.secret.clone().into(),
            e.previous_secret.clone().into(),
            e.previous_secret_expires_at.into(),
            e.created_at.into(),
            e.updated_at.into(),
        ],
    )
    .await?;
    Ok(())
}

pub async fn update_endpoint<C: Db>(conn: &C, e: &EndpointRow) -> Result<(), DbErr> {
    exec(
        conn,
        "UPDATE webhook_endpoints SET url = $1, description = $2, events = $3, enabled = $4, disabled_reason = $5, \
         secret = $6, previous_secret = $7, previous_secret_expires_at = $8, updated_at = $9 \
         WHERE workspace_id = $10 AND id = $11",
        vec![
            e.url.clone().into(),
            e.description.clone().into(),
            e.events.clone().into(),
            e.enabled.into(),
            e.disabled_reason.clone().into(),
            e.secret.clone().into(),
            e.previous_secret.clone().into(),
            e.previous_secret_expires_at.into(),
            conn.now().into(),
            e.workspace_id.into(),
            e.id.into(),
        ],
    )
    .await?;
    Ok(())
}

pub async fn get_endpoint<C: Db>(
    conn: &C,
    workspace_id: Uuid,
    id: Uuid,
) -> Result<Option<EndpointRow>, DbErr> {
    find_in_workspace(conn, workspace_id, id).await
}

pub async fn delete_endpoint<C: Db>(conn: &C, workspace_id: Uuid, id: Uuid) -> Result<u64, DbErr> {
    exec(
        conn,
        "DELETE FROM webhook_endpoints WHERE workspace_id = $1 AND id = $2",
        vec![workspace_id.into(), id.into()],
    )
    .await
}

pub async fn list_endpoints<C: Db>(
    conn: &C,
    workspace_id: Uuid,
    enabled_only: bool,
    after: Option<(DateTime<Utc>, Uuid)>,
    limit: u64,
) -> Result<Vec<EndpointRow>, DbErr> {
    let mut b = SqlBuilder::new(&format!(
        "SELECT {endpoint_row_columns} FROM webhook_endpoints WHERE workspace_id = $1",
        endpoint_row_columns = EndpointRow::COLUMNS
    ));
    b.values.push(workspace_id.into());
    if enabled_only {
        b.and("enabled", "=", true);
    }
    if let Some((at, id)) = after {
        let a = b.bind(at);
        let i = b.bind(id);
        b.push(&format!(" AND (created_at, id) > ({a}, {i})"));
    }
    b.push(&format!(" ORDER BY created_at, id LIMIT {}", limit + 1));
    let stmt = statement(conn.get_database_backend(), &b.sql, b.values);
    EndpointRow::find_by_statement(stmt).all(conn).await
}

salesos_platform::table! {
    /// One event's delivery to one endpoint.
    #[derive(Clone, Debug, Serialize, ToSchema)]
    pub struct Delivery in "webhook_deliveries" {
        pub id: Uuid,
        #[serde(skip)]
        pub workspace_id: Uuid,
        pub endpoint_id: Uuid,
        pub event_id: Uuid,
        pub event_type: String,
        /// `pending`, `succeeded`, `retrying`, `dead` or `cancelled`.
        pub state: String,
        pub attempts: i32,
        pub last_status: Option<i32>,
        pub last_error: Option<String>,
        pub last_latency_ms: Option<i32>,
        pub created_at: DateTime<Utc>,
        pub updated_at: DateTime<Utc>,
    }
}

/// Record a delivery to make; `None` if this event already has one for this endpoint.
/// A delivery the fan-out wants: one event for one endpoint.
pub struct NewDelivery<'a> {
    pub workspace_id: Uuid,
    pub endpoint_id: Uuid,
    pub event_id: Uuid,
    pub event_type: &'a str,
}

/// Insert deliveries in multi-row statements; one that exists already (same endpoint and
/// event) is skipped; a few statements for any number. Returns each new delivery's id with its workspace.
pub async fn insert_deliveries<C: Db>(
    conn: &C,
    new: &[NewDelivery<'_>],
) -> Result<Vec<(Uuid, Uuid)>, DbErr> {
    let mut made = Vec::with_capacity(new.len());
    for chunk in new.chunks(rows_per_statement(conn.get_database_backend(), 9)) {
        let at = conn.now();
        let mut b = SqlBuilder::new(
            "INSERT INTO webhook_deliveries (id, workspace_id, endpoint_id, event_id, event_type, state, attempts, created_at, updated_at) VALUES ",
        );
        b.push_rows(chunk.iter().map(|d| {
            vec![
                conn.new_id().into(),
                d.workspace_id.into(),
                d.endpoint_id.into(),
                d.event_id.into(),
                d.event_type.into(),
                "pending".into(),
                0i32.into(),
                at.into(),
                at.into(),
            ]
        }));
        b.push(" ON CONFLICT (endpoint_id, event_id) DO NOTHING RETURNING id, workspace_id");
        let stmt = statement(conn.get_database_backend(), &b.sql, b.values);
        for row in conn.query_all_raw(stmt).await? {
            made.push((row.try_get("", "id")?, row.try_get("", "workspace_id")?));
        }
    }
    Ok(made)
}

pub async fn get_delivery<C: Db>(
    conn: &C,
    workspace_id: Uuid,
    id: Uuid,
) -> Result<Option<Delivery>, DbErr> {
    find_in_workspace(conn, workspace_id, id).await
}

/// What a delivery attempt needs: the delivery's endpoint (if it still exists) and event.
pub type Bundle = (Option<EndpointRow>, Option<Event>);

/// The [`Bundle`]s of many deliveries, by delivery id, in as few queries as the bound-value
/// limit allows. A delivery that is gone is missing from the answer.
pub async fn delivery_bundles<C: Db>(
    conn: &C,
    ids: &[Uuid],
) -> Result<std::collections::HashMap<Uuid, Bundle>, DbErr> {
    let endpoint_cols = columns_as(EndpointRow::COLUMNS, "ep", "ep_");
    let event_cols = events::columns_as("ev", "ev_");
    let mut found = std::collections::HashMap::with_capacity(ids.len());
    for chunk in ids.chunks(rows_per_statement(conn.get_database_backend(), 1)) {
        let mut b = SqlBuilder::new(&format!(
            "SELECT d.id AS delivery_id, {endpoint_cols}, {event_cols} FROM webhook_deliveries d \
             LEFT JOIN webhook_endpoints ep ON ep.id = d.endpoint_id AND ep.workspace_id = d.workspace_id \
             LEFT JOIN events ev ON ev.id = d.event_id WHERE d.id IN ("
        ));
        let marks: Vec<String> = chunk.iter().map(|id| b.bind(*id)).collect();
        b.push(&marks.join(", "));
        b.push(")");
        let stmt = statement(conn.get_database_backend(), &b.sql, b.values);
        for row in conn.query_all_raw(stmt).await? {
            let endpoint = match row.try_get::<Option<Uuid>>("", "ep_id")? {
                Some(_) => Some(EndpointRow::from_query_result(&row, "ep_")?),
                None => None,
            };
            let event = match row.try_get::<Option<Uuid>>("", "ev_id")? {
                Some(_) => Some(events::from_prefixed(&row, "ev_")?),
                None => None,
            };
            found.insert(row.try_get::<Uuid>("", "delivery_id")?, (endpoint, event));
        }
    }
    Ok(found)
}

pub async fn list_deliveries<C: Db>(
    conn: &C,
    endpoint_id: Uuid,
    state: Option<&str>,
    after: Option<(DateTime<Utc>, Uuid)>,
    limit: u64,
) -> Result<Vec<Delivery>, DbErr> {
    let mut b = SqlBuilder::new(&format!(
        "SELECT {delivery_columns} FROM webhook_deliveries WHERE endpoint_id = $1",
        delivery_columns = Delivery::COLUMNS
    ));
    b.values.push(endpoint_id.into());
    if let Some(s) = state {
        b.and("state", "=", s.to_owned());
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
    Delivery::find_by_statement(stmt).all(conn).await
}

/// Record one attempt and its effect on the delivery.
pub struct AttemptRecord<'a> {
    pub delivery_id: Uuid,
    pub attempt: i32,
    pub status: Option<i32>,
    pub latency_ms: i32,
    pub excerpt: Option<&'a str>,
    pub error: Option<&'a str>,
    pub state: &'a str,
    /// The application's clock: when the attempt was made, and its id.
    pub clock: &'a Clock,
}

/// The statements that log an attempt and set the delivery's state, for the caller to run
/// now or with its job's outcome.
/// The attempt log's two writes, each as a statement template over rows (see
/// [`exec_rows`]) and this attempt's row: the attempt itself, and the delivery's state.
/// The worker writes a whole batch's attempts with one statement of each.
pub fn attempt_rows(a: AttemptRecord<'_>) -> [(&'static str, Vec<sea_orm::Value>); 2] {
    let at = a.clock.now();
    [
        (
            "INSERT INTO webhook_attempts (id, delivery_id, attempt, status, latency_ms, response_excerpt, error, created_at) {rows}",
            vec![
                a.clock.new_id().into(),
                a.delivery_id.into(),
                a.attempt.into(),
                a.status.into(),
                a.latency_ms.into(),
                a.excerpt.map(str::to_owned).into(),
                a.error.map(str::to_owned).into(),
                at.into(),
            ],
        ),
        (
            "UPDATE webhook_deliveries SET state = v.column2, attempts = v.column3, last_status = v.column4, \
             last_error = v.column5, last_latency_ms = v.column6, updated_at = v.column7 \
             FROM ({rows}) AS v WHERE webhook_deliveries.id = v.column1",
            vec![
                a.delivery_id.into(),
                a.state.into(),
                a.attempt.into(),
                a.status.into(),
                a.error.map(str::to_owned).into(),
                a.latency_ms.into(),
                at.into(),
            ],
        ),
    ]
}

pub async fn record_attempt<C: Db>(conn: &C, a: AttemptRecord<'_>) -> Result<(), DbErr> {
    for (template, row) in attempt_rows(a) {
        exec_rows(conn, template, vec![row]).await?;
    }
    Ok(())
}

pub async fn set_delivery_state<C: Db>(conn: &C, id: Uuid, state: &str) -> Result<(), DbErr> {
    exec(
        conn,
        "UPDATE webhook_deliveries SET state = $1, updated_at = $2 WHERE id = $3",
        vec![state.into(), conn.now().into(), id.into()],
    )
    .await?;
    Ok(())
}

/// One attempt as the delivery log shows it.
#[derive(Clone, Debug, Serialize, ToSchema, FromQueryResult)]
pub struct Attempt {
    pub attempt: i32,
    pub status: Option<i32>,
    pub latency_ms: i32,
    pub response_excerpt: Option<String>,
    pub error: Option<String>,
    pub created_at: DateTime<Utc>,
}

pub async fn attempts_of<C: Db>(conn: &C, delivery_id: Uuid) -> Result<Vec<Attempt>, DbErr> {
    let stmt = statement(
        conn.get_database_backend(),
        "SELECT attempt, status, latency_ms, response_excerpt, error, created_at FROM webhook_attempts \
         WHERE delivery_id = $1 ORDER BY attempt, created_at",
        vec![delivery_id.into()],
    );
    Attempt::find_by_statement(stmt).all(conn).await
}
