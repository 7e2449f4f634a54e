//! Keeping the SQLite full-text index of contacts in step with bulk writes. A trigram
//! index costs tens of microseconds per row, more than everything else an import does, so
//! bulk inserts (imports) do not index row by row: they record the row ids they add as a
//! range in `search_backlog`, which the triggers skip, and a job indexes the ranges in
//! large chunks afterwards. Meanwhile search reads backlog rows with `LIKE`, so a contact
//! is findable the moment it is committed. PostgreSQL's trigram index needs none of this.

use salesos_platform::store::Db;
use sea_orm::{DbBackend, DbErr, FromQueryResult};

use crate::platform::{
    runtime::{
        jobs::{self, JobKind, NewJob},
        worker::{JobContext, JobHandler, Outcome},
    },
    store::{Store, exec, statement},
};

pub const KIND: &str = "search.index";

/// Rows indexed per transaction: large enough to amortise, small enough that other
/// writers wait well under a second for their turn.
const CHUNK: i64 = 20_000;

/// The next free row id of `contacts`, under the caller's write transaction (SQLite).
pub async fn next_rid<C: Db>(conn: &C) -> Result<i64, DbErr> {
    #[derive(FromQueryResult)]
    struct Max {
        next: i64,
    }
    let stmt = statement(
        conn.get_database_backend(),
        "SELECT COALESCE(MAX(rid), 0) + 1 AS next FROM contacts",
        vec![],
    );
    Ok(Max::find_by_statement(stmt)
        .one(conn)
        .await?
        .map_or(1, |m| m.next))
}

/// Say that rows `low..=high` about to be inserted are indexed later, and make sure the
/// job that indexes them is queued. In the caller's transaction; SQLite only. Rows that
/// follow on from a range already waiting extend it: the insert trigger looks through
/// the ranges for every row, so an import keeps one range, not one per batch.
pub async fn defer<C: Db>(conn: &C, low: i64, high: i64) -> Result<(), DbErr> {
    if conn.get_database_backend() != DbBackend::Sqlite || high < low {
        return Ok(());
    }
    let extended = exec(
        conn,
        "UPDATE search_backlog SET high = $1 WHERE high = $2",
        vec![high.into(), (low - 1).into()],
    )
    .await?;
    if extended == 0 {
        exec(
            conn,
            "INSERT INTO search_backlog (low, high) VALUES ($1, $2)",
            vec![low.into(), high.into()],
        )
        .await?;
    }
    enqueue(conn).await
}

/// Queue the indexing job unless one is pending.
pub async fn enqueue<C: Db>(conn: &C) -> Result<(), DbErr> {
    let job = NewJob {
        unique_key: Some("contacts".into()),
        ..NewJob::of::<IndexBacklog>(&Backlog {})
    };
    jobs::enqueue(conn, job).await?;
    Ok(())
}

#[derive(FromQueryResult)]
struct Range {
    low: i64,
    high: i64,
}

/// Index one chunk of the backlog; returns how many row ids it covered (0: none left).
pub async fn index_chunk(store: &Store) -> Result<i64, DbErr> {
    if store.backend() != DbBackend::Sqlite {
        return Ok(0);
    }
    let txn = store.write().await?;
    let stmt = statement(
        DbBackend::Sqlite,
        "SELECT low, high FROM search_backlog ORDER BY low LIMIT 1",
        vec![],
    );
    let Some(r) = Range::find_by_statement(stmt).one(&txn).await? else {
        txn.commit().await?;
        return Ok(0);
    };
    let upto = r.high.min(r.low + CHUNK - 1);
    exec(
        &txn,
        "INSERT INTO contacts_fts (rowid, search_text) \
         SELECT rid, search_text FROM contacts WHERE rid BETWEEN $1 AND $2",
        vec![r.low.into(), upto.into()],
    )
    .await?;
    if upto >= r.high {
        exec(
            &txn,
            "DELETE FROM search_backlog WHERE low = $1",
            vec![r.low.into()],
        )
        .await?;
    } else {
        exec(
            &txn,
            "UPDATE search_backlog SET low = $1 WHERE low = $2",
            vec![(upto + 1).into(), r.low.into()],
        )
        .await?;
    }
    txn.commit().await?;
    Ok(upto - r.low + 1)
}

/// Index the whole backlog.
pub async fn catch_up(store: &Store) -> Result<i64, DbErr> {
    let mut total = 0;
    loop {
        let n = index_chunk(store).await?;
        if n == 0 {
            return Ok(total);
        }
        total += n;
    }
}

/// The job that works the backlog off.
pub struct IndexBacklog;

/// Its payload: nothing; the backlog table says what to index.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub struct Backlog {}

impl JobKind for IndexBacklog {
    const KIND: &'static str = KIND;
    type Payload = Backlog;
}

#[async_trait::async_trait]
impl JobHandler for IndexBacklog {
    fn kind(&self) -> &'static str {
        KIND
    }

    fn timeout(&self) -> std::time::Duration {
        std::time::Duration::from_secs(3600)
    }

    fn emits_events(&self) -> bool {
        false
    }

    async fn run(&self, ctx: &JobContext) -> Outcome {
        match catch_up(&ctx.store).await {
            Ok(n) => Outcome::Done(Some(serde_json::json!({ "rows_indexed": n }))),
            Err(e) => Outcome::Retry {
                error: e.to_string(),
                after: None,
            },
        }
    }
}
