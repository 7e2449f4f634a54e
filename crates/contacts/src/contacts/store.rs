//! Queries for contacts. Text search is the one place the dialects differ: PostgreSQL
//! matches `LIKE '%term%'` through a trigram index, SQLite through its FTS5 trigram table.

use salesos_platform::store::Db;
use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use sea_orm::{DbBackend, DbErr, FromQueryResult, Value};
use uuid::Uuid;

use super::model::{Consent, ConsentBasis, ContactFields, ContactStatus, Seniority};
use crate::platform::{
    auth::OwnerScope,
    store::{
        UniqueKey, exec, find_in_workspace,
        query::{
            KeyKind, Position, Sort, SortField, SqlBuilder, TimeRanges, insert_sql, like_escape,
            search_terms, update_sql,
        },
        statement,
    },
};

salesos_platform::table! {
    /// A stored contact.
    #[derive(Clone, Debug)]
    pub struct ContactRow in "contacts" {
        pub id: Uuid,
        pub account_id: Option<Uuid>,
        pub owner_id: Option<Uuid>,
        pub first_name: Option<String>,
        pub last_name: Option<String>,
        pub email: Option<String>,
        pub phone: Option<String>,
        pub linkedin_url: Option<String>,
        pub title: Option<String>,
        pub seniority: Option<String>,
        pub company: Option<String>,
        pub status: String,
        pub tier: Option<i32>,
        pub engagement_score: i32,
        pub intent_score: i32,
        pub timezone: Option<String>,
        pub country: Option<String>,
        pub city: Option<String>,
        pub source: Option<String>,
        pub consent_basis: Option<String>,
        pub consent_at: Option<DateTime<Utc>>,
        pub consent_source: Option<String>,
        pub do_not_contact: bool,
        pub custom_fields: serde_json::Value,
        pub crm_ids: serde_json::Value,
        pub tags: serde_json::Value,
        pub created_at: DateTime<Utc>,
        pub updated_at: DateTime<Utc>,
    }
}

/// One email per contact in a workspace.
pub(crate) const EMAIL_KEY: UniqueKey = UniqueKey {
    index: "contacts_email",
    table: "contacts",
    columns: &["workspace_id", "email"],
};

impl ContactRow {
    /// The writable fields, as the rules see them.
    pub fn fields(&self) -> ContactFields {
        let consent = match (&self.consent_basis, self.consent_at) {
            (Some(basis), Some(at)) => basis.parse::<ConsentBasis>().ok().map(|basis| Consent {
                basis,
                obtained_at: at,
                source: self.consent_source.clone(),
            }),
            _ => None,
        };
        ContactFields {
            account_id: self.account_id,
            owner_id: self.owner_id,
            first_name: self.first_name.clone(),
            last_name: self.last_name.clone(),
            email: self.email.clone(),
            phone: self.phone.clone(),
            linkedin_url: self.linkedin_url.clone(),
            title: self.title.clone(),
            seniority: self
                .seniority
                .as_deref()
                .and_then(|s| s.parse::<Seniority>().ok()),
            company: self.company.clone(),
            status: Some(self.status.parse().unwrap_or(ContactStatus::New)),
            tier: self.tier,
            engagement_score: self.engagement_score,
            intent_score: self.intent_score,
            timezone: self.timezone.clone(),
            country: self.country.clone(),
            city: self.city.clone(),
            source: self.source.clone(),
            consent,
            do_not_contact: self.do_not_contact,
            custom_fields: match &self.custom_fields {
                serde_json::Value::Object(m) => m.clone(),
                _ => serde_json::Map::new(),
            },
            crm_ids: serde_json::from_value::<BTreeMap<String, String>>(self.crm_ids.clone())
                .unwrap_or_default(),
            tags: serde_json::from_value::<Vec<String>>(self.tags.clone()).unwrap_or_default(),
        }
    }
}

salesos_platform::columns! {
    /// What an insert or an update of a contact writes, from its writable fields.
    pub(crate) fn writable_values(f: &ContactFields) -> WRITABLE {
        account_id: f.account_id,
        owner_id: f.owner_id,
        first_name: f.first_name.clone(),
        last_name: f.last_name.clone(),
        email: f.email.clone(),
        phone: f.phone.clone(),
        linkedin_url: f.linkedin_url.clone(),
        title: f.title.clone(),
        seniority: f.seniority.map(|s| s.as_str().to_owned()),
        company: f.company.clone(),
        status: f.status.unwrap_or(ContactStatus::New).as_str(),
        tier: f.tier,
        engagement_score: f.engagement_score,
        intent_score: f.intent_score,
        timezone: f.timezone.clone(),
        country: f.country.clone(),
        city: f.city.clone(),
        source: f.source.clone(),
        consent_basis: f.consent.as_ref().map(|c| c.basis.as_str().to_owned()),
        consent_at: f.consent.as_ref().map(|c| c.obtained_at),
        consent_source: f.consent.as_ref().and_then(|c| c.source.clone()),
        do_not_contact: f.do_not_contact,
        custom_fields: serde_json::Value::Object(f.custom_fields.clone()),
        crm_ids: serde_json::to_value(&f.crm_ids).unwrap_or_default(),
        search_text: f.search_text(),
        tags: serde_json::to_value(&f.tags).unwrap_or_default(),
        name_hash: f.name_hash(),
    }
}

