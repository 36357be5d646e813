//! Accounts (issue 32): changing one's password, one-time passwords that must be
//! changed, sessions that end everywhere at once and slide with use, and labels that
//! name the token that posted them.

use domain::audit::Actor;
use domain::role::Role;

use crate::helpers::*;
use crate::on_both_databases;

const PASSWORD: &str = "correct horse battery";

/// A second browser signed in as `name`: a session of its own.
async fn second_browser(app: &TestApp, name: &str, password: &str) -> reqwest::Client {
    let client = browser_client(&app.address);
    let answer = client
        .post(app.url("/login"))
        .form(&[("username", name), ("password", password), ("next", "/")])
        .send()
        .await
        .unwrap();
    assert_eq!(location(&answer), "/", "{name} signs in");
    client
}

async fn status_of(client: &reqwest::Client, app: &TestApp, path: &str) -> (u16, String) {
    let answer = client.get(app.url(path)).send().await.unwrap();
    (answer.status().as_u16(), location(&answer))
}

async fn change_password(app: &TestApp, current: &str, new: &str, confirm: &str) -> String {
    let answer = app
        .client
        .post(app.url("/account/password"))
        .form(&[("current", current), ("new", new), ("confirm", confirm)])
        .send()
        .await
        .unwrap();
    location(&answer)
}

async fn a_changed_password_ends_every_other_session(app: TestApp) {
    app.add_user("alex", Role::Agent, PASSWORD).await;
    assert_eq!(location(&app.sign_in("alex", PASSWORD).await), "/");
    let other = second_browser(&app, "alex", PASSWORD).await;
    assert_eq!(status_of(&other, &app, "/").await.0, 200);

    // Refused, and nothing changes: wrong current password, a typo in the new one.
    assert_eq!(
        change_password(
            &app,
            "wrong guess!",
            "a new long phrase",
            "a new long phrase"
        )
        .await,
        "/account?error=wrong"
    );
    assert_eq!(
        change_password(&app, PASSWORD, "a new long phrase", "a new long phrase!").await,
        "/account?error=mismatch"
    );
    assert_eq!(
        change_password(&app, PASSWORD, "short", "short").await,
        "/account?error=short"
    );
    assert_eq!(status_of(&other, &app, "/").await.0, 200, "still signed in");

    assert_eq!(
        change_password(&app, PASSWORD, "a new long phrase", "a new long phrase").await,
        "/account?done=changed"
    );
    // This browser goes on; the other is signed out.
    assert_eq!(status_of(&app.client, &app, "/").await.0, 200);
    let (status, to) = status_of(&other, &app, "/").await;
    assert_eq!((status, to.starts_with("/login")), (303, true), "{to}");
    // The old password is gone, the new one works.
    assert!(location(&app.sign_in("alex", PASSWORD).await).contains("error=invalid"));
    assert_eq!(
        location(&app.sign_in("alex", "a new long phrase").await),
        "/"
    );
}

async fn a_one_time_password_must_be_changed_before_anything_else(app: TestApp) {
    let password = domain::users::invite(&app.db, "nora", "Nora", Role::Agent, Actor::System)
        .await
        .unwrap();
    assert_eq!(location(&app.sign_in("nora", &password).await), "/");
    // Pages send her to choose a password; everything else is refused.
    assert_eq!(
        status_of(&app.client, &app, "/").await,
        (303, "/account?required=1".to_string())
    );
    assert_eq!(status_of(&app.client, &app, "/account").await.0, 200);
    assert_eq!(app.get("/api/v1/emails").await.status(), 403);
    assert_eq!(app.server_fn("load_admin").await.status(), 403);
    assert_eq!(
        change_password(&app, &password, "nora's own phrase", "nora's own phrase").await,
        "/account?done=changed"
    );
    assert_eq!(status_of(&app.client, &app, "/").await.0, 200);
    assert_eq!(app.get("/api/v1/emails").await.status(), 200);

    // An admin's reset: her sessions end and the new one-time password must be
    // changed too.
    let id = domain::users::id_by_username(&app.db, "nora")
        .await
        .unwrap();
    let reset = domain::accounts::reset_password(&app.db, id, Actor::System)
        .await
        .unwrap();
    assert_eq!(status_of(&app.client, &app, "/").await.0, 303, "signed out");
    assert!(location(&app.sign_in("nora", "nora's own phrase").await).contains("error=invalid"));
    assert_eq!(location(&app.sign_in("nora", &reset).await), "/");
    assert_eq!(
        status_of(&app.client, &app, "/queue").await,
        (303, "/account?required=1".to_string())
    );
}

