//! Storage: one connection pool over SQLite (default) or PostgreSQL, chosen from the URL at
//! start, the migration runner, and the few helpers every store module uses
//! (write transactions, constraint names, timestamps). SQL itself lives in each area's store.

pub mod migrations;
pub mod query;
pub mod table;

pub use table::{Table, find_in_workspace};

use std::{str::FromStr, sync::Arc, time::Duration};

use tokio::sync::{broadcast, watch};

use std::sync::atomic::{AtomicBool, Ordering};

use chrono::{DateTime, Utc};
use sea_orm::{
    ConnectOptions, ConnectionTrait, Database, DatabaseConnection, DatabaseTransaction, DbBackend,
    DbErr, SqlErr, SqliteTransactionMode, TransactionOptions, TransactionTrait,
    sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqliteSynchronous},
};

use crate::{clock::Clock, runtime::bus::LiveMessage, secrets::Keyring, settings::Settings};

/// The database behind SalesOS.
#[derive(Clone, Debug)]
pub struct Store {
    conn: Conn,
    /// SQLite only: this process's writers take turns here (see [`WriteTxn`]).
    write_turn: Option<Arc<tokio::sync::Mutex<()>>>,
    /// SQLite only: the database's URL, for [`Store::bulk_writer`].
    sqlite_url: Option<String>,
}

/// How many pages SQLite's write-ahead log may grow to before a commit copies it into the
/// database: SQLite's default for everyday writers, and 400 MB for a bulk writer (see
/// [`Store::bulk_writer`]).
const CHECKPOINT_PAGES: u32 = 1_000;
const BULK_CHECKPOINT_PAGES: u32 = 100_000;

/// How long a writer waits for its turn, as SQLite's busy timeout.
const WRITE_WAIT: Duration = Duration::from_secs(10);

/// A connection as the stores use it: the database, the application's clock and the
/// wake-ups of this process's waiters. Statements on it commit one by one.
#[derive(Clone, Debug)]
pub struct Conn {
    db: DatabaseConnection,
    clock: Clock,
    signals: Arc<Signals>,
    keyring: Arc<Keyring>,
}

impl std::ops::Deref for Conn {
    type Target = DatabaseConnection;

    fn deref(&self) -> &DatabaseConnection {
        &self.db
    }
}

/// What a write made ready for someone else: jobs to run, or events to consume.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Wake {
    Jobs,
    Events,
}

impl Wake {
    /// The PostgreSQL channel that carries this wake-up to other nodes.
    pub fn channel(self) -> &'static str {
        match self {
            Wake::Jobs => crate::runtime::jobs::CHANNEL,
            Wake::Events => crate::runtime::bus::EVENTS_CHANNEL,
        }
    }
}

/// What every store function writes through: a connection that tells the time by the
/// application's clock and knows whom to wake. [`Conn`] and [`WriteTxn`] are the two.
#[async_trait::async_trait]
pub trait Db: ConnectionTrait + Sync {
    fn clock(&self) -> &Clock;

    /// Now, by the application's clock, at the precision both databases keep.
    fn now(&self) -> DateTime<Utc> {
        self.clock().now()
    }

    /// A new row id in creation order, by the application's clock (see [`Clock::new_id`]).
    fn new_id(&self) -> uuid::Uuid {
        self.clock().new_id()
    }

    /// The master keys that seal and open stored secrets.
    fn keyring(&self) -> &Keyring;

    /// This write queued jobs or recorded events. In a transaction the workers or
    /// consumers are woken when it commits, and only then; on a plain connection, now.
    async fn wake(&self, what: Wake) -> Result<(), DbErr>;
}

#[async_trait::async_trait]
impl Db for Conn {
    fn clock(&self) -> &Clock {
        &self.clock
    }

    fn keyring(&self) -> &Keyring {
        &self.keyring
    }

    async fn wake(&self, what: Wake) -> Result<(), DbErr> {
        if self.db.get_database_backend() == DbBackend::Postgres {
            exec(
                &self.db,
                "SELECT pg_notify($1, '')",
                vec![what.channel().into()],
            )
            .await?;
        }
        self.signals.wake(what);
        Ok(())
    }
}

