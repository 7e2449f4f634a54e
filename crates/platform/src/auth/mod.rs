//! Who is calling and what they may do: users, workspace roles, API keys, dashboard
//! sessions, and the [`Principal`] every request carries after authentication.

pub mod api;
pub mod api_keys;
pub mod middleware;
pub mod onboarding;
pub mod password;
pub mod sessions;
pub mod store;
pub mod tokens;

use std::{fmt, str::FromStr};

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use crate::error::Error;

/// A user's role in one workspace (DESIGN.md "Roles").
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Everything in the workspace.
    Admin,
    /// All sales data, campaigns, reports and the team.
    Manager,
    /// Own and unassigned records.
    Rep,
    /// Costs, ROI and reports; read-only.
    Analyst,
    /// Read-only dashboards.
    Viewer,
}

impl Role {
    pub const ALL: [Role; 5] = [
        Role::Admin,
        Role::Manager,
        Role::Rep,
        Role::Analyst,
        Role::Viewer,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::Manager => "manager",
            Role::Rep => "rep",
            Role::Analyst => "analyst",
            Role::Viewer => "viewer",
        }
    }

    /// May this role do `action` at all? Admins may do everything. Record-level scope (a
    /// rep's own records) is checked separately by [`Principal::can_touch`].
    pub fn allows(self, action: Action) -> bool {
        self == Role::Admin || action.roles.contains(&self)
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Role {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Role::ALL
            .into_iter()
            .find(|r| r.as_str() == s.trim().to_ascii_lowercase())
            .ok_or_else(|| {
                format!("unknown role `{s}`; expected admin, manager, rep, analyst or viewer")
            })
    }
}

/// Something a caller may want to do. The platform defines its own ([`actions`]); each
/// area defines those of its data beside its code and lists them in its
/// [`Area`](crate::area::Area).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Action {
    /// Stable and unique: `sales.write`.
    pub name: &'static str,
    /// What a refusal says the role may not do: "change sales data".
    pub what: &'static str,
    /// The roles besides admin that may do it.
    pub roles: &'static [Role],
}

/// The platform's own actions.
pub mod actions {
    use super::{Action, Role::*};

    /// See the workspace's event log, live stream and jobs.
    pub const READ_WORKSPACE: Action = Action {
        name: "workspace.read",
        what: "read the workspace's events and jobs",
        roles: &[Manager, Rep, Analyst, Viewer],
    };
    /// Create, list and revoke API keys.
    pub const MANAGE_API_KEYS: Action = Action {
        name: "api_keys.manage",
        what: "manage API keys",
        roles: &[],
    };
    /// Read the audit log.
    pub const READ_AUDIT: Action = Action {
        name: "audit.read",
        what: "read the audit log",
        roles: &[],
    };
    /// Retry or cancel background jobs.
    pub const MANAGE_JOBS: Action = Action {
        name: "jobs.manage",
        what: "retry or cancel jobs",
        roles: &[Manager],
    };

    pub const ALL: &[Action] = &[READ_WORKSPACE, MANAGE_API_KEYS, READ_AUDIT, MANAGE_JOBS];
}

/// How the caller proved who they are.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Credential {
    ApiKey {
        key_id: Uuid,
    },
    Session {
        session_id: Uuid,
        csrf_token: String,
    },
}

/// The authenticated caller of a request.
#[derive(Clone, Debug)]
pub struct Principal {
    pub workspace_id: Uuid,
    /// The user behind the call; an API key made by the operator has none.
    pub user_id: Option<Uuid>,
    pub role: Role,
    pub credential: Credential,
    /// The request this call arrived in, for the audit log.
    pub request_id: Option<String>,
}

impl Principal {
    /// Refuse with 403 unless the role allows `action`.
    pub fn require(&self, action: Action) -> Result<(), Error> {
        if self.role.allows(action) {
            Ok(())
        } else {
            Err(Error::Forbidden(format!(
                "the {} role may not {}",
                self.role, action.what
            )))
        }
    }

    /// Reps see and change only their own and unassigned records; other roles see all.
    pub fn can_touch(&self, owner_id: Option<Uuid>) -> bool {
        match self.role {
            Role::Rep => owner_id.is_none() || owner_id == self.user_id,
            _ => true,
        }
    }

    /// For list queries: `Some(user)` restricts to that user's and unassigned records.
    pub fn owner_scope(&self) -> OwnerScope {
        match self.role {
            Role::Rep => OwnerScope::OwnOrUnassigned(self.user_id),
            _ => OwnerScope::All,
        }
    }

    /// Where a change came from, for event envelopes.
    pub fn source(&self) -> &'static str {
        match self.credential {
            Credential::ApiKey { .. } => "api",
            Credential::Session { .. } => "dashboard",
        }
    }

    /// `(actor_type, actor_id)` for the audit log and timelines.
    pub fn actor(&self) -> (&'static str, String) {
        match (&self.credential, self.user_id) {
            (_, Some(user)) => ("user", user.to_string()),
            (Credential::ApiKey { key_id }, None) => ("api_key", key_id.to_string()),
            (Credential::Session { session_id, .. }, None) => ("session", session_id.to_string()),
        }
    }
}

/// Which records a list may show.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OwnerScope {
    All,
    /// The user's own records and unassigned ones (`None`: unassigned only).
    OwnOrUnassigned(Option<Uuid>),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn role_matrix() {
        use actions::*;
        let table = [
            (Role::Admin, [true, true, true, true]),
            (Role::Manager, [true, false, false, true]),
            (Role::Rep, [true, false, false, false]),
            (Role::Analyst, [true, false, false, false]),
            (Role::Viewer, [true, false, false, false]),
        ];
        for (role, expected) in table {
            let got =
                [READ_WORKSPACE, MANAGE_API_KEYS, READ_AUDIT, MANAGE_JOBS].map(|a| role.allows(a));
            assert_eq!(got, expected, "{role}");
        }
    }

    #[test]
    fn admins_may_do_what_no_other_role_may() {
        let only_admins = Action {
            name: "test.admin_only",
            what: "do the admin-only thing",
            roles: &[],
        };
        assert!(Role::Admin.allows(only_admins));
        for role in [Role::Manager, Role::Rep, Role::Analyst, Role::Viewer] {
            assert!(!role.allows(only_admins), "{role}");
        }
    }

    #[test]
    fn reps_touch_only_own_and_unassigned() {
        let me = Uuid::new_v4();
        let p = Principal {
            workspace_id: Uuid::nil(),
            user_id: Some(me),
            role: Role::Rep,
            credential: Credential::ApiKey {
                key_id: Uuid::nil(),
            },
            request_id: None,
        };
        assert!(p.can_touch(None));
        assert!(p.can_touch(Some(me)));
        assert!(!p.can_touch(Some(Uuid::new_v4())));
    }

    #[test]
    fn roles_parse_case_insensitively_and_name_bad_input() {
        assert_eq!("Manager".parse::<Role>(), Ok(Role::Manager));
        assert!("owner".parse::<Role>().unwrap_err().contains("owner"));
    }
}
