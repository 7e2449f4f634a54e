//! Reading spreadsheets row by row: CSV in any of the encodings and delimiters real exports
//! use, and XLSX. Nothing holds the whole file: CSV is decoded as it streams, and XLSX
//! cells are read one at a time from the sheet's XML.

use std::{
    fs::File,
    io::{BufReader, Read},
    path::Path,
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
};

/// How a CSV file's bytes are text.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Encoding {
    /// UTF-8, with or without a byte-order mark. A field that is not UTF-8 is read as
    /// Windows-1252 (files pasted together from several sources do this).
    Utf8,
    Utf16Le,
    Utf16Be,
    /// Windows-1252, the superset of Latin-1 that Excel writes on Western Windows.
    Windows1252,
}

impl Encoding {
    pub fn name(self) -> &'static str {
        match self {
            Encoding::Utf8 => "utf-8",
            Encoding::Utf16Le => "utf-16le",
            Encoding::Utf16Be => "utf-16be",
            Encoding::Windows1252 => "windows-1252",
        }
    }
}

/// What the start of a CSV file says about the rest.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Sniffed {
    pub encoding: Encoding,
    /// Bytes of byte-order mark to skip.
    pub bom: usize,
    pub delimiter: u8,
}

/// How much of a file the sniffer looks at.
const HEAD: usize = 64 * 1024;
const DELIMITERS: [u8; 4] = [b',', b';', b'\t', b'|'];

/// Decide the encoding (byte-order mark, else whether the head is UTF-8) and the
/// delimiter (the candidate that splits the first lines into the same number of fields
/// most consistently, more fields winning ties).
pub fn sniff(head: &[u8]) -> Sniffed {
    let (encoding, bom) = if head.starts_with(&[0xEF, 0xBB, 0xBF]) {
        (Encoding::Utf8, 3)
    } else if head.starts_with(&[0xFF, 0xFE]) {
        (Encoding::Utf16Le, 2)
    } else if head.starts_with(&[0xFE, 0xFF]) {
        (Encoding::Utf16Be, 2)
    } else {
        match std::str::from_utf8(head) {
            Ok(_) => (Encoding::Utf8, 0),
            // A multi-byte character cut by the end of the head is still UTF-8.
            Err(e) if e.error_len().is_none() => (Encoding::Utf8, 0),
            Err(_) => (Encoding::Windows1252, 0),
        }
    };
    let text: Vec<u8> = match encoding {
        Encoding::Utf16Le | Encoding::Utf16Be => {
            let mut out = Vec::new();
            Utf16ToUtf8::new(
                head.get(bom..).unwrap_or(&[]),
                encoding == Encoding::Utf16Le,
            )
            .read_to_end(&mut out)
            .ok();
            out
        }
        _ => head.get(bom..).unwrap_or(&[]).to_vec(),
    };
    Sniffed {
        encoding,
        bom,
        delimiter: delimiter_of(&text),
    }
}

fn delimiter_of(text: &[u8]) -> u8 {
    let mut best = (b',', 0usize, 0usize);
    for d in DELIMITERS {
        let mut counts: Vec<usize> = Vec::new();
        let mut rdr = csv::ReaderBuilder::new()
            .delimiter(d)
            .has_headers(false)
            .flexible(true)
            .from_reader(text);
        let mut rec = csv::ByteRecord::new();
        while counts.len() < 50 {
            match rdr.read_byte_record(&mut rec) {
                Ok(true) => counts.push(rec.len()),
                _ => break,
            }
        }
        // The last line of the head may be cut short.
        if counts.len() > 1 {
            counts.pop();
        }
        let Some(&fields) = counts.first() else {
            continue;
        };
        if fields < 2 {
            continue;
        }
        let agreeing = counts.iter().filter(|&&c| c == fields).count();
        if (agreeing, fields) > (best.1, best.2) {
            best = (d, agreeing, fields);
        }
    }
    best.0
}

/// Decodes UTF-16 to UTF-8 as it streams; unpaired surrogates become U+FFFD.
pub struct Utf16ToUtf8<R> {
    inner: R,
    little_endian: bool,
    pending: Vec<u8>,
    carry: Option<u8>,
    high: Option<u16>,
    done: bool,
}