/// A write transaction from [`Store::write`]. On SQLite it also holds this process's write
/// turn: the writers of one process queue on a fair async lock, in order, rather than on
/// SQLite's busy handler, which retries after sleeping 1, 2, 5, 10, … ms and so leaves the
/// database idle while work waits (the job queue's claimer and completer alternate
/// constantly). Writers in other processes (a CLI import beside a server) still meet on
/// the busy timeout.
///
/// [`WriteTxn::commit`] is the one way a write reaches the database: whatever the
/// transaction queued or recorded (see [`Db::wake`]) wakes its workers and consumers, on
/// this node and (PostgreSQL) every other, so no caller can forget to.
pub struct WriteTxn {
    txn: DatabaseTransaction,
    _turn: Option<tokio::sync::OwnedMutexGuard<()>>,
    clock: Clock,
    signals: Arc<Signals>,
    keyring: Arc<Keyring>,
    jobs: AtomicBool,
    events: AtomicBool,
}

impl WriteTxn {
    pub async fn commit(self) -> Result<(), DbErr> {
        let woken: Vec<Wake> = [
            (self.jobs.load(Ordering::Relaxed), Wake::Jobs),
            (self.events.load(Ordering::Relaxed), Wake::Events),
        ]
        .into_iter()
        .filter_map(|(set, w)| set.then_some(w))
        .collect();
        if self.txn.get_database_backend() == DbBackend::Postgres {
            // Delivered at commit to every node listening (see `runtime::bus`).
            for w in &woken {
                exec(
                    &self.txn,
                    "SELECT pg_notify($1, '')",
                    vec![w.channel().into()],
                )
                .await?;
            }
        }
        self.txn.commit().await?;
        for w in woken {
            self.signals.wake(w);
        }
        Ok(())
    }
}

#[async_trait::async_trait]
impl Db for WriteTxn {
    fn clock(&self) -> &Clock {
        &self.clock
    }

    fn keyring(&self) -> &Keyring {
        &self.keyring
    }

    async fn wake(&self, what: Wake) -> Result<(), DbErr> {
        match what {
            Wake::Jobs => self.jobs.store(true, Ordering::Relaxed),
            Wake::Events => self.events.store(true, Ordering::Relaxed),
        }
        Ok(())
    }
}

macro_rules! delegate_connection {
    ($t:ty, $field:ident) => {
        #[async_trait::async_trait]
        impl ConnectionTrait for $t {
            fn get_database_backend(&self) -> DbBackend {
                self.$field.get_database_backend()
            }

            async fn execute_raw(
                &self,
                stmt: sea_orm::Statement,
            ) -> Result<sea_orm::ExecResult, DbErr> {
                self.$field.execute_raw(stmt).await
            }

            async fn execute_unprepared(&self, sql: &str) -> Result<sea_orm::ExecResult, DbErr> {
                self.$field.execute_unprepared(sql).await
            }

            async fn query_one_raw(
                &self,
                stmt: sea_orm::Statement,
            ) -> Result<Option<sea_orm::QueryResult>, DbErr> {
                self.$field.query_one_raw(stmt).await
            }

            async fn query_all_raw(
                &self,
                stmt: sea_orm::Statement,
            ) -> Result<Vec<sea_orm::QueryResult>, DbErr> {
                self.$field.query_all_raw(stmt).await
            }
        }
    };
}

delegate_connection!(WriteTxn, txn);
delegate_connection!(Conn, db);

/// Wake-ups for in-process waiters after a commit, so they need not poll. Each is a
/// counter on a watch channel: every waiter sees the change, none is missed.
#[derive(Debug)]
pub struct Signals {
    pub jobs: watch::Sender<u64>,
    pub events: watch::Sender<u64>,
    /// Live notes made in this process (job progress), for the bus to share.
    pub live_out: broadcast::Sender<Arc<LiveMessage>>,
    /// Everything this node's live subscribers receive: events and every node's notes. A
    /// subscriber that falls behind by more than the capacity learns it lagged.
    pub live: broadcast::Sender<Arc<LiveMessage>>,
}

