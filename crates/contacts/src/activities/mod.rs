//! Activities: the timeline of a contact and of an account. Notes, calls, emails, meetings
//! and tasks logged by people, and system entries written by other areas when a record is
//! created or changed.

pub mod store;

use chrono::{DateTime, Utc};
use salesos_platform::store::Db;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use crate::{
    platform::{
        audit::{self, Actor, Change},
        auth::Principal,
        error::{Error, FieldError},
        http::pagination::{Cursor, Page, page_size, paginate},
    },
    text_enum,
};

text_enum! {
    /// What kind of thing happened.
    pub enum ActivityKind {
        Note = "note",
        Call = "call",
        Email = "email",
        Meeting = "meeting",
        Task = "task",
        /// Written by SalesOS itself (record created, fields changed).
        System = "system",
    }
}

/// One entry of a timeline.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct Activity {
    pub id: Uuid,
    pub contact_id: Option<Uuid>,
    pub account_id: Option<Uuid>,
    pub kind: ActivityKind,
    pub subject: String,
    pub body: Option<String>,
    /// `user`, `api_key`, `operator` or `system`.
    pub actor_type: String,
    pub actor_id: Option<String>,
    /// Details, e.g. `{"changes": {"title": {"from": "CTO", "to": "CEO"}}}`.
    pub metadata: serde_json::Value,
    pub occurred_at: DateTime<Utc>,
    pub created_at: DateTime<Utc>,
}

/// A person logging something on a timeline.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewActivity {
    /// `note`, `call`, `email`, `meeting` or `task`.
    pub kind: ActivityKind,
    pub subject: String,
    pub body: Option<String>,
    /// When it happened; now, if absent.
    pub occurred_at: Option<DateTime<Utc>>,
    #[schema(value_type = Option<Object>)]
    pub metadata: Option<serde_json::Value>,
}

impl NewActivity {
    pub fn validate(&self) -> Result<(), Error> {
        let mut errors = Vec::new();
        if self.kind == ActivityKind::System {
            errors.push(FieldError::new(
                "kind",
                "`system` entries are written by SalesOS only",
            ));
        }
        let subject = self.subject.trim();
        if subject.is_empty() || subject.chars().count() > 500 {
            errors.push(FieldError::new("subject", "must be 1 to 500 characters"));
        }
        if self.body.as_ref().is_some_and(|b| b.len() > 100_000) {
            errors.push(FieldError::new("body", "must be at most 100000 bytes"));
        }
        if self.metadata.as_ref().is_some_and(|m| !m.is_object()) {
            errors.push(FieldError::new("metadata", "must be a JSON object"));
        }
        if errors.is_empty() {
            Ok(())
        } else {
            Err(Error::Invalid(errors))
        }
    }
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct TimelineQuery {
    /// Page size, 1 to 500 (default 50).
    #[param(minimum = 1, maximum = 500)]
    pub limit: Option<u64>,
    pub cursor: Option<String>,
    /// Only this kind of entry.
    pub kind: Option<ActivityKind>,
}

/// Whose timeline.
#[derive(Clone, Copy, Debug)]
pub enum Subject {
    Contact(Uuid),
    Account(Uuid),
}

/// Where an entry belongs: a contact, an account, or both.
#[derive(Clone, Copy, Debug, Default)]
pub struct On {
    pub contact_id: Option<Uuid>,
    pub account_id: Option<Uuid>,
}

/// Write a SalesOS entry (record created, fields changed) in the caller's transaction.
pub async fn system_entry<C: Db>(
    conn: &C,
    principal: &Principal,
    on: On,
    subject: &str,
    metadata: serde_json::Value,
) -> Result<Activity, Error> {
    let actor = Actor::from(principal);
    Ok(store::insert(
        conn,
        store::Entry {
            workspace_id: principal.workspace_id,
            contact_id: on.contact_id,
            account_id: on.account_id,
            kind: ActivityKind::System,
            subject,
            body: None,
            actor_type: actor.kind,
            actor_id: actor.id,
            metadata,
            occurred_at: None,
        },
    )
    .await?)
}

/// Log what a person did (a note, call, …) with its audit entry, in the caller's
/// transaction; the caller has checked that the record is theirs to touch.
pub async fn log<C: Db>(
    conn: &C,
    principal: &Principal,
    on: On,
    input: NewActivity,
) -> Result<Activity, Error> {
    input.validate()?;
    let actor = Actor::from(principal);
    let activity = store::insert(
        conn,
        store::Entry {
            workspace_id: principal.workspace_id,
            contact_id: on.contact_id,
            account_id: on.account_id,
            kind: input.kind,
            subject: input.subject.trim(),
            body: input.body.as_deref(),
            actor_type: actor.kind,
            actor_id: actor.id.clone(),
            metadata: input.metadata.unwrap_or_else(|| serde_json::json!({})),
            occurred_at: input.occurred_at,
        },
    )
    .await?;
    audit::record(
        conn,
        &actor,
        Change {
            workspace_id: Some(principal.workspace_id),
            action: "activity.created",
            entity_type: "activity",
            entity_id: Some(activity.id.to_string()),
            before: None,
            after: serde_json::to_value(&activity).ok(),
        },
    )
    .await?;
    Ok(activity)
}

const SORT: &str = "-occurred_at";

/// A page of a timeline, newest first.
pub async fn timeline<C: Db>(
    conn: &C,
    workspace_id: Uuid,
    subject: Subject,
    q: TimelineQuery,
) -> Result<Page<Activity>, Error> {
    let limit = page_size(q.limit)?;
    let after = match &q.cursor {
        Some(raw) => {
            let c = Cursor::decode(raw, SORT)?;
            let at: DateTime<Utc> = serde_json::from_value(c.key)
                .map_err(|_| Error::invalid("cursor", "is not a cursor this list returned"))?;
            Some((at, c.id))
        }
        None => None,
    };
    let rows = store::list(conn, workspace_id, subject, q.kind, after, limit).await?;
    Ok(paginate(rows, limit, |a| Cursor {
        sort: SORT.into(),
        key: serde_json::json!(a.occurred_at),
        id: a.id,
    }))
}
