//! Running an import: the file is read and its rows prepared on threads of their own, in
//! batches; each batch is matched against what the workspace holds and what earlier rows
//! of the file created, merged by the import's policy, and written in one transaction with
//! every row's outcome and the import's counts. The counts and the last row written move
//! together, so an import stopped at any point resumes after its last batch without
//! duplicates or double counting.

use salesos_platform::store::Db;
use std::{
    collections::{BTreeMap, HashMap},
    hash::{BuildHasherDefault, DefaultHasher, Hash, Hasher},
    path::{Path, PathBuf},
    sync::{
        Arc, Mutex,
        atomic::{AtomicU64, Ordering},
        mpsc as std_mpsc,
    },
};

use std::time::{Duration, Instant};

use sea_orm::{ConnectionTrait, DbErr};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use super::{
    mapping::{Mapping, Unmapped, map_headers},
    prepare::{AccountDraft, Draft, Prepared, RowOptions, prepare},
    read::{self, RawRow, ReadError},
    store::{self as import_store, Counts, ImportRow, Outcome, RowOutcome},
};
use crate::{
    accounts::{
        bulk::{self as account_bulk, AccountRow},
        model::AccountFields,
    },
    contacts::{
        bulk::{self as contact_bulk, ContactRow},
        model::ContactFields,
    },
    platform::{
        runtime::events::{self, NewEvent},
        store::Store,
    },
    text_enum,
};

text_enum! {
    /// What happens when a row matches a record that already exists.
    pub enum Policy {
        /// Leave the existing record as it is.
        Skip = "skip",
        /// The file wins: its non-empty values replace the record's.
        Update = "update",
        /// Only the record's empty fields are filled from the file.
        Fill = "fill",
    }
}

/// The choices an import is made with (stored with it).
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ImportOptions {
    /// Column header → field (`email`, `first_name`, …, `custom:<name>`, `ignore`);
    /// overrides what is detected.
    #[serde(default)]
    pub mapping: BTreeMap<String, String>,
    /// Columns nothing maps: `custom` (kept as custom fields) or `ignore`.
    #[serde(default = "default_unmapped")]
    pub unmapped: String,
    /// ISO country for phone numbers without a country code, e.g. `US`.
    #[serde(default)]
    pub region: Option<String>,
    #[serde(default = "default_policy")]
    pub policy: Policy,
    /// Tags added to every imported contact.
    #[serde(default)]
    pub tags: Vec<String>,
    /// The XLSX sheet to read; the first by default.
    #[serde(default)]
    pub sheet: Option<String>,
}

fn default_unmapped() -> String {
    "custom".into()
}

fn default_policy() -> Policy {
    Policy::Fill
}

impl Default for ImportOptions {
    fn default() -> Self {
        Self {
            mapping: BTreeMap::new(),
            unmapped: default_unmapped(),
            region: None,
            policy: default_policy(),
            tags: Vec::new(),
            sheet: None,
        }
    }
}

impl ImportOptions {
    pub fn unmapped(&self) -> Unmapped {
        if self.unmapped == "ignore" {
            Unmapped::Ignore
        } else {
            Unmapped::Custom
        }
    }

    /// Every wrong option, by name.
    pub fn check(&self) -> Vec<(String, String)> {
        let mut e = Vec::new();
        if self.unmapped != "custom" && self.unmapped != "ignore" {
            e.push(("unmapped".into(), "must be `custom` or `ignore`".into()));
        }
        if let Some(r) = &self.region
            && super::normalize::phone("+1 415 555 0100", Some(r)).is_err()
        {
            e.push((
                "region".into(),
                format!("`{r}` is not an ISO country code (e.g. US, GB, DE)"),
            ));
        }
        for (header, target) in &self.mapping {
            if let Err(err) = super::mapping::Target::parse(target) {
                e.push((format!("mapping.{header}"), err.0));
            }
        }
        if let Err(err) = crate::contacts::model::clean_tags(self.tags.clone()) {
            e.push(("tags".into(), err));
        }
        e
    }
}

/// Why an import stopped.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// The file or the options are wrong: trying again will not help.
    #[error("{0}")]
    Input(String),
    /// The database or the machine failed: the import resumes when retried.
    #[error(transparent)]
    Store(#[from] DbErr),
    #[error(transparent)]
    Other(#[from] anyhow::Error),
}

/// Rows per transaction.
const BATCH: usize = 4096;

/// A matching key: which kind (email, name, domain) and the value, hashed to 96 bits, so
/// that the keys of a million-row import take a few dozen megabytes. Two keys of the
/// 2 million such an import holds collide with a chance of about 2⁻⁵⁵.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
struct Key([u32; 3]);

impl Hash for Key {
    /// A key is a hash already: its first 64 bits serve as its hash in a table.
    fn hash<H: Hasher>(&self, state: &mut H) {
        let [a, b, _] = self.0;
        state.write_u64(u64::from(a) | (u64::from(b) << 32));
    }
}

fn key(kind: &str, value: &str) -> Key {
    let mut a = DefaultHasher::new();
    (kind, value).hash(&mut a);
    let mut b = DefaultHasher::new();
    (value, kind, 0x5a_u8).hash(&mut b);
    let (a, b) = (a.finish(), b.finish());
    // Truncations: each part keeps 32 of the hash's bits.
    #[allow(clippy::cast_possible_truncation)]
    Key([a as u32, (a >> 32) as u32, b as u32])
}

/// Takes a [`Key`]'s 64 bits as they are, where SipHash over them again would cost a few
/// per cent of an import's CPU.
#[derive(Default)]
struct KeyHasher(u64);

impl Hasher for KeyHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write_u64(&mut self, n: u64) {
        self.0 = n;
    }

    fn write(&mut self, bytes: &[u8]) {
        // Only keys are hashed here, through `write_u64`; anything else still spreads.
        for b in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(*b);
        }
    }
}