impl Signals {
    fn wake(&self, what: Wake) {
        let counter = match what {
            Wake::Jobs => &self.jobs,
            Wake::Events => &self.events,
        };
        counter.send_modify(|n| *n = n.wrapping_add(1));
    }

    fn new() -> Self {
        Self {
            jobs: watch::channel(0).0,
            events: watch::channel(0).0,
            live_out: broadcast::channel(1024).0,
            live: broadcast::channel(4096).0,
        }
    }
}

impl Store {
    /// Connect to the database the settings name, creating the data directory for SQLite.
    pub async fn connect(settings: &Settings) -> anyhow::Result<Self> {
        let url = settings.effective_database_url();
        if url.starts_with("sqlite:") {
            std::fs::create_dir_all(&settings.data_dir).map_err(|e| {
                anyhow::anyhow!(
                    "cannot create data directory {}: {e}",
                    settings.data_dir.display()
                )
            })?;
        } else if !url.starts_with("postgres://") && !url.starts_with("postgresql://") {
            anyhow::bail!("unsupported database URL: expected postgres://… or sqlite://…");
        }
        let keyring = Arc::new(Keyring::load(settings)?);
        let db = open(&url, settings.db_max_connections, CHECKPOINT_PAGES).await?;
        let write_turn = (db.get_database_backend() == DbBackend::Sqlite)
            .then(|| Arc::new(tokio::sync::Mutex::new(())));
        Ok(Self {
            conn: Conn {
                db,
                clock: Clock::system(),
                signals: Arc::new(Signals::new()),
                keyring,
            },
            write_turn,
            sqlite_url: url.starts_with("sqlite:").then_some(url),
        })
    }

    /// A store for one bulk writer, such as an import. On SQLite it has a connection of
    /// its own, which takes this store's write turn and wakes its workers: every SQLite
    /// connection keeps its own page cache, and the pool hands its connections out in
    /// turn, so a bulk writer on the shared pool filled a 64 MB cache on each of them
    /// (four in the import command: 458–539 MB peak RSS for a million rows, against
    /// 377–388 MB on one). Its commits also let the log grow to 400 MB before copying it
    /// into the database: the index pages batch after batch rewrites are then copied once
    /// per many batches instead of after nearly every one (a million rows: commits
    /// 44 s → 25 s). On PostgreSQL, this store.
    pub async fn bulk_writer(&self) -> anyhow::Result<Store> {
        let Some(url) = &self.sqlite_url else {
            return Ok(self.clone());
        };
        Ok(Self {
            conn: Conn {
                db: open(url, 1, BULK_CHECKPOINT_PAGES).await?,
                clock: self.conn.clock.clone(),
                signals: self.conn.signals.clone(),
                keyring: self.conn.keyring.clone(),
            },
            write_turn: self.write_turn.clone(),
            sqlite_url: self.sqlite_url.clone(),
        })
    }

    /// This store on `clock`: every time it writes or compares comes from it.
    pub fn with_clock(mut self, clock: Clock) -> Self {
        self.conn.clock = clock;
        self
    }

    pub fn clock(&self) -> &Clock {
        &self.conn.clock
    }

    /// Now, by the application's clock.
    pub fn now(&self) -> DateTime<Utc> {
        self.conn.clock.now()
    }

    pub fn signals(&self) -> &Signals {
        &self.conn.signals
    }

    /// The master keys that seal and open stored secrets.
    pub fn keyring(&self) -> &Keyring {
        &self.conn.keyring
    }

    pub fn conn(&self) -> &Conn {
        &self.conn
    }

    pub fn backend(&self) -> DbBackend {
        self.conn.db.get_database_backend()
    }

