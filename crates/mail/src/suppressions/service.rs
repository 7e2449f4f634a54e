//! Suppression use cases: put an address or domain on the list, take it off, list it, and
//! check an address, as the send job will before every message.

use salesos_model::EmailAddress;
use serde::Serialize;
use utoipa::ToSchema;
use uuid::Uuid;

use super::{
    Kind, NewSuppression, Suppression, covering,
    store::{self, Filter, SuppressionRow},
};
use crate::{
    actions::MANAGE_SUPPRESSIONS,
    platform::{
        audit::{self, Actor, Change},
        auth::Principal,
        error::Error,
        runtime::events,
        store::{Db, Store, unique_violation},
    },
    topics::{SUPPRESSION_ADDED, SUPPRESSION_REMOVED},
};

fn audit_change(
    principal: &Principal,
    action: &'static str,
    s: &Suppression,
    added: bool,
) -> Change<'static> {
    let shown = serde_json::to_value(s).ok();
    Change {
        workspace_id: Some(principal.workspace_id),
        action,
        entity_type: "suppression",
        entity_id: Some(s.id.to_string()),
        before: if added { None } else { shown.clone() },
        after: if added { shown } else { None },
    }
}

fn already(kind: Kind, value: &str) -> Error {
    let field = match kind {
        Kind::Address => "email",
        Kind::Domain => "domain",
    };
    Error::conflict(
        field,
        format!("`{value}` is on the suppression list already"),
    )
}

pub async fn add(
    store: &Store,
    principal: &Principal,
    input: NewSuppression,
) -> Result<Suppression, Error> {
    principal.require(MANAGE_SUPPRESSIONS)?;
    let (kind, value) = input.target().map_err(Error::Invalid)?;
    let row = SuppressionRow {
        id: store.clock().new_id(),
        workspace_id: principal.workspace_id,
        kind: kind.as_str().to_owned(),
        value: value.clone(),
        reason: input.reason.as_str().to_owned(),
        source: principal.source().to_owned(),
        note: input
            .note
            .map(|n| n.trim().to_owned())
            .filter(|n| !n.is_empty()),
        created_by: principal.user_id,
        created_at: store.now(),
    };
    let txn = store.write().await?;
    if !store::matching(&txn, principal.workspace_id, &[(kind, value.clone())])
        .await?
        .is_empty()
    {
        return Err(already(kind, &value));
    }
    if let Err(e) = store::insert(&txn, &row).await {
        return Err(match unique_violation(&e) {
            Some(_) => already(kind, &value),
            None => e.into(),
        });
    }
    let shown = row.shown();
    emit(&txn, principal, &shown, true).await?;
    txn.commit().await?;
    Ok(shown)
}

async fn emit<C: Db>(
    conn: &C,
    principal: &Principal,
    s: &Suppression,
    added: bool,
) -> Result<(), Error> {
    let (topic, action) = if added {
        (&SUPPRESSION_ADDED, "suppression.added")
    } else {
        (&SUPPRESSION_REMOVED, "suppression.removed")
    };
    events::record(
        conn,
        principal,
        topic,
        "suppression",
        s.id,
        serde_json::to_value(s).unwrap_or_default(),
    )
    .await?;
    audit::record(
        conn,
        &Actor::from(principal),
        audit_change(principal, action, s, added),
    )
    .await?;
    Ok(())
}

pub async fn get(store: &Store, principal: &Principal, id: Uuid) -> Result<Suppression, Error> {
    store::get(store.conn(), principal.workspace_id, id)
        .await?
        .map(|r| r.shown())
        .ok_or(Error::NotFound("suppression"))
}

/// Take an entry off the list: mail may reach that address or domain again.
pub async fn remove(store: &Store, principal: &Principal, id: Uuid) -> Result<(), Error> {
    principal.require(MANAGE_SUPPRESSIONS)?;
    let txn = store.write().await?;
    let row = store::get(&txn, principal.workspace_id, id)
        .await?
        .ok_or(Error::NotFound("suppression"))?;
    store::delete(&txn, principal.workspace_id, id).await?;
    emit(&txn, principal, &row.shown(), false).await?;
    txn.commit().await?;
    Ok(())
}

pub async fn list(
    store: &Store,
    principal: &Principal,
    filter: &Filter<'_>,
    limit: u64,
) -> Result<Vec<Suppression>, Error> {
    let rows = store::list(store.conn(), principal.workspace_id, filter, limit).await?;
    Ok(rows.iter().map(SuppressionRow::shown).collect())
}

/// Whether an address may be mailed, and the entries that forbid it.
#[derive(Debug, Serialize, ToSchema)]
pub struct Verdict {
    /// The address, normalised.
    pub email: String,
    pub suppressed: bool,
    /// The address's own entry and those of its domain and parent domains.
    pub by: Vec<Suppression>,
}

/// The entries that suppress `email` in `workspace_id`, for the send job and the API.
pub async fn suppressing<C: Db>(
    conn: &C,
    workspace_id: Uuid,
    email: &EmailAddress,
) -> Result<Vec<Suppression>, Error> {
    let rows = store::matching(conn, workspace_id, &covering(email)).await?;
    Ok(rows.iter().map(SuppressionRow::shown).collect())
}

pub async fn check(store: &Store, principal: &Principal, email: &str) -> Result<Verdict, Error> {
    let address =
        EmailAddress::parse(email).map_err(|why| Error::invalid("email", why.to_string()))?;
    let by = suppressing(store.conn(), principal.workspace_id, &address).await?;
    Ok(Verdict {
        email: address.as_str().to_owned(),
        suppressed: !by.is_empty(),
        by,
    })
}