/// Matching keys to record ids, compactly: 16 bytes an entry where a map to the ids
/// themselves takes 32, and a record met by two keys (email and name) is stored once.
#[derive(Default)]
struct KeyMap {
    slots: HashMap<Key, u32, BuildHasherDefault<KeyHasher>>,
    ids: Vec<Uuid>,
}

impl KeyMap {
    fn get(&self, k: &Key) -> Option<Uuid> {
        let slot = *self.slots.get(k)?;
        self.ids.get(usize::try_from(slot).ok()?).copied()
    }

    fn contains_key(&self, k: &Key) -> bool {
        self.slots.contains_key(k)
    }

    /// The slot of `id`: the last one when the same record is remembered again at once.
    fn slot(&mut self, id: Uuid) -> u32 {
        let last = self.ids.len().checked_sub(1);
        match last {
            Some(i) if self.ids.get(i) == Some(&id) => u32::try_from(i).unwrap_or(u32::MAX),
            _ => {
                self.ids.push(id);
                u32::try_from(self.ids.len() - 1).unwrap_or(u32::MAX)
            }
        }
    }

    fn insert(&mut self, k: Key, id: Uuid) {
        if self.get(&k) == Some(id) {
            return;
        }
        let slot = self.slot(id);
        self.slots.insert(k, slot);
    }

    /// Remember `k` for `id` unless it already names a record.
    fn insert_if_absent(&mut self, k: Key, id: Uuid) {
        if !self.slots.contains_key(&k) {
            self.insert(k, id);
        }
    }
}

fn contact_key(f: &ContactFields) -> Option<Key> {
    match &f.email {
        Some(e) => Some(key("email", e)),
        None => f.name_key().map(|n| key("name", &n)),
    }
}

impl Seen {
    /// Make room for the contacts of `rows` more rows (an email and a name key each).
    fn reserve(&mut self, rows: usize) {
        self.contacts.slots.reserve(rows.saturating_mul(2));
        self.contacts.ids.reserve(rows);
    }

    /// Remember a contact by every key a later row may find it by: its email, and its
    /// name + account (which rows without an email match on). The first contact of a name
    /// keeps it.
    fn contact(&mut self, f: &ContactFields, id: Uuid) {
        if let Some(e) = &f.email {
            self.contacts.insert(key("email", e), id);
        }
        if let Some(n) = f.name_key() {
            self.contacts.insert_if_absent(key("name", &n), id);
        }
    }
}

/// What the import has met so far: matching keys to record ids.
#[derive(Default)]
struct Seen {
    contacts: KeyMap,
    accounts: KeyMap,
}

/// Reads the file and prepares its rows off the async runtime, in order.
struct Prepared_ {
    seq: u64,
    /// Bytes of the file read when the batch was cut.
    read_bytes: u64,
    rows: Vec<Prepared>,
}

/// Run (or resume) an import to its end. `progress` hears the percentage after each batch.
pub async fn run(
    store: &Store,
    import_id: Uuid,
    progress: &(dyn Fn(i32, String) + Send + Sync),
) -> Result<Counts, RunError> {
    let import = import_store::get_any(store.conn(), import_id)
        .await?
        .ok_or_else(|| RunError::Input(format!("import {import_id} does not exist")))?;
    if import.state == "succeeded" {
        return Ok(import.counts());
    }
    let opts: ImportOptions = serde_json::from_value(import.options.clone())
        .map_err(|e| RunError::Input(format!("the import's options are unreadable: {e}")))?;
    let (path, temporary) = match &import.source_path {
        Some(p) => (PathBuf::from(p), false),
        None => (materialize(store, &import).await?, true),
    };
    let outcome = run_file(store, &import, &opts, &path, progress).await;
    if temporary {
        let _ = std::fs::remove_file(&path);
    }
    outcome
}

/// Copy an uploaded file out of the database to a private temporary file.
async fn materialize(store: &Store, import: &ImportRow) -> Result<PathBuf, RunError> {
    let path = std::env::temp_dir().join(format!(
        "salesos-import-{}-{}",
        import.id,
        std::process::id()
    ));
    let mut file = std::io::BufWriter::new(
        std::fs::File::create(&path)
            .map_err(|e| anyhow::anyhow!("cannot create {}: {e}", path.display()))?,
    );
    import_store::copy_file(store.conn(), import.id, &mut file).await?;
    std::io::Write::flush(&mut file).map_err(anyhow::Error::from)?;
    Ok(path)
}

