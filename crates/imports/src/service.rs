//! Import use cases: start an import (an uploaded file or, from the CLI, a local one) as a
//! job, show its progress and report, list its rows by outcome, and give back the rejected
//! rows as a CSV to fix and import again.

use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use super::{
    engine::{self, ImportOptions, RunError},
    store::{self, Counts, ImportRow, ImportState, NewImport, Outcome, RowOutcome},
};
use crate::platform::{
    audit::{self, Actor, Change},
    auth::Principal,
    error::{Error, FieldError},
    http::pagination::{Page, page_size},
    runtime::{
        events::{self, NewEvent},
        jobs::{self, JobKind, NewJob},
        worker::{self, JobContext, JobHandler, Outcome as JobOutcome},
    },
    store::Store,
};

/// The job kind that runs imports.
pub const KIND: &str = "import.run";

/// An import as the API shows it.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct Import {
    pub id: Uuid,
    /// `queued`, `running`, `succeeded` or `failed`.
    pub state: String,
    pub file_name: String,
    pub file_size: i64,
    /// Nothing is written: the report says what would happen.
    pub dry_run: bool,
    pub options: ImportOptions,
    /// What the file turned out to be, e.g. `csv (utf-8, ";")`.
    pub detected: Option<String>,
    /// The column → field mapping used.
    #[schema(value_type = Option<Object>)]
    pub mapping: Option<serde_json::Value>,
    pub counts: Counts,
    /// 0 to 100: the part of the file written.
    pub progress: i32,
    /// The rows the file is expected to hold, judged from the part written so far; the
    /// rows written are `counts.rows`. Exact once the import has succeeded.
    pub rows_expected: Option<i64>,
    pub error: Option<String>,
    pub job_id: Option<Uuid>,
    pub created_at: DateTime<Utc>,
    pub started_at: Option<DateTime<Utc>>,
    pub finished_at: Option<DateTime<Utc>>,
}

impl From<ImportRow> for Import {
    fn from(r: ImportRow) -> Self {
        Import {
            counts: r.counts(),
            options: serde_json::from_value(r.options).unwrap_or_default(),
            id: r.id,
            state: r.state,
            file_name: r.file_name,
            file_size: r.file_size,
            dry_run: r.dry_run,
            detected: r.detected,
            mapping: r.mapping,
            progress: r.progress,
            rows_expected: r.rows_expected,
            error: r.error,
            job_id: r.job_id,
            created_at: r.created_at,
            started_at: r.started_at,
            finished_at: r.finished_at,
        }
    }
}

/// Check options, naming each wrong one.
pub fn check_options(opts: &ImportOptions) -> Result<(), Error> {
    let errors: Vec<FieldError> = opts
        .check()
        .into_iter()
        .map(|(f, m)| FieldError::new(f, m))
        .collect();
    if errors.is_empty() {
        Ok(())
    } else {
        Err(Error::Invalid(errors))
    }
}

/// Where an import's file comes from.
pub enum Source<'a> {
    /// Already stored in the import's chunks (an upload).
    Stored,
    /// A file on this machine (the CLI).
    Path(&'a str),
}

