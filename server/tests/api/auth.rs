use crate::helpers::*;
use crate::on_both_databases;
use domain::role::Role;

async fn the_right_password_opens_the_queue(app: TestApp) {
    app.add_user("alex", Role::Agent, "correct horse battery")
        .await;
    let response = app.sign_in("alex", "correct horse battery").await;
    assert_eq!(response.status(), 303);
    assert_eq!(location(&response), "/");
    let page = app.get("/").await;
    assert_eq!(page.status(), 200);
    let html = page.text().await.unwrap();
    assert!(html.contains("<h1>Queue"), "{html}");
    assert!(html.contains("alex"), "the page names who is signed in");
}

async fn a_wrong_password_and_an_unknown_user_get_the_same_answer(app: TestApp) {
    app.add_user("alex", Role::Agent, "correct horse battery")
        .await;
    let wrong_password = app.sign_in("alex", "wrong horse battery").await;
    let unknown_user = app.sign_in("nobody", "wrong horse battery").await;
    assert_eq!(wrong_password.status(), unknown_user.status());
    assert_eq!(location(&wrong_password), "/login?error=invalid&next=%2F");
    assert_eq!(location(&wrong_password), location(&unknown_user));
    assert!(session_cookie(&wrong_password).is_none());
    assert_eq!(location(&app.get("/").await), "/login?next=%2F");
}

async fn signing_in_renews_the_session_id(app: TestApp) {
    app.add_user("alex", Role::Agent, "correct horse battery")
        .await;
    let first =
        session_cookie(&app.sign_in("alex", "correct horse battery").await).expect("cookie");
    let second =
        session_cookie(&app.sign_in("alex", "correct horse battery").await).expect("cookie");
    assert_ne!(first, second);
    // The old id no longer opens anything.
    let replay = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
        .get(app.url("/"))
        .header("cookie", format!("triage_session={first}"))
        .send()
        .await
        .unwrap();
    assert_eq!(replay.status(), 303);
}

async fn signing_out_ends_the_session_for_good(app: TestApp) {
    app.add_user("alex", Role::Agent, "correct horse battery")
        .await;
    let cookie = session_cookie(&app.sign_in("alex", "correct horse battery").await).unwrap();
    let out = app.client.post(app.url("/logout")).send().await.unwrap();
    assert_eq!(location(&out), "/login");
    assert_eq!(location(&app.get("/").await), "/login?next=%2F");
    let replay = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
        .get(app.url("/"))
        .header("cookie", format!("triage_session={cookie}"))
        .send()
        .await
        .unwrap();
    assert_eq!(
        replay.status(),
        303,
        "a signed-out session id must not work again"
    );
    assert_eq!(
        domain::audit::recent_actions(&app.db, 1).await.unwrap(),
        vec!["auth.sign_out"]
    );
}

async fn a_session_survives_a_restart_and_is_shared_between_processes(app: TestApp) {
    app.add_user("alex", Role::Agent, "correct horse battery")
        .await;
    let cookie = session_cookie(&app.sign_in("alex", "correct horse battery").await).unwrap();
    // A second server on the same database: what a restart or a second instance sees.
    let (other, _) = start_server(app.settings.clone()).await;
    let page = reqwest::Client::new()
        .get(format!("{other}/"))
        .header("cookie", format!("triage_session={cookie}"))
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 200);
    assert!(page.text().await.unwrap().contains("<h1>Queue"));
}

async fn repeated_failures_stop_sign_in_for_a_while(app: TestApp) {
    app.add_user("alex", Role::Agent, "correct horse battery")
        .await;
    for _ in 0..app.settings.login_max_failures {
        assert!(location(&app.sign_in("alex", "guess").await).contains("error=invalid"));
    }
    let blocked = app.sign_in("alex", "correct horse battery").await;
    assert_eq!(blocked.status(), 429);
    let retry_after: u64 = blocked.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert_eq!(retry_after, app.settings.login_window_seconds as u64);
    assert!(session_cookie(&blocked).is_none());
    // Another user is not locked out by alex's failures.
    app.add_user("sam", Role::Supervisor, "another good password")
        .await;
    assert_eq!(
        location(&app.sign_in("sam", "another good password").await),
        "/"
    );
}

async fn a_deactivated_user_is_signed_out_at_once(app: TestApp) {
    let id = app.signed_in_as(Role::Agent).await;
    assert_eq!(app.get("/").await.status(), 200);
    sqlx::query("UPDATE users SET deactivated_at = 1 WHERE id = $1")
        .bind(id)
        .execute(&app.db.pool)
        .await
        .unwrap();
    assert_eq!(app.get("/").await.status(), 303);
}

async fn sign_in_never_sends_people_to_another_site(app: TestApp) {
    app.add_user("alex", Role::Agent, "correct horse battery")
        .await;
    let response = app
        .client
        .post(app.url("/login"))
        .form(&[
            ("username", "alex"),
            ("password", "correct horse battery"),
            ("next", "//evil.example/"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(location(&response), "/");
}

on_both_databases!(
    the_right_password_opens_the_queue,
    a_wrong_password_and_an_unknown_user_get_the_same_answer,
    signing_in_renews_the_session_id,
    signing_out_ends_the_session_for_good,
    a_session_survives_a_restart_and_is_shared_between_processes,
    repeated_failures_stop_sign_in_for_a_while,
    a_deactivated_user_is_signed_out_at_once,
    sign_in_never_sends_people_to_another_site
);
