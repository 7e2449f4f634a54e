//! Queries for sending domains. The private DKIM keys are sealed with the master key for
//! their row (`sending_domains:<id>`) before they are written.

use chrono::{DateTime, Utc};
use salesos_platform::{
    secrets::{self, Keyring, SealedColumn, SecretError},
    store::Db,
};
use sea_orm::{DbErr, FromQueryResult};
use uuid::Uuid;

use super::{
    CheckStatus, DnsRecord, Domain, RecordPurpose, checks::Outcome, suggested_dmarc, suggested_spf,
};
use crate::platform::store::{
    UniqueKey, exec, find_in_workspace,
    query::{SqlBuilder, insert_sql, update_sql},
    statement,
};

salesos_platform::table! {
    #[derive(Clone, Debug)]
    pub struct DomainRow in "sending_domains" {
        pub id: Uuid,
        pub workspace_id: Uuid,
        pub domain: String,
        pub dkim_selector: String,
        pub dkim_key: String,
        pub dkim_public: String,
        pub ed25519_selector: Option<String>,
        pub ed25519_key: Option<String>,
        pub ed25519_public: Option<String>,
        pub spf_include: Option<String>,
        pub dkim_status: String,
        pub dkim_detail: Option<String>,
        pub ed25519_status: String,
        pub ed25519_detail: Option<String>,
        pub spf_status: String,
        pub spf_detail: Option<String>,
        pub dmarc_status: String,
        pub dmarc_detail: Option<String>,
        pub mx_status: String,
        pub mx_detail: Option<String>,
        pub checked_at: Option<DateTime<Utc>>,
        pub created_at: DateTime<Utc>,
        pub updated_at: DateTime<Utc>,
    }
}

const TABLE: &str = "sending_domains";

/// Where sending domains keep sealed secrets: the private halves of their DKIM keys.
pub const DKIM_KEY: SealedColumn = SealedColumn {
    table: TABLE,
    column: "dkim_key",
};
pub const ED25519_KEY: SealedColumn = SealedColumn {
    table: TABLE,
    column: "ed25519_key",
};

/// One row per domain in a workspace.
pub const DOMAIN_KEY: UniqueKey = UniqueKey {
    index: "sending_domains_domain",
    table: TABLE,
    columns: &["workspace_id", "domain"],
};

fn status(s: &str) -> CheckStatus {
    s.parse().unwrap_or(CheckStatus::Unchecked)
}

/// The status and detail columns an outcome is written to.
pub struct Checked {
    pub dkim: Outcome,
    pub ed25519: Option<Outcome>,
    pub spf: Outcome,
    pub dmarc: Outcome,
    pub mx: Outcome,
}

impl DomainRow {
    pub fn context(&self) -> String {
        secrets::context(TABLE, self.id)
    }

    pub fn seal(&self, ring: &Keyring, plain: &str) -> Result<String, SecretError> {
        ring.seal(&self.context(), plain)
    }

    /// A sealed private key of this row, opened.
    pub fn open(&self, ring: &Keyring, sealed: &str) -> Result<String, SecretError> {
        ring.open(&self.context(), sealed)
            .map(|s| s.expose().to_owned())
    }

    pub fn dkim_host(&self) -> String {
        format!("{}._domainkey.{}", self.dkim_selector, self.domain)
    }

    pub fn ed25519_host(&self) -> Option<String> {
        self.ed25519_selector
            .as_ref()
            .map(|s| format!("{s}._domainkey.{}", self.domain))
    }

    pub fn set_checked(&mut self, c: Checked, at: DateTime<Utc>) {
        let put = |o: Outcome| (o.status.as_str().to_owned(), Some(o.detail));
        (self.dkim_status, self.dkim_detail) = put(c.dkim);
        if let Some(ed) = c.ed25519 {
            (self.ed25519_status, self.ed25519_detail) = put(ed);
        }
        (self.spf_status, self.spf_detail) = put(c.spf);
        (self.dmarc_status, self.dmarc_detail) = put(c.dmarc);
        (self.mx_status, self.mx_detail) = put(c.mx);
        self.checked_at = Some(at);
        self.updated_at = at;
    }

    pub fn records(&self) -> Vec<DnsRecord> {
        let mut out = vec![DnsRecord {
            purpose: RecordPurpose::Dkim,
            kind: "TXT".into(),
            host: self.dkim_host(),
            value: Some(format!("v=DKIM1; k=rsa; p={}", self.dkim_public)),
            required_for_bulk: true,
            status: status(&self.dkim_status),
            detail: self.dkim_detail.clone(),
        }];
        if let (Some(host), Some(public)) = (self.ed25519_host(), &self.ed25519_public) {
            out.push(DnsRecord {
                purpose: RecordPurpose::DkimEd25519,
                kind: "TXT".into(),
                host,
                value: Some(format!("v=DKIM1; k=ed25519; p={public}")),
                required_for_bulk: false,
                status: status(&self.ed25519_status),
                detail: self.ed25519_detail.clone(),
            });
        }
        out.extend([
            DnsRecord {
                purpose: RecordPurpose::Spf,
                kind: "TXT".into(),
                host: self.domain.clone(),
                value: Some(suggested_spf(self.spf_include.as_deref())),
                required_for_bulk: false,
                status: status(&self.spf_status),
                detail: self.spf_detail.clone(),
            },
            DnsRecord {
                purpose: RecordPurpose::Dmarc,
                kind: "TXT".into(),
                host: format!("_dmarc.{}", self.domain),
                value: Some(suggested_dmarc()),
                required_for_bulk: true,
                status: status(&self.dmarc_status),
                detail: self.dmarc_detail.clone(),
            },
            DnsRecord {
                purpose: RecordPurpose::Mx,
                kind: "MX".into(),
                host: self.domain.clone(),
                value: None,
                required_for_bulk: false,
                status: status(&self.mx_status),
                detail: self.mx_detail.clone(),
            },
        ]);
        out
    }

