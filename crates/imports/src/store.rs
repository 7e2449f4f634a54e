//! Queries for imports: the import record with its counts, the uploaded file's chunks, and
//! the outcome of every row.

use salesos_platform::store::Db;
use std::io::Write;

use chrono::{DateTime, Utc};
use sea_orm::{DbErr, FromQueryResult, Value};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use crate::platform::store::{exec, exec_rows, find_in_workspace, statement};

/// How many rows ended which way. The five outcomes add up to `rows`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Counts {
    /// Rows read (the header not counted).
    pub rows: i64,
    pub created: i64,
    pub updated: i64,
    /// Duplicates of an earlier row of the same file, merged into its record.
    pub merged: i64,
    pub unchanged: i64,
    pub rejected: i64,
    /// Rows imported with something to check (a likely typo, an unreadable phone).
    pub warnings: i64,
    pub accounts_created: i64,
    pub accounts_updated: i64,
}

impl Counts {
    pub fn add(&mut self, o: Outcome) {
        self.rows += 1;
        match o {
            Outcome::Created => self.created += 1,
            Outcome::Updated => self.updated += 1,
            Outcome::Merged => self.merged += 1,
            Outcome::Unchanged => self.unchanged += 1,
            Outcome::Rejected => self.rejected += 1,
        }
    }
}

crate::text_enum! {
    /// What became of one input row.
    pub enum Outcome {
        Created = "created",
        Updated = "updated",
        Merged = "merged",
        Unchanged = "unchanged",
        Rejected = "rejected",
    }
}

crate::text_enum! {
    pub enum ImportState {
        Queued = "queued",
        Running = "running",
        Succeeded = "succeeded",
        Failed = "failed",
    }
}

salesos_platform::table! {
    /// A stored import.
    #[derive(Clone, Debug)]
    pub struct ImportRow in "imports" {
        pub id: Uuid,
        pub workspace_id: Uuid,
        pub job_id: Option<Uuid>,
        pub created_by: Option<Uuid>,
        pub file_name: String,
        pub file_size: i64,
        pub source_path: Option<String>,
        pub options: serde_json::Value,
        pub dry_run: bool,
        pub state: String,
        pub detected: Option<String>,
        pub mapping: Option<serde_json::Value>,
        pub last_row: i64,
        pub rows_read: i64,
        pub created: i64,
        pub updated: i64,
        pub merged: i64,
        pub unchanged: i64,
        pub rejected: i64,
        pub warnings: i64,
        pub accounts_created: i64,
        pub accounts_updated: i64,
        pub progress: i32,
        /// Rows the whole file is expected to hold, judged from the part written so far.
        pub rows_expected: Option<i64>,
        pub error: Option<String>,
        pub created_at: DateTime<Utc>,
        pub started_at: Option<DateTime<Utc>>,
        pub finished_at: Option<DateTime<Utc>>,
        pub updated_at: DateTime<Utc>,
    }
}

impl ImportRow {
    pub fn counts(&self) -> Counts {
        Counts {
            rows: self.rows_read,
            created: self.created,
            updated: self.updated,
            merged: self.merged,
            unchanged: self.unchanged,
            rejected: self.rejected,
            warnings: self.warnings,
            accounts_created: self.accounts_created,
            accounts_updated: self.accounts_updated,
        }
    }
}

/// An import to record.
pub struct NewImport<'a> {
    pub id: Uuid,
    pub workspace_id: Uuid,
    pub created_by: Option<Uuid>,
    pub file_name: &'a str,
    pub file_size: i64,
    pub source_path: Option<&'a str>,
    pub options: serde_json::Value,
    pub dry_run: bool,
}

pub async fn insert<C: Db>(conn: &C, n: &NewImport<'_>) -> Result<(), DbErr> {
    let at = conn.now();
    exec(
        conn,
        "INSERT INTO imports (id, workspace_id, created_by, file_name, file_size, source_path, options, dry_run, \
         state, last_row, rows_read, created, updated, merged, unchanged, rejected, warnings, accounts_created, \
         accounts_updated, progress, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 'queued', 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, $9, $9)",
        vec![
            n.id.into(),
            n.workspace_id.into(),
            n.created_by.into(),
            n.file_name.into(),
            n.file_size.into(),
            n.source_path.map(str::to_owned).into(),
            n.options.clone().into(),
            n.dry_run.into(),
            at.into(),
        ],
    )
    .await?;
    Ok(())
}

pub async fn set_job<C: Db>(conn: &C, id: Uuid, job_id: Uuid) -> Result<(), DbErr> {
    exec(
        conn,
        "UPDATE imports SET job_id = $1 WHERE id = $2",
        vec![job_id.into(), id.into()],
    )
    .await?;
    Ok(())
}

