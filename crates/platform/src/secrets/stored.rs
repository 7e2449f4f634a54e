//! The database's side of the master keys: which keys it holds values under
//! (`master_keys`), the check a node passes before it migrates or serves, sealing what an
//! older build stored in plain text, and the rotation that reseals every sealed value.

use sea_orm::{ConnectionTrait, DbErr, FromQueryResult};
use serde::Serialize;
use uuid::Uuid;

use super::{KeySource, Keyring, SealedColumn, SecretError, context, is_sealed};
use crate::store::{Db, Store, exec, statement};

/// Rows resealed per transaction.
const BATCH: u64 = 500;

/// Where the platform's stored answers to idempotent requests are kept; sealed, as an
/// answer may hold a secret shown once (a new webhook's signing secret).
pub const IDEMPOTENT_ANSWERS: &str = "idempotency_keys";

/// The associated data of a stored idempotent answer.
pub fn answer_context(workspace_id: Uuid, key: &str) -> String {
    context(IDEMPOTENT_ANSWERS, format!("{workspace_id}:{key}"))
}

#[derive(FromQueryResult)]
struct KeyRow {
    id: String,
}

/// The keys values are sealed under, by the database's record.
async fn live_keys(conn: &impl ConnectionTrait) -> Result<Vec<String>, DbErr> {
    let rows = KeyRow::find_by_statement(statement(
        conn.get_database_backend(),
        "SELECT id FROM master_keys WHERE retired_at IS NULL ORDER BY created_at, id",
        vec![],
    ))
    .all(conn)
    .await?;
    Ok(rows.into_iter().map(|r| r.id).collect())
}

/// Refuse to go on when the database holds values under a key this node lacks: its
/// secrets would not open here, and what it sealed would not open on the other nodes.
pub async fn check<C: Db>(conn: &C) -> anyhow::Result<()> {
    let ring = conn.keyring();
    let held = ring.ids();
    let missing: Vec<String> = live_keys(conn)
        .await?
        .into_iter()
        .filter(|id| !held.contains(id))
        .collect();
    if missing.is_empty() {
        return Ok(());
    }
    let mut origin = match ring.source() {
        KeySource::Environment => "given in SALESOS_MASTER_KEY".to_owned(),
        KeySource::File(p) => format!("read from {}", p.display()),
        KeySource::Memory => "held in memory".to_owned(),
    };
    if ring.created()
        && let KeySource::File(path) = ring.source()
    {
        // A key this start made and nothing used: take it back, so the retry with the
        // right key starts clean.
        let _ = std::fs::remove_file(path);
        origin = format!("which this start created at {}", path.display());
    }
    anyhow::bail!(
        "this database's secrets are sealed with master key {}, which this node does not hold \
         (its key {}, is {origin}). Every node of a deployment needs the same master keys: \
         set SALESOS_MASTER_KEY to the keys of the node that made the database (its \
         master.key lines, comma-separated), or copy that master.key into this node's data \
         directory",
        missing.join(", "),
        held.join(", "),
    )
}

/// Record the sealing key as in use, if it is not yet.
pub async fn enroll<C: Db>(conn: &C) -> Result<(), DbErr> {
    let id = conn.keyring().active_id();
    exec(
        conn,
        "INSERT INTO master_keys (id, created_at) VALUES ($1, $2) ON CONFLICT (id) DO UPDATE SET retired_at = NULL",
        vec![id.into(), conn.now().into()],
    )
    .await
    .map(drop)
}

#[derive(FromQueryResult)]
struct SealedRow {
    id: Uuid,
    value: String,
}

#[derive(FromQueryResult)]
struct AnswerRow {
    workspace_id: Uuid,
    idempotency_key: String,
    value: String,
}

/// What a reseal pass did.
#[derive(Clone, Debug, Default, Serialize, PartialEq, Eq)]
pub struct Resealed {
    /// Values sealed again under the sealing key.
    pub resealed: u64,
    /// Values that were in plain text (an older build's) and are sealed now.
    pub sealed_plaintext: u64,
    /// Values under the sealing key already.
    pub current: u64,
    /// Values that do not open with any key held: `table.column id: why`.
    pub unreadable: Vec<String>,
}

