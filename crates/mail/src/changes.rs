//! One change to a mail record, recorded the one way: its domain event (for consumers,
//! webhooks and the live stream) and its audit entry with before and after, in the
//! transaction that made it.

use serde::Serialize;
use uuid::Uuid;

use crate::platform::{
    audit::{self, Actor, Change},
    auth::Principal,
    error::Error,
    runtime::{events, topics::Topic},
    store::Db,
};

/// Record that `principal` changed the `entity` `id` from `before` to `after` (`None`
/// for a creation's before and a deletion's after); the event carries what it is now, or
/// what it was when it is gone.
pub async fn record<C: Db, T: Serialize>(
    conn: &C,
    principal: &Principal,
    topic: &Topic,
    entity: &'static str,
    id: Uuid,
    before: Option<&T>,
    after: Option<&T>,
) -> Result<(), Error> {
    let json = |v: Option<&T>| v.and_then(|v| serde_json::to_value(v).ok());
    let (before, after) = (json(before), json(after));
    let Some(payload) = after.clone().or_else(|| before.clone()) else {
        return Ok(());
    };
    events::record(conn, principal, topic, entity, id, payload).await?;
    audit::record(
        conn,
        &Actor::from(principal),
        Change {
            workspace_id: Some(principal.workspace_id),
            action: topic.name,
            entity_type: entity,
            entity_id: Some(id.to_string()),
            before,
            after,
        },
    )
    .await?;
    Ok(())
}
