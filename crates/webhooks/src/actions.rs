//! Who may manage webhooks.

use salesos_platform::auth::Action;

/// Create, change and replay outbound webhooks: admins only, since an endpoint receives
/// every event of the workspace.
pub const MANAGE_WEBHOOKS: Action = Action {
    name: "webhooks.manage",
    what: "manage webhooks",
    roles: &[],
};
