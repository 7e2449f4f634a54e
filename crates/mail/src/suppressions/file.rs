//! The suppression list as CSV, both ways. A file in has a header naming `email`,
//! `domain`, or `value` (with `kind`, or inferred: an `@` makes it an address), and may
//! name `reason` and `note`; a file of one column without a header (a plain list of
//! addresses, as other tools export it) is read as values. What SalesOS exports reads
//! back to the same list. Every row of a file ends added, already listed, or rejected with
//! its line and why.

use salesos_model::{Domain, EmailAddress};
use serde::Serialize;
use utoipa::ToSchema;

use super::{Kind, MAX_NOTE, Reason, Suppression};

/// The columns of an export, in order.
pub const EXPORT_HEADER: [&str; 6] = ["kind", "value", "reason", "source", "note", "created_at"];

/// One entry read from a file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry {
    /// The line of the file it was read from (the header is line 1).
    pub line: u64,
    pub kind: Kind,
    pub value: String,
    pub reason: Reason,
    pub note: Option<String>,
}

/// A row that could not be taken, and why.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, ToSchema)]
pub struct Rejected {
    pub line: u64,
    /// The value as written.
    pub value: String,
    pub reason: String,
}

/// A file read: what to add, and what could not be.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Parsed {
    pub entries: Vec<Entry>,
    pub rejected: Vec<Rejected>,
    /// Header columns this reader does not use.
    pub ignored_columns: Vec<String>,
}

#[derive(Default)]
struct Columns {
    email: Option<usize>,
    domain: Option<usize>,
    value: Option<usize>,
    kind: Option<usize>,
    reason: Option<usize>,
    note: Option<usize>,
}

impl Columns {
    fn of(header: &[String]) -> (Self, Vec<String>) {
        let mut c = Columns::default();
        let mut ignored = Vec::new();
        for (i, name) in header.iter().enumerate() {
            let slot = match name
                .trim()
                .to_ascii_lowercase()
                .replace([' ', '-'], "_")
                .as_str()
            {
                "email" | "email_address" | "address" => &mut c.email,
                "domain" => &mut c.domain,
                "value" => &mut c.value,
                "kind" => &mut c.kind,
                "reason" => &mut c.reason,
                "note" | "notes" => &mut c.note,
                _ => {
                    ignored.push(name.clone());
                    continue;
                }
            };
            slot.get_or_insert(i);
        }
        (c, ignored)
    }

    fn any_target(&self) -> bool {
        self.email.is_some() || self.domain.is_some() || self.value.is_some()
    }
}

/// Why a file cannot be read at all.
#[derive(Debug, PartialEq, Eq)]
pub enum FileError {
    Empty,
    NoTargetColumn(Vec<String>),
}

impl std::fmt::Display for FileError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            FileError::Empty => f.write_str("the file has no rows"),
            FileError::NoTargetColumn(header) => write!(
                f,
                "the header names no `email`, `domain` or `value` column (it has {})",
                header
                    .iter()
                    .map(|h| format!("`{h}`"))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        }
    }
}

fn fields(record: &csv::ByteRecord) -> Result<Vec<String>, ()> {
    record
        .iter()
        .map(|f| std::str::from_utf8(f).map(str::to_owned).map_err(drop))
        .collect()
}

fn cell(row: &[String], at: Option<usize>) -> Option<&str> {
    at.and_then(|i| row.get(i))
        .map(|s| s.trim())
        .filter(|s| !s.is_empty())
}

/// What one value names: an address or a domain, normalised.
fn target(kind: Option<Kind>, raw: &str) -> Result<(Kind, String), String> {
    let kind = kind.unwrap_or(if raw.contains('@') {
        Kind::Address
    } else {
        Kind::Domain
    });
    match kind {
        Kind::Address => EmailAddress::parse(raw)
            .map(|a| (Kind::Address, a.as_str().to_owned()))
            .map_err(|why| format!("not an address: {why}")),
        Kind::Domain => Domain::parse(raw)
            .map(|d| (Kind::Domain, d.as_str().to_owned()))
            .map_err(|why| format!("not a domain: {why}")),
    }
}