async fn run_file(
    store: &Store,
    import: &ImportRow,
    opts: &ImportOptions,
    path: &Path,
    progress: &(dyn Fn(i32, String) + Send + Sync),
) -> Result<Counts, RunError> {
    let consumed = Arc::new(AtomicU64::new(0));
    let table = {
        let (owned, sheet, consumed) = (path.to_owned(), opts.sheet.clone(), consumed.clone());
        tokio::task::spawn_blocking(move || read::open_counted(&owned, sheet.as_deref(), consumed))
            .await
            .map_err(anyhow::Error::from)?
            .map_err(|e| RunError::Input(shown_error(e, &import.file_name, path)))?
    };
    let explicit: HashMap<String, String> = opts
        .mapping
        .iter()
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    let mapping = map_headers(&table.headers, &explicit, opts.unmapped()).map_err(|errs| {
        RunError::Input(
            errs.iter()
                .map(|e| e.0.clone())
                .collect::<Vec<_>>()
                .join("; "),
        )
    })?;
    let mut seen = Seen::default();
    let mut counts = import.counts();
    let mut resume_after = u64::try_from(import.last_row).unwrap_or(1);
    if import.dry_run && resume_after > 1 {
        // A dry run writes nothing but its report: it starts over.
        import_store::reset(store.conn(), import.id).await?;
        counts = Counts::default();
        resume_after = 1;
    } else if resume_after > 1 {
        let ws = import.workspace_id;
        let ids = import_store::touched(store.conn(), import.id, "contact").await?;
        let mut rows: HashMap<Uuid, ContactRow> =
            contact_bulk::find_by_ids(store.conn(), ws, ids.clone())
                .await?
                .into_iter()
                .map(|r| (r.id, r))
                .collect();
        for c in ids.iter().filter_map(|id| rows.remove(id)) {
            if let Some(e) = &c.email {
                seen.contacts.insert(key("email", e), c.id);
            }
            if let Some(n) = c.fields().name_key() {
                seen.contacts.insert_if_absent(key("name", &n), c.id);
            }
        }
        let ids = import_store::touched(store.conn(), import.id, "account").await?;
        for a in account_bulk::find_by_ids(store.conn(), ws, ids).await? {
            if let Some(d) = &a.domain {
                seen.accounts.insert(key("domain", d), a.id);
            }
            let n = crate::accounts::model::company_key(&a.name);
            if !n.is_empty() {
                seen.accounts.insert(key("company", &n), a.id);
            }
        }
        tracing::info!(import_id = %import.id, after_row = resume_after, "resuming import");
    }
    import_store::mark_running(
        store.conn(),
        import.id,
        &table.detected,
        serde_json::to_value(&mapping).unwrap_or_default(),
    )
    .await?;

    let row_opts = RowOptions {
        region: opts.region.clone(),
        tags: opts.tags.clone(),
    };
    let mut batches = spawn_readers(
        table,
        mapping,
        row_opts,
        resume_after,
        import.file_name.clone(),
        consumed.clone(),
    );
    let bulk = store.bulk_writer().await?;
    let mut writer = Writer {
        store: &bulk,
        import,
        policy: opts.policy,
        seen,
        counts,
        phases: Phases::default(),
    };
    let file_size = u64::try_from(import.file_size).unwrap_or(0).max(1);
    let mut pending: BTreeMap<u64, (u64, Vec<Prepared>)> = BTreeMap::new();
    let mut next = 0u64;
    // PostgreSQL plans the batches' lookups by its statistics of the tables, which
    // autovacuum refreshes late or (where it is off) never: a plan made for an empty
    // table reads the whole workspace for every lookup. The import refreshes them itself
    // as the tables grow fourfold.
    let refresh_statistics = store.backend() == sea_orm::DbBackend::Postgres && !import.dry_run;
    let mut analyze_at = i64::try_from(BATCH).unwrap_or(i64::MAX);
    let (mut waited, mut writing) = (Duration::ZERO, Duration::ZERO);
    let mut clock = Instant::now();
    while let Some(item) = batches.recv().await {
        waited += clock.elapsed();
        let batch = item.map_err(RunError::Input)?;
        if batch.seq == 0 {
            // Room for the keys of the rows to come at once: growing the tables doubles
            // them, and for a moment holds the old beside the new.
            let last_row = batch.rows.iter().map(|p| p.row).max().unwrap_or(0);
            writer
                .seen
                .reserve(estimated_rows(last_row, batch.read_bytes, file_size));
        }
        pending.insert(batch.seq, (batch.read_bytes, batch.rows));
        while let Some((read_bytes, rows)) = pending.remove(&next) {
            next += 1;
            // Progress is what is written: the part of the file up to the end of this
            // batch, not what the readers ahead of the writer have consumed.
            let written = Written {
                read_bytes,
                file_size,
            };
            let t = Instant::now();
            writer.apply(rows, written).await?;
            if refresh_statistics && writer.counts.rows >= analyze_at {
                store
                    .conn()
                    .execute_unprepared("ANALYZE contacts, accounts")
                    .await?;
                analyze_at = analyze_at.saturating_mul(4);
            }
            writing += t.elapsed();
            progress(
                written.percent(),
                format!("{} rows written", writer.counts.rows),
            );
        }
        clock = Instant::now();
    }
    tracing::info!(
        import_id = %import.id,
        rows = writer.counts.rows,
        waiting_for_rows_ms = waited.as_millis() as u64,
        writing_ms = writing.as_millis() as u64,
        phases = writer.phases.report(),
        "import read"
    );
    Ok(writer.counts)
}

