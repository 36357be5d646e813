//! Administration (issue 7): people and roles, tokens, renaming and merging
//! categories with their labels and predictions remapped, and the audit log.

use domain::audit::{Actor, AuditFilter};
use domain::labels::{self, LabelRequest};
use domain::role::Role;

use crate::helpers::{TestApp, score_all, with_trained_model};
use crate::on_both_databases;

async fn merging_a_category_moves_its_labels_and_predictions_and_keeps_the_old_name_as_an_alias(
    app: TestApp,
) {
    with_trained_model(&app).await;
    score_all(&app.db).await.unwrap();
    let admin = app
        .add_user("ada", Role::Admin, "correct horse battery")
        .await;
    let count = |sql: &'static str, id: i64| {
        let db = app.db.clone();
        async move {
            sqlx::query_scalar::<_, i64>(sql)
                .bind(id)
                .fetch_one(&db.pool)
                .await
                .unwrap()
        }
    };
    let from = domain::categories::find_id(&app.db, "feedback_praise")
        .await
        .unwrap()
        .unwrap();
    let into = domain::categories::find_id(&app.db, "complaint")
        .await
        .unwrap()
        .unwrap();
    let labels_before = count("SELECT COUNT(*) FROM labels WHERE category_id = $1", from).await;
    let into_before = count("SELECT COUNT(*) FROM labels WHERE category_id = $1", into).await;
    let predictions_before = count(
        "SELECT COUNT(*) FROM predictions WHERE category_id = $1",
        from,
    )
    .await;
    assert!(
        labels_before > 0 && predictions_before > 0,
        "the demo has praise"
    );

    let merged = domain::categories::merge(&app.db, from, into, Actor::User(admin))
        .await
        .unwrap();
    assert_eq!(merged.labels as i64, labels_before);
    assert_eq!(merged.predictions as i64, predictions_before);
    for sql in [
        "SELECT COUNT(*) FROM labels WHERE category_id = $1",
        "SELECT COUNT(*) FROM predictions WHERE category_id = $1",
        "SELECT COUNT(*) FROM emails WHERE label_category_id = $1 OR predicted_category_id = $1",
        "SELECT COUNT(*) FROM labels WHERE predicted_category_id = $1",
    ] {
        assert_eq!(count(sql, from).await, 0, "{sql}");
    }
    assert_eq!(
        count("SELECT COUNT(*) FROM labels WHERE category_id = $1", into).await,
        into_before + labels_before
    );
    // No longer offered; the active model, trained before, still says
    // "feedback_praise" and lands on complaint.
    assert!(
        domain::categories::find_id(&app.db, "feedback_praise")
            .await
            .unwrap()
            .is_none()
    );
    assert_eq!(
        domain::categories::ensure(&app.db, "feedback_praise", "", "#000000")
            .await
            .unwrap(),
        into
    );
    let scorer = domain::scoring::active::load_active(
        &app.db,
        &crate::helpers::test_settings("").aws_credentials(),
    )
    .await
    .unwrap()
    .unwrap();
    assert_eq!(scorer.category_ids()["feedback_praise"], into);
    // Merging into itself or a retired category is refused.
    assert!(
        domain::categories::merge(&app.db, into, into, Actor::System)
            .await
            .is_err()
    );
    assert!(
        domain::categories::merge(&app.db, from, into, Actor::System)
            .await
            .is_err()
    );

    // Renaming keeps the old name as an alias; a taken name is a conflict.
    domain::categories::rename(&app.db, into, "complaints", Actor::User(admin))
        .await
        .unwrap();
    assert_eq!(
        domain::categories::find_id(&app.db, "complaints")
            .await
            .unwrap(),
        Some(into)
    );
    assert_eq!(
        domain::categories::ensure(&app.db, "complaint", "", "#000000")
            .await
            .unwrap(),
        into
    );
    assert_eq!(
        domain::categories::ensure(&app.db, "feedback_praise", "", "#000000")
            .await
            .unwrap(),
        into
    );
    let spam = domain::categories::find_id(&app.db, "spam")
        .await
        .unwrap()
        .unwrap();
    assert!(
        domain::categories::rename(&app.db, spam, "complaints", Actor::System)
            .await
            .is_err()
    );
    // Labelling by the new name works; the audit log has both steps.
    let email: i64 = sqlx::query_scalar("SELECT MIN(id) FROM emails WHERE label_id IS NULL")
        .fetch_one(&app.db.pool)
        .await
        .unwrap();
    labels::label(
        &app.db,
        &LabelRequest {
            email_id: email,
            category: "complaints".into(),
            user_id: Some(admin),
            token_id: None,
            seen_label_id: None,
            seconds_spent: None,
        },
    )
    .await
    .unwrap();
    let log = domain::audit::search(
        &app.db,
        &AuditFilter {
            action: Some("category".into()),
            actor: Some("ada".into()),
            ..Default::default()
        },
        10,
    )
    .await
    .unwrap();
    let actions: Vec<&str> = log.iter().map(|r| r.action.as_str()).collect();
    assert_eq!(actions, vec!["category.rename", "category.merge"]);
    assert!(log[1].details.contains("\"labels\""));
}