/// Record an import and the job that runs it, with its audit entry, in one transaction.
/// With `held_by`, the job is created already held by that worker (the caller runs it).
#[allow(clippy::too_many_arguments)]
pub async fn start(
    store: &Store,
    actor: &Actor,
    workspace_id: Uuid,
    user_id: Option<Uuid>,
    id: Uuid,
    file_name: &str,
    file_size: i64,
    source: Source<'_>,
    options: &ImportOptions,
    dry_run: bool,
    held_by: Option<(&str, Duration)>,
) -> Result<Uuid, Error> {
    let txn = store.write().await?;
    let source_path = match source {
        Source::Path(p) => Some(p),
        Source::Stored => None,
    };
    let options_json = serde_json::to_value(options).unwrap_or_default();
    if store::get(&txn, workspace_id, id).await?.is_some() {
        crate::platform::store::exec(
            &txn,
            "UPDATE imports SET options = $1, dry_run = $2, file_size = $3, file_name = $4 WHERE id = $5",
            vec![
                options_json.clone().into(),
                dry_run.into(),
                file_size.into(),
                file_name.into(),
                id.into(),
            ],
        )
        .await?;
    } else {
        store::insert(
            &txn,
            &NewImport {
                id,
                workspace_id,
                created_by: user_id,
                file_name,
                file_size,
                source_path,
                options: options_json.clone(),
                dry_run,
            },
        )
        .await?;
    }
    let job = NewJob {
        workspace_id: Some(workspace_id),
        max_attempts: 5,
        unique_key: Some(id.to_string()),
        ..NewJob::of::<RunImport>(&ImportRef { import_id: id })
    };
    let job_id = match held_by {
        Some((owner, lease)) => {
            let lease = chrono::Duration::from_std(lease).unwrap_or(chrono::Duration::seconds(30));
            jobs::enqueue_claimed(&txn, job, owner, lease).await?
        }
        None => jobs::enqueue(&txn, job).await?.id(),
    };
    store::set_job(&txn, id, job_id).await?;
    audit::record(
        &txn,
        actor,
        Change {
            workspace_id: Some(workspace_id),
            action: "import.created",
            entity_type: "import",
            entity_id: Some(id.to_string()),
            before: None,
            after: Some(serde_json::json!({
                "file_name": file_name, "file_size": file_size, "dry_run": dry_run, "options": options_json,
            })),
        },
    )
    .await?;
    txn.commit().await?;
    Ok(job_id)
}

/// Create the record an upload's chunks hang on, before its options are known.
pub async fn begin_upload(
    store: &Store,
    principal: &Principal,
    file_name: &str,
) -> Result<Uuid, Error> {
    principal.require(crate::actions::IMPORT_DATA)?;
    let id = store.clock().new_id();
    let txn = store.write().await?;
    store::insert(
        &txn,
        &NewImport {
            id,
            workspace_id: principal.workspace_id,
            created_by: principal.user_id,
            file_name,
            file_size: 0,
            source_path: None,
            options: serde_json::json!({}),
            dry_run: false,
        },
    )
    .await?;
    txn.commit().await?;
    Ok(id)
}

/// Drop an upload that will not become an import (its options were wrong).
pub async fn abandon_upload(store: &Store, principal: &Principal, id: Uuid) -> Result<(), Error> {
    crate::platform::store::exec(
        store.conn(),
        "DELETE FROM imports WHERE workspace_id = $1 AND id = $2 AND job_id IS NULL",
        vec![principal.workspace_id.into(), id.into()],
    )
    .await?;
    Ok(())
}

pub async fn get(store: &Store, principal: &Principal, id: Uuid) -> Result<Import, Error> {
    principal.require(salesos_contacts::actions::READ_SALES)?;
    store::get(store.conn(), principal.workspace_id, id)
        .await?
        .filter(|r| r.job_id.is_some())
        .map(Import::from)
        .ok_or(Error::NotFound("import"))
}

/// Query parameters of `GET /api/v1/imports`.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ImportQuery {
    #[param(minimum = 1, maximum = 500)]
    pub limit: Option<u64>,
    pub cursor: Option<String>,
}

pub async fn list(
    store: &Store,
    principal: &Principal,
    q: ImportQuery,
) -> Result<Page<Import>, Error> {
    principal.require(salesos_contacts::actions::READ_SALES)?;
    let limit = page_size(q.limit)?;
    let before = match &q.cursor {
        Some(c) => {
            let cursor = crate::platform::http::pagination::Cursor::decode(c, "-created_at")?;
            let at = cursor
                .key
                .as_str()
                .and_then(|s| s.parse::<DateTime<Utc>>().ok())
                .ok_or_else(|| Error::invalid("cursor", "is not a cursor this list returned"))?;
            Some((at, cursor.id))
        }
        None => None,
    };
    let rows = store::list(store.conn(), principal.workspace_id, before, limit).await?;
    let rows: Vec<Import> = rows
        .into_iter()
        .filter(|r| r.job_id.is_some())
        .map(Import::from)
        .collect();
    Ok(crate::platform::http::pagination::paginate(
        rows,
        limit,
        |i| crate::platform::http::pagination::Cursor {
            sort: "-created_at".into(),
            key: serde_json::json!(i.created_at),
            id: i.id,
        },
    ))
}

