//! `salesos import` and `salesos export`: the same import and export the API offers, run
//! by this process straight on the database. The import is recorded and held as a job
//! like any other, so a server on the same database shows its progress, leaves it alone
//! while this process runs it, and takes it over if this process dies.

use std::{collections::BTreeMap, io::IsTerminal, io::Write, path::PathBuf, time::Duration};

use anyhow::{Context, anyhow, bail};
use uuid::Uuid;

use super::{
    engine::{ImportOptions, Policy},
    mapping::map_headers,
    read,
    service::{self, Source},
    store as import_store,
};
use crate::platform::{
    audit::Actor,
    auth::{Credential, Principal, Role, store as auth_store},
    settings::Settings,
    store::{Store, migrations::Migration},
};

/// What `salesos import` was asked.
pub struct ImportCommand {
    pub file: PathBuf,
    pub workspace: String,
    pub mapping: Option<String>,
    pub region: Option<String>,
    pub policy: String,
    pub dry_run: bool,
    pub tags: Option<String>,
    pub sheet: Option<String>,
    pub ignore_unmapped: bool,
    pub json: bool,
}

/// `"Header=field,Other=custom:x"` or a JSON object.
fn parse_mapping(raw: &str) -> anyhow::Result<BTreeMap<String, String>> {
    let raw = raw.trim();
    if raw.starts_with('{') {
        return serde_json::from_str(raw)
            .map_err(|e| anyhow!("--mapping is not a JSON object of column → field: {e}"));
    }
    raw.split(',')
        .filter(|p| !p.trim().is_empty())
        .map(|pair| {
            let (h, f) = pair.rsplit_once('=').ok_or_else(|| {
                anyhow!("--mapping entry `{pair}` must look like `Column Header=field`")
            })?;
            Ok((h.trim().to_owned(), f.trim().to_owned()))
        })
        .collect()
}

/// Run `salesos import`: `migrations` are the build's whole set, applied first.
pub async fn import(
    settings: Settings,
    migrations: &[Box<dyn Migration>],
    cmd: ImportCommand,
) -> anyhow::Result<()> {
    // The file first: a missing or unreadable file is reported before anything is touched.
    let path = std::fs::canonicalize(&cmd.file)
        .with_context(|| format!("cannot read {}", cmd.file.display()))?;
    let meta =
        std::fs::metadata(&path).with_context(|| format!("cannot read {}", path.display()))?;
    if !meta.is_file() {
        bail!("{} is not a file", path.display());
    }
    let policy: Policy = cmd
        .policy
        .parse()
        .map_err(|e: String| anyhow!("--policy: {e}"))?;
    let options = ImportOptions {
        mapping: cmd
            .mapping
            .as_deref()
            .map(parse_mapping)
            .transpose()?
            .unwrap_or_default(),
        unmapped: if cmd.ignore_unmapped {
            "ignore"
        } else {
            "custom"
        }
        .into(),
        region: cmd.region.clone(),
        policy,
        tags: cmd
            .tags
            .as_deref()
            .map(|t| t.split(',').map(|s| s.trim().to_owned()).collect())
            .unwrap_or_default(),
        sheet: cmd.sheet.clone(),
    };
    if let Some((field, message)) = options.check().into_iter().next() {
        bail!("--{} {message}", field.replace('_', "-"));
    }
    // Read the header now, so a wrong file or mapping fails here rather than in the job.
    {
        let table = read::open(&path, options.sheet.as_deref()).map_err(|e| anyhow!("{e}"))?;
        let explicit = options.mapping.clone().into_iter().collect();
        map_headers(&table.headers, &explicit, options.unmapped()).map_err(|errs| {
            anyhow!(
                "--mapping: {}",
                errs.iter()
                    .map(|e| e.0.clone())
                    .collect::<Vec<_>>()
                    .join("; ")
            )
        })?;
    }

    // One writer, its heartbeat and the progress bar: a few connections are plenty, and
    // each SQLite connection keeps its own page cache.
    let settings = Settings {
        db_max_connections: settings.db_max_connections.min(4),
        ..settings
    };
    let store = Store::connect(&settings).await?;
    store.migrate(migrations).await?;
    let ws = auth_store::find_workspace_by_slug(store.conn(), &cmd.workspace)
        .await?
        .ok_or_else(|| anyhow!("no workspace with slug `{}`", cmd.workspace))?;
    let id = store.clock().new_id();
    let owner = format!("cli:{}:{}", std::process::id(), Uuid::new_v4());
    let shown = path.display().to_string();
    let job_id = service::start(
        &store,
        &Actor::operator(),
        ws.id,
        None,
        id,
        &shown,
        i64::try_from(meta.len()).unwrap_or(i64::MAX),
        Source::Path(&shown),
        &options,
        cmd.dry_run,
        Some((&owner, Duration::from_secs(30))),
    )
    .await
    .map_err(|e| anyhow!("{e}"))?;

    let bar = (!cmd.json && std::io::stderr().is_terminal()).then(|| {
        let bar = progress_bar();
        let (store, shown) = (store.clone(), bar.clone());
        let poll = tokio::spawn(async move {
            // The screen's refresh, not the import's pace: the import never waits on it.
            let mut tick = tokio::time::interval(Duration::from_millis(250));
            loop {
                tick.tick().await;
                if let Ok(Some(i)) = import_store::get_any(store.conn(), id).await {
                    show_progress(&shown, &i);
                }
            }
        });
        (bar, poll)
    });
    let ran = service::run_here(&store, job_id, ws.id, &owner).await;
    if let Some((bar, poll)) = bar {
        poll.abort();
        if let Ok(Some(i)) = import_store::get_any(store.conn(), id).await {
            show_progress(&bar, &i);
        }
        bar.finish();
    }
    ran.map_err(|e| anyhow!("{e}"))?;
    let done = import_store::get_any(store.conn(), id)
        .await?
        .ok_or_else(|| anyhow!("import {id} vanished"))?;
    match done.state.as_str() {
        "succeeded" => {}
        "failed" => bail!(
            "import failed: {}",
            done.error.unwrap_or_else(|| "unknown error".into())
        ),
        _ => {
            let job = crate::platform::runtime::jobs::get(store.conn(), ws.id, job_id).await?;
            bail!(
                "import {id} stopped after {} rows: {}; it resumes where it stopped when a SalesOS server or worker runs on this database",
                done.rows_read,
                job.and_then(|j| j.last_error)
                    .unwrap_or_else(|| "interrupted".into())
            )
        }
    }
    let c = done.counts();
    let mut out = std::io::stdout().lock();
    if !cmd.json {
        writeln!(
            out,
            "{} {}: {} rows — {} created, {} updated, {} merged, {} unchanged, {} rejected ({} with warnings); accounts: {} created, {} updated",
            if done.dry_run {
                "Dry run of"
            } else {
                "Imported"
            },
            done.file_name,
            c.rows,
            c.created,
            c.updated,
            c.merged,
            c.unchanged,
            c.rejected,
            c.warnings,
            c.accounts_created,
            c.accounts_updated
        )?;
        if c.rejected > 0 {
            let rows = import_store::rows(
                store.conn(),
                id,
                Some(import_store::Outcome::Rejected),
                0,
                10,
            )
            .await?;
            writeln!(out, "Rejected rows (first {}):", rows.len())?;
            for r in rows {
                writeln!(
                    out,
                    "  row {}: {}{}",
                    r.row_number,
                    r.column_name
                        .map(|col| format!("{col} `{}` ", r.value.unwrap_or_default()))
                        .unwrap_or_default(),
                    r.reason.unwrap_or_default()
                )?;
            }
            writeln!(
                out,
                "All rejected rows: GET /api/v1/imports/{id}/rejected.csv"
            )?;
        }
    }
    writeln!(
        out,
        "{}",
        serde_json::json!({
            "import_id": id,
            "dry_run": done.dry_run,
            "rows": c.rows,
            "created": c.created,
            "updated": c.updated,
            "merged": c.merged,
            "unchanged": c.unchanged,
            "rejected": c.rejected,
            "warnings": c.warnings,
            "accounts_created": c.accounts_created,
            "accounts_updated": c.accounts_updated,
        })
    )?;
    Ok(())
}

