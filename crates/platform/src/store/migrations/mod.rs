//! Schema migrations. The platform declares its own ([`platform`]); each area declares
//! its tables' migrations beside its code, and the wiring hands the whole list to
//! [`Store::migrate`](super::Store::migrate): the platform's first, then each area's in
//! the order areas are listed, each area's in its own order. That order is deterministic,
//! and an area listed after another may build on that one's tables.
//!
//! Each migration is SQL written once with type placeholders (`{uuid}`, `{ts}`, `{json}`,
//! `{bool}`, `{float}`, `{bigint}`, `{blob}`) filled per backend; where the dialects
//! really differ (text search), both variants stand side by side.
//!
//! Applied migrations are recorded by name in `seaql_migrations` (the table and layout of
//! sea-orm-migration, which earlier builds ran, so their databases upgrade in place). A
//! migration that took over part of an earlier, larger one names it in
//! [`Migration::replaces`]: on a database where the larger one ran, its parts are recorded
//! as applied instead of run again.

mod m0001_tenancy;
mod m0002_runtime;
mod m0004_cron;
mod m0007_master_keys;

use std::collections::HashSet;

use sea_orm::{ConnectionTrait, DbBackend, DbErr, FromQueryResult};

use super::{Store, WriteTxn, exec, statement};

/// One step of the schema.
#[async_trait::async_trait]
pub trait Migration: Send + Sync {
    /// Its name, recorded once applied: `mNNNN_what`. Never changes once released.
    fn name(&self) -> &'static str;

    /// The released migration whose work included this one's, before it was split up
    /// between the platform and the areas. A database that recorded that one has this one.
    fn replaces(&self) -> Option<&'static str> {
        None
    }

    /// Apply it, inside the transaction that records it.
    async fn up(&self, schema: &Schema<'_>) -> Result<(), DbErr>;
}

/// What a migration runs its statements on: the transaction that will record it.
pub struct Schema<'a> {
    conn: &'a WriteTxn,
}

impl Schema<'_> {
    pub fn backend(&self) -> DbBackend {
        self.conn.get_database_backend()
    }

    pub fn conn(&self) -> &WriteTxn {
        self.conn
    }

    /// Run each `;`-terminated statement of a script, its placeholders filled.
    pub async fn run(&self, script: &str) -> Result<(), DbErr> {
        let sql = ddl(self.backend(), script);
        if self.backend() == DbBackend::Sqlite {
            // SQLite runs a whole script in one call, trigger bodies with their own `;`s
            // included.
            self.conn.execute_unprepared(&sql).await?;
            return Ok(());
        }
        for stmt in sql.split(";\n").map(str::trim).filter(|s| !s.is_empty()) {
            self.conn.execute_unprepared(stmt).await?;
        }
        Ok(())
    }
}

/// The platform's own migrations, in order.
pub fn platform() -> Vec<Box<dyn Migration>> {
    vec![
        Box::new(m0001_tenancy::Migration),
        Box::new(m0002_runtime::Migration),
        Box::new(m0004_cron::Migration),
        Box::new(m0007_master_keys::Migration),
    ]
}

/// Fill the type placeholders of a DDL script for one backend.
pub fn ddl(backend: DbBackend, script: &str) -> String {
    let pg = matches!(backend, DbBackend::Postgres);
    let pairs: [(&str, &str); 7] = [
        ("{uuid}", if pg { "uuid" } else { "blob" }),
        ("{ts}", if pg { "timestamptz" } else { "text" }),
        ("{json}", if pg { "jsonb" } else { "text" }),
        ("{bool}", if pg { "boolean" } else { "integer" }),
        ("{float}", if pg { "double precision" } else { "real" }),
        ("{bigint}", if pg { "bigint" } else { "integer" }),
        ("{blob}", if pg { "bytea" } else { "blob" }),
    ];
    pairs
        .iter()
        .fold(script.to_owned(), |acc, (from, to)| acc.replace(from, to))
}