/// One row's outcome as the API shows it.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct ImportRowView {
    /// The row's number in the file (the header is row 1).
    pub row: i64,
    pub outcome: Outcome,
    /// `contact` or `account`.
    pub entity_type: Option<String>,
    pub entity_id: Option<Uuid>,
    /// For a rejected row: the column and value at fault (absent when the row as a whole is).
    pub column: Option<String>,
    pub value: Option<String>,
    /// Why the row was rejected.
    pub reason: Option<String>,
    /// What to check on an imported row.
    pub warnings: Vec<String>,
    /// The cells of a rejected row, as read.
    pub fields: Option<Vec<String>>,
}

impl From<RowOutcome> for ImportRowView {
    fn from(r: RowOutcome) -> Self {
        let outcome = r.outcome.parse().unwrap_or(Outcome::Rejected);
        let rejected = outcome == Outcome::Rejected;
        ImportRowView {
            row: r.row_number,
            outcome,
            entity_type: r.entity_type,
            entity_id: r.entity_id,
            column: r.column_name,
            value: r.value,
            warnings: if rejected {
                Vec::new()
            } else {
                r.reason
                    .as_deref()
                    .map(|w| w.lines().map(str::to_owned).collect())
                    .unwrap_or_default()
            },
            reason: if rejected { r.reason } else { None },
            fields: r.fields.and_then(|f| serde_json::from_value(f).ok()),
        }
    }
}

/// Query parameters of `GET /api/v1/imports/{id}/rows`.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct RowQuery {
    pub outcome: Option<Outcome>,
    #[param(minimum = 1, maximum = 500)]
    pub limit: Option<u64>,
    pub cursor: Option<String>,
}

pub async fn rows(
    store: &Store,
    principal: &Principal,
    id: Uuid,
    q: RowQuery,
) -> Result<Page<ImportRowView>, Error> {
    get(store, principal, id).await?;
    let limit = page_size(q.limit)?;
    let after = match &q.cursor {
        Some(c) => c
            .parse::<i64>()
            .map_err(|_| Error::invalid("cursor", "is not a cursor this list returned"))?,
        None => 0,
    };
    let mut rows = store::rows(store.conn(), id, q.outcome, after, limit + 1).await?;
    let more = rows.len() as u64 > limit;
    rows.truncate(usize::try_from(limit).unwrap_or(usize::MAX));
    let next_cursor = if more {
        rows.last().map(|r| r.row_number.to_string())
    } else {
        None
    };
    Ok(Page {
        data: rows.into_iter().map(ImportRowView::from).collect(),
        next_cursor,
    })
}

/// The rejected rows as CSV: the file's own columns (as mapped) followed by the row
/// number, the column at fault and the reason. Fix and import again.
pub async fn rejected_csv(
    store: &Store,
    principal: &Principal,
    id: Uuid,
) -> Result<Vec<u8>, Error> {
    let import = get(store, principal, id).await?;
    let headers: Vec<String> = import
        .mapping
        .as_ref()
        .and_then(|m| m.get("columns"))
        .and_then(|c| c.as_array())
        .map(|cols| {
            cols.iter()
                .filter_map(|c| c.get("header").and_then(|h| h.as_str()).map(str::to_owned))
                .collect()
        })
        .unwrap_or_default();
    let mut out = csv::Writer::from_writer(Vec::new());
    let mut head = headers.clone();
    head.extend(["_row".into(), "_column".into(), "_reason".into()]);
    let csv_err = |e: csv::Error| Error::Internal(anyhow::anyhow!(e));
    out.write_record(&head).map_err(csv_err)?;
    let mut after = 0;
    loop {
        let page = store::rows(store.conn(), id, Some(Outcome::Rejected), after, 1000).await?;
        let Some(last) = page.last().map(|r| r.row_number) else {
            break;
        };
        for r in page {
            let mut fields: Vec<String> = r
                .fields
                .and_then(|f| serde_json::from_value(f).ok())
                .unwrap_or_default();
            fields.resize(headers.len().max(fields.len()), String::new());
            fields.extend([
                r.row_number.to_string(),
                r.column_name.unwrap_or_default(),
                r.reason.unwrap_or_default(),
            ]);
            out.write_record(&fields).map_err(csv_err)?;
        }
        after = last;
    }
    out.into_inner()
        .map_err(|e| Error::Internal(anyhow::anyhow!(e.to_string())))
}

