//! Suppression use cases: put an address or domain on the list, take it off, list it, and
//! check an address, as the send job will before every message.

use salesos_model::EmailAddress;
use serde::Serialize;
use utoipa::ToSchema;
use uuid::Uuid;

use super::{
    Kind, NewSuppression, Reason, Suppression, covering,
    file::{self, Rejected},
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

/// What an import did with each row of its file.
#[derive(Debug, Serialize, ToSchema)]
pub struct ImportReport {
    /// Rows read (not counting the header and blank lines): `added + already_listed +
    /// rejected`.
    pub rows: u64,
    pub added: u64,
    /// On the list before, or earlier in the same file.
    pub already_listed: u64,
    pub rejected: u64,
    /// The first 1,000 rejected rows, with line and reason.
    pub rejected_rows: Vec<Rejected>,
    /// Header columns that were not read.
    pub ignored_columns: Vec<String>,
}

/// The most rejected rows an import answers with (all are counted).
const SHOWN_REJECTS: usize = 1000;

/// Add every entry of a CSV file (see [`file`]) in one transaction: each added entry is a
/// `suppression.added` event like one added through the API, and the import one audit
/// entry. A file that cannot be read adds nothing.
pub async fn import(
    store: &Store,
    principal: &Principal,
    bytes: &[u8],
    default_reason: Reason,
) -> Result<ImportReport, Error> {
    principal.require(MANAGE_SUPPRESSIONS)?;
    let parsed =
        file::parse(bytes, default_reason).map_err(|e| Error::invalid("file", e.to_string()))?;
    let txn = store.write().await?;
    let (mut added, mut already) = (0u64, 0u64);
    for e in &parsed.entries {
        let row = SuppressionRow {
            id: store.clock().new_id(),
            workspace_id: principal.workspace_id,
            kind: e.kind.as_str().to_owned(),
            value: e.value.clone(),
            reason: e.reason.as_str().to_owned(),
            source: "import".to_owned(),
            note: e.note.clone(),
            created_by: principal.user_id,
            created_at: store.now(),
        };
        if store::insert_new(&txn, &row).await? {
            added += 1;
            let shown = row.shown();
            events::record(
                &txn,
                principal,
                &SUPPRESSION_ADDED,
                "suppression",
                shown.id,
                serde_json::to_value(&shown).unwrap_or_default(),
            )
            .await?;
        } else {
            already += 1;
        }
    }
    let rejected = u64::try_from(parsed.rejected.len()).unwrap_or(u64::MAX);
    let report = ImportReport {
        rows: added + already + rejected,
        added,
        already_listed: already,
        rejected,
        rejected_rows: parsed.rejected.into_iter().take(SHOWN_REJECTS).collect(),
        ignored_columns: parsed.ignored_columns,
    };
    audit::record(
        &txn,
        &Actor::from(principal),
        Change {
            workspace_id: Some(principal.workspace_id),
            action: "suppression.imported",
            entity_type: "suppression",
            entity_id: None,
            before: None,
            after: Some(serde_json::json!({
                "rows": report.rows,
                "added": report.added,
                "already_listed": report.already_listed,
                "rejected": report.rejected,
            })),
        },
    )
    .await?;
    txn.commit().await?;
    Ok(report)
}

/// The entries `filter` selects (its `before` is ignored), newest first, as CSV.
pub async fn export(
    store: &Store,
    principal: &Principal,
    filter: Filter<'_>,
) -> Result<Vec<u8>, Error> {
    const BATCH: u64 = 1000;
    let mut out = Vec::new();
    let mut filter = Filter {
        before: None,
        ..filter
    };
    let mut first = true;
    loop {
        let mut rows = store::list(store.conn(), principal.workspace_id, &filter, BATCH).await?;
        let more = rows.len() > usize::try_from(BATCH).unwrap_or(usize::MAX);
        rows.truncate(usize::try_from(BATCH).unwrap_or(usize::MAX));
        let shown: Vec<Suppression> = rows.iter().map(SuppressionRow::shown).collect();
        file::export(&shown, &mut out, first);
        first = false;
        match (more, rows.last()) {
            (true, Some(last)) => filter.before = Some(last.id),
            _ => return Ok(out),
        }
    }
}

/// Put `email` on the list because of what the recipient or their server did (an
/// unsubscribe link, a hard bounce), in the caller's transaction: `source` says where
/// from (`email:<id>`). An address listed already (or covered by its domain) stays as it
/// is. Whether it was added.
pub async fn add_automatic<C: Db>(
    conn: &C,
    workspace_id: Uuid,
    email: &EmailAddress,
    reason: Reason,
    source: &str,
    note: Option<String>,
) -> Result<bool, Error> {
    if !store::matching(conn, workspace_id, &covering(email))
        .await?
        .is_empty()
    {
        return Ok(false);
    }
    let row = SuppressionRow {
        id: conn.new_id(),
        workspace_id,
        kind: Kind::Address.as_str().to_owned(),
        value: email.as_str().to_owned(),
        reason: reason.as_str().to_owned(),
        source: source.to_owned(),
        note,
        created_by: None,
        created_at: conn.now(),
    };
    if !store::insert_new(conn, &row).await? {
        return Ok(false);
    }
    let shown = row.shown();
    events::emit(
        conn,
        events::NewEvent {
            workspace_id,
            event_type: SUPPRESSION_ADDED.name,
            entity_type: "suppression",
            entity_id: Some(shown.id.to_string()),
            source,
            data: serde_json::to_value(&shown).unwrap_or_default(),
        },
    )
    .await?;
    Ok(true)
}