    /// Begin a transaction that will write. On SQLite it waits for this process's write
    /// turn (see [`WriteTxn`]) and then takes the write lock at once (`BEGIN IMMEDIATE`),
    /// so writers queue instead of failing with a lock upgrade error half-way through.
    pub async fn write(&self) -> Result<WriteTxn, DbErr> {
        let turn = match &self.write_turn {
            Some(lock) => Some(
                tokio::time::timeout(WRITE_WAIT, lock.clone().lock_owned())
                    .await
                    .map_err(|_| {
                        DbErr::Custom(format!(
                            "database is busy: no write turn within {} s",
                            WRITE_WAIT.as_secs()
                        ))
                    })?,
            ),
            None => None,
        };
        let txn = self
            .conn
            .db
            .begin_with_options(TransactionOptions {
                sqlite_transaction_mode: Some(SqliteTransactionMode::Immediate),
                ..Default::default()
            })
            .await?;
        Ok(WriteTxn {
            txn,
            _turn: turn,
            clock: self.conn.clock.clone(),
            signals: self.conn.signals.clone(),
            keyring: self.conn.keyring.clone(),
            jobs: AtomicBool::new(false),
            events: AtomicBool::new(false),
        })
    }

    /// Is the database answering?
    pub async fn ping(&self) -> bool {
        self.conn.db.ping().await.is_ok()
    }

    /// Connections in the pool: (open, idle).
    pub fn pool_state(&self) -> (u32, usize) {
        match self.backend() {
            DbBackend::Postgres => {
                let p = self.conn.db.get_postgres_connection_pool();
                (p.size(), p.num_idle())
            }
            _ => {
                let p = self.conn.db.get_sqlite_connection_pool();
                (p.size(), p.num_idle())
            }
        }
    }
}

/// The unique constraint a failed statement broke, if that is why it failed.
pub fn unique_violation(err: &DbErr) -> Option<String> {
    match err.sql_err() {
        Some(SqlErr::UniqueConstraintViolation(detail)) => Some(detail),
        _ => None,
    }
}

/// A unique index, as the store that owns its table declares it, so a violation can be
/// answered with the field it is about (see [`broken_key`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct UniqueKey {
    /// The index's name, as its migration creates it.
    pub index: &'static str,
    pub table: &'static str,
    /// Its columns, in order.
    pub columns: &'static [&'static str],
}

/// Which of `keys` a failed statement broke: on PostgreSQL by the constraint name the
/// server reports, on SQLite by the table and columns it reports (`UNIQUE constraint
/// failed: contacts.workspace_id, contacts.email`; SQLite names no index). Never by
/// searching the message for a word.
pub fn broken_key<'k>(err: &DbErr, keys: &'k [UniqueKey]) -> Option<&'k UniqueKey> {
    let (DbErr::Exec(sea_orm::RuntimeErr::SqlxError(e))
    | DbErr::Query(sea_orm::RuntimeErr::SqlxError(e))) = err
    else {
        return None;
    };
    let sea_orm::sqlx::Error::Database(db) = e.as_ref() else {
        return None;
    };
    if !matches!(db.kind(), sea_orm::sqlx::error::ErrorKind::UniqueViolation) {
        return None;
    }
    if let Some(name) = db.constraint() {
        return keys.iter().find(|k| k.index == name);
    }
    let columns: Vec<&str> = db
        .message()
        .strip_prefix("UNIQUE constraint failed: ")?
        .split(", ")
        .collect();
    keys.iter().find(|k| {
        columns.len() == k.columns.len()
            && columns.iter().zip(k.columns).all(|(got, col)| {
                got.split_once('.')
                    .is_some_and(|(table, column)| table == k.table && column == *col)
            })
    })
}

/// Strip credentials from a connection error before it is shown.
fn redact(message: &str) -> String {
    match (message.find("://"), message.find('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            format!("{}://***{}", &message[..scheme], &message[at..])
        }
        _ => message.to_owned(),
    }
}

/// Run a raw statement on either backend, with `$n` placeholders written once and
/// rewritten to `?` for SQLite.
pub fn statement(backend: DbBackend, sql: &str, values: Vec<sea_orm::Value>) -> sea_orm::Statement {
    let sql = match backend {
        DbBackend::Postgres => sql.to_owned(),
        _ => rewrite_placeholders(sql),
    };
    sea_orm::Statement::from_sql_and_values(backend, sql, values)
}

fn rewrite_placeholders(sql: &str) -> String {
    let mut out = String::with_capacity(sql.len());
    let mut chars = sql.chars().peekable();
    while let Some(c) = chars.next() {
        // SQLite reads `?NNN` as the NNN-th argument, like PostgreSQL's `$NNN`.
        if c == '$' && chars.peek().is_some_and(|d| d.is_ascii_digit()) {
            out.push('?');
        } else {
            out.push(c);
        }
    }
    out
}

