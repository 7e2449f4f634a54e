//! The one migration set both databases share. Each migration is SQL written once with
//! type placeholders (`{uuid}`, `{ts}`, `{json}`, `{bool}`, `{float}`, `{bigint}`, `{blob}`) filled per backend;
//! where the dialects really differ (text search), both variants stand side by side.

mod m0001_core;
mod m0002_runtime;
mod m0003_webhooks;
mod m0004_cron;
mod m0005_imports;

use sea_orm::DbBackend;
use sea_orm_migration::prelude::*;

pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(m0001_core::Migration),
            Box::new(m0002_runtime::Migration),
            Box::new(m0003_webhooks::Migration),
            Box::new(m0004_cron::Migration),
            Box::new(m0005_imports::Migration),
        ]
    }
}

/// Fill the type placeholders of a DDL script for one backend.
pub(crate) fn ddl(backend: DbBackend, script: &str) -> String {
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

/// Run each `;`-terminated statement of a script.
pub(crate) async fn run_script(manager: &SchemaManager<'_>, script: &str) -> Result<(), DbErr> {
    let conn = manager.get_connection();
    let sql = ddl(manager.get_database_backend(), script);
    if manager.get_database_backend() == DbBackend::Sqlite {
        // One call runs the whole script on one connection. Split over a pool, a statement
        // can be prepared on a connection whose cached schema predates the previous one
        // (a trigger dropped there still "exists" here).
        conn.execute_unprepared(&sql).await?;
        return Ok(());
    }
    for stmt in sql.split(";\n").map(str::trim).filter(|s| !s.is_empty()) {
        conn.execute_unprepared(stmt).await?;
    }
    Ok(())
}
