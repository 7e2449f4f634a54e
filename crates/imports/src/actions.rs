//! Who may import and export.

use salesos_platform::auth::{Action, Role::Manager};

/// Import files into, and export all of, the workspace's contacts and accounts: bulk work
/// over every owner's records.
pub const IMPORT_DATA: Action = Action {
    name: "data.import_export",
    what: "import or export data",
    roles: &[Manager],
};
