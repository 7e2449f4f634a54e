//! The events mail emits.

use salesos_platform::runtime::topics::Topic;

use crate::{
    domains::Domain,
    emails::{Email, Engaged, Unsubscribed},
    mailboxes::Mailbox,
    suppressions::Suppression,
    templates::Template,
};

pub const SUPPRESSION_ADDED: Topic = Topic::of::<Suppression>(
    "suppression.added",
    "An address or domain was put on the suppression list",
);
pub const SUPPRESSION_REMOVED: Topic = Topic::of::<Suppression>(
    "suppression.removed",
    "An address or domain was taken off the suppression list",
);
pub const TEMPLATE_CREATED: Topic =
    Topic::of::<Template>("template.created", "An email template was written");
pub const TEMPLATE_UPDATED: Topic =
    Topic::of::<Template>("template.updated", "An email template was changed");
pub const TEMPLATE_DELETED: Topic =
    Topic::of::<Template>("template.deleted", "An email template was deleted");
pub const MAILBOX_CREATED: Topic =
    Topic::of::<Mailbox>("mailbox.created", "A mailbox was connected");
pub const MAILBOX_UPDATED: Topic = Topic::of::<Mailbox>(
    "mailbox.updated",
    "A mailbox was changed, paused or set going again",
);
pub const MAILBOX_DELETED: Topic = Topic::of::<Mailbox>("mailbox.deleted", "A mailbox was deleted");
pub const DOMAIN_CREATED: Topic = Topic::of::<Domain>(
    "domain.created",
    "A sending domain was added and its DKIM key made",
);
pub const DOMAIN_CHECKED: Topic = Topic::of::<Domain>(
    "domain.checked",
    "A sending domain's DNS records were checked",
);
pub const DOMAIN_DELETED: Topic = Topic::of::<Domain>(
    "domain.deleted",
    "A sending domain and its keys were deleted",
);
pub const EMAIL_SEND_REQUESTED: Topic = Topic::of::<Email>(
    "email.send_requested",
    "An email was asked for and its send queued",
);
pub const EMAIL_SENT: Topic =
    Topic::of::<Email>("email.sent", "The mailbox's server accepted an email");
pub const EMAIL_FAILED: Topic = Topic::of::<Email>(
    "email.failed",
    "An email was not sent: refused at send time, refused or bounced by the server, or uncertain",
);
pub const EMAIL_UNSUBSCRIBED: Topic = Topic::of::<Unsubscribed>(
    "email.unsubscribed",
    "A recipient unsubscribed through an email's link",
);
pub const EMAIL_OPENED: Topic = Topic::of::<Engaged>(
    "email.opened",
    "A person opened an email for the first time (image proxies do not count)",
);
pub const EMAIL_CLICKED: Topic = Topic::of::<Engaged>(
    "email.clicked",
    "A person clicked a link of an email for the first time (scanners do not count)",
);
