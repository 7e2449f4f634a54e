//! Account use cases: writes in one transaction with their audit and timeline entries;
//! reads scoped to the workspace and, for reps, to their own and unassigned accounts.

use salesos_platform::store::Db;
use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use super::{
    model::{AccountFields, AccountInput, AccountStatus, CompanySize},
    store::{self, AccountRow, Filter, SORTS},
};
use crate::{
    activities::{self, Activity, NewActivity, On, Subject, TimelineQuery},
    model::{Domain, patch::changes},
    platform::{
        audit::{self, Actor, Change},
        auth::{Principal, store as auth_store},
        error::{Error, FieldError},
        http::pagination::{Cursor, Page, page_size, paginate},
        runtime::events,
        store::{
            Store, broken_key,
            query::{Sort, TimeRanges, parse_owner_filter, search_text},
        },
    },
    topics,
};

/// An account as the API shows it.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct Account {
    pub id: Uuid,
    pub name: String,
    pub domain: Option<String>,
    pub industry: Option<String>,
    pub company_size: Option<CompanySize>,
    /// Annual revenue in micro-units (1 USD = 1000000).
    pub annual_revenue_micros: Option<i64>,
    pub location: Option<String>,
    pub fit_score: Option<f64>,
    pub intent_score: Option<f64>,
    pub status: AccountStatus,
    pub owner_id: Option<Uuid>,
    pub crm_ids: BTreeMap<String, String>,
    #[schema(value_type = Object)]
    pub metadata: serde_json::Map<String, serde_json::Value>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl From<&AccountRow> for Account {
    fn from(r: &AccountRow) -> Self {
        let f = r.fields();
        Account {
            id: r.id,
            name: f.name,
            domain: f.domain,
            industry: f.industry,
            company_size: f.company_size,
            annual_revenue_micros: f.annual_revenue_micros,
            location: f.location,
            fit_score: f.fit_score,
            intent_score: f.intent_score,
            status: f.status.unwrap_or(AccountStatus::Prospect),
            owner_id: f.owner_id,
            crm_ids: f.crm_ids,
            metadata: f.metadata,
            created_at: r.created_at,
            updated_at: r.updated_at,
        }
    }
}

#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct AccountQuery {
    /// Page size, 1 to 500 (default 50).
    #[param(minimum = 1, maximum = 500)]
    pub limit: Option<u64>,
    pub cursor: Option<String>,
    /// Text that must appear in the name, domain or industry (every word).
    pub q: Option<String>,
    pub status: Option<AccountStatus>,
    /// A user id, or `none` for unassigned accounts.
    #[param(
        pattern = r"^(|none|[0-9a-fA-F]{8}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{12})$"
    )]
    pub owner_id: Option<String>,
    /// Exact domain (normalised like input: `https://www.acme.com` finds `acme.com`).
    pub domain: Option<String>,
    pub created_after: Option<DateTime<Utc>>,
    pub created_before: Option<DateTime<Utc>>,
    pub updated_after: Option<DateTime<Utc>>,
    pub updated_before: Option<DateTime<Utc>>,
    /// `created_at`, `updated_at` or `name`; prefix `-` for descending. Default `-created_at`.
    #[param(pattern = r"^-?(created_at|updated_at|name)$")]
    pub sort: Option<String>,
}

/// Is there an account with this id in the workspace?
pub async fn exists<C: Db>(conn: &C, workspace_id: Uuid, id: Uuid) -> Result<bool, Error> {
    Ok(store::get(conn, workspace_id, id).await?.is_some())
}

/// The account's name, if it exists.
pub async fn name_of<C: Db>(
    conn: &C,
    workspace_id: Uuid,
    id: Uuid,
) -> Result<Option<String>, Error> {
    Ok(store::get(conn, workspace_id, id).await?.map(|a| a.name))
}

fn domain_conflict(err: sea_orm::DbErr) -> Error {
    match broken_key(&err, &[store::DOMAIN_KEY]) {
        Some(_) => Error::conflict(
            "domain",
            "an account with this domain already exists in the workspace",
        ),
        _ => Error::Store(err),
    }
}