/// Execute a statement written with `$n` placeholders.
pub async fn exec<C: ConnectionTrait>(
    conn: &C,
    sql: &str,
    values: Vec<sea_orm::Value>,
) -> Result<u64, DbErr> {
    let stmt = statement(conn.get_database_backend(), sql, values);
    Ok(conn.execute_raw(stmt).await?.rows_affected())
}

/// How many rows of `width` bound values one multi-row statement should carry. PostgreSQL
/// takes large statements (its limit is 65,535 values). SQLite's driver finds each bound
/// value's name by a linear search, so binding costs grow with the square of a statement's
/// values: there statements stay at a few hundred values, which costs little since SQLite
/// runs in this process and a statement is no round trip.
pub fn rows_per_statement(backend: DbBackend, width: usize) -> usize {
    let values = match backend {
        DbBackend::Sqlite => SQLITE_VALUES_PER_STATEMENT,
        _ => 30_000,
    };
    (values / width.max(1)).max(1)
}

const SQLITE_VALUES_PER_STATEMENT: usize = 256;

/// Run a statement over many rows: `{rows}` in `template` stands for `VALUES (..), (..)`,
/// e.g. `INSERT INTO t (a, b) {rows}` or `UPDATE t SET a = v.column2 FROM ({rows}) AS v
/// WHERE t.id = v.column1` (both databases name a `VALUES` list's columns `column1`, …).
/// Rows are sent as few statements as the bound-value limit allows. Returns rows affected.
pub async fn exec_rows<C: ConnectionTrait>(
    conn: &C,
    template: &str,
    rows: Vec<Vec<sea_orm::Value>>,
) -> Result<u64, DbErr> {
    let backend = conn.get_database_backend();
    let width = rows.first().map_or(1, Vec::len);
    // When the template binds nothing itself, every value is bound once and in order, so
    // SQLite can take anonymous `?` placeholders: no name lookups, and statements as large
    // as PostgreSQL's.
    let anonymous = backend == DbBackend::Sqlite && !template.contains('$');
    let per_statement = if anonymous {
        (SQLITE_ANONYMOUS_VALUES / width.max(1)).max(1)
    } else {
        rows_per_statement(backend, width)
    };
    let (head, tail) = template
        .split_once("{rows}")
        .ok_or_else(|| DbErr::Custom(format!("no {{rows}} in `{template}`")))?;
    let mut affected = 0;
    let sizes = statement_sizes(rows.len(), per_statement);
    let mut rows = rows.into_iter();
    for size in sizes {
        let mut b = query::SqlBuilder::new(head);
        b.push("VALUES ");
        b.push_rows(rows.by_ref().take(size));
        b.push(tail);
        let sql = if anonymous {
            anonymous_placeholders(&b.sql)
        } else {
            b.sql
        };
        affected += exec(conn, &sql, b.values).await?;
    }
    Ok(affected)
}

/// A pool of up to `max_connections` to `url`. SQLite connections get the pragmas that make
/// it a good server database: readers never block the writer (WAL), writers wait instead
/// of failing, and fsync only at checkpoints, every `checkpoint_pages` of log.
async fn open(
    url: &str,
    max_connections: u32,
    checkpoint_pages: u32,
) -> anyhow::Result<DatabaseConnection> {
    let mut opts = ConnectOptions::new(url.to_owned());
    opts.max_connections(max_connections)
        .min_connections(1)
        .acquire_timeout(Duration::from_secs(10))
        .sqlx_logging(false);
    if url.starts_with("sqlite:") {
        let parsed = SqliteConnectOptions::from_str(url)?;
        opts.map_sqlx_sqlite_opts(move |_| {
            parsed
                .clone()
                .journal_mode(SqliteJournalMode::Wal)
                .synchronous(SqliteSynchronous::Normal)
                .busy_timeout(WRITE_WAIT)
                .foreign_keys(true)
                .pragma("temp_store", "memory")
                .pragma("cache_size", "-65536")
                .pragma("wal_autocheckpoint", checkpoint_pages.to_string())
        });
    }
    Database::connect(opts)
        .await
        .map_err(|e| anyhow::anyhow!("cannot connect to the database: {}", redact(&e.to_string())))
}

