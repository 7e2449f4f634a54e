//! `/api/v1/imports` routes: upload a file to import (multipart), follow the import, read
//! its rows by outcome, download the rejected rows; and a preview that reads the head of a
//! file and says how it would be mapped and cleaned.

use axum::{
    Json,
    extract::{Multipart, State, multipart::Field},
    http::{StatusCode, header},
    response::IntoResponse,
};
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_axum::{router::OpenApiRouter, routes};
use uuid::Uuid;

use super::{
    engine::{ImportOptions, Policy},
    export,
    mapping::{Mapping, map_headers},
    prepare::{RowOptions, prepare},
    read,
    service::{self, Import, ImportQuery, ImportRowView, RowQuery, Source},
    store as import_store,
};
use crate::platform::{
    audit::Actor,
    auth::Principal,
    error::{Error, FieldError},
    http::{
        extract::{ApiPath, ApiQuery},
        pagination::Page,
        problem::Problem,
    },
    state::AppState,
};
use crate::{
    accounts::service::{self as accounts, AccountQuery},
    contacts::service::{self as contacts, ContactQuery},
};

/// Routes that take whole files; mounted with the upload size limit.
pub fn upload_router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create))
        .routes(routes!(preview))
}

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list))
        .routes(routes!(get))
        .routes(routes!(rows))
        .routes(routes!(rejected_csv))
        .routes(routes!(export_contacts))
        .routes(routes!(export_accounts))
}

/// The form of `POST /api/v1/imports` (multipart/form-data).
#[derive(ToSchema)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
struct ImportForm {
    /// The CSV or XLSX file.
    #[schema(format = Binary, value_type = String)]
    file: Vec<u8>,
    /// JSON object: column header → field (`email`, `first_name`, …, `custom:<name>`, `ignore`).
    mapping: Option<String>,
    /// ISO country for phone numbers without a country code.
    region: Option<String>,
    policy: Option<Policy>,
    /// `true`: report what would happen, write nothing.
    dry_run: Option<bool>,
    /// Tags for every imported contact, comma-separated.
    tags: Option<String>,
    /// XLSX sheet name.
    sheet: Option<String>,
    /// `custom` (default) or `ignore`: what to do with columns nothing maps.
    unmapped: Option<String>,
    /// All of the above as one JSON object, instead of separate fields.
    options: Option<String>,
}

/// Size of the chunks an upload is stored in.
const CHUNK: usize = 1 << 20;

/// Options from form fields, every bad one named.
#[derive(Default)]
struct FormOptions {
    opts: ImportOptions,
    dry_run: bool,
    errors: Vec<FieldError>,
}

impl FormOptions {
    async fn read(&mut self, name: &str, field: Field<'_>) -> Result<(), Error> {
        let text = field
            .text()
            .await
            .map_err(|e| Error::BadRequest(format!("form field `{name}` cannot be read: {e}")))?;
        let text = text.trim();
        match name {
            "options" => match serde_json::from_str::<serde_json::Value>(text) {
                Ok(v) => {
                    let dry = v.get("dry_run").and_then(serde_json::Value::as_bool);
                    let mut v = v;
                    if let Some(o) = v.as_object_mut() {
                        o.remove("dry_run");
                    }
                    match serde_json::from_value::<ImportOptions>(v) {
                        Ok(o) => self.opts = o,
                        Err(e) => self.errors.push(FieldError::new("options", e.to_string())),
                    }
                    if let Some(d) = dry {
                        self.dry_run = d;
                    }
                }
                Err(e) => self
                    .errors
                    .push(FieldError::new("options", format!("is not JSON: {e}"))),
            },
            "mapping" => match serde_json::from_str(text) {
                Ok(m) => self.opts.mapping = m,
                Err(e) => self.errors.push(FieldError::new(
                    "mapping",
                    format!("must be a JSON object of column → field: {e}"),
                )),
            },
            "region" => self.opts.region = Some(text.to_owned()).filter(|t| !t.is_empty()),
            "policy" => match text.parse::<Policy>() {
                Ok(p) => self.opts.policy = p,
                Err(e) => self.errors.push(FieldError::new("policy", e)),
            },
            "dry_run" => match text {
                "true" | "1" | "on" | "yes" => self.dry_run = true,
                "false" | "0" | "off" | "no" | "" => self.dry_run = false,
                other => self.errors.push(FieldError::new(
                    "dry_run",
                    format!("`{other}` is not true or false"),
                )),
            },
            "tags" => {
                self.opts.tags = if text.starts_with('[') {
                    serde_json::from_str(text).unwrap_or_default()
                } else {
                    text.split(',').map(|t| t.trim().to_owned()).collect()
                }
            }
            "sheet" => self.opts.sheet = Some(text.to_owned()).filter(|t| !t.is_empty()),
            "unmapped" => self.opts.unmapped = text.to_owned(),
            other => self.errors.push(FieldError::new(
                other,
                "is not an import option (file, mapping, region, policy, dry_run, tags, sheet, unmapped, options)",
            )),
        }
        Ok(())
    }
}