async fn admins_change_roles_deactivate_people_and_manage_tokens(app: TestApp) {
    let admin = app
        .add_user("ada", Role::Admin, "correct horse battery")
        .await;
    let password = domain::users::invite(&app.db, "Bea", "Bea B", Role::Agent, Actor::User(admin))
        .await
        .unwrap();
    assert_eq!(password.len(), 16);
    // The new person signs in with the one-time password.
    let response = app.sign_in("bea", &password).await;
    assert_eq!(crate::helpers::location(&response), "/");
    let bea = domain::users::list(&app.db)
        .await
        .unwrap()
        .into_iter()
        .find(|u| u.username == "bea")
        .unwrap();
    domain::users::set_role(&app.db, bea.id, Role::Supervisor, Actor::User(admin))
        .await
        .unwrap();
    assert_eq!(
        domain::users::find_active(&app.db, bea.id)
            .await
            .unwrap()
            .unwrap()
            .role,
        Role::Supervisor
    );
    // Deactivated: the session stops working at once.
    domain::users::set_active(&app.db, bea.id, false, Actor::User(admin))
        .await
        .unwrap();
    assert!(
        domain::users::find_active(&app.db, bea.id)
            .await
            .unwrap()
            .is_none()
    );
    let after = app.get("/").await;
    assert_eq!(
        after.status(),
        303,
        "a deactivated person is sent to sign in"
    );
    // An admin cannot lock themselves out.
    assert!(
        domain::users::set_role(&app.db, admin, Role::Agent, Actor::User(admin))
            .await
            .is_err()
    );
    assert!(
        domain::users::set_active(&app.db, admin, false, Actor::User(admin))
            .await
            .is_err()
    );

    // Tokens: listed with their prefix and last use, never the secret; revoked ones refused.
    let token = app.token(Role::Supervisor).await;
    assert_eq!(app.api_get("/api/v1/models", &token).await.status(), 200);
    let listed = domain::tokens::list(&app.db).await.unwrap();
    assert_eq!(listed.len(), 1);
    assert!(token.starts_with(&listed[0].prefix));
    assert!(listed[0].last_used_at.is_some());
    assert!(!format!("{listed:?}").contains(&token));
    domain::tokens::revoke(&app.db, listed[0].id, Actor::User(admin))
        .await
        .unwrap();
    assert_eq!(app.api_get("/api/v1/models", &token).await.status(), 401);

    // The audit log filters by family, person and period.
    let by_ada = domain::audit::search(
        &app.db,
        &AuditFilter {
            actor: Some("ADA".into()),
            ..Default::default()
        },
        50,
    )
    .await
    .unwrap();
    let actions: Vec<&str> = by_ada.iter().map(|r| r.action.as_str()).collect();
    assert_eq!(
        actions,
        vec![
            "token.revoke",
            "user.deactivate",
            "user.role",
            "user.create"
        ]
    );
    let users_only = domain::audit::search(
        &app.db,
        &AuditFilter {
            action: Some("user".into()),
            ..Default::default()
        },
        50,
    )
    .await
    .unwrap();
    assert!(users_only.iter().all(|r| r.action.starts_with("user.")));
    let future = domain::audit::search(
        &app.db,
        &AuditFilter {
            from: Some(domain::time::now_ms() + 60_000),
            ..Default::default()
        },
        50,
    )
    .await
    .unwrap();
    assert!(future.is_empty());
}

on_both_databases!(
    merging_a_category_moves_its_labels_and_predictions_and_keeps_the_old_name_as_an_alias,
    admins_change_roles_deactivate_people_and_manage_tokens
);