/// How far the writer has come through the file: the bytes up to the end of the batch it
/// wrote last.
#[derive(Clone, Copy)]
struct Written {
    read_bytes: u64,
    file_size: u64,
}

impl Written {
    /// 0 to 99: 100 is for the import that has finished.
    fn percent(self) -> i32 {
        i32::try_from((self.read_bytes * 99 / self.file_size.max(1)).min(99)).unwrap_or(99)
    }

    /// The rows the whole file holds, judged by the `rows` written so far.
    fn rows_expected(self, rows: i64) -> i64 {
        let rows = u64::try_from(rows).unwrap_or(0);
        i64::try_from(estimated_rows(rows, self.read_bytes, self.file_size)).unwrap_or(i64::MAX)
    }
}

/// The rows a file of `file_size` bytes holds, judged by its first `read_bytes` holding
/// `rows` rows; capped, so that an odd first batch cannot reserve gigabytes.
fn estimated_rows(rows: u64, read_bytes: u64, file_size: u64) -> usize {
    const CAP: u64 = 20_000_000;
    let estimate = if read_bytes == 0 {
        rows
    } else {
        u64::try_from(u128::from(rows) * u128::from(file_size) / u128::from(read_bytes))
            .unwrap_or(CAP)
    };
    usize::try_from(estimate.min(CAP)).unwrap_or(0)
}

fn shown_error(e: ReadError, file_name: &str, path: &Path) -> String {
    // Uploaded files are read from a temporary copy: name the file the user sent.
    e.to_string()
        .replace(&path.display().to_string(), file_name)
}

/// Start the reader thread and the preparing threads; batches arrive numbered (they may
/// arrive out of order when several threads prepare).
fn spawn_readers(
    table: read::Table,
    mapping: Mapping,
    opts: RowOptions,
    after_row: u64,
    file_name: String,
    consumed: Arc<AtomicU64>,
) -> tokio::sync::mpsc::Receiver<Result<Prepared_, String>> {
    // Short queues: the writer sets the pace, and each batch waiting in one holds some
    // ten megabytes.
    let (out, rx) = tokio::sync::mpsc::channel::<Result<Prepared_, String>>(2);
    let (raw_tx, raw_rx) = std_mpsc::sync_channel::<(u64, u64, Vec<Result<RawRow, ReadError>>)>(1);
    let reader_out = out.clone();
    std::thread::spawn(move || {
        let mut seq = 0;
        let mut batch = Vec::with_capacity(BATCH);
        for item in table {
            match &item {
                Ok(r) if r.row <= after_row => continue,
                Err(ReadError::Row { row, .. }) if *row <= after_row => continue,
                Err(ReadError::Row { .. }) | Ok(_) => batch.push(item),
                Err(e) => {
                    let _ = reader_out.blocking_send(Err(e.to_string()));
                    return;
                }
            }
            if batch.len() == BATCH {
                let read = consumed.load(Ordering::Relaxed);
                if raw_tx
                    .send((seq, read, std::mem::take(&mut batch)))
                    .is_err()
                {
                    return;
                }
                seq += 1;
            }
        }
        if !batch.is_empty() {
            let _ = raw_tx.send((seq, consumed.load(Ordering::Relaxed), batch));
        }
    });
    let raw_rx = Arc::new(Mutex::new(raw_rx));
    let mapping = Arc::new(mapping);
    let threads = std::thread::available_parallelism().map_or(2, |n| n.get().clamp(1, 4));
    for _ in 0..threads {
        let (raw_rx, out, mapping, opts, file_name) = (
            raw_rx.clone(),
            out.clone(),
            mapping.clone(),
            opts.clone(),
            file_name.clone(),
        );
        std::thread::spawn(move || {
            loop {
                let next = match raw_rx.lock() {
                    Ok(rx) => rx.recv(),
                    Err(_) => return,
                };
                let Ok((seq, read_bytes, raw)) = next else {
                    return;
                };
                let rows = raw
                    .into_iter()
                    .map(|item| match item {
                        Ok(r) => prepare(&mapping, r, &opts),
                        Err(ReadError::Row { row, reason, .. }) => Prepared {
                            row,
                            result: Err(super::prepare::Rejection {
                                column: String::new(),
                                value: String::new(),
                                reason: format!("{file_name} row {row} cannot be read: {reason}"),
                                fields: Vec::new(),
                            }),
                        },
                        Err(e) => Prepared {
                            row: 0,
                            result: Err(super::prepare::Rejection {
                                column: String::new(),
                                value: String::new(),
                                reason: e.to_string(),
                                fields: Vec::new(),
                            }),
                        },
                    })
                    .collect();
                if out
                    .blocking_send(Ok(Prepared_ {
                        seq,
                        read_bytes,
                        rows,
                    }))
                    .is_err()
                {
                    return;
                }
            }
        });
    }
    rx
}

/// A record the batch creates or changes.
struct Pending<T> {
    fields: T,
    new: bool,
    /// Differs from what is stored.
    changed: bool,
}

struct Writer<'a> {
    store: &'a Store,
    import: &'a ImportRow,
    policy: Policy,
    seen: Seen,
    counts: Counts,
    phases: Phases,
}