async fn sign_out_everywhere_and_deactivation_end_every_session(app: TestApp) {
    app.add_user("alex", Role::Agent, PASSWORD).await;
    assert_eq!(location(&app.sign_in("alex", PASSWORD).await), "/");
    let other = second_browser(&app, "alex", PASSWORD).await;
    let answer = app
        .client
        .post(app.url("/account/sign-out-everywhere"))
        .send()
        .await
        .unwrap();
    assert_eq!(location(&answer), "/login?error=everywhere");
    assert_eq!(status_of(&app.client, &app, "/").await.0, 303);
    assert_eq!(status_of(&other, &app, "/").await.0, 303);

    // Deactivated and reactivated: the sessions from before stay over.
    let other = second_browser(&app, "alex", PASSWORD).await;
    let id = domain::users::id_by_username(&app.db, "alex")
        .await
        .unwrap();
    domain::users::set_active(&app.db, id, false, Actor::System)
        .await
        .unwrap();
    domain::users::set_active(&app.db, id, true, Actor::System)
        .await
        .unwrap();
    assert_eq!(status_of(&other, &app, "/").await.0, 303);
}

/// The session's expiry moves with use: a session seen more than a minute ago gets a
/// new expiry, `session_idle_minutes` from now.
async fn a_session_in_use_slides_its_idle_expiry(app: TestApp) {
    app.add_user("alex", Role::Agent, PASSWORD).await;
    let cookie = session_cookie(&app.sign_in("alex", PASSWORD).await).unwrap();
    assert_eq!(app.get("/").await.status(), 200);
    // As if the last request had been two minutes ago and the session were about to
    // expire.
    let (data,): (String,) = sqlx::query_as("SELECT data FROM sessions WHERE id = $1")
        .bind(&cookie)
        .fetch_one(&app.db.pool)
        .await
        .unwrap();
    let mut data: serde_json::Value = serde_json::from_str(&data).unwrap();
    let now = domain::time::now_ms();
    data["seen_at"] = serde_json::json!(now - 120_000);
    sqlx::query("UPDATE sessions SET data = $1, expiry = $2 WHERE id = $3")
        .bind(data.to_string())
        .bind(now + 5_000)
        .bind(&cookie)
        .execute(&app.db.pool)
        .await
        .unwrap();
    assert_eq!(app.get("/").await.status(), 200);
    let (expiry,): (i64,) = sqlx::query_as("SELECT expiry FROM sessions WHERE id = $1")
        .bind(&cookie)
        .fetch_one(&app.db.pool)
        .await
        .unwrap();
    let idle_ms = app.settings.session_idle_minutes * 60_000;
    assert!(
        expiry > now + idle_ms - 60_000,
        "renewed: {} s left",
        (expiry - now) / 1000
    );
}

async fn a_label_posted_with_a_token_names_the_token(app: TestApp) {
    domain::categories::create(&app.db, "shipping", "", "#8a8f98", Actor::System)
        .await
        .unwrap();
    let token = app.token(Role::Agent).await;
    let created: serde_json::Value = app
        .client
        .post(app.url("/api/v1/emails"))
        .bearer_auth(&token)
        .json(&serde_json::json!({"emails": [{
            "message_id": "<by-token@test.example>", "from": "a@b.example",
            "subject": "Where is my order?", "body": "It has not arrived."
        }]}))
        .json_answer()
        .await;
    let id = created["results"][0]["id"]
        .as_i64()
        .unwrap_or_else(|| panic!("{created}"));
    let category = "shipping";
    let answer = app
        .client
        .post(app.url(&format!("/api/v1/emails/{id}/labels")))
        .bearer_auth(&token)
        .json(&serde_json::json!({ "category": category }))
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 201, "{}", answer.text().await.unwrap());
    let (token_id, token_name): (Option<i64>, String) = sqlx::query_as(
        "SELECT l.token_id, t.name FROM labels l \
         JOIN api_tokens t ON t.id = l.token_id WHERE l.email_id = $1",
    )
    .bind(id)
    .fetch_one(&app.db.pool)
    .await
    .unwrap();
    assert!(token_id.is_some());
    let history = domain::labels::history(&app.db, id).await.unwrap();
    assert!(
        history.iter().any(|h| h.by.contains(&token_name)),
        "{history:?}"
    );
}

on_both_databases!(
    a_changed_password_ends_every_other_session,
    a_one_time_password_must_be_changed_before_anything_else,
    sign_out_everywhere_and_deactivation_end_every_session,
    a_session_in_use_slides_its_idle_expiry,
    a_label_posted_with_a_token_names_the_token,
);