impl<R: Read> Utf16ToUtf8<R> {
    pub fn new(inner: R, little_endian: bool) -> Self {
        Self {
            inner,
            little_endian,
            pending: Vec::new(),
            carry: None,
            high: None,
            done: false,
        }
    }

    fn push_unit(&mut self, unit: u16) {
        let c = match (self.high.take(), unit) {
            (None, 0xD800..=0xDBFF) => {
                self.high = Some(unit);
                return;
            }
            (Some(h), 0xDC00..=0xDFFF) => {
                let code = 0x10000 + ((u32::from(h) - 0xD800) << 10) + (u32::from(unit) - 0xDC00);
                char::from_u32(code).unwrap_or('\u{FFFD}')
            }
            (Some(_), _) => {
                // The high surrogate had no partner: replace it, then take this unit anew.
                self.pending.extend_from_slice("\u{FFFD}".as_bytes());
                return self.push_unit(unit);
            }
            (None, 0xDC00..=0xDFFF) => '\u{FFFD}',
            (None, u) => char::from_u32(u32::from(u)).unwrap_or('\u{FFFD}'),
        };
        let mut buf = [0u8; 4];
        self.pending
            .extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
    }
}

impl<R: Read> Read for Utf16ToUtf8<R> {
    fn read(&mut self, out: &mut [u8]) -> std::io::Result<usize> {
        while self.pending.is_empty() && !self.done {
            let mut raw = [0u8; 8192];
            let n = self.inner.read(&mut raw)?;
            if n == 0 {
                self.done = true;
                if self.high.take().is_some() || self.carry.take().is_some() {
                    self.pending.extend_from_slice("\u{FFFD}".as_bytes());
                }
                break;
            }
            let mut bytes: Vec<u8> = self.carry.take().into_iter().collect();
            bytes.extend_from_slice(raw.get(..n).unwrap_or(&[]));
            let mut pairs = bytes.chunks_exact(2);
            for pair in pairs.by_ref() {
                let (a, b) = (pair.first().copied(), pair.get(1).copied());
                if let (Some(a), Some(b)) = (a, b) {
                    let unit = if self.little_endian {
                        u16::from_le_bytes([a, b])
                    } else {
                        u16::from_be_bytes([a, b])
                    };
                    self.push_unit(unit);
                }
            }
            self.carry = pairs.remainder().first().copied();
        }
        let n = out.len().min(self.pending.len());
        out.get_mut(..n)
            .unwrap_or(&mut [])
            .copy_from_slice(self.pending.get(..n).unwrap_or(&[]));
        self.pending.drain(..n);
        Ok(n)
    }
}

/// The characters Windows-1252 puts at 0x80–0x9F (the rest of its upper half is Latin-1).
const CP1252_HIGH: [char; 32] = [
    '€', '\u{81}', '‚', 'ƒ', '„', '…', '†', '‡', 'ˆ', '‰', 'Š', '‹', 'Œ', '\u{8D}', 'Ž', '\u{8F}',
    '\u{90}', '‘', '’', '“', '”', '•', '–', '—', '˜', '™', 'š', '›', 'œ', '\u{9D}', 'ž', 'Ÿ',
];

/// Decode Windows-1252 bytes.
pub fn decode_cp1252(bytes: &[u8]) -> String {
    bytes
        .iter()
        .map(|&b| match b {
            0x80..=0x9F => CP1252_HIGH
                .get(usize::from(b - 0x80))
                .copied()
                .unwrap_or('\u{FFFD}'),
            _ => char::from(b),
        })
        .collect()
}

/// One field's text: UTF-8 when it is, else Windows-1252.
fn field_text(bytes: &[u8], encoding: Encoding) -> String {
    match encoding {
        Encoding::Windows1252 => decode_cp1252(bytes),
        _ => match std::str::from_utf8(bytes) {
            Ok(s) => s.to_owned(),
            Err(_) => decode_cp1252(bytes),
        },
    }
}

/// Why a file cannot be read, naming the file.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    #[error("cannot open {path}: {source}")]
    Open {
        path: String,
        source: std::io::Error,
    },
    #[error("{path} is not a CSV or XLSX file ({reason})")]
    Format { path: String, reason: String },
    #[error("{path} has no sheet named `{sheet}` (sheets: {available})")]
    NoSheet {
        path: String,
        sheet: String,
        available: String,
    },
    #[error("{path}, row {row}: {reason}")]
    Row {
        path: String,
        row: u64,
        reason: String,
    },
}