/// Start an import of a CSV or XLSX file. The file is stored, then imported by a job:
/// follow it at `GET /api/v1/imports/{id}`.
#[utoipa::path(
    post, path = "/api/v1/imports", tag = "imports",
    request_body(content = inline(ImportForm), content_type = "multipart/form-data"),
    params(("Idempotency-Key" = Option<String>, Header, description = "Repeat-safe POST")),
    responses(
        (status = 202, body = Import),
        (status = 400, description = "Not a multipart form", body = Problem),
        (status = 413, description = "File too large", body = Problem),
        (status = 422, description = "Missing file or invalid option", body = Problem),
    ),
    security(("api_key" = []))
)]
async fn create(
    State(state): State<AppState>,
    principal: Principal,
    mut form: Multipart,
) -> Result<(StatusCode, Json<Import>), Error> {
    principal.require(crate::actions::IMPORT_DATA)?;
    let store = &state.store;
    let mut options = FormOptions::default();
    let mut upload: Option<(Uuid, String, i64)> = None;
    let outcome: Result<(), Error> = async {
        while let Some(mut field) = form
            .next_field()
            .await
            .map_err(|e| Error::BadRequest(format!("the form cannot be read: {e}")))?
        {
            let name = field.name().unwrap_or_default().to_owned();
            if name != "file" {
                options.read(&name, field).await?;
                continue;
            }
            if upload.is_some() {
                return Err(Error::invalid("file", "only one file per import"));
            }
            let file_name = field
                .file_name()
                .map(str::to_owned)
                .filter(|n| !n.is_empty())
                .unwrap_or_else(|| "upload.csv".into());
            let id = service::begin_upload(store, &principal, &file_name).await?;
            upload = Some((id, file_name, 0));
            let mut buf: Vec<u8> = Vec::with_capacity(CHUNK);
            let mut seq = 0;
            let mut size = 0i64;
            while let Some(bytes) = field
                .chunk()
                .await
                .map_err(|e| upload_error(&e.to_string()))?
            {
                buf.extend_from_slice(&bytes);
                size += i64::try_from(bytes.len()).unwrap_or(0);
                if buf.len() >= CHUNK {
                    import_store::put_chunk(store.conn(), id, seq, std::mem::take(&mut buf))
                        .await?;
                    seq += 1;
                }
            }
            if !buf.is_empty() {
                import_store::put_chunk(store.conn(), id, seq, buf).await?;
            }
            if let Some(u) = upload.as_mut() {
                u.2 = size;
            }
        }
        Ok(())
    }
    .await;
    let fail = |e: Error| async {
        if let Some((id, _, _)) = &upload {
            let _ = service::abandon_upload(store, &principal, *id).await;
        }
        Err(e)
    };
    if let Err(e) = outcome {
        return fail(e).await;
    }
    let Some((id, file_name, size)) = upload.clone() else {
        return fail(Error::invalid(
            "file",
            "is required: the CSV or XLSX file to import",
        ))
        .await;
    };
    if size == 0 {
        return fail(Error::invalid("file", format!("`{file_name}` is empty"))).await;
    }
    let mut errors = options.errors;
    errors.extend(
        options
            .opts
            .check()
            .into_iter()
            .map(|(f, m)| FieldError::new(f, m)),
    );
    if !errors.is_empty() {
        return fail(Error::Invalid(errors)).await;
    }
    service::start(
        store,
        &Actor::from(&principal),
        principal.workspace_id,
        principal.user_id,
        id,
        &file_name,
        size,
        Source::Stored,
        &options.opts,
        options.dry_run,
        None,
    )
    .await?;
    Ok((
        StatusCode::ACCEPTED,
        Json(service::get(store, &principal, id).await?),
    ))
}

