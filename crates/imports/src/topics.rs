//! The events imports emit.

use salesos_platform::runtime::topics::Topic;
use serde::Serialize;
use utoipa::ToSchema;
use uuid::Uuid;

use crate::store::Counts;

/// `data` of `import.completed` and `import.failed`.
#[derive(Serialize, ToSchema)]
pub struct ImportFinished<'a> {
    pub import_id: Uuid,
    pub file_name: &'a str,
    pub dry_run: bool,
    pub counts: Counts,
    pub error: Option<&'a str>,
}

/// `data` of `contact.bulk_created` and `contact.bulk_updated`: one event per kind and
/// committed batch of an import, not one per contact.
#[derive(Serialize, ToSchema)]
pub struct ContactsImported<'a> {
    pub import_id: Uuid,
    pub count: usize,
    pub contact_ids: &'a [Uuid],
}

pub const IMPORT_COMPLETED: Topic = Topic::of::<ImportFinished>(
    "import.completed",
    "An import (or its dry run) finished; its counts add up to the rows read.",
);
pub const IMPORT_FAILED: Topic = Topic::of::<ImportFinished>(
    "import.failed",
    "An import stopped on an error; the rows committed before it stay.",
);
pub const CONTACTS_IMPORTED: Topic = Topic::of::<ContactsImported>(
    "contact.bulk_created",
    "An import created contacts: one event per batch.",
);
pub const CONTACTS_REIMPORTED: Topic = Topic::of::<ContactsImported>(
    "contact.bulk_updated",
    "An import updated contacts: one event per batch.",
);

pub const ALL: &[Topic] = &[
    IMPORT_COMPLETED,
    IMPORT_FAILED,
    CONTACTS_IMPORTED,
    CONTACTS_REIMPORTED,
];