impl Resealed {
    fn add(&mut self, other: Resealed) {
        self.resealed += other.resealed;
        self.sealed_plaintext += other.sealed_plaintext;
        self.current += other.current;
        self.unreadable.extend(other.unreadable);
    }
}

/// What to do with one stored value: `Some(new)` to store, or nothing.
fn renew(
    ring: &Keyring,
    ctx: &str,
    value: &str,
    tally: &mut Resealed,
    name: String,
) -> Option<String> {
    if !is_sealed(value) {
        let sealed = ring.seal(ctx, value).ok()?;
        tally.sealed_plaintext += 1;
        return Some(sealed);
    }
    if ring.is_current(value) {
        tally.current += 1;
        return None;
    }
    match ring
        .open(ctx, value)
        .and_then(|plain| ring.seal(ctx, plain.expose()))
    {
        Ok(sealed) => {
            tally.resealed += 1;
            Some(sealed)
        }
        Err(e) => {
            tally.unreadable.push(format!("{name}: {e}"));
            None
        }
    }
}

/// Seal every value of `column` that is in plain text or under another key, a batch per
/// transaction; a value changed meanwhile (a rotated webhook secret) is left as it was
/// changed.
pub async fn reseal_column(store: &Store, col: SealedColumn) -> Result<Resealed, DbErr> {
    let mut tally = Resealed::default();
    let mut after = None;
    loop {
        let txn = store.write().await?;
        let next = reseal_batch(&txn, col, after, &mut tally).await?;
        txn.commit().await?;
        match next {
            Some(last) => after = Some(last),
            None => return Ok(tally),
        }
    }
}

/// [`reseal_column`] inside one transaction (a migration's).
pub async fn reseal_column_in<C: Db>(conn: &C, col: SealedColumn) -> Result<Resealed, DbErr> {
    let mut tally = Resealed::default();
    let mut after = None;
    while let Some(last) = reseal_batch(conn, col, after, &mut tally).await? {
        after = Some(last);
    }
    Ok(tally)
}

/// Reseal the batch of rows after `after`; the last row's id, or `None` past the end.
async fn reseal_batch<C: Db>(
    conn: &C,
    col: SealedColumn,
    after: Option<Uuid>,
    tally: &mut Resealed,
) -> Result<Option<Uuid>, DbErr> {
    let (c, t) = (col.column, col.table);
    let (from, values) = match after {
        Some(a) => ("AND id > $1", vec![a.into()]),
        None => ("", vec![]),
    };
    let sql = format!(
        "SELECT id, {c} AS value FROM {t} WHERE {c} IS NOT NULL {from} ORDER BY id LIMIT {BATCH}"
    );
    let rows = SealedRow::find_by_statement(statement(conn.get_database_backend(), &sql, values))
        .all(conn)
        .await?;
    for row in &rows {
        let ctx = context(t, row.id);
        let name = format!("{t}.{c} {}", row.id);
        if let Some(new) = renew(conn.keyring(), &ctx, &row.value, tally, name) {
            exec(
                conn,
                &format!("UPDATE {t} SET {c} = $1 WHERE id = $2 AND {c} = $3"),
                vec![new.into(), row.id.into(), row.value.clone().into()],
            )
            .await?;
        }
    }
    Ok(rows.last().map(|r| r.id))
}