fn upload_error(message: &str) -> Error {
    if message.contains("limit") || message.contains("too large") {
        Error::PayloadTooLarge
    } else {
        Error::BadRequest(format!("the file upload was cut short: {message}"))
    }
}

/// How the head of a file would import.
#[derive(Serialize, ToSchema)]
pub struct Preview {
    /// What the file turned out to be, e.g. `csv (utf-8, ";")`.
    pub detected: String,
    pub headers: Vec<String>,
    /// The mapping, detected or as given.
    #[schema(value_type = Object)]
    pub mapping: Mapping,
    /// The first rows (up to 20), cleaned.
    #[schema(value_type = Vec<Object>)]
    pub rows: Vec<serde_json::Value>,
    /// Fields that can be mapped to.
    pub fields: Vec<String>,
}

/// Read the head of a file (send its first few hundred kilobytes) with the given options:
/// what it is, how its columns map, and how its first rows would be cleaned. Nothing is
/// stored.
#[utoipa::path(
    post, path = "/api/v1/imports/preview", tag = "imports",
    request_body(content = inline(ImportForm), content_type = "multipart/form-data"),
    responses(
        (status = 200, body = Preview),
        (status = 422, description = "Unreadable file or invalid option", body = Problem),
    ),
    security(("api_key" = []))
)]
async fn preview(
    State(_state): State<AppState>,
    principal: Principal,
    mut form: Multipart,
) -> Result<Json<Preview>, Error> {
    principal.require(crate::actions::IMPORT_DATA)?;
    let mut options = FormOptions::default();
    let mut file: Option<(String, Vec<u8>)> = None;
    while let Some(field) = form
        .next_field()
        .await
        .map_err(|e| Error::BadRequest(format!("the form cannot be read: {e}")))?
    {
        let name = field.name().unwrap_or_default().to_owned();
        if name == "file" {
            let file_name = field.file_name().unwrap_or("upload.csv").to_owned();
            let bytes = field
                .bytes()
                .await
                .map_err(|e| upload_error(&e.to_string()))?;
            file = Some((file_name, bytes.to_vec()));
        } else {
            options.read(&name, field).await?;
        }
    }
    let mut errors = options.errors;
    errors.extend(
        options
            .opts
            .check()
            .into_iter()
            .map(|(f, m)| FieldError::new(f, m)),
    );
    if !errors.is_empty() {
        return Err(Error::Invalid(errors));
    }
    let (file_name, bytes) = file.ok_or_else(|| Error::invalid("file", "is required"))?;
    let opts = options.opts;
    tokio::task::spawn_blocking(move || preview_of(&file_name, bytes, &opts))
        .await
        .map_err(|e| Error::Internal(e.into()))?
        .map(Json)
}