pub async fn insert<C: Db>(
    conn: &C,
    workspace_id: Uuid,
    id: Uuid,
    f: &ContactFields,
    at: DateTime<Utc>,
) -> Result<(), DbErr> {
    let mut columns = vec!["id", "workspace_id"];
    columns.extend(WRITABLE);
    columns.extend(["created_at", "updated_at"]);
    let mut values: Vec<Value> = vec![id.into(), workspace_id.into()];
    values.extend(writable_values(f));
    values.extend([at.into(), at.into()]);
    exec(conn, &insert_sql("contacts", &columns), values).await?;
    Ok(())
}

pub async fn update<C: Db>(
    conn: &C,
    workspace_id: Uuid,
    id: Uuid,
    f: &ContactFields,
    at: DateTime<Utc>,
) -> Result<u64, DbErr> {
    let mut values = writable_values(f);
    values.extend([at.into(), workspace_id.into(), id.into()]);
    exec(conn, &update_sql("contacts", WRITABLE), values).await
}

pub async fn get<C: Db>(
    conn: &C,
    workspace_id: Uuid,
    id: Uuid,
) -> Result<Option<ContactRow>, DbErr> {
    find_in_workspace(conn, workspace_id, id).await
}

pub async fn delete<C: Db>(conn: &C, workspace_id: Uuid, id: Uuid) -> Result<u64, DbErr> {
    exec(
        conn,
        "DELETE FROM contacts WHERE workspace_id = $1 AND id = $2",
        vec![workspace_id.into(), id.into()],
    )
    .await
}

/// Which contacts a list shows.
#[derive(Debug, Default)]
pub struct Filter {
    pub q: Option<String>,
    pub status: Option<ContactStatus>,
    /// `Some(None)`: unassigned only.
    pub owner_id: Option<Option<Uuid>>,
    pub tier: Option<i32>,
    pub account_id: Option<Uuid>,
    pub ranges: TimeRanges,
}

pub const SORTS: &[SortField] = &[
    // Creation order is id order (UUIDv7), so the list needs no index on `created_at`.
    SortField {
        name: "created_at",
        column: "id",
        kind: KeyKind::CreationOrder,
    },
    SortField {
        name: "updated_at",
        column: "updated_at",
        kind: KeyKind::Timestamp,
    },
    SortField {
        name: "engagement_score",
        column: "engagement_score",
        kind: KeyKind::Integer,
    },
];

/// Add the filter's conditions (everything after `WHERE workspace_id = $1`).
fn conditions(b: &mut SqlBuilder, backend: DbBackend, filter: &Filter, scope: OwnerScope) {
    b.owner_scope(scope)
        .owner_is(filter.owner_id)
        .time_ranges(&filter.ranges);
    if let Some(s) = filter.status {
        b.and("status", "=", s.as_str());
    }
    if let Some(t) = filter.tier {
        b.and("tier", "=", t);
    }
    if let Some(a) = filter.account_id {
        b.and("account_id", "=", a);
    }
    if let Some(q) = &filter.q {
        search(b, backend, &search_terms(q));
    }
}

/// Every term must occur somewhere in the contact's search text.
fn search(b: &mut SqlBuilder, backend: DbBackend, terms: &[String]) {
    let (indexed, short): (Vec<&String>, Vec<&String>) = match backend {
        // FTS5's trigram index needs three characters; shorter terms fall back to LIKE.
        DbBackend::Sqlite => terms.iter().partition(|t| t.chars().count() >= 3),
        _ => (Vec::new(), terms.iter().collect()),
    };
    if !indexed.is_empty() {
        let phrase = indexed
            .iter()
            .map(|t| format!("\"{}\"", t.replace('"', "\"\"")))
            .collect::<Vec<_>>()
            .join(" ");
        let p = b.bind(phrase);
        // Rows still in the indexing backlog (bulk imports) are matched by LIKE.
        let likes: Vec<String> = indexed
            .iter()
            .map(|t| {
                let l = b.bind(format!("%{}%", like_escape(t)));
                format!(" AND c.search_text LIKE {l} ESCAPE '\\'")
            })
            .collect();
        b.push(&format!(
            " AND rid IN (SELECT rowid FROM contacts_fts WHERE contacts_fts MATCH {p} \
             UNION ALL SELECT c.rid FROM search_backlog sb JOIN contacts c ON c.rid BETWEEN sb.low AND sb.high \
             WHERE 1 = 1{})",
            likes.concat()
        ));
    }
    for t in short {
        let p = b.bind(format!("%{}%", like_escape(t)));
        b.push(&format!(" AND search_text LIKE {p} ESCAPE '\\'"));
    }
}

/// A page of contacts: `limit + 1` rows so the caller knows whether more follow.
pub async fn list<C: Db>(
    conn: &C,
    workspace_id: Uuid,
    filter: &Filter,
    scope: OwnerScope,
    sort: &Sort,
    after: Option<&Position>,
    limit: u64,
) -> Result<Vec<ContactRow>, DbErr> {
    let backend = conn.get_database_backend();
    let mut b = SqlBuilder::new(&format!(
        "SELECT {contact_row_columns} FROM contacts WHERE workspace_id = $1",
        contact_row_columns = ContactRow::COLUMNS
    ));
    b.values.push(workspace_id.into());
    conditions(&mut b, backend, filter, scope);
    if let Some(c) = after {
        sort.after(&mut b, "", c);
    }
    b.push(&sort.order_by(""));
    b.push(&format!(" LIMIT {}", limit + 1));
    let stmt = statement(backend, &b.sql, b.values);
    ContactRow::find_by_statement(stmt).all(conn).await
}