/// How to split `n` rows into statements of at most `max` rows each so that statements
/// come in few shapes: as many of `max` as fit, then the rest by powers of two, largest
/// first. The driver keeps each statement text it has prepared (per connection); with
/// arbitrary tails every batch would prepare, and keep, new statements of thousands of
/// values (megabytes each on SQLite), where these shapes are prepared once and reused.
pub fn statement_sizes(n: usize, max: usize) -> Vec<usize> {
    let max = max.max(1);
    let mut sizes = vec![max; n / max];
    let tail = n % max;
    sizes.extend(
        (0..usize::BITS)
            .rev()
            .map(|bit| 1usize << bit)
            .filter(|size| tail & size != 0),
    );
    sizes
}

/// Values per statement when placeholders are anonymous (SQLite allows 32,766).
const SQLITE_ANONYMOUS_VALUES: usize = 16_000;

/// `$1, $2, …` to `?, ?, …`, for SQL whose placeholders each appear once, in order.
pub fn anonymous_placeholders(sql: &str) -> String {
    let mut out = String::with_capacity(sql.len());
    let mut chars = sql.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '$' && chars.peek().is_some_and(|d| d.is_ascii_digit()) {
            while chars.peek().is_some_and(|d| d.is_ascii_digit()) {
                chars.next();
            }
            out.push('?');
        } else {
            out.push(c);
        }
    }
    out
}

/// The head of a lookup of many rows by id within a workspace:
/// `SELECT <T's columns> FROM <T's table> WHERE workspace_id = $1 AND id IN`, the list to follow. On
/// SQLite the workspace term is written `+workspace_id`, which keeps it out of index
/// selection: without fresh statistics the planner prefers any index that starts with
/// `workspace_id` to the id index for an `IN` list, and reads the whole workspace (over a
/// second per lookup at half a million contacts).
pub fn by_ids_in_workspace<T: Table>(backend: DbBackend) -> String {
    by_key_in_workspace::<T>(backend, "id")
}

/// The head of a lookup by many values of `key`, a column with an index of its own that
/// is not led by `workspace_id`: on SQLite the workspace term is written `+workspace_id`
/// for the reason [`by_ids_in_workspace`] gives.
pub fn by_key_in_workspace<T: Table>(backend: DbBackend, key: &str) -> String {
    let (table, columns) = (T::TABLE, T::COLUMNS);
    let workspace = match backend {
        DbBackend::Sqlite => "+workspace_id",
        _ => "workspace_id",
    };
    format!("SELECT {columns} FROM {table} WHERE {workspace} = $1 AND {key} IN")
}