fn preview_of(file_name: &str, bytes: Vec<u8>, opts: &ImportOptions) -> Result<Preview, Error> {
    let table = if bytes.starts_with(b"PK\x03\x04") {
        // XLSX needs the whole file: spill it to a private temporary file.
        let path = std::env::temp_dir().join(format!("salesos-preview-{}", Uuid::new_v4()));
        std::fs::write(&path, &bytes).map_err(|e| Error::Internal(e.into()))?;
        let t = read::open(&path, opts.sheet.as_deref());
        let _ = std::fs::remove_file(&path);
        t
    } else {
        // The head of a CSV may end mid-row: drop the last, possibly partial, line.
        let cut = bytes
            .iter()
            .rposition(|b| *b == b'\n')
            .map_or(bytes.len(), |i| i + 1);
        let head = bytes.get(..cut).unwrap_or(&bytes).to_vec();
        read::csv_table(std::io::Cursor::new(head), file_name.to_owned())
    }
    .map_err(|e| Error::invalid("file", e.to_string().replace("upload.csv", file_name)))?;
    let explicit = opts.mapping.clone().into_iter().collect();
    let mapping = map_headers(&table.headers, &explicit, opts.unmapped()).map_err(|errs| {
        Error::Invalid(
            errs.into_iter()
                .map(|e| FieldError::new("mapping", e.0))
                .collect(),
        )
    })?;
    let headers = table.headers.clone();
    let detected = table.detected.clone();
    let row_opts = RowOptions {
        region: opts.region.clone(),
        tags: opts.tags.clone(),
    };
    let rows = table
        .take(20)
        .map(|r| match r {
            Ok(raw) => {
                let cells = raw.fields.clone();
                let p = prepare(&mapping, raw, &row_opts);
                match p.result {
                    Ok(d) => serde_json::json!({
                        "row": p.row, "outcome": "ok", "cells": cells,
                        "contact": d.contact, "account": d.account.map(|a| a.fields),
                        "warnings": d.warnings,
                    }),
                    Err(r) => serde_json::json!({
                        "row": p.row, "outcome": "rejected", "cells": r.fields, "column": r.column, "value": r.value,
                        "reason": r.reason,
                    }),
                }
            }
            Err(e) => serde_json::json!({"outcome": "rejected", "reason": e.to_string()}),
        })
        .collect();
    Ok(Preview {
        detected,
        headers,
        mapping,
        rows,
        fields: super::mapping::field_names(),
    })
}

/// The workspace's imports, newest first.
#[utoipa::path(
    get, path = "/api/v1/imports", tag = "imports", params(ImportQuery),
    responses((status = 200, body = Page<Import>)),
    security(("api_key" = []))
)]
async fn list(
    State(state): State<AppState>,
    principal: Principal,
    ApiQuery(q): ApiQuery<ImportQuery>,
) -> Result<Json<Page<Import>>, Error> {
    Ok(Json(service::list(&state.store, &principal, q).await?))
}

/// An import: state, progress and counts.
#[utoipa::path(
    get, path = "/api/v1/imports/{id}", tag = "imports",
    params(("id" = Uuid, Path)),
    responses((status = 200, body = Import), (status = 404, body = Problem)),
    security(("api_key" = []))
)]
async fn get(
    State(state): State<AppState>,
    principal: Principal,
    ApiPath(id): ApiPath<Uuid>,
) -> Result<Json<Import>, Error> {
    Ok(Json(service::get(&state.store, &principal, id).await?))
}

/// The outcome of each row, in file order; `outcome=rejected` for the rows to fix.
#[utoipa::path(
    get, path = "/api/v1/imports/{id}/rows", tag = "imports",
    params(("id" = Uuid, Path), RowQuery),
    responses((status = 200, body = Page<ImportRowView>), (status = 404, body = Problem)),
    security(("api_key" = []))
)]
async fn rows(
    State(state): State<AppState>,
    principal: Principal,
    ApiPath(id): ApiPath<Uuid>,
    ApiQuery(q): ApiQuery<RowQuery>,
) -> Result<Json<Page<ImportRowView>>, Error> {
    Ok(Json(service::rows(&state.store, &principal, id, q).await?))
}

