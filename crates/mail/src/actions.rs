//! Who may change the suppression list, the templates, the mailboxes and the sending
//! domains.

use salesos_platform::auth::{Action, Role::*};

/// Add addresses or domains to the suppression list and take them off it: managers and
/// admins (taking one off lets mail reach someone who asked not to get it).
pub const MANAGE_SUPPRESSIONS: Action = Action {
    name: "suppressions.manage",
    what: "change the suppression list",
    roles: &[Manager],
};

/// Write, change and delete email templates: managers and reps.
pub const WRITE_TEMPLATES: Action = Action {
    name: "templates.write",
    what: "change email templates",
    roles: &[Manager, Rep],
};

/// Connect, change, test and delete mailboxes: managers and admins (a mailbox holds the
/// login that sends in a person's name).
pub const MANAGE_MAILBOXES: Action = Action {
    name: "mailboxes.manage",
    what: "change mailboxes",
    roles: &[Manager],
};

/// Add, check and delete sending domains: managers and admins (a domain holds the keys
/// that sign the workspace's mail).
pub const MANAGE_DOMAINS: Action = Action {
    name: "domains.manage",
    what: "change sending domains",
    roles: &[Manager],
};

/// Send emails to contacts: managers and reps.
pub const SEND_EMAILS: Action = Action {
    name: "emails.send",
    what: "send emails",
    roles: &[Manager, Rep],
};