/// A row as read: its number (the header is row 1, each record after it one more) and its
/// fields, ragged rows included as they are.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RawRow {
    pub row: u64,
    pub fields: Vec<String>,
}

/// A spreadsheet opened for reading: its header and then its rows, streamed.
pub struct Table {
    pub headers: Vec<String>,
    /// What the file turned out to be: `csv (utf-8, ";")` or `xlsx (Sheet1)`.
    pub detected: String,
    rows: Box<dyn Iterator<Item = Result<RawRow, ReadError>> + Send>,
}

impl Iterator for Table {
    type Item = Result<RawRow, ReadError>;
    fn next(&mut self) -> Option<Self::Item> {
        self.rows.next()
    }
}

/// Open a CSV or XLSX file (by its content, not its name). `sheet` picks an XLSX sheet;
/// the first is the default.
pub fn open(path: &Path, sheet: Option<&str>) -> Result<Table, ReadError> {
    open_counted(path, sheet, Arc::default())
}

/// [`open`], adding the CSV bytes consumed so far to `consumed` (for progress).
pub fn open_counted(
    path: &Path,
    sheet: Option<&str>,
    consumed: Arc<AtomicU64>,
) -> Result<Table, ReadError> {
    let shown = path.display().to_string();
    let mut file = File::open(path).map_err(|source| ReadError::Open {
        path: shown.clone(),
        source,
    })?;
    let mut magic = [0u8; 4];
    let got = file.read(&mut magic).map_err(|source| ReadError::Open {
        path: shown.clone(),
        source,
    })?;
    if got == 4 && magic == *b"PK\x03\x04" {
        return open_xlsx(path, sheet);
    }
    drop(file);
    let file = File::open(path).map_err(|source| ReadError::Open {
        path: shown.clone(),
        source,
    })?;
    let counted = Counted {
        inner: file,
        consumed,
    };
    csv_table(BufReader::with_capacity(256 * 1024, counted), shown)
}

/// A reader that tallies the bytes it hands out.
struct Counted<R> {
    inner: R,
    consumed: Arc<AtomicU64>,
}

impl<R: Read> Read for Counted<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.consumed.fetch_add(n as u64, Ordering::Relaxed);
        Ok(n)
    }
}

/// Read CSV from any reader (a file, an upload).
pub fn csv_table<R: Read + Send + 'static>(
    mut reader: R,
    shown: String,
) -> Result<Table, ReadError> {
    let mut head = Vec::with_capacity(HEAD);
    (&mut reader)
        .take(HEAD as u64)
        .read_to_end(&mut head)
        .map_err(|source| ReadError::Open {
            path: shown.clone(),
            source,
        })?;
    if head.contains(&0) && !matches!(sniff(&head).encoding, Encoding::Utf16Le | Encoding::Utf16Be)
    {
        return Err(ReadError::Format {
            path: shown,
            reason: "it holds binary data".into(),
        });
    }
    let sniffed = sniff(&head);
    let body = std::io::Cursor::new(head.get(sniffed.bom..).unwrap_or(&[]).to_vec()).chain(reader);
    let text: Box<dyn Read + Send> = match sniffed.encoding {
        Encoding::Utf16Le => Box::new(Utf16ToUtf8::new(body, true)),
        Encoding::Utf16Be => Box::new(Utf16ToUtf8::new(body, false)),
        _ => Box::new(body),
    };
    // After UTF-16 decoding the text is UTF-8.
    let field_encoding = match sniffed.encoding {
        Encoding::Windows1252 => Encoding::Windows1252,
        _ => Encoding::Utf8,
    };
    let mut rdr = csv::ReaderBuilder::new()
        .delimiter(sniffed.delimiter)
        .has_headers(false)
        .flexible(true)
        .buffer_capacity(256 * 1024)
        .from_reader(text);
    let mut rec = csv::ByteRecord::new();
    let headers = match rdr.read_byte_record(&mut rec) {
        Ok(true) => rec
            .iter()
            .map(|f| field_text(f, field_encoding).trim().to_owned())
            .collect(),
        Ok(false) => {
            return Err(ReadError::Format {
                path: shown,
                reason: "it is empty".into(),
            });
        }
        Err(e) => {
            return Err(ReadError::Format {
                path: shown,
                reason: e.to_string(),
            });
        }
    };
    let delimiter = match sniffed.delimiter {
        b'\t' => "tab".to_owned(),
        d => format!("\"{}\"", char::from(d)),
    };
    let detected = format!("csv ({}, {delimiter})", sniffed.encoding.name());
    // Rows are numbered as records: the header is row 1, the first data row is 2. Blank
    // lines are no rows, and a quoted value spanning lines is still one row.
    let mut row = 1u64;
    let rows = std::iter::from_fn(move || {
        let mut rec = csv::ByteRecord::new();
        let read = rdr.read_byte_record(&mut rec);
        row += 1;
        match read {
            Ok(true) => Some(Ok(RawRow {
                row,
                fields: rec.iter().map(|f| field_text(f, field_encoding)).collect(),
            })),
            Ok(false) => None,
            Err(e) => Some(Err(ReadError::Row {
                path: shown.clone(),
                row,
                reason: e.to_string(),
            })),
        }
    });
    Ok(Table {
        headers,
        detected,
        rows: Box::new(rows),
    })
}

