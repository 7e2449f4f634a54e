//! Contact use cases. Each write runs in one transaction with its audit entry and
//! timeline entry; reads are scoped to the caller's workspace and, for reps, to their own
//! and unassigned contacts.

use salesos_platform::store::Db;
use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use super::{
    model::{Consent, ContactFields, ContactInput, ContactStatus, Seniority},
    store::{self, ContactRow, Filter, SORTS},
};
use crate::{
    model::patch::changes,
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
    {
        accounts,
        activities::{self, Activity, NewActivity, On, Subject, TimelineQuery},
    },
};

/// A contact as the API shows it.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct Contact {
    pub id: Uuid,
    pub account_id: Option<Uuid>,
    pub owner_id: Option<Uuid>,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    /// First and last name, or the email when there is no name.
    pub display_name: String,
    pub email: Option<String>,
    pub phone: Option<String>,
    pub linkedin_url: Option<String>,
    pub title: Option<String>,
    pub seniority: Option<Seniority>,
    pub company: Option<String>,
    pub status: ContactStatus,
    pub tier: Option<i32>,
    pub engagement_score: i32,
    pub intent_score: i32,
    pub timezone: Option<String>,
    pub country: Option<String>,
    pub city: Option<String>,
    pub source: Option<String>,
    pub consent: Option<Consent>,
    pub do_not_contact: bool,
    #[schema(value_type = Object)]
    pub custom_fields: serde_json::Map<String, serde_json::Value>,
    pub crm_ids: BTreeMap<String, String>,
    pub tags: Vec<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl From<&ContactRow> for Contact {
    fn from(r: &ContactRow) -> Self {
        let f = r.fields();
        Contact {
            id: r.id,
            display_name: f.display_name(),
            account_id: f.account_id,
            owner_id: f.owner_id,
            first_name: f.first_name,
            last_name: f.last_name,
            email: f.email,
            phone: f.phone,
            linkedin_url: f.linkedin_url,
            title: f.title,
            seniority: f.seniority,
            company: f.company,
            status: f.status.unwrap_or(ContactStatus::New),
            tier: f.tier,
            engagement_score: f.engagement_score,
            intent_score: f.intent_score,
            timezone: f.timezone,
            country: f.country,
            city: f.city,
            source: f.source,
            consent: f.consent,
            do_not_contact: f.do_not_contact,
            custom_fields: f.custom_fields,
            crm_ids: f.crm_ids,
            tags: f.tags,
            created_at: r.created_at,
            updated_at: r.updated_at,
        }
    }
}

/// Query parameters of `GET /api/v1/contacts`.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ContactQuery {
    /// Page size, 1 to 500 (default 50).
    #[param(minimum = 1, maximum = 500)]
    pub limit: Option<u64>,
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
    /// Text that must appear in the name, email, company or title (every word).
    pub q: Option<String>,
    pub status: Option<ContactStatus>,
    /// A user id, or `none` for unassigned contacts.
    #[param(
        pattern = r"^(|none|[0-9a-fA-F]{8}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{12})$"
    )]
    pub owner_id: Option<String>,
    #[param(minimum = 1, maximum = 4)]
    pub tier: Option<i32>,
    pub account_id: Option<Uuid>,
    pub created_after: Option<DateTime<Utc>>,
    pub created_before: Option<DateTime<Utc>>,
    pub updated_after: Option<DateTime<Utc>>,
    pub updated_before: Option<DateTime<Utc>>,
    /// `created_at`, `updated_at` or `engagement_score`; prefix `-` for descending.
    /// Default `-created_at`.
    #[param(pattern = r"^-?(created_at|updated_at|engagement_score)$")]
    pub sort: Option<String>,
}

impl ContactQuery {
    fn filter(&self) -> Result<Filter, Error> {
        let owner_id = parse_owner_filter(self.owner_id.as_deref())?;
        if self.tier.is_some_and(|t| !(1..=4).contains(&t)) {
            return Err(Error::invalid("tier", "must be 1, 2, 3 or 4"));
        }
        Ok(Filter {
            q: search_text("q", self.q.clone())?,
            status: self.status,
            owner_id,
            tier: self.tier,
            account_id: self.account_id,
            ranges: TimeRanges {
                created_after: self.created_after,
                created_before: self.created_before,
                updated_after: self.updated_after,
                updated_before: self.updated_before,
            },
        })
    }
}

