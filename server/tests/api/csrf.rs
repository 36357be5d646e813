use crate::helpers::*;
use crate::on_both_databases;
use domain::role::Role;

async fn a_cross_site_post_with_the_session_cookie_is_refused(app: TestApp) {
    app.signed_in_as(Role::Agent).await;
    let response = app
        .client
        .post(app.url("/logout"))
        .header("origin", "http://evil.example")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 403);
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body["error"]["code"], "csrf");
    assert_eq!(
        app.get("/").await.status(),
        200,
        "still signed in: the forged sign-out did nothing"
    );
}

async fn fetch_metadata_from_another_site_is_refused(app: TestApp) {
    app.signed_in_as(Role::Admin).await;
    let response = app
        .client
        .post(app.url("/rpc/list_users"))
        .header("sec-fetch-site", "cross-site")
        .header("content-type", "application/x-www-form-urlencoded")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 403);
}

async fn a_state_change_without_any_origin_information_is_refused(app: TestApp) {
    app.add_user("alex", Role::Agent, "correct horse battery")
        .await;
    let cookie = session_cookie(&app.sign_in("alex", "correct horse battery").await).unwrap();
    let bare = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let response = bare
        .post(app.url("/logout"))
        .header("cookie", format!("triage_session={cookie}"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 403);
}

async fn a_bearer_token_call_from_a_signed_in_browser_is_not_mistaken_for_csrf(app: TestApp) {
    app.signed_in_as(Role::Agent).await;
    let token = app.token(Role::Ingest).await;
    let response = app
        .client
        .post(app.url("/api/v1/emails"))
        .header("origin", "http://elsewhere.example")
        .bearer_auth(&token)
        .json(&serde_json::json!({"from": "a@x.example", "body": "hi"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201);
}

on_both_databases!(
    a_cross_site_post_with_the_session_cookie_is_refused,
    fetch_metadata_from_another_site_is_refused,
    a_state_change_without_any_origin_information_is_refused,
    a_bearer_token_call_from_a_signed_in_browser_is_not_mistaken_for_csrf
);