/// Rows written against the rows the file is expected to hold, with the rate and the time
/// left; a spinner until the first batch is written and the total can be judged.
fn progress_bar() -> indicatif::ProgressBar {
    let bar = indicatif::ProgressBar::new_spinner();
    bar.set_style(
        indicatif::ProgressStyle::with_template("{spinner} {human_pos} rows written, {msg}")
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_spinner()),
    );
    bar.enable_steady_tick(Duration::from_millis(120));
    bar
}

fn show_progress(bar: &indicatif::ProgressBar, i: &import_store::ImportRow) {
    let written = u64::try_from(i.rows_read).unwrap_or(0);
    if let Some(expected) = i.rows_expected.and_then(|e| u64::try_from(e).ok()) {
        if bar.length().is_none() {
            bar.disable_steady_tick();
            bar.set_style(
                indicatif::ProgressStyle::with_template(
                    "[{bar:30}] {percent:>3}% {human_pos}/{human_len} rows written, {msg}, {eta} left",
                )
                .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar())
                .progress_chars("#>-"),
            );
        }
        // An estimate until the end: never below what is already written.
        bar.set_length(expected.max(written));
    }
    let secs = bar.elapsed().as_secs_f64();
    if secs > 0.0 {
        // Whole rows a second since the start; indicatif's own rate shows four decimals.
        bar.set_message(format!("{:.0} rows/s", written as f64 / secs));
    }
    bar.set_position(written);
}

/// What `salesos export` writes.
pub enum Export {
    Contacts,
    Accounts,
}

pub async fn export(
    settings: Settings,
    migrations: &[Box<dyn Migration>],
    what: Export,
    workspace: &str,
    q: Option<String>,
) -> anyhow::Result<()> {
    let store = Store::connect(&settings).await?;
    store.migrate(migrations).await?;
    let ws = auth_store::find_workspace_by_slug(store.conn(), workspace)
        .await?
        .ok_or_else(|| anyhow!("no workspace with slug `{workspace}`"))?;
    // The operator sees the whole workspace.
    let principal = Principal {
        workspace_id: ws.id,
        user_id: None,
        role: Role::Admin,
        credential: Credential::ApiKey {
            key_id: Uuid::nil(),
        },
        request_id: None,
    };
    let (tx, mut rx) = tokio::sync::mpsc::channel::<Vec<u8>>(4);
    let writer = tokio::task::spawn_blocking(move || -> std::io::Result<()> {
        let mut out = std::io::BufWriter::new(std::io::stdout().lock());
        while let Some(chunk) = rx.blocking_recv() {
            out.write_all(&chunk)?;
        }
        out.flush()
    });
    let result = match what {
        Export::Contacts => {
            let query = crate::contacts::service::ContactQuery {
                q,
                ..Default::default()
            };
            super::export::contacts_csv(&store, &principal, query, tx).await
        }
        Export::Accounts => {
            let query = crate::accounts::service::AccountQuery {
                q,
                ..Default::default()
            };
            super::export::accounts_csv(&store, &principal, query, tx).await
        }
    };
    writer.await.map_err(|e| anyhow!(e))??;
    result.map_err(|e| anyhow!("{e}"))
}
