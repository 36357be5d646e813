//! The role matrix (issue 32): every page, every server function and every API route,
//! taken from the application itself (Leptos's route list, the server-function
//! registry, the OpenAPI document), called as nobody, as each role signed in, and with
//! an API token of each role. The roles each should allow are written here, apart
//! from the code that enforces them: a route missing from this statement fails the
//! test, so a new one cannot be forgotten.

use domain::role::Role;
use reqwest::Method;

use crate::helpers::*;
use crate::on_both_databases;

/// Who may open each page; `None`: anyone.
fn page_role(path: &str) -> Option<Role> {
    match path {
        "/login" => None,
        "/" | "/review" | "/emails/{id}" | "/account" => Some(Role::Agent),
        "/analytics" | "/templates" | "/import" | "/jobs" | "/models" => Some(Role::Supervisor),
        "/admin" | "/admin/mailboxes" => Some(Role::Admin),
        other => panic!("page {other} is not in the role matrix: add it"),
    }
}

/// Who may call each server function; `None`: anyone.
fn server_fn_role(path: &str) -> Option<Role> {
    let name = path.trim_start_matches("/rpc/");
    match name {
        "me" => None,
        "queue" | "load_email" | "label_email" | "undo_label" | "set_email_status"
        | "suggestions" | "send_reply" | "bulk_count" | "bulk_apply" | "assign_email"
        | "send_email_reply" | "outgoing_replies" | "send_again" | "draft_reply" => {
            Some(Role::Agent)
        }
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
        | "unreadable_messages" => Some(Role::Admin),
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
        | "retire_category" => Some(Role::Supervisor),
        other => panic!("server function {other} is not in the role matrix: add it"),
    }
}

/// Who may call each API route (all need a caller).
fn api_role(method: &str, path: &str) -> Role {
    match (method, path) {
        ("post", "/api/v1/emails") | ("post", "/api/v1/emails/raw") => Role::Ingest,
        ("get", "/api/v1/categories") => Role::Ingest,
        ("get", "/api/v1/emails")
        | ("get", "/api/v1/emails/{id}")
        | ("post", "/api/v1/emails/{id}/labels")
        | ("post", "/api/v1/labels/{id}/undo")
        | ("get", "/api/v1/emails/{id}/replies")
        | ("post", "/api/v1/emails/{id}/replies")
        | ("get", "/api/v1/emails/{id}/draft")
        | ("post", "/api/v1/outbox/{id}/send-again") => Role::Agent,
        ("get", "/api/v1/users") => Role::Admin,
        (_, p) if p.starts_with("/api/v1/mailboxes") => Role::Admin,
        ("post", "/api/v1/sources/{id}/sync") => Role::Admin,
        (_, p)
            if p.starts_with("/api/v1/jobs")
                || p.starts_with("/api/v1/models")
                || p.starts_with("/api/v1/analytics")
                || p == "/api/v1/labels/export"
                || p == "/api/v1/predictions/export" =>
        {
            Role::Supervisor
        }
        (m, p) => panic!("API route {m} {p} is not in the role matrix: add it"),
    }
}

/// Who calls: nobody, a person of a role (session), or a token of a role.
#[derive(Clone, Copy, Debug)]
enum Caller {
    Nobody,
    Person(Role),
    Token(Role),
}

impl Caller {
    /// The role the caller holds where it counts: tokens count only on the API.
    fn role(self, api: bool) -> Option<Role> {
        match self {
            Caller::Nobody => None,
            Caller::Person(role) => Some(role),
            Caller::Token(role) => api.then_some(role),
        }
    }
}

struct Client {
    caller: Caller,
    http: reqwest::Client,
    token: Option<String>,
}

impl Client {
    async fn new(app: &TestApp, caller: Caller) -> Client {
        let http = browser_client(&app.address);
        let mut token = None;
        match caller {
            Caller::Nobody => {}
            Caller::Person(role) => {
                let name = format!("matrix-{}", role.as_str());
                app.add_user(&name, role, "long-enough-password").await;
                let answer = http
                    .post(app.url("/login"))
                    .form(&[
                        ("username", name.as_str()),
                        ("password", "long-enough-password"),
                    ])
                    .send()
                    .await
                    .unwrap();
                assert_eq!(location(&answer), "/", "{name} signs in");
            }
            Caller::Token(role) => token = Some(app.token(role).await),
        }
        Client {
            caller,
            http,
            token,
        }
    }