pub async fn get<C: Db>(
    conn: &C,
    workspace_id: Uuid,
    id: Uuid,
) -> Result<Option<ImportRow>, DbErr> {
    find_in_workspace(conn, workspace_id, id).await
}

pub async fn get_any<C: Db>(conn: &C, id: Uuid) -> Result<Option<ImportRow>, DbErr> {
    let stmt = statement(
        conn.get_database_backend(),
        &format!(
            "SELECT {import_row_columns} FROM imports WHERE id = $1",
            import_row_columns = ImportRow::COLUMNS
        ),
        vec![id.into()],
    );
    ImportRow::find_by_statement(stmt).one(conn).await
}

/// A workspace's imports, newest first.
pub async fn list<C: Db>(
    conn: &C,
    workspace_id: Uuid,
    before: Option<(DateTime<Utc>, Uuid)>,
    limit: u64,
) -> Result<Vec<ImportRow>, DbErr> {
    let mut sql = format!(
        "SELECT {import_row_columns} FROM imports WHERE workspace_id = $1",
        import_row_columns = ImportRow::COLUMNS
    );
    let mut values: Vec<Value> = vec![workspace_id.into()];
    if let Some((at, id)) = before {
        sql.push_str(" AND (created_at < $2 OR (created_at = $2 AND id < $3))");
        values.extend([at.into(), id.into()]);
    }
    sql.push_str(&format!(
        " ORDER BY created_at DESC, id DESC LIMIT {}",
        limit + 1
    ));
    let stmt = statement(conn.get_database_backend(), &sql, values);
    ImportRow::find_by_statement(stmt).all(conn).await
}

/// Store one chunk of an uploaded file.
pub async fn put_chunk<C: Db>(
    conn: &C,
    import_id: Uuid,
    seq: i32,
    data: Vec<u8>,
) -> Result<(), DbErr> {
    exec(
        conn,
        "INSERT INTO import_files (import_id, seq, data) VALUES ($1, $2, $3)",
        vec![import_id.into(), seq.into(), data.into()],
    )
    .await?;
    Ok(())
}

#[derive(FromQueryResult)]
struct Chunk {
    data: Vec<u8>,
}

/// Write an uploaded file's chunks, in order, to `out`; returns the bytes written.
pub async fn copy_file<C: Db>(
    conn: &C,
    import_id: Uuid,
    out: &mut impl Write,
) -> Result<u64, anyhow::Error> {
    let mut seq = 0;
    let mut total = 0u64;
    loop {
        let stmt = statement(
            conn.get_database_backend(),
            "SELECT data FROM import_files WHERE import_id = $1 AND seq = $2",
            vec![import_id.into(), seq.into()],
        );
        let Some(chunk) = Chunk::find_by_statement(stmt).one(conn).await? else {
            return Ok(total);
        };
        out.write_all(&chunk.data)?;
        total += chunk.data.len() as u64;
        seq += 1;
    }
}

/// The import starts (or resumes): what the file turned out to be and its mapping.
pub async fn mark_running<C: Db>(
    conn: &C,
    id: Uuid,
    detected: &str,
    mapping: serde_json::Value,
) -> Result<(), DbErr> {
    let at = conn.now();
    exec(
        conn,
        "UPDATE imports SET state = 'running', detected = $1, mapping = $2, error = NULL, \
         started_at = COALESCE(started_at, $3), updated_at = $3 WHERE id = $4",
        vec![detected.into(), mapping.into(), at.into(), id.into()],
    )
    .await?;
    Ok(())
}

/// Record a batch's counts and how far the file has been read, in the batch's transaction.
pub async fn checkpoint<C: Db>(
    conn: &C,
    id: Uuid,
    counts: &Counts,
    last_row: u64,
    progress: i32,
    rows_expected: Option<i64>,
) -> Result<(), DbErr> {
    exec(
        conn,
        "UPDATE imports SET last_row = $1, rows_read = $2, created = $3, updated = $4, merged = $5, \
         unchanged = $6, rejected = $7, warnings = $8, accounts_created = $9, accounts_updated = $10, \
         progress = $11, rows_expected = $12, updated_at = $13 WHERE id = $14",
        vec![
            i64::try_from(last_row).unwrap_or(i64::MAX).into(),
            counts.rows.into(),
            counts.created.into(),
            counts.updated.into(),
            counts.merged.into(),
            counts.unchanged.into(),
            counts.rejected.into(),
            counts.warnings.into(),
            counts.accounts_created.into(),
            counts.accounts_updated.into(),
            progress.into(),
            rows_expected.into(),
            conn.now().into(),
            id.into(),
        ],
    )
    .await?;
    exec(
        conn,
        "UPDATE jobs SET progress = $1, progress_message = $2, updated_at = $3 \
         WHERE id = (SELECT job_id FROM imports WHERE id = $4)",
        vec![
            progress.into(),
            format!("{} rows read", counts.rows).into(),
            conn.now().into(),
            id.into(),
        ],
    )
    .await?;
    Ok(())
}

