//! Data out: contacts and accounts as CSV, with the list's filters, written page by page
//! into a channel so any number of rows streams in constant memory. The columns are the
//! ones an import recognises, so an exported file imports back to the same data.

use std::collections::HashMap;

use tokio::sync::mpsc;
use uuid::Uuid;

use crate::{
    platform::{auth::Principal, error::Error, store::Store},
    {
        accounts::{
            bulk as account_bulk,
            service::{self as accounts, Account, AccountQuery},
        },
        contacts::{
            bulk as contact_bulk,
            service::{self as contacts, Contact, ContactQuery},
        },
    },
};

const PAGE: u64 = 500;

const CONTACT_COLUMNS: &[&str] = &[
    "id",
    "first_name",
    "last_name",
    "email",
    "phone",
    "title",
    "seniority",
    "company",
    "website",
    "linkedin_url",
    "country",
    "city",
    "timezone",
    "status",
    "tags",
];

const ACCOUNT_COLUMNS: &[&str] = &[
    "id",
    "company",
    "domain",
    "industry",
    "company_size",
    "location",
    "status",
    "created_at",
    "updated_at",
];

fn csv_line(fields: &[String]) -> Result<Vec<u8>, Error> {
    let mut w = csv::Writer::from_writer(Vec::new());
    w.write_record(fields)
        .map_err(|e| Error::Internal(anyhow::anyhow!(e)))?;
    w.into_inner()
        .map_err(|e| Error::Internal(anyhow::anyhow!(e.to_string())))
}

fn text(v: &serde_json::Value) -> String {
    match v {
        serde_json::Value::String(s) => s.clone(),
        serde_json::Value::Null => String::new(),
        other => other.to_string(),
    }
}

/// The custom field names the workspace's contacts use, for the header.
async fn custom_keys(store: &Store, workspace_id: Uuid) -> Result<Vec<String>, Error> {
    Ok(contact_bulk::custom_field_keys(store.conn(), workspace_id).await?)
}

/// Write the contacts the query selects as CSV into `out`, oldest first. Stops quietly
/// when the receiver goes away.
pub async fn contacts_csv(
    store: &Store,
    principal: &Principal,
    mut q: ContactQuery,
    out: mpsc::Sender<Vec<u8>>,
) -> Result<(), Error> {
    principal.require(salesos_contacts::actions::READ_SALES)?;
    let keys = custom_keys(store, principal.workspace_id).await?;
    let mut header: Vec<String> = CONTACT_COLUMNS.iter().map(|c| (*c).to_owned()).collect();
    header.extend(keys.iter().map(|k| format!("custom.{k}")));
    header.extend(["created_at".into(), "updated_at".into()]);
    if out.send(csv_line(&header)?).await.is_err() {
        return Ok(());
    }
    q.limit = Some(PAGE);
    q.sort = Some("created_at".into());
    q.cursor = None;
    loop {
        let page = contacts::list(store, principal, clone_query(&q)).await?;
        let domains = domains_of(store, principal.workspace_id, &page.data).await?;
        let mut chunk = Vec::new();
        for c in &page.data {
            chunk.extend(csv_line(&contact_fields(c, &keys, &domains))?);
        }
        if out.send(chunk).await.is_err() {
            return Ok(());
        }
        match page.next_cursor {
            Some(c) => q.cursor = Some(c),
            None => return Ok(()),
        }
    }
}

/// A copy of a contacts query (the query type is not `Clone`, being a parameter list).
pub fn clone_query(q: &ContactQuery) -> ContactQuery {
    ContactQuery {
        limit: q.limit,
        cursor: q.cursor.clone(),
        q: q.q.clone(),
        status: q.status,
        owner_id: q.owner_id.clone(),
        tier: q.tier,
        account_id: q.account_id,
        created_after: q.created_after,
        created_before: q.created_before,
        updated_after: q.updated_after,
        updated_before: q.updated_before,
        sort: q.sort.clone(),
    }
}

async fn domains_of(
    store: &Store,
    workspace_id: Uuid,
    page: &[Contact],
) -> Result<HashMap<Uuid, String>, Error> {
    let ids: Vec<Uuid> = page.iter().filter_map(|c| c.account_id).collect();
    if ids.is_empty() {
        return Ok(HashMap::new());
    }
    Ok(account_bulk::find_by_ids(store.conn(), workspace_id, ids)
        .await?
        .into_iter()
        .filter_map(|a| Some((a.id, a.domain?)))
        .collect())
}

fn contact_fields(c: &Contact, keys: &[String], domains: &HashMap<Uuid, String>) -> Vec<String> {
    let o = |v: &Option<String>| v.clone().unwrap_or_default();
    let mut row = vec![
        c.id.to_string(),
        o(&c.first_name),
        o(&c.last_name),
        o(&c.email),
        o(&c.phone),
        o(&c.title),
        c.seniority
            .map(|s| s.as_str().to_owned())
            .unwrap_or_default(),
        o(&c.company),
        c.account_id
            .and_then(|a| domains.get(&a).cloned())
            .unwrap_or_default(),
        o(&c.linkedin_url),
        o(&c.country),
        o(&c.city),
        o(&c.timezone),
        c.status.as_str().to_owned(),
        c.tags.join("; "),
    ];
    row.extend(
        keys.iter()
            .map(|k| c.custom_fields.get(k).map(text).unwrap_or_default()),
    );
    row.extend([c.created_at.to_rfc3339(), c.updated_at.to_rfc3339()]);
    row
}

/// Write the accounts the query selects as CSV into `out`, oldest first.
pub async fn accounts_csv(
    store: &Store,
    principal: &Principal,
    mut q: AccountQuery,
    out: mpsc::Sender<Vec<u8>>,
) -> Result<(), Error> {
    principal.require(salesos_contacts::actions::READ_SALES)?;
    let header: Vec<String> = ACCOUNT_COLUMNS.iter().map(|c| (*c).to_owned()).collect();
    if out.send(csv_line(&header)?).await.is_err() {
        return Ok(());
    }
    q.limit = Some(PAGE);
    q.sort = Some("created_at".into());
    q.cursor = None;
    loop {
        let page = accounts::list(store, principal, clone_accounts_query(&q)).await?;
        let mut chunk = Vec::new();
        for a in &page.data {
            chunk.extend(csv_line(&account_fields(a))?);
        }
        if out.send(chunk).await.is_err() {
            return Ok(());
        }
        match page.next_cursor {
            Some(c) => q.cursor = Some(c),
            None => return Ok(()),
        }
    }
}

fn clone_accounts_query(q: &AccountQuery) -> AccountQuery {
    AccountQuery {
        limit: q.limit,
        cursor: q.cursor.clone(),
        q: q.q.clone(),
        status: q.status,
        owner_id: q.owner_id.clone(),
        domain: q.domain.clone(),
        created_after: q.created_after,
        created_before: q.created_before,
        updated_after: q.updated_after,
        updated_before: q.updated_before,
        sort: q.sort.clone(),
    }
}

fn account_fields(a: &Account) -> Vec<String> {
    let o = |v: &Option<String>| v.clone().unwrap_or_default();
    vec![
        a.id.to_string(),
        a.name.clone(),
        o(&a.domain),
        o(&a.industry),
        a.company_size
            .map(|s| s.as_str().to_owned())
            .unwrap_or_default(),
        o(&a.location),
        a.status.as_str().to_owned(),
        a.created_at.to_rfc3339(),
        a.updated_at.to_rfc3339(),
    ]
}