fn open_xlsx(path: &Path, sheet: Option<&str>) -> Result<Table, ReadError> {
    use calamine::{Reader, Xlsx};
    let shown = path.display().to_string();
    let file = File::open(path).map_err(|source| ReadError::Open {
        path: shown.clone(),
        source,
    })?;
    let mut book: Xlsx<_> = Xlsx::new(BufReader::new(file)).map_err(|e| ReadError::Format {
        path: shown.clone(),
        reason: e.to_string(),
    })?;
    let names = book.sheet_names();
    let name = match sheet {
        Some(s) => names
            .iter()
            .find(|n| n.as_str() == s)
            .cloned()
            .ok_or_else(|| ReadError::NoSheet {
                path: shown.clone(),
                sheet: s.to_owned(),
                available: names.join(", "),
            })?,
        None => names.first().cloned().ok_or_else(|| ReadError::Format {
            path: shown.clone(),
            reason: "the workbook has no sheets".into(),
        })?,
    };
    // Cells arrive row by row from the sheet's XML; a row is handed on when the next
    // begins. The reader borrows the workbook, so it runs on its own thread and sends
    // rows through a bounded channel: memory stays flat however long the sheet is.
    let (tx, rx) = std::sync::mpsc::sync_channel::<Result<RawRow, ReadError>>(1024);
    let (head_tx, head_rx) = std::sync::mpsc::sync_channel::<Result<Vec<String>, ReadError>>(1);
    let sheet_name = name.clone();
    std::thread::spawn(move || {
        let fail = |reason: String| ReadError::Format {
            path: shown.clone(),
            reason,
        };
        let mut cells = match book.worksheet_cells_reader(&sheet_name) {
            Ok(c) => c,
            Err(e) => {
                let _ = head_tx.send(Err(fail(e.to_string())));
                return;
            }
        };
        let mut current: Option<(u32, Vec<String>)> = None;
        let mut header_sent = false;
        let mut emit = |r: u32, fields: Vec<String>| -> bool {
            if header_sent {
                tx.send(Ok(RawRow {
                    row: u64::from(r) + 1,
                    fields,
                }))
                .is_ok()
            } else {
                header_sent = true;
                head_tx
                    .send(Ok(fields.iter().map(|f| f.trim().to_owned()).collect()))
                    .is_ok()
            }
        };
        loop {
            match cells.next_cell() {
                Ok(Some(cell)) => {
                    let (r, c) = cell.get_position();
                    let text = cell_text(cell.get_value());
                    match &mut current {
                        Some((cr, fields)) if *cr == r => put(fields, c, text),
                        _ => {
                            if let Some((cr, fields)) = current.take()
                                && !emit(cr, fields)
                            {
                                return;
                            }
                            let mut fields = Vec::new();
                            put(&mut fields, c, text);
                            current = Some((r, fields));
                        }
                    }
                }
                Ok(None) => break,
                Err(e) => {
                    let _ = tx.send(Err(fail(e.to_string())));
                    return;
                }
            }
        }
        if let Some((cr, fields)) = current.take() {
            emit(cr, fields);
        }
        if !header_sent {
            let _ = head_tx.send(Err(fail("the sheet is empty".into())));
        }
    });
    let headers = head_rx.recv().map_err(|_| ReadError::Format {
        path: path.display().to_string(),
        reason: "the sheet is empty".into(),
    })??;
    Ok(Table {
        headers,
        detected: format!("xlsx ({name})"),
        rows: Box::new(rx.into_iter()),
    })
}