/// Check the references a contact makes: its account and owner exist in the workspace,
/// and a rep only assigns to themselves.
async fn check_references<C: salesos_platform::store::Db>(
    conn: &C,
    principal: &Principal,
    before: Option<&ContactFields>,
    f: &ContactFields,
) -> Result<(), Error> {
    let mut errors = Vec::new();
    if let Some(account) = f.account_id
        && before.and_then(|b| b.account_id) != Some(account)
        && !accounts::service::exists(conn, principal.workspace_id, account).await?
    {
        errors.push(FieldError::new(
            "account_id",
            "no account with this id in the workspace",
        ));
    }
    if let Some(owner) = f.owner_id
        && before.and_then(|b| b.owner_id) != Some(owner)
    {
        if !principal.can_touch(Some(owner)) {
            return Err(Error::Forbidden(
                "a rep can assign contacts only to themselves".into(),
            ));
        }
        if !auth_store::is_member(conn, principal.workspace_id, owner).await? {
            errors.push(FieldError::new(
                "owner_id",
                "no member of the workspace has this id",
            ));
        }
    }
    if errors.is_empty() {
        Ok(())
    } else {
        Err(Error::Invalid(errors))
    }
}

fn email_conflict(err: sea_orm::DbErr) -> Error {
    match broken_key(&err, &[store::EMAIL_KEY]) {
        Some(_) => Error::conflict(
            "email",
            "a contact with this email already exists in the workspace",
        ),
        _ => Error::Store(err),
    }
}

pub async fn create(
    store: &Store,
    principal: &Principal,
    input: ContactInput,
) -> Result<Contact, Error> {
    principal.require(crate::actions::WRITE_SALES)?;
    let owner_given = input.owner_id.is_some();
    let mut fields = ContactFields::default()
        .apply(input)
        .map_err(Error::Invalid)?;
    if !owner_given && principal.role == crate::platform::auth::Role::Rep {
        fields.owner_id = principal.user_id;
    }
    let txn = store.write().await?;
    check_references(&txn, principal, None, &fields).await?;
    if fields.company.is_none()
        && let Some(account) = fields.account_id
    {
        fields.company = accounts::service::name_of(&txn, principal.workspace_id, account).await?;
    }
    let id = txn.new_id();
    store::insert(&txn, principal.workspace_id, id, &fields, txn.now())
        .await
        .map_err(email_conflict)?;
    let row = store::get(&txn, principal.workspace_id, id)
        .await?
        .ok_or_else(|| Error::Internal(anyhow::anyhow!("contact vanished after insert")))?;
    let contact = Contact::from(&row);
    let on = On {
        contact_id: Some(id),
        account_id: fields.account_id,
    };
    activities::system_entry(
        &txn,
        principal,
        on,
        "Contact created",
        serde_json::json!({}),
    )
    .await?;
    let actor = Actor::from(principal);
    audit::record(
        &txn,
        &actor,
        Change {
            workspace_id: Some(principal.workspace_id),
            action: "contact.created",
            entity_type: "contact",
            entity_id: Some(id.to_string()),
            before: None,
            after: serde_json::to_value(&contact).ok(),
        },
    )
    .await?;
    events::record(
        &txn,
        principal,
        &topics::CONTACT_CREATED,
        "contact",
        id,
        serde_json::to_value(&contact).unwrap_or_default(),
    )
    .await?;
    txn.commit().await?;
    Ok(contact)
}

/// A contact the caller may see, or 404.
async fn visible<C: salesos_platform::store::Db>(
    conn: &C,
    principal: &Principal,
    id: Uuid,
) -> Result<ContactRow, Error> {
    match store::get(conn, principal.workspace_id, id).await? {
        Some(row) if principal.can_touch(row.owner_id) => Ok(row),
        _ => Err(Error::NotFound("contact")),
    }
}

pub async fn get(store: &Store, principal: &Principal, id: Uuid) -> Result<Contact, Error> {
    principal.require(crate::actions::READ_SALES)?;
    Ok(Contact::from(&visible(store.conn(), principal, id).await?))
}