async fn check_owner<C: Db>(
    conn: &C,
    principal: &Principal,
    before: Option<Uuid>,
    after: Option<Uuid>,
) -> Result<(), Error> {
    let Some(owner) = after.filter(|o| Some(*o) != before) else {
        return Ok(());
    };
    if !principal.can_touch(Some(owner)) {
        return Err(Error::Forbidden(
            "a rep can assign accounts only to themselves".into(),
        ));
    }
    if !auth_store::is_member(conn, principal.workspace_id, owner).await? {
        return Err(Error::Invalid(vec![FieldError::new(
            "owner_id",
            "no member of the workspace has this id",
        )]));
    }
    Ok(())
}

async fn visible<C: Db>(conn: &C, principal: &Principal, id: Uuid) -> Result<AccountRow, Error> {
    match store::get(conn, principal.workspace_id, id).await? {
        Some(row) if principal.can_touch(row.owner_id) => Ok(row),
        _ => Err(Error::NotFound("account")),
    }
}

pub async fn create(
    store: &Store,
    principal: &Principal,
    input: AccountInput,
) -> Result<Account, Error> {
    principal.require(crate::actions::WRITE_SALES)?;
    let owner_given = input.owner_id.is_some();
    let mut fields = AccountFields::default()
        .apply(input)
        .map_err(Error::Invalid)?;
    if !owner_given && principal.role == crate::platform::auth::Role::Rep {
        fields.owner_id = principal.user_id;
    }
    let txn = store.write().await?;
    check_owner(&txn, principal, None, fields.owner_id).await?;
    let id = txn.new_id();
    store::insert(&txn, principal.workspace_id, id, &fields, txn.now())
        .await
        .map_err(domain_conflict)?;
    let account = Account::from(
        &store::get(&txn, principal.workspace_id, id)
            .await?
            .ok_or_else(|| Error::Internal(anyhow::anyhow!("account vanished after insert")))?,
    );
    activities::system_entry(
        &txn,
        principal,
        On {
            contact_id: None,
            account_id: Some(id),
        },
        "Account created",
        serde_json::json!({}),
    )
    .await?;
    audit::record(
        &txn,
        &Actor::from(principal),
        Change {
            workspace_id: Some(principal.workspace_id),
            action: "account.created",
            entity_type: "account",
            entity_id: Some(id.to_string()),
            before: None,
            after: serde_json::to_value(&account).ok(),
        },
    )
    .await?;
    events::record(
        &txn,
        principal,
        &topics::ACCOUNT_CREATED,
        "account",
        id,
        serde_json::to_value(&account).unwrap_or_default(),
    )
    .await?;
    txn.commit().await?;
    Ok(account)
}

pub async fn get(store: &Store, principal: &Principal, id: Uuid) -> Result<Account, Error> {
    principal.require(crate::actions::READ_SALES)?;
    Ok(Account::from(&visible(store.conn(), principal, id).await?))
}

pub async fn update(
    store: &Store,
    principal: &Principal,
    id: Uuid,
    input: AccountInput,
) -> Result<Account, Error> {
    principal.require(crate::actions::WRITE_SALES)?;
    let txn = store.write().await?;
    let row = visible(&txn, principal, id).await?;
    let before = row.fields();
    let after = before.apply(input).map_err(Error::Invalid)?;
    let diff = changes(&before, &after);
    if diff.is_empty() {
        return Ok(Account::from(&row));
    }
    check_owner(&txn, principal, before.owner_id, after.owner_id).await?;
    store::update(&txn, principal.workspace_id, id, &after, txn.now())
        .await
        .map_err(domain_conflict)?;
    let account = Account::from(
        &store::get(&txn, principal.workspace_id, id)
            .await?
            .ok_or(Error::NotFound("account"))?,
    );
    let names: Vec<&str> = diff.keys().map(String::as_str).collect();
    activities::system_entry(
        &txn,
        principal,
        On {
            contact_id: None,
            account_id: Some(id),
        },
        &format!("Updated {}", names.join(", ")),
        serde_json::json!({"changes": diff}),
    )
    .await?;
    audit::record(
        &txn,
        &Actor::from(principal),
        Change {
            workspace_id: Some(principal.workspace_id),
            action: "account.updated",
            entity_type: "account",
            entity_id: Some(id.to_string()),
            before: serde_json::to_value(Account::from(&row)).ok(),
            after: serde_json::to_value(&account).ok(),
        },
    )
    .await?;
    events::record(
        &txn,
        principal,
        &topics::ACCOUNT_UPDATED,
        "account",
        id,
        serde_json::to_value(topics::AccountChanged {
            account: &account,
            changes: &diff,
        })
        .unwrap_or_default(),
    )
    .await?;
    txn.commit().await?;
    Ok(account)
}

