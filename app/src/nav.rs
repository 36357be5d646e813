//! Which role each page needs. The server enforces this table on every page request
//! (server/src/auth/guard.rs); the navigation shows only the sections a role may open.

use domain::role::Role;

/// A top-level section of the app.
pub struct Section {
    pub path: &'static str,
    pub label: &'static str,
    pub role: Role,
}

pub const SECTIONS: [Section; 8] = [
    Section {
        path: "/",
        label: "Queue",
        role: Role::Agent,
    },
    Section {
        path: "/review",
        label: "Review",
        role: Role::Agent,
    },
    Section {
        path: "/analytics",
        label: "Analytics",
        role: Role::Supervisor,
    },
    Section {
        path: "/templates",
        label: "Templates",
        role: Role::Supervisor,
    },
    Section {
        path: "/import",
        label: "Import",
        role: Role::Supervisor,
    },
    Section {
        path: "/jobs",
        label: "Jobs",
        role: Role::Supervisor,
    },
    Section {
        path: "/models",
        label: "Models",
        role: Role::Supervisor,
    },
    Section {
        path: "/admin",
        label: "Admin",
        role: Role::Admin,
    },
];

/// Paths anyone may request; everything else needs a signed-in user. The API and
/// server functions (`/api`, `/rpc`) check their callers themselves.
const PUBLIC: [&str; 8] = [
    "login",
    "logout",
    "pkg",
    "favicon.ico",
    "healthz",
    "readyz",
    "metrics",
    "api",
];

/// The role a page needs, or `None` for public paths and the server-function prefix.
pub fn required_role(path: &str) -> Option<Role> {
    let first = path
        .trim_start_matches('/')
        .split('/')
        .next()
        .unwrap_or_default();
    if PUBLIC.contains(&first) || first == "rpc" {
        return None;
    }
    let section = SECTIONS
        .iter()
        .filter(|s| s.path != "/")
        .find(|s| s.path.trim_start_matches('/') == first);
    // Unknown paths (a typo, a future page) still need a signed-in agent.
    Some(section.map_or(Role::Agent, |s| s.role))
}

/// Who may call a server function (`/rpc/{endpoint}`): `Some(None)` anyone,
/// `Some(Some(role))` that role and above, `None` an endpoint not in this table, which
/// the server refuses. The server checks this before the function reads its
/// arguments (server/src/auth/guard.rs), so a caller without the role learns nothing,
/// not even whether their arguments were well formed; each function checks its role
/// again itself. A new server function must be added here to be callable at all.
pub fn server_fn_role(endpoint: &str) -> Option<Option<Role>> {
    let role = match endpoint {
        "me" => return Some(None),
        "queue" | "load_email" | "label_email" | "undo_label" | "set_email_status"
        | "suggestions" | "send_reply" | "bulk_count" | "bulk_apply" | "assign_email"
        | "send_email_reply" | "outgoing_replies" | "send_again" | "draft_reply" => Role::Agent,
        "load_analytics"
        | "save_drift_settings"
        | "recent_imports"
        | "load_jobs"
        | "start_job"
        | "cancel_job"
        | "retry_job"
        | "set_schedule"
        | "job_failures"
        | "load_models"
        | "train_model"
        | "compare_models"
        | "rollback_model"
        | "activate_model"
        | "load_auto_accept"
        | "set_auto_accept"
        | "load_templates"
        | "save_template"
        | "retire_template"
        | "save_category"
        | "retire_category" => Role::Supervisor,
        "load_admin"
        | "list_users"
        | "invite_user"
        | "set_user_role"
        | "set_user_active"
        | "reset_user_password"
        | "create_token"
        | "revoke_token"
        | "rename_category"
        | "merge_category"
        | "search_audit"
        | "connect_endpoint"
        | "load_mailboxes"
        | "save_mailbox"
        | "set_mailbox_enabled"
        | "test_mailbox"
        | "sync_mailbox"
        | "unreadable_messages" => Role::Admin,
        _ => return None,
    };
    Some(Some(role))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_page_but_sign_in_needs_a_role() {
        assert_eq!(required_role("/"), Some(Role::Agent));
        assert_eq!(required_role("/admin"), Some(Role::Admin));
        assert_eq!(required_role("/admin/users"), Some(Role::Admin));
        assert_eq!(required_role("/admin/mailboxes"), Some(Role::Admin));
        assert_eq!(
            required_role("/admin/mailboxes/1/unreadable/2"),
            Some(Role::Admin)
        );
        assert_eq!(required_role("/emails/1/original.eml"), Some(Role::Agent));
        assert_eq!(required_role("/jobs"), Some(Role::Supervisor));
        assert_eq!(required_role("/templates"), Some(Role::Supervisor));
        assert_eq!(required_role("/review"), Some(Role::Agent));
        assert_eq!(required_role("/no-such-page"), Some(Role::Agent));
        assert_eq!(required_role("/login"), None);
        assert_eq!(required_role("/pkg/triage.js"), None);
    }

    #[test]
    fn mailboxes_are_for_admins_and_sending_a_reply_for_agents() {
        for admin_only in [
            "load_mailboxes",
            "save_mailbox",
            "set_mailbox_enabled",
            "test_mailbox",
            "unreadable_messages",
        ] {
            assert_eq!(
                server_fn_role(admin_only),
                Some(Some(Role::Admin)),
                "{admin_only}"
            );
        }
        for agent in ["send_email_reply", "outgoing_replies", "send_again"] {
            assert_eq!(server_fn_role(agent), Some(Some(Role::Agent)), "{agent}");
        }
        assert_eq!(server_fn_role("no_such_function"), None);
    }
}