pub async fn update(
    store: &Store,
    principal: &Principal,
    id: Uuid,
    input: ContactInput,
) -> Result<Contact, Error> {
    principal.require(crate::actions::WRITE_SALES)?;
    let txn = store.write().await?;
    let row = visible(&txn, principal, id).await?;
    let before = row.fields();
    let after = before.apply(input).map_err(Error::Invalid)?;
    let diff = changes(&before, &after);
    if diff.is_empty() {
        return Ok(Contact::from(&row));
    }
    check_references(&txn, principal, Some(&before), &after).await?;
    store::update(&txn, principal.workspace_id, id, &after, txn.now())
        .await
        .map_err(email_conflict)?;
    let updated = store::get(&txn, principal.workspace_id, id)
        .await?
        .ok_or(Error::NotFound("contact"))?;
    let contact = Contact::from(&updated);
    let names: Vec<&str> = diff.keys().map(String::as_str).collect();
    let on = On {
        contact_id: Some(id),
        account_id: after.account_id,
    };
    let subject = format!("Updated {}", names.join(", "));
    activities::system_entry(
        &txn,
        principal,
        on,
        &subject,
        serde_json::json!({ "changes": diff }),
    )
    .await?;
    let actor = Actor::from(principal);
    audit::record(
        &txn,
        &actor,
        Change {
            workspace_id: Some(principal.workspace_id),
            action: "contact.updated",
            entity_type: "contact",
            entity_id: Some(id.to_string()),
            before: serde_json::to_value(Contact::from(&row)).ok(),
            after: serde_json::to_value(&contact).ok(),
        },
    )
    .await?;
    events::record(
        &txn,
        principal,
        &topics::CONTACT_UPDATED,
        "contact",
        id,
        serde_json::to_value(topics::ContactChanged {
            contact: &contact,
            changes: &diff,
        })
        .unwrap_or_default(),
    )
    .await?;
    txn.commit().await?;
    Ok(contact)
}

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
            action: "contact.deleted",
            entity_type: "contact",
            entity_id: Some(id.to_string()),
            before: serde_json::to_value(Contact::from(&row)).ok(),
            after: None,
        },
    )
    .await?;
    events::record(
        &txn,
        principal,
        &topics::CONTACT_DELETED,
        "contact",
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
    q: ContactQuery,
) -> Result<Page<Contact>, Error> {
    principal.require(crate::actions::READ_SALES)?;
    let limit = page_size(q.limit)?;
    let sort = Sort::parse(q.sort.as_deref(), SORTS, "-created_at")?;
    let after = q
        .cursor
        .as_deref()
        .map(|c| Cursor::decode(c, &sort.name()).and_then(|c| sort.position(&c)))
        .transpose()?;
    let filter = q.filter()?;
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
    let contacts: Vec<Contact> = rows.iter().map(Contact::from).collect();
    Ok(paginate(contacts, limit, |c| {
        let key = match sort.field.name {
            "updated_at" => serde_json::json!(c.updated_at),
            "engagement_score" => serde_json::json!(c.engagement_score),
            _ => serde_json::json!(c.created_at),
        };
        sort.cursor(key, c.id)
    }))
}

/// The contacts of an account the caller may see.
pub async fn of_account(
    store: &Store,
    principal: &Principal,
    account_id: Uuid,
    q: ContactQuery,
) -> Result<Page<Contact>, Error> {
    accounts::service::get(store, principal, account_id).await?;
    list(
        store,
        principal,
        ContactQuery {
            account_id: Some(account_id),
            ..q
        },
    )
    .await
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
        Subject::Contact(id),
        q,
    )
    .await
}

/// Log a note, call, email, meeting or task on a contact's timeline.
pub async fn log_activity(
    store: &Store,
    principal: &Principal,
    id: Uuid,
    input: NewActivity,
) -> Result<Activity, Error> {
    principal.require(crate::actions::WRITE_SALES)?;
    let txn = store.write().await?;
    let row = visible(&txn, principal, id).await?;
    let on = On {
        contact_id: Some(id),
        account_id: row.account_id,
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