fn entry(
    line: u64,
    row: &[String],
    c: &Columns,
    default_reason: Reason,
) -> Result<Entry, Rejected> {
    let email = cell(row, c.email);
    let domain = cell(row, c.domain);
    let value = cell(row, c.value);
    let shown = email.or(domain).or(value).unwrap_or("").to_owned();
    let reject = |reason: String| Rejected {
        line,
        value: shown.clone(),
        reason,
    };
    let (kind, raw) = match (email, domain, value) {
        (Some(e), None, _) => (Some(Kind::Address), e),
        (None, Some(d), _) => (Some(Kind::Domain), d),
        (Some(_), Some(_), _) => return Err(reject("both an email and a domain: give one".into())),
        (None, None, Some(v)) => {
            let kind = match cell(row, c.kind) {
                Some(k) => Some(
                    k.to_ascii_lowercase()
                        .parse::<Kind>()
                        .map_err(|_| reject(format!("kind `{k}` is not `address` or `domain`")))?,
                ),
                None => None,
            };
            (kind, v)
        }
        (None, None, None) => return Err(reject("no address or domain".into())),
    };
    let (kind, value) = target(kind, raw).map_err(reject)?;
    let reason = match cell(row, c.reason) {
        Some(r) => r
            .to_ascii_lowercase()
            .replace([' ', '-'], "_")
            .parse::<Reason>()
            .map_err(|_| {
                reject(format!(
                    "reason `{r}` is not one of unsubscribed, hard_bounce, complaint, manual, do_not_contact"
                ))
            })?,
        None => default_reason,
    };
    let note = cell(row, c.note).map(str::to_owned);
    if note.as_ref().is_some_and(|n| n.chars().count() > MAX_NOTE) {
        return Err(reject(format!(
            "the note is longer than {MAX_NOTE} characters"
        )));
    }
    if note.as_ref().is_some_and(|n| n.contains('\0')) {
        return Err(reject("the note holds a NUL character".into()));
    }
    Ok(Entry {
        line,
        kind,
        value,
        reason,
        note,
    })
}

/// Read a file. Rows without a reason get `default_reason`.
pub fn parse(bytes: &[u8], default_reason: Reason) -> Result<Parsed, FileError> {
    let bytes = bytes.strip_prefix(b"\xef\xbb\xbf").unwrap_or(bytes);
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .from_reader(bytes);
    let mut records = reader.byte_records();
    let mut parsed = Parsed::default();
    let first = loop {
        match records.next() {
            None => return Err(FileError::Empty),
            Some(Ok(r)) if r.iter().all(|f| f.iter().all(u8::is_ascii_whitespace)) => continue,
            Some(Ok(r)) => break r,
            Some(Err(e)) => {
                return Err(FileError::NoTargetColumn(vec![format!(
                    "an unreadable header: {e}"
                )]));
            }
        }
    };
    // The reader reports a record after a blank line at the blank line: count the lines
    // to where the record's text starts instead.
    let mut counted = (0usize, 1u64);
    let mut line_of = |r: &csv::ByteRecord| -> u64 {
        let Some(p) = r.position() else { return 0 };
        let mut start = usize::try_from(p.byte())
            .unwrap_or(usize::MAX)
            .min(bytes.len());
        while bytes.get(start).is_some_and(|b| *b == b'\r' || *b == b'\n') {
            start += 1;
        }
        let (from, line) = counted;
        if start >= from {
            let more = bytes
                .get(from..start)
                .map_or(0, |s| s.iter().filter(|b| **b == b'\n').count());
            counted = (start, line + u64::try_from(more).unwrap_or(0));
        }
        counted.1
    };
    let header = fields(&first).unwrap_or_default();
    let (columns, ignored) = Columns::of(&header);
    let mut pending = Vec::new();
    let columns = if columns.any_target() {
        parsed.ignored_columns = ignored;
        columns
    } else if header.len() <= 1 {
        // No header: a plain list, the first row a value like the rest.
        pending.push(Ok(first));
        Columns {
            value: Some(0),
            ..Columns::default()
        }
    } else {
        return Err(FileError::NoTargetColumn(header));
    };
    for record in pending.into_iter().chain(records) {
        let record = match record {
            Ok(r) => r,
            Err(e) => {
                let line = e.position().map_or(0, csv::Position::line);
                parsed.rejected.push(Rejected {
                    line,
                    value: String::new(),
                    reason: format!("unreadable CSV: {e}"),
                });
                continue;
            }
        };
        let line = line_of(&record);
        let Ok(row) = fields(&record) else {
            parsed.rejected.push(Rejected {
                line,
                value: String::from_utf8_lossy(record.as_slice()).into_owned(),
                reason: "not UTF-8 text".into(),
            });
            continue;
        };
        if row.iter().all(|f| f.trim().is_empty()) {
            continue;
        }
        match entry(line, &row, &columns, default_reason) {
            Ok(e) => parsed.entries.push(e),
            Err(r) => parsed.rejected.push(r),
        }
    }
    Ok(parsed)
}

