//! A server function's error keeps what happened apart (signed out, not allowed, not
//! found, conflict, invalid) in its status and in the kind the page reads, and the
//! email page tells the truth about each.

use app::error::AppError;
use domain::role::Role;
use leptos::server_fn::error::FromServerFnError;

use crate::helpers::{TestApp, with_trained_model};
use crate::on_both_databases;

/// Calls a server function with a form body; its status and the error it answered.
async fn call(app: &TestApp, name: &str, form: &str) -> (u16, Option<AppError>) {
    let response = app
        .client
        .post(app.url(&format!("/rpc/{name}")))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(form.to_string())
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    let body = response.bytes().await.unwrap();
    (status, (status >= 400).then(|| AppError::de(body)))
}

async fn server_functions_keep_each_kind_of_refusal_apart(app: TestApp) {
    with_trained_model(&app).await;
    let email: i64 = sqlx::query_scalar("SELECT MIN(id) FROM emails WHERE label_id IS NULL")
        .fetch_one(&app.db.pool)
        .await
        .unwrap();
    let labelling = format!("email_id={email}&category=complaint");

    assert_eq!(
        call(&app, "label_email", &labelling).await,
        (401, Some(AppError::SignedOut))
    );
    let agent = app.signed_in_as(Role::Agent).await;
    assert_eq!(
        call(&app, "list_users", "").await,
        (403, Some(AppError::NotAllowed))
    );
    assert_eq!(
        call(&app, "label_email", "email_id=999999999&category=complaint").await,
        (404, Some(AppError::NotFound))
    );
    let (status, error) = call(
        &app,
        "label_email",
        &format!("email_id={email}&category=no_such_category"),
    )
    .await;
    assert_eq!(status, 422);
    assert!(
        matches!(&error, Some(AppError::Invalid { field, .. }) if field == "category"),
        "{error:?}"
    );

    // Someone else's label cannot be undone: a conflict, with why.
    let other = app
        .add_user("other", Role::Agent, "long-enough-password")
        .await;
    let theirs = domain::labels::label(
        &app.db,
        &domain::labels::LabelRequest {
            email_id: email,
            category: "complaint".into(),
            user_id: Some(other),
            token_id: None,
            seen_label_id: None,
            seconds_spent: None,
        },
    )
    .await
    .unwrap();
    let (status, error) = call(&app, "undo_label", &format!("label_id={}", theirs.label_id)).await;
    assert_eq!(status, 409);
    assert_eq!(
        error,
        Some(AppError::Conflict(
            "only the person who gave a label can undo it".into()
        ))
    );

    // And a call that succeeds says nothing of the sort.
    let (status, error) = call(&app, "label_email", &labelling).await;
    assert_eq!((status, error), (200, None), "agent {agent}");

    // A status travels as its text: archived, and a text that is no status refused.
    let archiving = format!("email_id={email}&status=archived");
    assert_eq!(
        call(&app, "set_email_status", &archiving).await,
        (200, None)
    );
    let detail = domain::emails::detail(&app.db, email).await.unwrap();
    assert_eq!(detail.status, domain::wire::EmailStatus::Archived);
    let (status, error) = call(
        &app,
        "set_email_status",
        &format!("email_id={email}&status=lost"),
    )
    .await;
    assert!(status >= 400, "{status}");
    assert!(matches!(error, Some(AppError::Invalid { .. })), "{error:?}");
}

async fn the_email_page_says_not_found_only_when_the_email_does_not_exist(app: TestApp) {
    with_trained_model(&app).await;
    app.signed_in_as(Role::Agent).await;
    let missing = app.get("/emails/999999999").await;
    assert_eq!(missing.status(), 404);
    let html = missing.text().await.unwrap();
    assert!(html.contains("This email does not exist."), "{html}");

    let email: i64 = sqlx::query_scalar("SELECT MIN(id) FROM emails")
        .fetch_one(&app.db.pool)
        .await
        .unwrap();
    let found = app.get(&format!("/emails/{email}")).await;
    assert_eq!(found.status(), 200);
    let html = found.text().await.unwrap();
    assert!(!html.contains("does not exist"), "{html}");
    assert!(!html.contains("could not be loaded"), "{html}");
}

on_both_databases!(
    server_functions_keep_each_kind_of_refusal_apart,
    the_email_page_says_not_found_only_when_the_email_does_not_exist
);