/// Where the writer's time goes, phase by phase, summed over batches (logged at the end).
#[derive(Default)]
struct Phases {
    since: Option<Instant>,
    spent: Vec<(&'static str, Duration)>,
}

impl Phases {
    /// The time since the previous lap, to `phase`.
    fn lap(&mut self, phase: &'static str) {
        let now = Instant::now();
        let spent = self.since.map_or(Duration::ZERO, |t| now - t);
        self.since = Some(now);
        match self.spent.iter_mut().find(|(p, _)| *p == phase) {
            Some((_, d)) => *d += spent,
            None => self.spent.push((phase, spent)),
        }
    }

    fn report(&self) -> String {
        self.spent
            .iter()
            .map(|(p, d)| format!("{p}={}ms", d.as_millis()))
            .collect::<Vec<_>>()
            .join(" ")
    }
}

impl Writer<'_> {
    /// Match, merge and write one batch, with its outcomes and the new counts, in one
    /// transaction.
    async fn apply(&mut self, batch: Vec<Prepared>, written: Written) -> Result<(), RunError> {
        let dry = self.import.dry_run;
        let ws = self.import.workspace_id;
        self.phases.lap("idle");
        let txn = self.store.write().await?;
        self.phases.lap("begin");
        let Some(last_row) = batch.iter().map(|p| p.row).max() else {
            return Ok(());
        };
        let postgres = txn.get_database_backend() == sea_orm::DbBackend::Postgres;
        if postgres {
            // The lookups are planned with their values each time. A generic plan, which
            // PostgreSQL may keep after five runs, is blind to the workspace and to how
            // far the tables have grown since: one kept while the first batches met an
            // empty table scanned it whole for every batch after (11 minutes instead of
            // seconds for 300,000 rows). Only the lookups: the foreign-key checks of the
            // inserts run a saved plan per row, and planning each of those again cost a
            // fifth of the server's time.
            txn.execute_unprepared("SET LOCAL plan_cache_mode = force_custom_plan")
                .await?;
        }

        // Accounts first: contacts link to them.
        let found = self.find_accounts(&txn, &batch).await?;
        self.phases.lap("find_accounts");
        let mut accounts: HashMap<Uuid, Pending<AccountFields>> = HashMap::new();
        let mut account_of: Vec<Option<(Uuid, Outcome)>> = Vec::with_capacity(batch.len());
        for p in &batch {
            let hit = match &p.result {
                Ok(Draft {
                    account: Some(a), ..
                }) => Some(self.resolve_account(a, &found, &mut accounts)),
                _ => None,
            };
            account_of.push(hit);
        }

        // Then contacts, with their account ids.
        let mut drafts: Vec<Option<ContactFields>> = batch
            .iter()
            .zip(&account_of)
            .map(|(p, acct)| {
                let mut c = p.result.as_ref().ok()?.contact.clone()?;
                c.account_id = acct.map(|(id, _)| id);
                Some(c)
            })
            .collect();
        let existing = self.find_contacts(&txn, &drafts).await?;
        if postgres {
            txn.execute_unprepared("SET LOCAL plan_cache_mode = DEFAULT")
                .await?;
        }
        self.phases.lap("find_contacts");
        let mut contacts: HashMap<Uuid, Pending<ContactFields>> = HashMap::new();
        let mut outcomes = Vec::with_capacity(batch.len());
        let mut events_created = Vec::new();
        let mut events_updated = Vec::new();
        for ((p, acct), draft) in batch.iter().zip(&account_of).zip(drafts.iter_mut()) {
            let (outcome, entity) = match (&p.result, draft.take()) {
                (Err(_), _) => (Outcome::Rejected, None),
                (Ok(_), Some(c)) => {
                    let (o, id) = self.resolve_contact(c, &existing, &mut contacts);
                    (o, Some(("contact", id)))
                }
                (Ok(_), None) => match acct {
                    Some((id, o)) => (*o, Some(("account", *id))),
                    None => (Outcome::Rejected, None),
                },
            };
            self.counts.add(outcome);
            let mut row = RowOutcome {
                row_number: i64::try_from(p.row).unwrap_or(i64::MAX),
                outcome: outcome.as_str().to_owned(),
                entity_type: entity.map(|(t, _)| t.to_owned()),
                entity_id: entity.map(|(_, id)| id),
                column_name: None,
                value: None,
                reason: None,
                fields: None,
            };
            match &p.result {
                Err(r) => {
                    row.column_name = Some(r.column.clone()).filter(|c| !c.is_empty());
                    row.value = Some(r.value.clone()).filter(|_| !r.column.is_empty());
                    row.reason = Some(r.reason.clone());
                    row.fields = Some(serde_json::json!(r.fields));
                }
                Ok(d) if !d.warnings.is_empty() => {
                    self.counts.warnings += 1;
                    row.reason = Some(d.warnings.join("\n"));
                }
                Ok(_) => {}
            }
            outcomes.push(row);
        }

        self.phases.lap("resolve");
        if !dry {
            let at = self.store.now();
            let mut new_accounts = Vec::new();
            for (id, a) in &accounts {
                if a.new {
                    new_accounts.push((*id, &a.fields));
                } else if a.changed {
                    account_bulk::update(&txn, ws, *id, &a.fields, at).await?;
                }
            }
            self.phases.lap("account_values");
            account_bulk::insert(&txn, ws, &new_accounts, at).await?;
            self.phases.lap("insert_accounts");
            let mut new_contacts = Vec::new();
            for (id, c) in &contacts {
                if c.new {
                    new_contacts.push((*id, &c.fields));
                    events_created.push(*id);
                } else if c.changed {
                    contact_bulk::update(&txn, ws, *id, &c.fields, at).await?;
                    events_updated.push(*id);
                }
            }
            self.phases.lap("contact_values");
            contact_bulk::insert(&txn, ws, &new_contacts, at).await?;
            self.phases.lap("insert_contacts");
            let mut bulk = Vec::new();
            for (event_type, mut ids) in [
                (crate::topics::CONTACTS_IMPORTED.name, events_created),
                (crate::topics::CONTACTS_REIMPORTED.name, events_updated),
            ] {
                if ids.is_empty() {
                    continue;
                }
                ids.sort_unstable();
                bulk.push(NewEvent {
                    workspace_id: ws,
                    event_type,
                    entity_type: "import",
                    entity_id: Some(self.import.id.to_string()),
                    source: "import",
                    data: serde_json::to_value(crate::topics::ContactsImported {
                        import_id: self.import.id,
                        count: ids.len(),
                        contact_ids: &ids,
                    })
                    .unwrap_or_default(),
                });
            }
            if !bulk.is_empty() {
                events::emit_many(&txn, bulk).await?;
            }
        }
        self.phases.lap("events");
        import_store::insert_rows(&txn, self.import.id, outcomes).await?;
        self.phases.lap("insert_rows");
        import_store::checkpoint(
            &txn,
            self.import.id,
            &self.counts,
            last_row,
            written.percent(),
            Some(written.rows_expected(self.counts.rows)),
        )
        .await?;
        self.phases.lap("checkpoint");
        txn.commit().await?;
        self.phases.lap("commit");
        Ok(())
    }