fn put(fields: &mut Vec<String>, column: u32, text: String) {
    let i = usize::try_from(column).unwrap_or(usize::MAX);
    if i == usize::MAX {
        return;
    }
    if fields.len() <= i {
        fields.resize(i + 1, String::new());
    }
    if let Some(f) = fields.get_mut(i) {
        *f = text;
    }
}

fn cell_text(v: &calamine::DataRef<'_>) -> String {
    use calamine::DataRef;
    match v {
        DataRef::Empty => String::new(),
        DataRef::String(s) => s.clone(),
        DataRef::SharedString(s) => (*s).to_owned(),
        // Whole numbers (phone numbers, ids) without a trailing `.0`.
        DataRef::Float(f) if f.fract() == 0.0 && f.abs() < 1e15 => format!("{f:.0}"),
        DataRef::Float(f) => f.to_string(),
        DataRef::Int(i) => i.to_string(),
        DataRef::Bool(b) => b.to_string(),
        DataRef::DateTime(d) => excel_date(d.as_f64()),
        DataRef::DateTimeIso(s) | DataRef::DurationIso(s) => s.clone(),
        DataRef::Error(e) => format!("#{e:?}"),
    }
}

/// An Excel date serial (days since 1899-12-30, fraction = time of day) as ISO text.
fn excel_date(serial: f64) -> String {
    let epoch = chrono::NaiveDate::from_ymd_opt(1899, 12, 30).and_then(|d| d.and_hms_opt(0, 0, 0));
    let millis = (serial * 86_400_000.0).round();
    match epoch {
        Some(e) if millis.is_finite() && millis.abs() < 1e15 => {
            let t = e + chrono::Duration::milliseconds(millis as i64);
            if serial.fract() == 0.0 {
                t.format("%Y-%m-%d").to_string()
            } else {
                t.format("%Y-%m-%d %H:%M:%S").to_string()
            }
        }
        _ => serial.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read_all(bytes: &[u8]) -> (Vec<String>, Vec<Vec<String>>, String) {
        let t = csv_table(std::io::Cursor::new(bytes.to_vec()), "test.csv".into()).expect("opens");
        let headers = t.headers.clone();
        let detected = t.detected.clone();
        let rows = t.map(|r| r.expect("row").fields).collect();
        (headers, rows, detected)
    }

    #[test]
    fn delimiters_are_detected() {
        for (d, name) in [
            (',', "\",\""),
            (';', "\";\""),
            ('\t', "tab"),
            ('|', "\"|\""),
        ] {
            let text = format!("Email{d}First Name{d}Company\na@x.com{d}Ada{d}\"Acme{d} Inc\"\n");
            let (h, rows, detected) = read_all(text.as_bytes());
            assert_eq!(h, ["Email", "First Name", "Company"], "{name}");
            assert_eq!(rows[0][2], format!("Acme{d} Inc"), "{name}");
            assert!(detected.ends_with(&format!("{name})")), "{detected}");
        }
        // Commas inside a semicolon file's values do not fool it.
        let (h, _, _) = read_all(b"name;company;note\nA;B, Inc;x, y, z\nC;D;e, f\n");
        assert_eq!(h, ["name", "company", "note"]);
    }

    #[test]
    fn quoted_fields_newlines_and_ragged_rows() {
        let (h, rows, _) =
            read_all(b"a,b,c\n1,\"two\nlines\",3\n4,5\n6,7,8,9\n\n\"x \"\"q\"\"\",y,z\n");
        assert_eq!(h, ["a", "b", "c"]);
        assert_eq!(rows[0], ["1", "two\nlines", "3"]);
        assert_eq!(rows[1], ["4", "5"]);
        assert_eq!(rows[2], ["6", "7", "8", "9"]);
        assert_eq!(rows[3], ["x \"q\"", "y", "z"], "the blank line is skipped");
    }

    #[test]
    fn rows_are_numbered_as_records() {
        let t = csv_table(
            std::io::Cursor::new(b"a,b\n1,2\n\n\"3\n3\",4\n5,6\n".to_vec()),
            "t.csv".into(),
        )
        .expect("opens");
        let rows: Vec<u64> = t.map(|r| r.expect("row").row).collect();
        assert_eq!(rows, [2, 3, 4]);
    }

    #[test]
    fn encodings_are_detected_and_decoded() {
        // UTF-8 with a byte-order mark.
        let (h, rows, d) = read_all("\u{FEFF}Name,City\nJosé,Zürich\n".as_bytes());
        assert_eq!(h, ["Name", "City"]);
        assert_eq!(rows[0], ["José", "Zürich"]);
        assert!(d.contains("utf-8"));
        // UTF-16 LE and BE with byte-order marks.
        for le in [true, false] {
            let mut bytes = if le {
                vec![0xFF, 0xFE]
            } else {
                vec![0xFE, 0xFF]
            };
            for u in "Name;City\r\nJosé;Zürich 😀\r\n".encode_utf16() {
                bytes.extend(if le { u.to_le_bytes() } else { u.to_be_bytes() });
            }
            let (h, rows, d) = read_all(&bytes);
            assert_eq!(h, ["Name", "City"]);
            assert_eq!(rows[0], ["José", "Zürich 😀"]);
            assert!(d.contains(if le { "utf-16le" } else { "utf-16be" }), "{d}");
        }
        // Windows-1252: é is 0xE9, € is 0x80.
        let (_, rows, d) = read_all(b"Name,Price\nJos\xe9,\x80 5\n");
        assert_eq!(rows[0], ["José", "€ 5"]);
        assert!(d.contains("windows-1252"));
        // A UTF-8 file with one stray Latin-1 field keeps both right.
        let mut mixed = "Name,City\nJosé,Zürich\n".as_bytes().to_vec();
        // Past the sniffed head, so the file is taken as UTF-8.
        for _ in 0..10_000 {
            mixed.extend_from_slice("Ana,Köln\n".as_bytes());
        }
        mixed.extend_from_slice(b"Ren\xe9,Paris\n");
        let (_, rows, _) = read_all(&mixed);
        assert_eq!(rows.last().expect("row"), &["René", "Paris"]);
        assert_eq!(rows[0], ["José", "Zürich"]);
    }

    #[test]
    fn empty_and_binary_files_are_refused() {
        let empty = csv_table(std::io::Cursor::new(Vec::new()), "e.csv".into());
        assert!(matches!(empty, Err(ReadError::Format { .. })));
        let binary = csv_table(std::io::Cursor::new(vec![0, 1, 2, 0, 5]), "b.csv".into());
        assert!(
            binary
                .err()
                .is_some_and(|e| e.to_string().contains("binary"))
        );
    }

    /// A minimal XLSX workbook with a sheet per `(name, rows)`; cells are inline strings,
    /// or numbers when they parse as one.
    fn xlsx(sheets: &[(&str, &[&[&str]])]) -> tempfile::NamedTempFile {
        use std::io::Write;
        use zip::write::SimpleFileOptions;
        let file = tempfile::NamedTempFile::new().expect("temp file");
        let mut z = zip::ZipWriter::new(file.reopen().expect("reopen"));
        let opts = SimpleFileOptions::default().compression_method(zip::CompressionMethod::Stored);
        let mut put = |name: &str, body: String| {
            z.start_file(name, opts).expect("entry");
            z.write_all(body.as_bytes()).expect("write");
        };
        let overrides: String = (1..=sheets.len())
            .map(|i| format!(r#"<Override PartName="/xl/worksheets/sheet{i}.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/>"#))
            .collect();
        put(
            "[Content_Types].xml",
            format!(
                r#"<?xml version="1.0" encoding="UTF-8"?><Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types"><Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/><Default Extension="xml" ContentType="application/xml"/><Override PartName="/xl/workbook.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/>{overrides}</Types>"#
            ),
        );
        put("_rels/.rels", r#"<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument" Target="xl/workbook.xml"/></Relationships>"#.into());
        let entries: String = sheets
            .iter()
            .enumerate()
            .map(|(i, (name, _))| {
                format!(
                    r#"<sheet name="{name}" sheetId="{n}" r:id="rId{n}"/>"#,
                    n = i + 1
                )
            })
            .collect();
        put(
            "xl/workbook.xml",
            format!(
                r#"<?xml version="1.0" encoding="UTF-8"?><workbook xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships"><sheets>{entries}</sheets></workbook>"#
            ),
        );
        let rels: String = (1..=sheets.len())
            .map(|i| format!(r#"<Relationship Id="rId{i}" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/worksheet" Target="worksheets/sheet{i}.xml"/>"#))
            .collect();
        put(
            "xl/_rels/workbook.xml.rels",
            format!(
                r#"<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">{rels}</Relationships>"#
            ),
        );
        for (i, (_, rows)) in sheets.iter().enumerate() {
            let mut data = String::new();
            for (r, row) in rows.iter().enumerate() {
                data.push_str(&format!(r#"<row r="{}">"#, r + 1));
                for (c, v) in row.iter().enumerate() {
                    if v.is_empty() {
                        continue;
                    }
                    let col = char::from(b'A' + u8::try_from(c).expect("few columns"));
                    let at = format!("{col}{}", r + 1);
                    if v.parse::<f64>().is_ok() {
                        data.push_str(&format!(r#"<c r="{at}"><v>{v}</v></c>"#));
                    } else {
                        data.push_str(&format!(
                            r#"<c r="{at}" t="inlineStr"><is><t>{v}</t></is></c>"#
                        ));
                    }
                }
                data.push_str("</row>");
            }
            put(
                &format!("xl/worksheets/sheet{}.xml", i + 1),
                format!(
                    r#"<?xml version="1.0" encoding="UTF-8"?><worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><sheetData>{data}</sheetData></worksheet>"#
                ),
            );
        }
        z.finish().expect("zip");
        file
    }

    #[test]
    fn xlsx_sheets_stream_by_row() {
        let book = xlsx(&[
            (
                "Leads",
                &[
                    &["Email", "Phone", "Company"],
                    &["a@x.com", "4155552671", "Acme"],
                    &["b@x.com", "", "Beta"],
                ],
            ),
            ("Other", &[&["Name"], &["Zed"]]),
        ]);
        let t = open(book.path(), None).expect("opens");
        assert_eq!(t.headers, ["Email", "Phone", "Company"]);
        assert_eq!(t.detected, "xlsx (Leads)");
        let rows: Vec<RawRow> = t.map(|r| r.expect("row")).collect();
        assert_eq!(
            rows[0].fields,
            ["a@x.com", "4155552671", "Acme"],
            "no `.0` on numbers"
        );
        assert_eq!(
            (rows[1].row, rows[1].fields.clone()),
            (3, vec!["b@x.com".into(), String::new(), "Beta".into()])
        );
        let other = open(book.path(), Some("Other")).expect("opens");
        assert_eq!(other.headers, ["Name"]);
        let missing = open(book.path(), Some("Nope"))
            .err()
            .expect("no such sheet")
            .to_string();
        assert!(
            missing.contains("Nope") && missing.contains("Leads, Other"),
            "{missing}"
        );
        let gone = open(Path::new("/nonexistent/leads.csv"), None)
            .err()
            .expect("missing file");
        assert!(gone.to_string().contains("/nonexistent/leads.csv"));
    }

    #[test]
    fn excel_dates_read_as_iso() {
        assert_eq!(excel_date(45_000.0), "2023-03-15");
        assert_eq!(excel_date(45_000.5), "2023-03-15 12:00:00");
    }

    #[test]
    fn utf16_decoding_survives_any_chunking() {
        let text = "αβγ 😀 end";
        let mut bytes = Vec::new();
        for u in text.encode_utf16() {
            bytes.extend(u.to_le_bytes());
        }
        // A reader that hands over one byte at a time splits every pair and surrogate.
        struct OneByte(std::io::Cursor<Vec<u8>>);
        impl Read for OneByte {
            fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
                let n = buf.len().min(1);
                self.0.read(&mut buf[..n])
            }
        }
        let mut out = String::new();
        Utf16ToUtf8::new(OneByte(std::io::Cursor::new(bytes)), true)
            .read_to_string(&mut out)
            .expect("decodes");
        assert_eq!(out, text);
        let mut lone = String::new();
        Utf16ToUtf8::new(&[0x00, 0xD8, 0x41, 0x00][..], true)
            .read_to_string(&mut lone)
            .expect("decodes");
        assert_eq!(lone, "\u{FFFD}A");
    }
}