/// The list as CSV, header first; it reads back through [`parse`] to the same entries.
pub fn export(rows: &[Suppression], out: &mut Vec<u8>, with_header: bool) {
    let mut w = csv::WriterBuilder::new().from_writer(Vec::new());
    if with_header {
        let _ = w.write_record(EXPORT_HEADER);
    }
    for s in rows {
        let created = s
            .created_at
            .to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
        let _ = w.write_record([
            s.kind.as_str(),
            &s.value,
            s.reason.as_str(),
            &s.source,
            s.note.as_deref().unwrap_or(""),
            &created,
        ]);
    }
    if let Ok(bytes) = w.into_inner() {
        out.extend_from_slice(&bytes);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn values(p: &Parsed) -> Vec<(u64, &str, Reason)> {
        p.entries
            .iter()
            .map(|e| (e.line, e.value.as_str(), e.reason))
            .collect()
    }

    #[test]
    fn a_file_with_a_header_names_its_columns_and_every_row_is_accounted_for() {
        let file = "\u{feff}Email,Reason,Notes,Owner\n\
                    Ada@Example.com,unsubscribed,asked twice,x\n\
                    \n\
                    not-an-address,manual,,\n\
                    bob@example.com,Hard Bounce,,\n\
                    carol@example.com,bored,,\n\
                    dan@example.com,,,\n";
        let p = parse(file.as_bytes(), Reason::Manual).expect("parsed");
        assert_eq!(
            values(&p),
            [
                (2, "ada@example.com", Reason::Unsubscribed),
                (5, "bob@example.com", Reason::HardBounce),
                (7, "dan@example.com", Reason::Manual)
            ]
        );
        assert_eq!(p.entries[0].note.as_deref(), Some("asked twice"));
        let rejected: Vec<(u64, &str)> = p
            .rejected
            .iter()
            .map(|r| (r.line, r.value.as_str()))
            .collect();
        assert_eq!(rejected, [(4, "not-an-address"), (6, "carol@example.com")]);
        assert!(
            p.rejected[1].reason.contains("`bored`"),
            "{}",
            p.rejected[1].reason
        );
        assert_eq!(p.ignored_columns, ["Owner"]);
    }

    #[test]
    fn a_plain_list_needs_no_header_and_a_value_column_infers_its_kind() {
        let p = parse(b"ceo@bigco.com\nCompetitor.com\n", Reason::DoNotContact).expect("list");
        assert_eq!(p.entries.len(), 2);
        assert_eq!(p.entries[0].kind, Kind::Address);
        assert_eq!(
            (p.entries[1].kind, p.entries[1].value.as_str()),
            (Kind::Domain, "competitor.com")
        );
        assert_eq!(p.entries[1].reason, Reason::DoNotContact);
        let bad_kind = parse(b"kind,value\nperson,a@b.com\n", Reason::Manual).expect("read");
        assert!(bad_kind.rejected[0].reason.contains("`person`"));
        assert_eq!(parse(b"", Reason::Manual), Err(FileError::Empty));
        assert!(matches!(
            parse(b"name,company\nAda,Acme\n", Reason::Manual),
            Err(FileError::NoTargetColumn(_))
        ));
        let latin1 = parse(b"email\nj\xe9r\xf4me@example.com\n", Reason::Manual).expect("read");
        assert_eq!(latin1.rejected[0].reason, "not UTF-8 text");
    }

    #[test]
    fn an_export_reads_back_to_the_same_entries() {
        let at = chrono::DateTime::parse_from_rfc3339("2026-12-01T10:00:00Z")
            .expect("time")
            .to_utc();
        let rows = [
            Suppression {
                id: uuid::Uuid::nil(),
                kind: Kind::Address,
                value: "a,b@example.com".into(),
                reason: Reason::Complaint,
                source: "api".into(),
                note: Some("said \"stop\"".into()),
                created_by: None,
                created_at: at,
            },
            Suppression {
                id: uuid::Uuid::nil(),
                kind: Kind::Domain,
                value: "acme.com".into(),
                reason: Reason::DoNotContact,
                source: "import".into(),
                note: None,
                created_by: None,
                created_at: at,
            },
        ];
        let mut out = Vec::new();
        export(&rows[1..], &mut out, true);
        let back = parse(&out, Reason::Manual).expect("reads back");
        assert_eq!(back.entries.len(), 1);
        assert_eq!(
            (
                back.entries[0].kind,
                back.entries[0].value.as_str(),
                back.entries[0].reason
            ),
            (Kind::Domain, "acme.com", Reason::DoNotContact)
        );
        assert_eq!(back.ignored_columns, ["source", "created_at"]);
        let mut quoted = Vec::new();
        export(&rows[..1], &mut quoted, true);
        let text = String::from_utf8(quoted).expect("utf-8");
        assert!(text.contains("\"said \"\"stop\"\"\""), "{text}");
    }
}