    /// Existing accounts the batch's companies may be: by domain, and by name key.
    async fn find_accounts<C: Db>(
        &self,
        conn: &C,
        batch: &[Prepared],
    ) -> Result<Found<AccountRow>, DbErr> {
        let mut domains = Vec::new();
        let mut names = Vec::new();
        for p in batch {
            if let Ok(Draft {
                account: Some(a), ..
            }) = &p.result
            {
                // What `resolve_account` will look for: an account this import met, by
                // domain (or by name when the row has none), else a stored one by domain,
                // else by name.
                match &a.fields.domain {
                    Some(d) if !self.seen.accounts.contains_key(&key("domain", d)) => {
                        domains.push(d.clone());
                        if !a.key.is_empty() {
                            names.push(a.key.clone());
                        }
                    }
                    Some(_) => {}
                    None if !a.key.is_empty()
                        && !self.seen.accounts.contains_key(&key("company", &a.key)) =>
                    {
                        names.push(a.key.clone())
                    }
                    None => {}
                }
            }
        }
        let mut found = Found::default();
        let ws = self.import.workspace_id;
        for row in account_bulk::find_by_domains(conn, ws, domains).await? {
            if let Some(d) = row.domain.clone() {
                found.by_key.entry(key("domain", &d)).or_insert(row);
            }
        }
        for row in account_bulk::find_by_name_keys(conn, ws, names).await? {
            let k = key("company", &crate::accounts::model::company_key(&row.name));
            // The oldest account of a name wins.
            match found.by_key.get(&k) {
                Some(old) if old.created_at <= row.created_at => {}
                _ => {
                    found.by_key.insert(k, row);
                }
            }
        }
        Ok(found)
    }

    fn resolve_account(
        &mut self,
        a: &AccountDraft,
        found: &Found<AccountRow>,
        pending: &mut HashMap<Uuid, Pending<AccountFields>>,
    ) -> (Uuid, Outcome) {
        let by_domain = a.fields.domain.as_deref().map(|d| key("domain", d));
        let by_name = (!a.key.is_empty()).then(|| key("company", &a.key));
        let remember = |seen: &mut Seen, id: Uuid| {
            for k in [by_domain, by_name].into_iter().flatten() {
                seen.accounts.insert_if_absent(k, id);
            }
        };
        // Met earlier in this file.
        let earlier = match by_domain {
            Some(k) => self.seen.accounts.get(&k),
            None => by_name.and_then(|k| self.seen.accounts.get(&k)),
        };
        if let Some(id) = earlier {
            if let Some(p) = pending.get_mut(&id) {
                let merged = merge_account(&p.fields, &a.fields, self.policy == Policy::Update);
                p.changed |= merged != p.fields;
                p.fields = merged;
            }
            remember(&mut self.seen, id);
            return (id, Outcome::Merged);
        }
        // Already in the workspace: by domain, or by name when the stored one has no
        // domain or the same.
        let stored = by_domain.and_then(|k| found.by_key.get(&k)).or_else(|| {
            by_name.and_then(|k| found.by_key.get(&k)).filter(|row| {
                row.domain.is_none() || row.domain == a.fields.domain || a.fields.domain.is_none()
            })
        });
        if let Some(row) = stored {
            remember(&mut self.seen, row.id);
            let before = row.fields();
            if self.policy == Policy::Skip {
                return (row.id, Outcome::Unchanged);
            }
            let after = merge_account(&before, &a.fields, self.policy == Policy::Update);
            if after == before {
                return (row.id, Outcome::Unchanged);
            }
            self.counts.accounts_updated += 1;
            pending.insert(
                row.id,
                Pending {
                    fields: after,
                    new: false,
                    changed: true,
                },
            );
            return (row.id, Outcome::Updated);
        }
        let id = self.store.clock().new_id();
        remember(&mut self.seen, id);
        self.counts.accounts_created += 1;
        pending.insert(
            id,
            Pending {
                fields: a.fields.clone(),
                new: true,
                changed: true,
            },
        );
        (id, Outcome::Created)
    }

