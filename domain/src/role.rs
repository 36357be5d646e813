use serde::{Deserialize, Serialize};
use std::fmt;

/// What a signed-in person or an API token may do. Roles are ordered: each one can do
/// everything the roles below it can (`Ingest` is only ever given to API tokens).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    Ingest,
    Agent,
    Supervisor,
    Admin,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnknownRole(pub String);

impl fmt::Display for UnknownRole {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "unknown role {:?}", self.0)
    }
}

impl std::error::Error for UnknownRole {}

impl Role {
    pub const USER_ROLES: [Role; 3] = [Role::Agent, Role::Supervisor, Role::Admin];
    /// Every role, as API tokens may carry.
    pub const ALL: [Role; 4] = [Role::Ingest, Role::Agent, Role::Supervisor, Role::Admin];

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Ingest => "ingest",
            Role::Agent => "agent",
            Role::Supervisor => "supervisor",
            Role::Admin => "admin",
        }
    }

    /// Any role, as API tokens may carry.
    pub fn parse(s: &str) -> Result<Role, UnknownRole> {
        match s.trim().to_ascii_lowercase().as_str() {
            "ingest" => Ok(Role::Ingest),
            "agent" => Ok(Role::Agent),
            "supervisor" => Ok(Role::Supervisor),
            "admin" => Ok(Role::Admin),
            _ => Err(UnknownRole(s.to_string())),
        }
    }

    /// A role a person can hold (not `ingest`).
    pub fn parse_user_role(s: &str) -> Result<Role, UnknownRole> {
        match Role::parse(s)? {
            Role::Ingest => Err(UnknownRole(s.to_string())),
            role => Ok(role),
        }
    }

    /// True when this role may do what `required` may do.
    pub fn allows(self, required: Role) -> bool {
        self >= required
    }
}

impl std::str::FromStr for Role {
    type Err = UnknownRole;

    fn from_str(s: &str) -> Result<Role, UnknownRole> {
        Role::parse(s)
    }
}

// Stored as its text (`"agent"`), like the states in `wire::states`.
crate::stored_as_text!(Role);

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles_are_ordered_from_ingest_to_admin() {
        assert!(Role::Admin.allows(Role::Supervisor));
        assert!(Role::Supervisor.allows(Role::Agent));
        assert!(!Role::Agent.allows(Role::Supervisor));
        assert!(!Role::Ingest.allows(Role::Agent));
    }

    #[test]
    fn a_person_cannot_hold_the_ingest_role() {
        assert!(Role::parse_user_role("ingest").is_err());
        assert_eq!(Role::parse_user_role("Admin"), Ok(Role::Admin));
        assert!(Role::parse("root").is_err());
    }
}