/// Delete an account; its contacts stay, unlinked.
pub async fn delete(store: &Store, principal: &Principal, id: Uuid) -> Result<(), Error> {
    principal.require(crate::actions::WRITE_SALES)?;
    let txn = store.write().await?;
    let row = visible(&txn, principal, id).await?;
    store::delete(&txn, principal.workspace_id, id).await?;
    audit::record(
        &txn,
        &Actor::from(principal),
        Change {
            workspace_id: Some(principal.workspace_id),
            action: "account.deleted",
            entity_type: "account",
            entity_id: Some(id.to_string()),
            before: serde_json::to_value(Account::from(&row)).ok(),
            after: None,
        },
    )
    .await?;
    events::record(
        &txn,
        principal,
        &topics::ACCOUNT_DELETED,
        "account",
        id,
        serde_json::to_value(topics::Deleted { id }).unwrap_or_default(),
    )
    .await?;
    txn.commit().await?;
    Ok(())
}

pub async fn list(
    store: &Store,
    principal: &Principal,
    q: AccountQuery,
) -> Result<Page<Account>, Error> {
    principal.require(crate::actions::READ_SALES)?;
    let limit = page_size(q.limit)?;
    let sort = Sort::parse(q.sort.as_deref(), SORTS, "-created_at")?;
    let after = q
        .cursor
        .as_deref()
        .map(|c| Cursor::decode(c, &sort.name()).and_then(|c| sort.position(&c)))
        .transpose()?;
    let owner_id = parse_owner_filter(q.owner_id.as_deref())?;
    let domain = match q.domain.as_deref().map(str::trim).filter(|d| !d.is_empty()) {
        Some(d) => Some(
            Domain::parse(d)
                .map_err(|e| Error::invalid("domain", e.0))?
                .as_str()
                .to_owned(),
        ),
        None => None,
    };
    let filter = Filter {
        q: search_text("q", q.q)?,
        status: q.status,
        owner_id,
        domain,
        ranges: TimeRanges {
            created_after: q.created_after,
            created_before: q.created_before,
            updated_after: q.updated_after,
            updated_before: q.updated_before,
        },
    };
    let rows = store::list(
        store.conn(),
        principal.workspace_id,
        &filter,
        principal.owner_scope(),
        &sort,
        after.as_ref(),
        limit,
    )
    .await?;
    let accounts: Vec<Account> = rows.iter().map(Account::from).collect();
    Ok(paginate(accounts, limit, |a| {
        let key = match sort.field.name {
            "updated_at" => serde_json::json!(a.updated_at),
            "name" => serde_json::json!(a.name),
            _ => serde_json::json!(a.created_at),
        };
        sort.cursor(key, a.id)
    }))
}

pub async fn timeline(
    store: &Store,
    principal: &Principal,
    id: Uuid,
    q: TimelineQuery,
) -> Result<Page<Activity>, Error> {
    principal.require(crate::actions::READ_SALES)?;
    visible(store.conn(), principal, id).await?;
    activities::timeline(
        store.conn(),
        principal.workspace_id,
        Subject::Account(id),
        q,
    )
    .await
}

pub async fn log_activity(
    store: &Store,
    principal: &Principal,
    id: Uuid,
    input: NewActivity,
) -> Result<Activity, Error> {
    principal.require(crate::actions::WRITE_SALES)?;
    let txn = store.write().await?;
    visible(&txn, principal, id).await?;
    let on = On {
        contact_id: None,
        account_id: Some(id),
    };
    let activity = activities::log(&txn, principal, on, input).await?;
    events::record(
        &txn,
        principal,
        &topics::ACTIVITY_CREATED,
        "activity",
        activity.id,
        serde_json::to_value(&activity).unwrap_or_default(),
    )
    .await?;
    txn.commit().await?;
    Ok(activity)
}