/// The job that runs an import.
pub struct RunImport;

/// The payload of an import job: which import to run.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ImportRef {
    pub import_id: Uuid,
}

impl JobKind for RunImport {
    const KIND: &'static str = KIND;
    type Payload = ImportRef;
}

#[async_trait::async_trait]
impl JobHandler for RunImport {
    fn kind(&self) -> &'static str {
        KIND
    }

    fn timeout(&self) -> Duration {
        Duration::from_secs(6 * 3600)
    }

    fn backoff(&self, attempt: i32) -> Duration {
        Duration::from_secs(5 * u64::try_from(attempt.max(1)).unwrap_or(1))
    }

    async fn run(&self, ctx: &JobContext) -> JobOutcome {
        let id = match ctx.payload::<RunImport>() {
            Ok(p) => p.import_id,
            Err(e) => return JobOutcome::Fail(e),
        };
        // The engine records progress on the import and the job in each batch's
        // transaction; live subscribers hear it from here.
        let report = |percent: i32, message: String| ctx.announce_progress(percent, &message);
        let result = engine::run(&ctx.store, id, &report).await;
        match result {
            Ok(counts) => match finish(&ctx.store, id, Ok(&counts)).await {
                Ok(()) => JobOutcome::Done(serde_json::to_value(counts).ok()),
                Err(e) => JobOutcome::Retry {
                    error: e.to_string(),
                    after: None,
                },
            },
            Err(RunError::Input(msg)) => {
                if let Err(e) = finish(&ctx.store, id, Err(&msg)).await {
                    return JobOutcome::Retry {
                        error: e.to_string(),
                        after: None,
                    };
                }
                JobOutcome::Fail(msg)
            }
            Err(e) => {
                let msg = e.to_string();
                if ctx.job.attempts >= ctx.job.max_attempts {
                    let _ = finish(&ctx.store, id, Err(&msg)).await;
                }
                JobOutcome::Retry {
                    error: msg,
                    after: None,
                }
            }
        }
    }
}

/// Close an import: its final state and `import.completed` (or `import.failed`) with the
/// counts, together.
async fn finish(
    store: &Store,
    id: Uuid,
    result: Result<&Counts, &str>,
) -> Result<(), sea_orm::DbErr> {
    let txn = store.write().await?;
    let Some(import) = store::get_any(&txn, id).await? else {
        return Ok(());
    };
    if import.state == ImportState::Succeeded.as_str() {
        return Ok(());
    }
    let (state, error) = match result {
        Ok(_) => (ImportState::Succeeded, None),
        Err(e) => (ImportState::Failed, Some(e)),
    };
    store::finish(&txn, id, state, error).await?;
    let counts = result.ok().copied().unwrap_or_else(|| import.counts());
    events::emit(
        &txn,
        NewEvent {
            workspace_id: import.workspace_id,
            event_type: if error.is_none() {
                crate::topics::IMPORT_COMPLETED.name
            } else {
                crate::topics::IMPORT_FAILED.name
            },
            entity_type: "import",
            entity_id: Some(id.to_string()),
            source: "import",
            data: serde_json::to_value(crate::topics::ImportFinished {
                import_id: id,
                file_name: &import.file_name,
                dry_run: import.dry_run,
                counts,
                error,
            })
            .unwrap_or_default(),
        },
    )
    .await?;
    txn.commit().await
}

/// Run an import in this process (the CLI), as a worker would: the job is held by this
/// process while it runs, so a server on the same database leaves it alone, and takes it
/// over if this process dies.
pub async fn run_here(
    store: &Store,
    job_id: Uuid,
    workspace_id: Uuid,
    owner: &str,
) -> Result<(), Error> {
    let job = jobs::get(store.conn(), workspace_id, job_id)
        .await?
        .ok_or(Error::NotFound("job"))?;
    let registry = worker::Registry::default().with(RunImport);
    worker::run_claimed(store, &registry, job, owner, Duration::from_secs(30)).await?;
    Ok(())
}