/// [`reseal_column`] for the stored idempotent answers, keyed by workspace and key.
pub async fn reseal_answers<C: Db>(conn: &C) -> Result<Resealed, DbErr> {
    let mut tally = Resealed::default();
    let rows = AnswerRow::find_by_statement(statement(
        conn.get_database_backend(),
        "SELECT workspace_id, idempotency_key, response_body AS value FROM idempotency_keys WHERE response_body IS NOT NULL",
        vec![],
    ))
    .all(conn)
    .await?;
    for row in rows {
        let ctx = answer_context(row.workspace_id, &row.idempotency_key);
        let name = format!("{IDEMPOTENT_ANSWERS} {}", row.idempotency_key);
        if let Some(new) = renew(conn.keyring(), &ctx, &row.value, &mut tally, name) {
            exec(
                conn,
                "UPDATE idempotency_keys SET response_body = $1 \
                 WHERE workspace_id = $2 AND idempotency_key = $3 AND response_body = $4",
                vec![
                    new.into(),
                    row.workspace_id.into(),
                    row.idempotency_key.into(),
                    row.value.into(),
                ],
            )
            .await?;
        }
    }
    Ok(tally)
}

/// What [`rotate`] did.
#[derive(Clone, Debug, Serialize)]
pub struct Rotation {
    /// The key that seals now.
    pub key_id: String,
    /// Keys no value is sealed under any more, and that the database no longer accepts.
    pub retired: Vec<String>,
    #[serde(flatten)]
    pub values: Resealed,
    /// What is left for the operator to do, if anything.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_step: Option<String>,
}

/// Reseal every stored secret of `columns` (and the stored answers) under a new master
/// key, then retire the old keys. With a key file it makes the new key; with
/// `SALESOS_MASTER_KEY` the first key given is the new one (see the README's steps).
pub async fn rotate(store: &Store, columns: &[SealedColumn]) -> anyhow::Result<Rotation> {
    let ring = store.keyring();
    let from_file = matches!(ring.source(), KeySource::File(_));
    if from_file {
        ring.add_key_to_file()?;
    } else if ring.source() == &KeySource::Memory {
        anyhow::bail!("an in-memory keyring cannot be rotated");
    }
    let key_id = ring.active_id();
    enroll(store.conn()).await?;

    // Two passes: the second catches what a server sealed with the old key while it had
    // not yet seen the new one, and shows nothing is left under another key.
    let mut values = Resealed::default();
    for _ in 0..2 {
        for col in columns {
            values.add(reseal_column(store, *col).await?);
        }
        let txn = store.write().await?;
        values.add(reseal_answers(&txn).await?);
        txn.commit().await?;
    }
    let mut left = Resealed::default();
    for col in columns {
        left.add(reseal_column(store, *col).await?);
    }
    left.add(reseal_answers(store.conn()).await?);
    values.current = left.current;
    anyhow::ensure!(
        left.unreadable.is_empty(),
        "some values do not open with the keys held, so no key was retired: {}",
        left.unreadable.join("; ")
    );
    anyhow::ensure!(
        left.resealed + left.sealed_plaintext == 0,
        "{} values were sealed under an old key while this ran, so no key was retired; run it again",
        left.resealed + left.sealed_plaintext
    );
    values.unreadable = left.unreadable;

    let retired: Vec<String> = live_keys(store.conn())
        .await?
        .into_iter()
        .filter(|id| *id != key_id)
        .collect();
    exec(
        store.conn(),
        "UPDATE master_keys SET retired_at = $1 WHERE id <> $2 AND retired_at IS NULL",
        vec![store.now().into(), key_id.clone().into()],
    )
    .await?;
    let next_step = if from_file {
        ring.retire_others()?;
        None
    } else {
        let others = ring.ids().len() - 1;
        (others > 0).then(|| {
            format!(
                "every value is sealed with key {key_id}: remove the other {others} key(s) from SALESOS_MASTER_KEY on every node"
            )
        })
    };
    Ok(Rotation {
        key_id,
        retired,
        values,
        next_step,
    })
}

/// Open a sealed value, or say which row would not open, for an error message.
pub fn open_or_explain(
    ring: &Keyring,
    ctx: &str,
    sealed: &str,
) -> Result<crate::settings::Secret, String> {
    ring.open(ctx, sealed).map_err(|e| match e {
        SecretError::UnknownKey(id) => format!(
            "the secret is sealed with master key {id}, which this node does not hold (held: {})",
            ring.ids().join(", ")
        ),
        other => other.to_string(),
    })
}