const LEDGER: &str = r#"CREATE TABLE IF NOT EXISTS seaql_migrations (version varchar NOT NULL PRIMARY KEY, applied_at bigint NOT NULL)"#;

/// PostgreSQL: nodes that start together migrate one at a time.
const MIGRATION_LOCK: i64 = 0x5a1e_5050_0001;

#[derive(FromQueryResult)]
struct Applied {
    version: String,
}

/// The migrations recorded as applied.
async fn applied(conn: &impl ConnectionTrait) -> Result<HashSet<String>, DbErr> {
    let rows = Applied::find_by_statement(statement(
        conn.get_database_backend(),
        "SELECT version FROM seaql_migrations",
        vec![],
    ))
    .all(conn)
    .await?;
    Ok(rows.into_iter().map(|r| r.version).collect())
}

async fn record<C: crate::store::Db>(conn: &C, name: &str) -> Result<(), DbErr> {
    exec(
        conn,
        "INSERT INTO seaql_migrations (version, applied_at) VALUES ($1, $2)",
        vec![name.into(), conn.now().timestamp().into()],
    )
    .await
    .map(drop)
}

impl Store {
    /// Apply every pending migration of `migrations` (the platform's and the areas', in
    /// order), each in a transaction of its own that also records it.
    pub async fn migrate(&self, migrations: &[Box<dyn Migration>]) -> anyhow::Result<()> {
        let mut names = HashSet::new();
        for m in migrations {
            anyhow::ensure!(
                names.insert(m.name()),
                "two migrations are named {}",
                m.name()
            );
        }
        self.conn().execute_unprepared(LEDGER).await?;

        let txn = self.write().await?;
        self.lock_migrations(&txn).await?;
        let done = applied(&txn).await?;
        for legacy in done.iter().filter(|d| !names.contains(d.as_str())) {
            let parts: Vec<_> = migrations
                .iter()
                .filter(|m| m.replaces() == Some(legacy.as_str()))
                .collect();
            anyhow::ensure!(
                !parts.is_empty(),
                "the database has migration {legacy}, which this build of SalesOS does not know: \
                 it was made by a newer version"
            );
            for part in parts.iter().filter(|p| !done.contains(p.name())) {
                record(&txn, part.name()).await?;
            }
            exec(
                &txn,
                "DELETE FROM seaql_migrations WHERE version = $1",
                vec![legacy.as_str().into()],
            )
            .await?;
            tracing::info!(%legacy, parts = parts.len(), "recorded a split migration's parts");
        }
        txn.commit().await?;

        for m in migrations {
            let txn = self.write().await?;
            self.lock_migrations(&txn).await?;
            if applied(&txn).await?.contains(m.name()) {
                continue;
            }
            m.up(&Schema { conn: &txn })
                .await
                .map_err(|e| anyhow::anyhow!("migration {} failed: {e}", m.name()))?;
            record(&txn, m.name()).await?;
            txn.commit().await?;
            tracing::info!(migration = m.name(), "applied");
        }
        // Every node of a deployment must hold the keys the database's secrets are
        // sealed with; the first to start records its own.
        let txn = self.write().await?;
        self.lock_migrations(&txn).await?;
        crate::secrets::stored::check(&txn).await?;
        crate::secrets::stored::enroll(&txn).await?;
        txn.commit().await?;
        if self.backend() == DbBackend::Sqlite {
            // Refresh the planner's statistics where they are stale (cheap when they are not).
            self.conn().execute_unprepared("PRAGMA optimize").await?;
        }
        Ok(())
    }

    async fn lock_migrations(&self, txn: &impl ConnectionTrait) -> Result<(), DbErr> {
        if self.backend() == DbBackend::Postgres {
            exec(
                txn,
                "SELECT pg_advisory_xact_lock($1)",
                vec![MIGRATION_LOCK.into()],
            )
            .await?;
        }
        Ok(())
    }
}