    async fn send(&self, app: &TestApp, method: Method, path: &str) -> reqwest::Response {
        let mut request = self.http.request(method, app.url(path));
        if let Some(token) = &self.token {
            request = request.bearer_auth(token);
        }
        request.send().await.unwrap()
    }
}

fn with_ids(path: &str) -> String {
    path.replace("{id}", "1").replace("{view}", "volume")
}

async fn every_route_allows_exactly_the_roles_it_should(app: TestApp) {
    // Something for ids to point at.
    domain::demo::load(&app.db, domain::time::now_ms())
        .await
        .unwrap();
    let mut callers = vec![Caller::Nobody];
    for role in Role::USER_ROLES {
        callers.push(Caller::Person(role));
    }
    for role in Role::ALL {
        callers.push(Caller::Token(role));
    }
    let mut clients = Vec::new();
    for caller in callers {
        clients.push(Client::new(&app, caller).await);
    }

    let pages: Vec<String> = leptos_axum::generate_route_list(app::App)
        .iter()
        .map(|r| r.path().replace(":id", "{id}"))
        .collect();
    assert!(pages.len() >= 10, "{pages:?}");
    let server_fns: Vec<(&str, String)> = leptos::server_fn::axum::server_fn_paths()
        .map(|(path, method)| (path, method.as_str().to_string()))
        .collect();
    assert!(server_fns.len() >= 40, "{server_fns:?}");
    let openapi: serde_json::Value = reqwest::get(app.url("/api/v1/openapi.json"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let mut api = Vec::new();
    for (path, item) in openapi["paths"].as_object().unwrap() {
        for method in item.as_object().unwrap().keys() {
            api.push((method.clone(), path.clone()));
        }
    }
    assert!(api.len() >= 20, "{api:?}");

    let mut checked = 0;
    for client in &clients {
        for page in &pages {
            let required = page_role(page);
            let answer = client.send(&app, Method::GET, &with_ids(page)).await;
            let status = answer.status().as_u16();
            let what = format!("{:?} GET {page}: {status}", client.caller);
            match (required, client.caller.role(false)) {
                (None, _) => assert_eq!(status, 200, "{what}"),
                (Some(_), None) => {
                    assert_eq!(status, 303, "{what}");
                    assert!(location(&answer).starts_with("/login?next="), "{what}");
                }
                (Some(required), Some(role)) if !role.allows(required) => {
                    assert_eq!(status, 403, "{what}")
                }
                (Some(_), Some(_)) => assert_eq!(status, 200, "{what}"),
            }
            checked += 1;
        }
        for (path, method) in &server_fns {
            let required = server_fn_role(path);
            let method = Method::from_bytes(method.as_str().as_bytes()).unwrap();
            let status = client.send(&app, method, path).await.status().as_u16();
            let what = format!("{:?} {path}: {status}", client.caller);
            match (required, client.caller.role(false)) {
                (None, _) => assert!(status < 400, "{what}"),
                (Some(_), None) => assert_eq!(status, 401, "{what}"),
                (Some(required), Some(role)) if !role.allows(required) => {
                    assert_eq!(status, 403, "{what}")
                }
                // Allowed: past the role check (the empty arguments may be refused).
                (Some(_), Some(_)) => assert!(![401, 403, 404].contains(&status), "{what}"),
            }
            checked += 1;
        }
        for (method, path) in &api {
            let required = api_role(method, path);
            let verb = Method::from_bytes(method.to_uppercase().as_bytes()).unwrap();
            let status = client
                .send(&app, verb, &with_ids(path))
                .await
                .status()
                .as_u16();
            let what = format!("{:?} {method} {path}: {status}", client.caller);
            match client.caller.role(true) {
                None => assert_eq!(status, 401, "{what}"),
                Some(role) if !role.allows(required) => assert_eq!(status, 403, "{what}"),
                Some(_) => assert!(![401, 403].contains(&status), "{what}"),
            }
            checked += 1;
        }
    }
    assert!(checked > 500, "{checked} checks");
}

on_both_databases!(every_route_allows_exactly_the_roles_it_should);