    /// Existing contacts the batch's rows may be: by email, by name key, and the ones
    /// earlier batches of this import wrote.
    async fn find_contacts<C: Db>(
        &self,
        conn: &C,
        drafts: &[Option<ContactFields>],
    ) -> Result<Found<ContactRow>, DbErr> {
        let mut emails = Vec::new();
        let mut names = Vec::new();
        let mut ids = Vec::new();
        for c in drafts.iter().flatten() {
            let Some(k) = contact_key(c) else { continue };
            match self.seen.contacts.get(&k) {
                Some(id) => ids.push(id),
                None => match &c.email {
                    Some(e) => emails.push(e.clone()),
                    None => names.extend(c.name_key()),
                },
            }
        }
        let ws = self.import.workspace_id;
        let mut found = Found::default();
        let mut by_id = HashMap::new();
        for row in contact_bulk::find_by_emails(conn, ws, emails).await? {
            if let Some(e) = &row.email {
                found.by_key.insert(key("email", e), row);
            }
        }
        for row in contact_bulk::find_by_name_keys(conn, ws, names).await? {
            if let Some(n) = row.fields().name_key() {
                match found.by_key.get(&key("name", &n)) {
                    Some(old) if old.created_at <= row.created_at => {}
                    _ => {
                        found.by_key.insert(key("name", &n), row);
                    }
                }
            }
        }
        if !self.import.dry_run {
            for row in contact_bulk::find_by_ids(conn, ws, ids).await? {
                by_id.insert(row.id, row);
            }
        }
        found.by_id = by_id;
        Ok(found)
    }

    fn resolve_contact(
        &mut self,
        c: ContactFields,
        found: &Found<ContactRow>,
        pending: &mut HashMap<Uuid, Pending<ContactFields>>,
    ) -> (Outcome, Uuid) {
        let overwrite = self.policy == Policy::Update;
        let Some(k) = contact_key(&c) else {
            // Prepared rows always have an email or a name.
            let id = self.store.clock().new_id();
            pending.insert(
                id,
                Pending {
                    fields: c,
                    new: true,
                    changed: true,
                },
            );
            return (Outcome::Created, id);
        };
        if let Some(id) = self.seen.contacts.get(&k) {
            // A duplicate of an earlier row: merge into what that row made.
            let base = match pending.remove(&id) {
                Some(p) => Some(p),
                None => found.by_id.get(&id).map(|row| Pending {
                    fields: row.fields(),
                    new: false,
                    changed: false,
                }),
            };
            if let Some(mut p) = base {
                let merged = merge_contact(&p.fields, &c, overwrite);
                p.changed |= merged != p.fields;
                p.fields = merged;
                pending.insert(id, p);
            }
            return (Outcome::Merged, id);
        }
        if let Some(row) = found.by_key.get(&k) {
            let before = row.fields();
            self.seen.contact(&before, row.id);
            if self.policy == Policy::Skip {
                return (Outcome::Unchanged, row.id);
            }
            let after = merge_contact(&before, &c, overwrite);
            if after == before {
                return (Outcome::Unchanged, row.id);
            }
            pending.insert(
                row.id,
                Pending {
                    fields: after,
                    new: false,
                    changed: true,
                },
            );
            return (Outcome::Updated, row.id);
        }
        let id = self.store.clock().new_id();
        self.seen.contact(&c, id);
        pending.insert(
            id,
            Pending {
                fields: c,
                new: true,
                changed: true,
            },
        );
        (Outcome::Created, id)
    }
}

/// Stored records found for a batch, by matching key (and by id for records of earlier
/// batches).
struct Found<T> {
    by_key: HashMap<Key, T>,
    by_id: HashMap<Uuid, T>,
}

impl<T> Default for Found<T> {
    fn default() -> Self {
        Self {
            by_key: HashMap::new(),
            by_id: HashMap::new(),
        }
    }
}

/// A contact with a row's values merged in: the row's non-empty values replace the
/// record's (`overwrite`), or only fill its empty fields. Custom fields merge key by key;
/// tags are added; an email is never replaced (it is what matched), nor the source (where
/// the record first came from).
pub fn merge_contact(base: &ContactFields, row: &ContactFields, overwrite: bool) -> ContactFields {
    let mut out = base.clone();
    macro_rules! take {
        ($($f:ident),+) => {
            $(
                if row.$f.is_some() && (overwrite || out.$f.is_none()) {
                    out.$f = row.$f.clone();
                }
            )+
        };
    }
    take!(
        account_id,
        first_name,
        last_name,
        phone,
        linkedin_url,
        title,
        seniority,
        company,
        timezone,
        country,
        city
    );
    if out.email.is_none() {
        out.email = row.email.clone();
    }
    for (k, v) in &row.custom_fields {
        if overwrite || !out.custom_fields.contains_key(k) {
            out.custom_fields.insert(k.clone(), v.clone());
        }
    }
    for t in &row.tags {
        if !out.tags.iter().any(|o| o.eq_ignore_ascii_case(t)) {
            out.tags.push(t.clone());
        }
    }
    out
}

