use crate::helpers::TestApp;
use std::collections::HashSet;

use crate::on_both_databases;
use domain::role::Role;

async fn error_code(response: reqwest::Response) -> String {
    let body: serde_json::Value = response.json().await.unwrap();
    assert!(body["error"]["message"].is_string(), "error shape: {body}");
    body["error"]["code"].as_str().unwrap().to_string()
}

async fn the_api_needs_a_token(app: TestApp) {
    let response = reqwest::get(app.url("/api/v1/emails")).await.unwrap();
    assert_eq!(response.status(), 401);
    assert_eq!(response.headers()["www-authenticate"], "Bearer");
    assert_eq!(error_code(response).await, "unauthorized");
}

async fn an_unknown_or_revoked_token_is_refused(app: TestApp) {
    assert_eq!(
        app.api_get("/api/v1/emails", "trg_not-a-real-token")
            .await
            .status(),
        401
    );
    let token = domain::tokens::create(
        &app.db,
        "leaving",
        Role::Agent,
        domain::audit::Actor::System,
    )
    .await
    .unwrap();
    assert_eq!(
        app.api_get("/api/v1/emails", &token.secret).await.status(),
        200
    );
    domain::tokens::revoke(&app.db, token.id, domain::audit::Actor::System)
        .await
        .unwrap();
    assert_eq!(
        app.api_get("/api/v1/emails", &token.secret).await.status(),
        401
    );
}

async fn an_agent_token_gets_403_on_an_admin_route(app: TestApp) {
    let agent = app.token(Role::Agent).await;
    let response = app.api_get("/api/v1/users", &agent).await;
    assert_eq!(response.status(), 403);
    assert_eq!(error_code(response).await, "forbidden");
    let admin = app.token(Role::Admin).await;
    assert_eq!(app.api_get("/api/v1/users", &admin).await.status(), 200);
}

async fn an_ingest_token_reads_categories_but_not_the_queue(app: TestApp) {
    let ingest = app.token(Role::Ingest).await;
    assert_eq!(
        app.api_get("/api/v1/categories", &ingest).await.status(),
        200
    );
    assert_eq!(app.api_get("/api/v1/emails", &ingest).await.status(), 403);
}

async fn the_browser_session_works_for_the_api_too(app: TestApp) {
    app.signed_in_as(Role::Agent).await;
    assert_eq!(app.get("/api/v1/emails").await.status(), 200);
    assert_eq!(app.get("/api/v1/users").await.status(), 403);
}

async fn tokens_are_stored_only_as_hashes(app: TestApp) {
    let secret = app.token(Role::Agent).await;
    let (hash, prefix): (String, String) =
        sqlx::query_as("SELECT token_hash, token_prefix FROM api_tokens")
            .fetch_one(&app.db.pool)
            .await
            .unwrap();
    assert_ne!(hash, secret);
    assert!(!hash.contains(&secret[4..]));
    assert!(secret.starts_with(&prefix) && prefix.len() < 12);
}

async fn the_queue_api_pages_through_every_email_once_newest_first(app: TestApp) {
    domain::demo::load(&app.db, domain::time::now_ms())
        .await
        .unwrap();
    let total = domain::emails::count(&app.db).await.unwrap();
    let token = app.token(Role::Agent).await;
    let mut seen = HashSet::new();
    let mut last_received = String::from("9999");
    let mut cursor = String::new();
    loop {
        let page: serde_json::Value = app
            .api_json(&format!("/api/v1/emails?limit=37&cursor={cursor}"), &token)
            .await;
        for item in page["items"].as_array().unwrap() {
            assert!(
                seen.insert(item["id"].as_i64().unwrap()),
                "an email came twice"
            );
            let received = item["received_at"].as_str().unwrap().to_string();
            assert!(received <= last_received, "newest first");
            last_received = received;
        }
        match page["next_cursor"].as_str() {
            Some(next) => cursor = next.to_string(),
            None => break,
        }
    }
    assert_eq!(seen.len() as i64, total);
}

async fn an_invalid_filter_is_a_422_that_names_the_field(app: TestApp) {
    let token = app.token(Role::Agent).await;
    let response = app.api_get("/api/v1/emails?status=lost", &token).await;
    assert_eq!(response.status(), 422);
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body["error"]["code"], "invalid");
    assert_eq!(body["error"]["details"]["field"], "status");
    let response = app.api_get("/api/v1/emails?cursor=garbage", &token).await;
    assert_eq!(response.status(), 422);
}

async fn unknown_api_paths_answer_json_404(app: TestApp) {
    let token = app.token(Role::Admin).await;
    let response = app.api_get("/api/v1/nothing-here", &token).await;
    assert_eq!(response.status(), 404);
    assert_eq!(error_code(response).await, "not_found");
}

async fn the_openapi_document_describes_the_api(app: TestApp) {
    let doc: serde_json::Value = reqwest::get(app.url("/api/v1/openapi.json"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(doc["openapi"].as_str().unwrap().starts_with("3."));
    for path in [
        "/api/v1/emails",
        "/api/v1/categories",
        "/api/v1/users",
        "/api/v1/models",
    ] {
        assert!(doc["paths"][path]["get"].is_object(), "{path} missing");
    }
    assert_eq!(
        doc["components"]["securitySchemes"]["bearer"]["scheme"],
        "bearer"
    );
}

on_both_databases!(
    the_api_needs_a_token,
    an_unknown_or_revoked_token_is_refused,
    an_agent_token_gets_403_on_an_admin_route,
    an_ingest_token_reads_categories_but_not_the_queue,
    the_browser_session_works_for_the_api_too,
    tokens_are_stored_only_as_hashes,
    the_queue_api_pages_through_every_email_once_newest_first,
    an_invalid_filter_is_a_422_that_names_the_field,
    unknown_api_paths_answer_json_404,
    the_openapi_document_describes_the_api
);