    pub fn shown(&self) -> Domain {
        let records = self.records();
        let missing: Vec<RecordPurpose> = records
            .iter()
            .filter(|r| r.required_for_bulk && r.status != CheckStatus::Pass)
            .map(|r| r.purpose)
            .collect();
        Domain {
            id: self.id,
            domain: self.domain.clone(),
            dkim_selector: self.dkim_selector.clone(),
            ed25519_selector: self.ed25519_selector.clone(),
            spf_include: self.spf_include.clone(),
            bulk_ready: missing.is_empty(),
            missing,
            records,
            checked_at: self.checked_at,
            created_at: self.created_at,
            updated_at: self.updated_at,
        }
    }

    /// The values of [`WRITABLE`], in its order.
    fn writable_values(&self) -> Vec<sea_orm::Value> {
        vec![
            self.dkim_status.clone().into(),
            self.dkim_detail.clone().into(),
            self.ed25519_status.clone().into(),
            self.ed25519_detail.clone().into(),
            self.spf_status.clone().into(),
            self.spf_detail.clone().into(),
            self.dmarc_status.clone().into(),
            self.dmarc_detail.clone().into(),
            self.mx_status.clone().into(),
            self.mx_detail.clone().into(),
            self.checked_at.into(),
        ]
    }
}

/// The columns a check writes; the domain, its selectors and keys never change.
const WRITABLE: &[&str] = &[
    "dkim_status",
    "dkim_detail",
    "ed25519_status",
    "ed25519_detail",
    "spf_status",
    "spf_detail",
    "dmarc_status",
    "dmarc_detail",
    "mx_status",
    "mx_detail",
    "checked_at",
];

/// The columns set once, at creation.
const FIXED: &[&str] = &[
    "id",
    "workspace_id",
    "domain",
    "dkim_selector",
    "dkim_key",
    "dkim_public",
    "ed25519_selector",
    "ed25519_key",
    "ed25519_public",
    "spf_include",
];

pub async fn insert<C: Db>(conn: &C, r: &DomainRow) -> Result<(), DbErr> {
    let mut columns = FIXED.to_vec();
    columns.extend_from_slice(WRITABLE);
    columns.extend(["created_at", "updated_at"]);
    let mut values: Vec<sea_orm::Value> = vec![
        r.id.into(),
        r.workspace_id.into(),
        r.domain.clone().into(),
        r.dkim_selector.clone().into(),
        r.dkim_key.clone().into(),
        r.dkim_public.clone().into(),
        r.ed25519_selector.clone().into(),
        r.ed25519_key.clone().into(),
        r.ed25519_public.clone().into(),
        r.spf_include.clone().into(),
    ];
    values.extend(r.writable_values());
    values.extend([r.created_at.into(), r.updated_at.into()]);
    exec(conn, &insert_sql(TABLE, &columns), values)
        .await
        .map(drop)
}

/// Write a check's results.
pub async fn update<C: Db>(conn: &C, r: &DomainRow) -> Result<(), DbErr> {
    let mut values = r.writable_values();
    values.extend([r.updated_at.into(), r.workspace_id.into(), r.id.into()]);
    exec(conn, &update_sql(TABLE, WRITABLE), values)
        .await
        .map(drop)
}

pub async fn get<C: Db>(
    conn: &C,
    workspace_id: Uuid,
    id: Uuid,
) -> Result<Option<DomainRow>, DbErr> {
    find_in_workspace(conn, workspace_id, id).await
}

/// The workspace's row for `domain` (lowercase), if it has one.
pub async fn by_name<C: Db>(
    conn: &C,
    workspace_id: Uuid,
    domain: &str,
) -> Result<Option<DomainRow>, DbErr> {
    let sql = format!(
        "SELECT {} FROM sending_domains WHERE workspace_id = $1 AND domain = $2",
        DomainRow::COLUMNS
    );
    let stmt = statement(
        conn.get_database_backend(),
        &sql,
        vec![workspace_id.into(), domain.into()],
    );
    DomainRow::find_by_statement(stmt).one(conn).await
}

pub async fn delete<C: Db>(conn: &C, workspace_id: Uuid, id: Uuid) -> Result<u64, DbErr> {
    exec(
        conn,
        "DELETE FROM sending_domains WHERE workspace_id = $1 AND id = $2",
        vec![workspace_id.into(), id.into()],
    )
    .await
}

/// Newest first, `limit + 1` rows (the extra one says there is a next page).
pub async fn list<C: Db>(
    conn: &C,
    workspace_id: Uuid,
    before: Option<Uuid>,
    limit: u64,
) -> Result<Vec<DomainRow>, DbErr> {
    let mut b = SqlBuilder::new(&format!(
        "SELECT {} FROM sending_domains WHERE workspace_id = $1",
        DomainRow::COLUMNS
    ));
    b.values.push(workspace_id.into());
    if let Some(id) = before {
        let i = b.bind(id);
        b.push(&format!(" AND id < {i}"));
    }
    b.push(&format!(" ORDER BY id DESC LIMIT {}", limit + 1));
    let stmt = statement(conn.get_database_backend(), &b.sql, b.values);
    DomainRow::find_by_statement(stmt).all(conn).await
}
