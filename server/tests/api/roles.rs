use crate::helpers::*;
use crate::on_both_databases;
use domain::role::Role;

const AGENT_PAGES: [&str; 2] = ["/", "/review"];
const SUPERVISOR_PAGES: [&str; 4] = ["/analytics", "/jobs", "/models", "/templates"];
const ADMIN_PAGES: [&str; 1] = ["/admin"];

async fn anonymous_visitors_are_sent_to_sign_in(app: TestApp) {
    for page in AGENT_PAGES
        .iter()
        .chain(&SUPERVISOR_PAGES)
        .chain(&ADMIN_PAGES)
    {
        let response = app.get(page).await;
        assert_eq!(response.status(), 303, "{page}");
        assert!(location(&response).starts_with("/login?next="), "{page}");
    }
    assert_eq!(app.get("/login").await.status(), 200);
}

async fn an_agent_cannot_open_supervisor_or_admin_pages(app: TestApp) {
    app.signed_in_as(Role::Agent).await;
    for page in AGENT_PAGES {
        assert_eq!(app.get(page).await.status(), 200, "{page}");
    }
    for page in SUPERVISOR_PAGES.iter().chain(&ADMIN_PAGES) {
        assert_eq!(app.get(page).await.status(), 403, "{page}");
    }
    let html = app.get("/").await.text().await.unwrap();
    assert!(
        !html.contains("href=\"/admin\""),
        "the navigation hides what an agent may not open"
    );
}

async fn a_supervisor_opens_analytics_but_not_admin(app: TestApp) {
    app.signed_in_as(Role::Supervisor).await;
    for page in AGENT_PAGES.iter().chain(&SUPERVISOR_PAGES) {
        assert_eq!(app.get(page).await.status(), 200, "{page}");
    }
    assert_eq!(app.get("/admin").await.status(), 403);
}

async fn an_admin_opens_every_page(app: TestApp) {
    app.signed_in_as(Role::Admin).await;
    for page in AGENT_PAGES
        .iter()
        .chain(&SUPERVISOR_PAGES)
        .chain(&ADMIN_PAGES)
    {
        assert_eq!(app.get(page).await.status(), 200, "{page}");
    }
}

async fn server_functions_check_the_role_too(app: TestApp) {
    let anonymous = app.server_fn("list_users").await;
    assert_eq!(anonymous.status(), 401);
    app.signed_in_as(Role::Agent).await;
    assert_eq!(app.server_fn("list_users").await.status(), 403);
    let queue = app
        .client
        .post(app.url("/rpc/queue"))
        .json(&serde_json::json!({"query": {}}))
        .send()
        .await
        .unwrap();
    assert_eq!(queue.status(), 200);
}

async fn an_admin_server_function_answers_an_admin_without_secrets(app: TestApp) {
    app.signed_in_as(Role::Admin).await;
    let response = app.server_fn("list_users").await;
    assert_eq!(response.status(), 200);
    let body = response.text().await.unwrap();
    assert!(body.contains("\"role\":\"admin\""), "{body}");
    assert!(
        !body.contains("argon2"),
        "password hashes never leave the server"
    );
}

on_both_databases!(
    anonymous_visitors_are_sent_to_sign_in,
    an_agent_cannot_open_supervisor_or_admin_pages,
    a_supervisor_opens_analytics_but_not_admin,
    an_admin_opens_every_page,
    server_functions_check_the_role_too,
    an_admin_server_function_answers_an_admin_without_secrets
);