/// The rejected rows as CSV, with the file's columns followed by `_row`, `_column` and
/// `_reason`.
#[utoipa::path(
    get, path = "/api/v1/imports/{id}/rejected.csv", tag = "imports",
    params(("id" = Uuid, Path)),
    responses((status = 200, content_type = "text/csv", body = String), (status = 404, body = Problem)),
    security(("api_key" = []))
)]
async fn rejected_csv(
    State(state): State<AppState>,
    principal: Principal,
    ApiPath(id): ApiPath<Uuid>,
) -> Result<impl IntoResponse, Error> {
    let body = service::rejected_csv(&state.store, &principal, id).await?;
    Ok((
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8".to_owned()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"rejected-{id}.csv\""),
            ),
        ],
        body,
    ))
}

/// A CSV download whose rows a task writes into a channel as they are read.
fn csv_download(name: &str, rx: tokio::sync::mpsc::Receiver<Vec<u8>>) -> axum::response::Response {
    let stream = futures_util::stream::unfold(rx, |mut rx| async move {
        rx.recv()
            .await
            .map(|chunk| (Ok::<_, std::io::Error>(axum::body::Bytes::from(chunk)), rx))
    });
    (
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8".to_owned()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"{name}\""),
            ),
        ],
        axum::body::Body::from_stream(stream),
    )
        .into_response()
}

/// Every contact the filters select, as CSV (the same filters as the list; `limit`,
/// `cursor` and `sort` do not apply). Streamed: any number of rows. The file imports back
/// to the same contacts.
#[utoipa::path(
    get, path = "/api/v1/contacts/export.csv", tag = "contacts", params(ContactQuery),
    responses((status = 200, content_type = "text/csv", body = String), (status = 422, body = Problem)),
    security(("api_key" = []))
)]
async fn export_contacts(
    State(state): State<AppState>,
    principal: Principal,
    ApiQuery(q): ApiQuery<ContactQuery>,
) -> Result<axum::response::Response, Error> {
    // Refuse bad filters with a problem before the download starts. `limit`, `cursor` and
    // `sort` are checked as the list checks them, though the export does not apply them.
    let probe = ContactQuery {
        limit: Some(q.limit.unwrap_or(1)),
        ..export::clone_query(&q)
    };
    contacts::list(&state.store, &principal, probe).await?;
    let (tx, rx) = tokio::sync::mpsc::channel(4);
    tokio::spawn(async move {
        if let Err(e) = export::contacts_csv(&state.store, &principal, q, tx).await {
            tracing::error!(error = %e, "contacts export stopped");
        }
    });
    Ok(csv_download("contacts.csv", rx))
}

/// Every account the filters select, as CSV (see the contacts export).
#[utoipa::path(
    get, path = "/api/v1/accounts/export.csv", tag = "accounts", params(AccountQuery),
    responses((status = 200, content_type = "text/csv", body = String), (status = 422, body = Problem)),
    security(("api_key" = []))
)]
async fn export_accounts(
    State(state): State<AppState>,
    principal: Principal,
    ApiQuery(q): ApiQuery<AccountQuery>,
) -> Result<axum::response::Response, Error> {
    let probe = AccountQuery {
        limit: Some(q.limit.unwrap_or(1)),
        cursor: q.cursor.clone(),
        sort: q.sort.clone(),
        q: q.q.clone(),
        status: q.status,
        owner_id: q.owner_id.clone(),
        domain: q.domain.clone(),
        created_after: q.created_after,
        created_before: q.created_before,
        updated_after: q.updated_after,
        updated_before: q.updated_before,
    };
    accounts::list(&state.store, &principal, probe).await?;
    let (tx, rx) = tokio::sync::mpsc::channel(4);
    tokio::spawn(async move {
        if let Err(e) = export::accounts_csv(&state.store, &principal, q, tx).await {
            tracing::error!(error = %e, "accounts export stopped");
        }
    });
    Ok(csv_download("accounts.csv", rx))
}