/// The import ends: succeeded, or failed with a reason. Its uploaded file is dropped.
pub async fn finish<C: Db>(
    conn: &C,
    id: Uuid,
    state: ImportState,
    error: Option<&str>,
) -> Result<(), DbErr> {
    let at = conn.now();
    let progress = if state == ImportState::Succeeded {
        100
    } else {
        0
    };
    exec(
        conn,
        "UPDATE imports SET state = $1, error = $2, finished_at = $3, updated_at = $3, \
         progress = CASE WHEN $4 = 100 THEN 100 ELSE progress END, \
         rows_expected = CASE WHEN $4 = 100 THEN rows_read ELSE rows_expected END WHERE id = $5",
        vec![
            state.as_str().into(),
            error.map(str::to_owned).into(),
            at.into(),
            progress.into(),
            id.into(),
        ],
    )
    .await?;
    exec(
        conn,
        "DELETE FROM import_files WHERE import_id = $1",
        vec![id.into()],
    )
    .await?;
    Ok(())
}

/// Start over (a dry run that was interrupted is simply run again).
pub async fn reset<C: Db>(conn: &C, id: Uuid) -> Result<(), DbErr> {
    exec(
        conn,
        "DELETE FROM import_rows WHERE import_id = $1",
        vec![id.into()],
    )
    .await?;
    checkpoint(conn, id, &Counts::default(), 1, 0, None).await
}

salesos_platform::table! {
    /// One row's outcome as stored.
    #[derive(Clone, Debug)]
    pub struct RowOutcome in "import_rows" {
        pub row_number: i64,
        pub outcome: String,
        pub entity_type: Option<String>,
        pub entity_id: Option<Uuid>,
        pub column_name: Option<String>,
        pub value: Option<String>,
        /// The rejection's reason, or the warnings of an imported row (one per line).
        pub reason: Option<String>,
        /// The row's cells, kept for rejected rows.
        pub fields: Option<serde_json::Value>,
    }
}

pub async fn insert_rows<C: Db>(
    conn: &C,
    import_id: Uuid,
    rows: Vec<RowOutcome>,
) -> Result<(), DbErr> {
    if rows.is_empty() {
        return Ok(());
    }
    let values = rows
        .into_iter()
        .map(|r| {
            vec![
                import_id.into(),
                r.row_number.into(),
                r.outcome.into(),
                r.entity_type.into(),
                r.entity_id.into(),
                r.column_name.into(),
                r.value.into(),
                r.reason.into(),
                r.fields.into(),
            ]
        })
        .collect();
    exec_rows(
        conn,
        &format!(
            "INSERT INTO import_rows (import_id, {row_outcome_columns}) {{rows}}",
            row_outcome_columns = RowOutcome::COLUMNS
        ),
        values,
    )
    .await?;
    Ok(())
}

/// Rows of an import after `after`, in file order, optionally of one outcome.
pub async fn rows<C: Db>(
    conn: &C,
    import_id: Uuid,
    outcome: Option<Outcome>,
    after: i64,
    limit: u64,
) -> Result<Vec<RowOutcome>, DbErr> {
    let mut sql = format!(
        "SELECT {row_outcome_columns} FROM import_rows WHERE import_id = $1 AND row_number > $2",
        row_outcome_columns = RowOutcome::COLUMNS
    );
    let mut values: Vec<Value> = vec![import_id.into(), after.into()];
    if let Some(o) = outcome {
        sql.push_str(" AND outcome = $3");
        values.push(o.as_str().into());
    }
    sql.push_str(&format!(" ORDER BY row_number LIMIT {limit}"));
    let stmt = statement(conn.get_database_backend(), &sql, values);
    RowOutcome::find_by_statement(stmt).all(conn).await
}

/// The records of `entity_type` (`contact`, `account`) that rows of this import already
/// created or matched, in the order the file first met them (to resume without counting
/// their duplicates as new).
pub async fn touched<C: Db>(
    conn: &C,
    import_id: Uuid,
    entity_type: &str,
) -> Result<Vec<Uuid>, DbErr> {
    #[derive(FromQueryResult)]
    struct Touched {
        entity_id: Uuid,
    }
    let stmt = statement(
        conn.get_database_backend(),
        "SELECT entity_id FROM import_rows WHERE import_id = $1 AND entity_type = $2 \
         AND entity_id IS NOT NULL GROUP BY entity_id ORDER BY MIN(row_number)",
        vec![import_id.into(), entity_type.into()],
    );
    Ok(Touched::find_by_statement(stmt)
        .all(conn)
        .await?
        .into_iter()
        .map(|t| t.entity_id)
        .collect())
}