/// An account with a row's company values merged in (see [`merge_contact`]). The name
/// and domain are what matched and stay; an empty domain is filled.
pub fn merge_account(base: &AccountFields, row: &AccountFields, overwrite: bool) -> AccountFields {
    let mut out = base.clone();
    if out.domain.is_none() {
        out.domain = row.domain.clone();
    }
    if row.industry.is_some() && (overwrite || out.industry.is_none()) {
        out.industry = row.industry.clone();
    }
    if row.company_size.is_some() && (overwrite || out.company_size.is_none()) {
        out.company_size = row.company_size;
    }
    if row.location.is_some() && (overwrite || out.location.is_none()) {
        out.location = row.location.clone();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn progress_is_what_is_written_and_the_total_is_judged_from_it() {
        let w = Written {
            read_bytes: 40_000,
            file_size: 100_000,
        };
        assert_eq!(
            w.percent(),
            39,
            "40% of the file written, not what readers consumed"
        );
        assert_eq!(w.rows_expected(400), 1000);
        let end = Written {
            read_bytes: 100_000,
            file_size: 100_000,
        };
        assert_eq!(end.percent(), 99, "100 is for the import that has finished");
        assert_eq!(end.rows_expected(997), 997);
    }

    fn contact(json: serde_json::Value) -> ContactFields {
        let input = serde_json::from_value(json).expect("input");
        ContactFields::default().apply(input).expect("valid")
    }

    #[test]
    fn fill_keeps_values_update_replaces_them_and_tags_add_up() {
        let base = contact(serde_json::json!({
            "email": "a@x.com", "title": "CEO", "custom_fields": {"k": "old"}, "tags": ["vip"]
        }));
        let row = contact(serde_json::json!({
            "email": "a@x.com", "title": "CTO", "city": "Paris",
            "custom_fields": {"k": "new", "j": "1"}, "tags": ["Vip", "webinar"]
        }));
        let filled = merge_contact(&base, &row, false);
        assert_eq!(filled.title.as_deref(), Some("CEO"));
        assert_eq!(filled.city.as_deref(), Some("Paris"));
        assert_eq!(filled.custom_fields.get("k"), Some(&"old".into()));
        assert_eq!(filled.custom_fields.get("j"), Some(&"1".into()));
        assert_eq!(filled.tags, ["vip", "webinar"]);
        let updated = merge_contact(&base, &row, true);
        assert_eq!(updated.title.as_deref(), Some("CTO"));
        assert_eq!(updated.custom_fields.get("k"), Some(&"new".into()));
        // Merging what is already there changes nothing.
        assert_eq!(merge_contact(&updated, &row, true), updated);
    }

    #[test]
    fn keys_tell_kinds_apart() {
        assert_ne!(key("email", "a"), key("name", "a"));
        assert_eq!(key("email", "a@x.com"), key("email", "a@x.com"));
    }

    #[test]
    fn key_map_finds_each_record_by_its_keys_and_stores_it_once() {
        let mut m = KeyMap::default();
        let (ada, bob) = (Uuid::new_v4(), Uuid::new_v4());
        let (ada_email, ada_name) = (key("email", "ada@x.com"), key("name", "ada|l|x"));
        m.insert(ada_email, ada);
        m.insert_if_absent(ada_name, ada);
        m.insert(key("email", "bob@x.com"), bob);
        // The first record of a name keeps it; an email is re-pointed.
        m.insert_if_absent(ada_name, bob);
        m.insert(ada_email, ada);
        assert_eq!(m.get(&ada_email), Some(ada));
        assert_eq!(m.get(&ada_name), Some(ada));
        assert_eq!(m.get(&key("email", "bob@x.com")), Some(bob));
        assert_eq!(m.get(&key("email", "eve@x.com")), None);
        assert!(m.contains_key(&ada_name) && !m.contains_key(&key("name", "eve")));
        assert_eq!(m.ids, vec![ada, bob], "each record once");
        m.insert(ada_email, bob);
        assert_eq!(m.get(&ada_email), Some(bob));
        assert_eq!(m.get(&ada_name), Some(ada));
    }

    #[test]
    fn a_million_keys_do_not_collide() {
        let mut m = KeyMap::default();
        let id = Uuid::new_v4();
        for i in 0..1_000_000 {
            m.insert(
                key("email", &format!("person{i}@company{}.example", i % 5000)),
                id,
            );
        }
        assert_eq!(m.slots.len(), 1_000_000);
    }

    #[test]
    fn row_estimates_scale_the_first_batch_to_the_file() {
        assert_eq!(estimated_rows(4096, 409_600, 100_000_000), 1_000_000);
        // An import resumed at row 500,001: its first batch ends at row 504,096.
        assert_eq!(estimated_rows(504_096, 50_409_600, 100_000_000), 1_000_000);
        assert_eq!(estimated_rows(10, 0, 1000), 10);
        assert_eq!(estimated_rows(1, 1, u64::MAX), 20_000_000, "capped");
    }
}
