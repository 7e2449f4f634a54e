//! Who may change the suppression list and the templates.

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
