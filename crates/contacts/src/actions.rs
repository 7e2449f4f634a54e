//! Who may read and change sales data.

use salesos_platform::auth::{Action, Role::*};

/// Read contacts, accounts and their timelines.
pub const READ_SALES: Action = Action {
    name: "sales.read",
    what: "read sales data",
    roles: &[Manager, Rep, Analyst, Viewer],
};

/// Create, change or delete contacts, accounts and activities (reps: their own and
/// unassigned records).
pub const WRITE_SALES: Action = Action {
    name: "sales.write",
    what: "change sales data",
    roles: &[Manager, Rep],
};

#[cfg(test)]
mod tests {
    use salesos_platform::auth::Role;

    use super::*;

    #[test]
    fn everyone_reads_sales_data_and_analysts_and_viewers_do_not_change_it() {
        for role in Role::ALL {
            assert!(role.allows(READ_SALES), "{role}");
        }
        let writers: Vec<Role> = Role::ALL
            .into_iter()
            .filter(|r| r.allows(WRITE_SALES))
            .collect();
        assert_eq!(writers, [Role::Admin, Role::Manager, Role::Rep]);
    }
}