/// `SELECT … WHERE workspace_id = $1 AND x IN (…)` over many values, a statement per
/// bounded chunk.
pub async fn select_in<T, V>(
    conn: &impl ConnectionTrait,
    head: &str,
    workspace_id: uuid::Uuid,
    mut values: Vec<V>,
) -> Result<Vec<T>, DbErr>
where
    T: sea_orm::FromQueryResult,
    V: Into<sea_orm::Value> + Ord + Clone,
{
    values.sort();
    values.dedup();
    let mut out = Vec::new();
    // Every value is bound once and in order: on SQLite anonymous placeholders keep
    // binding linear, so a statement can carry thousands.
    let backend = conn.get_database_backend();
    let per_statement = match backend {
        sea_orm::DbBackend::Sqlite => 8_000,
        _ => rows_per_statement(backend, 1).saturating_sub(1).max(1),
    };
    let mut rest = values.as_slice();
    for size in statement_sizes(values.len(), per_statement) {
        let (chunk, after) = rest.split_at(size);
        rest = after;
        let mut b = query::SqlBuilder::new(head);
        b.values.push(workspace_id.into());
        let marks: Vec<String> = chunk.iter().map(|v| b.bind(v.clone())).collect();
        b.push(&format!(" ({})", marks.join(", ")));
        let sql = match backend {
            sea_orm::DbBackend::Sqlite => anonymous_placeholders(&b.sql),
            _ => b.sql,
        };
        let stmt = statement(backend, &sql, b.values);
        out.extend(T::find_by_statement(stmt).all(conn).await?);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::*;

    #[tokio::test]
    async fn a_broken_unique_key_is_found_by_its_table_and_columns_not_its_message() {
        let dir = tempfile::tempdir().expect("tempdir");
        let settings = Settings {
            data_dir: dir.path().to_owned(),
            ..Settings::default()
        };
        let store = Store::connect(&settings).await.expect("connect");
        let conn = store.conn();
        conn.execute_unprepared(
            "CREATE TABLE people (workspace text, email text, phone text); \
             CREATE UNIQUE INDEX people_email ON people (workspace, email); \
             CREATE UNIQUE INDEX people_phone ON people (workspace, phone); \
             INSERT INTO people VALUES ('w', 'a@x.test', '1')",
        )
        .await
        .expect("schema");
        const EMAIL: UniqueKey = UniqueKey {
            index: "people_email",
            table: "people",
            columns: &["workspace", "email"],
        };
        const PHONE: UniqueKey = UniqueKey {
            index: "people_phone",
            table: "people",
            columns: &["workspace", "phone"],
        };
        let keys = [EMAIL, PHONE];
        let err = exec(
            conn,
            "INSERT INTO people VALUES ('w', 'b@x.test', '1')",
            vec![],
        )
        .await
        .expect_err("phone taken");
        assert_eq!(broken_key(&err, &keys), Some(&PHONE));
        let err = exec(
            conn,
            "INSERT INTO people VALUES ('w', 'a@x.test', '2')",
            vec![],
        )
        .await
        .expect_err("email taken");
        assert_eq!(broken_key(&err, &keys), Some(&EMAIL));
        assert_eq!(
            broken_key(&err, &[PHONE]),
            None,
            "an undeclared key is no field's"
        );
        let err = exec(conn, "INSERT INTO nowhere VALUES (1)", vec![])
            .await
            .expect_err("no table");
        assert_eq!(broken_key(&err, &keys), None);
    }

    #[tokio::test]
    async fn a_bulk_writer_has_its_own_connection_but_the_same_turn_and_signals() {
        let dir = tempfile::tempdir().expect("tempdir");
        let settings = Settings {
            data_dir: dir.path().to_owned(),
            ..Settings::default()
        };
        let store = Store::connect(&settings).await.expect("connect");
        store
            .migrate(&migrations::platform())
            .await
            .expect("migrate");
        let bulk = store.bulk_writer().await.expect("bulk writer");
        let pages = |conn: Conn| async move {
            conn.query_one_raw(sea_orm::Statement::from_string(
                DbBackend::Sqlite,
                "PRAGMA wal_autocheckpoint",
            ))
            .await
            .expect("pragma")
            .expect("a row")
            .try_get_by_index::<i64>(0)
            .expect("a number")
        };
        assert_eq!(pages(store.conn().clone()).await, 1_000);
        assert_eq!(pages(bulk.conn().clone()).await, 100_000);

        // One turn for both: the bulk writer waits for this store's writers in the fair
        // queue (not on SQLite's busy handler), and gets its turn once the first commits.
        let (mine, its) = (store.write_turn.as_ref(), bulk.write_turn.as_ref());
        assert!(Arc::ptr_eq(mine.expect("a turn"), its.expect("a turn")));
        let first = store.write().await.expect("first writer");
        let waiting = tokio::spawn(async move {
            let txn = bulk.write().await.expect("bulk writer's turn");
            txn.wake(Wake::Jobs).await.expect("mark");
            txn.commit().await.expect("bulk commit");
        });
        // On this test's one thread the task runs as far as it can at each yield.
        for _ in 0..20 {
            tokio::task::yield_now().await;
        }
        assert!(
            !waiting.is_finished(),
            "the bulk writer took a turn that was held"
        );
        let mut jobs = store.signals().jobs.subscribe();
        first.commit().await.expect("first commit");
        jobs.mark_unchanged();
        tokio::time::timeout(Duration::from_secs(5), waiting)
            .await
            .expect("the bulk writer's turn came")
            .expect("task");
        assert!(
            jobs.has_changed().expect("signal"),
            "the bulk writer's commit wakes this store's workers"
        );
    }

    #[tokio::test]
    async fn a_commit_wakes_whom_its_writes_concern_and_only_then() {
        let dir = tempfile::tempdir().expect("tempdir");
        let settings = Settings {
            data_dir: dir.path().to_owned(),
            ..Settings::default()
        };
        let store = Store::connect(&settings).await.expect("connect");
        let (jobs, mut events) = (
            store.signals().jobs.subscribe(),
            store.signals().events.subscribe(),
        );
        let quiet = store.write().await.expect("write");
        quiet.commit().await.expect("commit");
        assert!(
            !jobs.has_changed().expect("open"),
            "nothing queued, nobody woken"
        );
        assert!(!events.has_changed().expect("open"));

        let txn = store.write().await.expect("write");
        txn.wake(Wake::Events).await.expect("mark");
        assert!(
            !events.has_changed().expect("open"),
            "not before the commit"
        );
        txn.commit().await.expect("commit");
        assert!(events.has_changed().expect("open"), "woken at commit");
        assert!(
            !jobs.has_changed().expect("open"),
            "events wake only consumers"
        );
        events.mark_unchanged();

        let dropped = store.write().await.expect("write");
        dropped.wake(Wake::Jobs).await.expect("mark");
        drop(dropped);
        assert!(
            !jobs.has_changed().expect("open"),
            "a rolled-back write wakes no one"
        );

        store.conn().wake(Wake::Jobs).await.expect("wake");
        assert!(
            jobs.has_changed().expect("open"),
            "outside a transaction, at once"
        );
    }

    #[test]
    fn the_store_tells_time_by_the_clock_it_was_given() {
        let at: DateTime<Utc> = "2026-11-01T05:30:00Z".parse().expect("time");
        let clock = Clock::frozen(at);
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime")
            .block_on(async {
                let dir = tempfile::tempdir().expect("tempdir");
                let settings = Settings {
                    data_dir: dir.path().to_owned(),
                    ..Settings::default()
                };
                let store = Store::connect(&settings)
                    .await
                    .expect("connect")
                    .with_clock(clock.clone());
                assert_eq!(store.now(), at);
                let txn = store.write().await.expect("write");
                clock.advance(Duration::from_secs(90));
                assert_eq!(txn.now(), at + chrono::Duration::seconds(90));
                assert_eq!(store.conn().now(), txn.now());
                assert_eq!(store.bulk_writer().await.expect("bulk").now(), txn.now());
            });
    }

    #[test]
    fn statements_come_in_few_shapes_and_carry_every_row() {
        assert_eq!(statement_sizes(0, 500), Vec::<usize>::new());
        assert_eq!(statement_sizes(1000, 500), vec![500, 500]);
        assert_eq!(
            statement_sizes(1234, 500),
            vec![500, 500, 128, 64, 32, 8, 2]
        );
        let mut shapes = BTreeSet::new();
        for n in 0..3000 {
            let sizes = statement_sizes(n, 500);
            assert_eq!(sizes.iter().sum::<usize>(), n, "{n} rows");
            assert!(
                sizes.iter().all(|s| (1..=500).contains(s)),
                "{n} rows: {sizes:?}"
            );
            shapes.extend(sizes);
        }
        // 500 and the powers of two below it.
        assert_eq!(shapes.len(), 10, "{shapes:?}");
    }

    #[test]
    fn sequential_placeholders_become_anonymous() {
        assert_eq!(
            anonymous_placeholders("VALUES ($1, $2), ($3, $10) -- $x"),
            "VALUES (?, ?), (?, ?) -- $x"
        );
    }

    #[test]
    fn placeholders_are_rewritten_for_sqlite() {
        assert_eq!(
            rewrite_placeholders("SELECT $1, $12 FROM t WHERE a = '$'"),
            "SELECT ?1, ?12 FROM t WHERE a = '$'"
        );
    }

    #[test]
    fn credentials_are_redacted() {
        let r = redact("error connecting to postgres://bob:secret@db:5432/x");
        assert!(!r.contains("secret"), "{r}");
    }
}
