//! Queries for accounts.

use salesos_platform::store::Db;
use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use sea_orm::{DbErr, FromQueryResult, Value};
use uuid::Uuid;

use super::model::{AccountFields, AccountStatus};
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
    #[derive(Clone, Debug)]
    pub struct AccountRow in "accounts" {
        pub id: Uuid,
        pub name: String,
        pub domain: Option<String>,
        pub industry: Option<String>,
        pub company_size: Option<String>,
        pub annual_revenue_micros: Option<i64>,
        pub location: Option<String>,
        pub fit_score: Option<f64>,
        pub intent_score: Option<f64>,
        pub status: String,
        pub owner_id: Option<Uuid>,
        pub crm_ids: serde_json::Value,
        pub metadata: serde_json::Value,
        pub created_at: DateTime<Utc>,
        pub updated_at: DateTime<Utc>,
    }
}

/// One domain per account in a workspace.
pub(crate) const DOMAIN_KEY: UniqueKey = UniqueKey {
    index: "accounts_domain",
    table: "accounts",
    columns: &["workspace_id", "domain"],
};

impl AccountRow {
    pub fn fields(&self) -> AccountFields {
        AccountFields {
            name: self.name.clone(),
            domain: self.domain.clone(),
            industry: self.industry.clone(),
            company_size: self.company_size.as_deref().and_then(|s| s.parse().ok()),
            annual_revenue_micros: self.annual_revenue_micros,
            location: self.location.clone(),
            fit_score: self.fit_score,
            intent_score: self.intent_score,
            status: Some(self.status.parse().unwrap_or(AccountStatus::Prospect)),
            owner_id: self.owner_id,
            crm_ids: serde_json::from_value::<BTreeMap<String, String>>(self.crm_ids.clone())
                .unwrap_or_default(),
            metadata: match &self.metadata {
                serde_json::Value::Object(m) => m.clone(),
                _ => serde_json::Map::new(),
            },
        }
    }
}

salesos_platform::columns! {
    /// What an insert or an update of a account writes, from its writable fields.
    pub(crate) fn writable_values(f: &AccountFields) -> WRITABLE {
        name: f.name.clone(),
        domain: f.domain.clone(),
        industry: f.industry.clone(),
        company_size: f.company_size.map(|s| s.as_str().to_owned()),
        annual_revenue_micros: f.annual_revenue_micros,
        location: f.location.clone(),
        fit_score: f.fit_score,
        intent_score: f.intent_score,
        status: f.status.unwrap_or(AccountStatus::Prospect).as_str(),
        owner_id: f.owner_id,
        crm_ids: serde_json::to_value(&f.crm_ids).unwrap_or_default(),
        metadata: serde_json::Value::Object(f.metadata.clone()),
        search_text: f.search_text(),
        name_key: super::model::company_key(&f.name),
    }
}

pub async fn insert<C: Db>(
    conn: &C,
    workspace_id: Uuid,
    id: Uuid,
    f: &AccountFields,
    at: DateTime<Utc>,
) -> Result<(), DbErr> {
    let mut columns = vec!["id", "workspace_id"];
    columns.extend(WRITABLE);
    columns.extend(["created_at", "updated_at"]);
    let mut values: Vec<Value> = vec![id.into(), workspace_id.into()];
    values.extend(writable_values(f));
    values.extend([at.into(), at.into()]);
    exec(conn, &insert_sql("accounts", &columns), values).await?;
    Ok(())
}

pub async fn update<C: Db>(
    conn: &C,
    workspace_id: Uuid,
    id: Uuid,
    f: &AccountFields,
    at: DateTime<Utc>,
) -> Result<u64, DbErr> {
    let mut values = writable_values(f);
    values.extend([at.into(), workspace_id.into(), id.into()]);
    exec(conn, &update_sql("accounts", WRITABLE), values).await
}

pub async fn get<C: Db>(
    conn: &C,
    workspace_id: Uuid,
    id: Uuid,
) -> Result<Option<AccountRow>, DbErr> {
    find_in_workspace(conn, workspace_id, id).await
}

pub async fn delete<C: Db>(conn: &C, workspace_id: Uuid, id: Uuid) -> Result<u64, DbErr> {
    exec(
        conn,
        "DELETE FROM accounts WHERE workspace_id = $1 AND id = $2",
        vec![workspace_id.into(), id.into()],
    )
    .await
}

#[derive(Debug, Default)]
pub struct Filter {
    pub q: Option<String>,
    pub status: Option<AccountStatus>,
    pub owner_id: Option<Option<Uuid>>,
    pub domain: Option<String>,
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
        name: "name",
        column: "name",
        kind: KeyKind::Text,
    },
];

pub async fn list<C: Db>(
    conn: &C,
    workspace_id: Uuid,
    filter: &Filter,
    scope: OwnerScope,
    sort: &Sort,
    after: Option<&Position>,
    limit: u64,
) -> Result<Vec<AccountRow>, DbErr> {
    let mut b = SqlBuilder::new(&format!(
        "SELECT {account_row_columns} FROM accounts WHERE workspace_id = $1",
        account_row_columns = AccountRow::COLUMNS
    ));
    b.values.push(workspace_id.into());
    b.owner_scope(scope)
        .owner_is(filter.owner_id)
        .time_ranges(&filter.ranges);
    if let Some(s) = filter.status {
        b.and("status", "=", s.as_str());
    }
    if let Some(d) = &filter.domain {
        b.and("domain", "=", d.clone());
    }
    if let Some(q) = &filter.q {
        for t in search_terms(q) {
            let p = b.bind(format!("%{}%", like_escape(&t)));
            b.push(&format!(" AND search_text LIKE {p} ESCAPE '\\'"));
        }
    }
    if let Some(c) = after {
        sort.after(&mut b, "", c);
    }
    b.push(&sort.order_by(""));
    b.push(&format!(" LIMIT {}", limit + 1));
    let stmt = statement(conn.get_database_backend(), &b.sql, b.values);
    AccountRow::find_by_statement(stmt).all(conn).await
}
