//! The events contacts, accounts and their timelines emit.

use salesos_platform::runtime::topics::Topic;
use serde::Serialize;
use utoipa::ToSchema;
use uuid::Uuid;

use crate::{accounts::Account, activities::Activity, contacts::Contact};

/// `data` of `contact.updated`.
#[derive(Serialize, ToSchema)]
pub struct ContactChanged<'a> {
    pub contact: &'a Contact,
    /// Each changed field: `{"from": …, "to": …}`.
    #[schema(value_type = Object)]
    pub changes: &'a serde_json::Map<String, serde_json::Value>,
}

/// `data` of `account.updated`.
#[derive(Serialize, ToSchema)]
pub struct AccountChanged<'a> {
    pub account: &'a Account,
    /// Each changed field: `{"from": …, "to": …}`.
    #[schema(value_type = Object)]
    pub changes: &'a serde_json::Map<String, serde_json::Value>,
}

/// `data` of `contact.deleted` and `account.deleted`.
#[derive(Serialize, ToSchema)]
pub struct Deleted {
    pub id: Uuid,
}

pub const CONTACT_CREATED: Topic = Topic::of::<Contact>(
    "contact.created",
    "A contact was created (API or dashboard).",
);
pub const CONTACT_UPDATED: Topic = Topic::of::<ContactChanged>(
    "contact.updated",
    "A contact changed: the contact as it is now and each field's old and new value.",
);
pub const CONTACT_DELETED: Topic =
    Topic::of::<Deleted>("contact.deleted", "A contact was deleted.");
pub const ACCOUNT_CREATED: Topic = Topic::of::<Account>(
    "account.created",
    "An account was created (API or dashboard).",
);
pub const ACCOUNT_UPDATED: Topic = Topic::of::<AccountChanged>(
    "account.updated",
    "An account changed: the account as it is now and each field's old and new value.",
);
pub const ACCOUNT_DELETED: Topic =
    Topic::of::<Deleted>("account.deleted", "An account was deleted.");
pub const ACTIVITY_CREATED: Topic = Topic::of::<Activity>(
    "activity.created",
    "An entry was added to a contact's or an account's timeline.",
);

pub const ALL: &[Topic] = &[
    CONTACT_CREATED,
    CONTACT_UPDATED,
    CONTACT_DELETED,
    ACCOUNT_CREATED,
    ACCOUNT_UPDATED,
    ACCOUNT_DELETED,
    ACTIVITY_CREATED,
];
