use crate::helpers::JsonAnswer;
use crate::helpers::{TestApp, with_trained_model};
use crate::on_both_databases;
use domain::audit::Actor;
use domain::role::Role;

async fn the_built_in_model_trains_on_the_labels_and_scores_every_email(app: TestApp) {
    domain::demo::load(&app.db, domain::time::now_ms())
        .await
        .unwrap();
    let first = domain::training::train(&app.db, Actor::System, 42)
        .await
        .unwrap();
    assert!(first.training_size > 50 && first.test_size > 5, "{first:?}");
    assert!(
        first.evaluation.accuracy > 0.2,
        "ten classes, chance is 0.1: {:?}",
        first.evaluation.accuracy
    );
    let second = domain::training::train(&app.db, Actor::System, 42)
        .await
        .unwrap();
    assert_eq!(first.dataset_hash, second.dataset_hash);
    assert_eq!(
        first.evaluation, second.evaluation,
        "same labels and seed, same model"
    );

    domain::training::activate(&app.db, first.id, Actor::System)
        .await
        .unwrap();
    let scored = crate::helpers::score_all(&app.db).await.unwrap();
    let total = domain::emails::count(&app.db).await.unwrap() as usize;
    assert_eq!(scored, total);
    assert_eq!(
        crate::helpers::score_all(&app.db).await.unwrap(),
        0,
        "nothing is scored twice"
    );

    let probabilities: String =
        sqlx::query_scalar("SELECT probabilities FROM predictions ORDER BY id LIMIT 1")
            .fetch_one(&app.db.pool)
            .await
            .unwrap();
    let map: serde_json::Map<String, serde_json::Value> =
        serde_json::from_str(&probabilities).unwrap();
    let sum: f64 = map.values().map(|v| v.as_f64().unwrap()).sum();
    assert!((sum - 1.0).abs() < 0.01, "{sum}");
    assert_eq!(map.len(), 10);
    let active: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM models WHERE status = 'active'")
        .fetch_one(&app.db.pool)
        .await
        .unwrap();
    assert_eq!(active, 1);

    app.signed_in_as(Role::Agent).await;
    let html = app.get("/?status=new").await.text().await.unwrap();
    assert!(
        html.contains("class=\"bar\""),
        "the queue shows the model's confidence"
    );
}

async fn training_without_enough_labels_says_why(app: TestApp) {
    let err = domain::training::train(&app.db, Actor::System, 42)
        .await
        .unwrap_err();
    assert!(
        err.to_string().contains("at least 10 labelled emails"),
        "{err}"
    );
}

/// A labelled email as the test reads it back: thread, text, category.
#[derive(sqlx::FromRow)]
struct Labelled {
    thread_key: String,
    subject: String,
    body: String,
    category: String,
}

/// The mean probability `model` gives each email's own category.
fn mean_probability_of_the_label(
    model: &domain::training::LoadedModel,
    emails: &[&Labelled],
) -> f64 {
    let classifier = &model.model;
    emails
        .iter()
        .map(|e| {
            let p =
                classifier.probabilities(&domain::model::features::vectorize(&e.subject, &e.body));
            let class = classifier
                .classes
                .iter()
                .position(|c| *c == e.category)
                .unwrap();
            p[class] as f64
        })
        .sum::<f64>()
        / emails.len() as f64
}

async fn every_label_trains_the_model_that_scores_and_its_twin_is_judged_on_the_held_out_threads(
    app: TestApp,
) {
    use domain::training::{Artifact, is_held_out, load_artifact};
    domain::demo::load(&app.db, domain::time::now_ms())
        .await
        .unwrap();
    let model = domain::training::train(&app.db, Actor::System, 42)
        .await
        .unwrap();
    let labelled: Vec<Labelled> = sqlx::query_as(
        "SELECT e.thread_key, e.subject, b.body_text AS body, c.name AS category FROM emails e \
         JOIN email_bodies b ON b.email_id = e.id JOIN categories c ON c.id = e.label_category_id \
         LEFT JOIN labels l ON l.id = e.label_id WHERE l.source IS NULL OR l.source <> 'auto'",
    )
    .fetch_all(&app.db.pool)
    .await
    .unwrap();
    let held_out: Vec<&Labelled> = labelled
        .iter()
        .filter(|e| is_held_out(&e.thread_key))
        .collect();
    assert_eq!(model.training_size, labelled.len(), "every label trains it");
    assert_eq!(model.test_size, held_out.len());
    let labels: usize = model.evaluation.per_class.iter().map(|c| c.labels).sum();
    assert_eq!(
        labels,
        labelled.len(),
        "each category says how many labels it had"
    );

    // The model that scores mail learnt the held-out emails; its twin did not.
    let scoring = load_artifact(&app.db, Some(&model.version), Artifact::Scoring)
        .await
        .unwrap()
        .unwrap();
    let twin = load_artifact(&app.db, Some(&model.version), Artifact::HeldOutTwin)
        .await
        .unwrap()
        .unwrap();
    let (learnt, unseen) = (
        mean_probability_of_the_label(&scoring, &held_out),
        mean_probability_of_the_label(&twin, &held_out),
    );
    assert!(
        learnt > unseen + 0.02,
        "held-out emails: {learnt:.3} for the model that learnt them, {unseen:.3} for its twin"
    );

    // A comparison judges the twin, so it repeats the figures training measured.
    let comparison = domain::evaluation::compare(
        &app.db,
        model.id,
        &crate::helpers::test_settings("").aws_credentials(),
        Actor::System,
    )
    .await
    .unwrap();
    assert_eq!(comparison.held_out as usize, held_out.len());
    assert!(
        (comparison.candidate.accuracy - model.evaluation.accuracy).abs() < 1e-9,
        "comparison {} against training's {}",
        comparison.candidate.accuracy,
        model.evaluation.accuracy
    );

    // Supervisors see the figures per category, with the labels each had.
    let token = app.token(Role::Supervisor).await;
    let models: serde_json::Value = reqwest::Client::new()
        .get(app.url("/api/v1/models"))
        .bearer_auth(&token)
        .json_answer()
        .await;
    let per_category = models["items"][0]["per_category"].as_array().unwrap();
    assert_eq!(per_category.len(), model.evaluation.per_class.len());
    assert!(
        per_category
            .iter()
            .all(|c| c["labels"].as_i64().unwrap() > 0 && c["recall"].is_number()),
        "{per_category:?}"
    );
}

on_both_databases!(
    the_built_in_model_trains_on_the_labels_and_scores_every_email,
    training_without_enough_labels_says_why,
    every_label_trains_the_model_that_scores_and_its_twin_is_judged_on_the_held_out_threads
);

async fn new_mail_is_scored_on_arrival_without_making_ingest_wait(app: TestApp) {
    with_trained_model(&app).await;
    crate::helpers::score_all(&app.db).await.unwrap();

    let token = app.token(Role::Ingest).await;
    let response = reqwest::Client::new().post(app.url("/api/v1/emails")).bearer_auth(&token)
        .json(&serde_json::json!({"message_id": "arrival@x", "from": "a@x.example", "subject": "Refund please", "body": "I returned the chair and want my money back"}))
        .send().await.unwrap();
    assert_eq!(response.status(), 201);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let predicted: Option<i64> =
            sqlx::query_scalar("SELECT prediction_id FROM emails WHERE message_id = '<arrival@x>'")
                .fetch_one(&app.db.pool)
                .await
                .unwrap();
        if predicted.is_some() {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the new email was not scored"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let predictions: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM predictions p JOIN emails e ON e.id = p.email_id WHERE e.message_id = '<arrival@x>'")
        .fetch_one(&app.db.pool).await.unwrap();
    assert_eq!(predictions, 1);
}

async fn without_an_active_model_new_mail_stays_unscored(app: TestApp) {
    let token = app.token(Role::Ingest).await;
    let response = reqwest::Client::new()
        .post(app.url("/api/v1/emails"))
        .bearer_auth(&token)
        .json(&serde_json::json!({"from": "a@x.example", "body": "hello"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201);
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    let unscored: i64 =
        sqlx::query_scalar("SELECT COUNT(*) FROM emails WHERE prediction_id IS NULL")
            .fetch_one(&app.db.pool)
            .await
            .unwrap();
    assert_eq!(unscored, 1);
}

on_both_databases!(
    new_mail_is_scored_on_arrival_without_making_ingest_wait,
    without_an_active_model_new_mail_stays_unscored
);

async fn two_scorers_at_once_score_each_email_once(app: TestApp) {
    with_trained_model(&app).await;
    let (a, b) = tokio::join!(
        crate::helpers::score_all(&app.db),
        crate::helpers::score_all(&app.db)
    );
    let total = domain::emails::count(&app.db).await.unwrap();
    assert_eq!((a.unwrap() + b.unwrap()) as i64, total);
    let predictions: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM predictions")
        .fetch_one(&app.db.pool)
        .await
        .unwrap();
    assert_eq!(predictions, total, "no email scored twice");
}

on_both_databases!(two_scorers_at_once_score_each_email_once);

async fn the_model_server_answers_the_sagemaker_contract(app: TestApp) {
    let model = with_trained_model(&app).await;
    let served = server::model_server::load(&app.db, None).await.unwrap();
    assert_eq!(served.version, model.version);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move {
        axum::serve(
            listener,
            server::model_server::router(
                std::sync::Arc::new(served.model),
                Default::default(),
                Default::default(),
            ),
        )
        .await
        .unwrap();
    });
    let client = reqwest::Client::new();
    assert_eq!(
        client
            .get(format!("{base}/ping"))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );

    let batch: serde_json::Value = client.post(format!("{base}/invocations"))
        .json(&serde_json::json!({"inputs": ["Copy of invoice\n\nPlease send a copy of invoice INV-2026-0435", "Thank you so much"], "parameters": {"top_k": null}}))
        .json_answer().await;
    let first = batch[0].as_array().unwrap();
    assert_eq!(first.len(), 10, "every class with top_k null");
    let sum: f64 = first.iter().map(|s| s["score"].as_f64().unwrap()).sum();
    assert!((sum - 1.0).abs() < 1e-3);
    assert!(
        first[0]["score"].as_f64() >= first[1]["score"].as_f64(),
        "best first"
    );
    assert_eq!(batch.as_array().unwrap().len(), 2);

    let one: serde_json::Value = client
        .post(format!("{base}/invocations"))
        .json(&serde_json::json!({"inputs": "Where is my order?", "parameters": {"top_k": 2}}))
        .json_answer()
        .await;
    assert_eq!(one.as_array().unwrap().len(), 2);
    assert!(one[0]["label"].is_string());

    let bad = client
        .post(format!("{base}/invocations"))
        .body("{\"text\": 1}")
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status(), 400);
}

on_both_databases!(the_model_server_answers_the_sagemaker_contract);

async fn an_email_reads_back_with_its_prediction_and_label(app: TestApp) {
    let model = with_trained_model(&app).await;
    crate::helpers::score_all(&app.db).await.unwrap();
    let labelled: i64 = sqlx::query_scalar("SELECT MIN(email_id) FROM labels")
        .fetch_one(&app.db.pool)
        .await
        .unwrap();
    let token = app.token(Role::Agent).await;
    let email: serde_json::Value = app
        .api_json(&format!("/api/v1/emails/{labelled}"), &token)
        .await;
    assert_eq!(email["id"], labelled);
    assert_eq!(email["prediction"]["model"], model.version.as_str());
    assert!(
        email["prediction"]["probabilities"]
            .as_object()
            .unwrap()
            .len()
            == 10
    );
    assert_eq!(email["label"]["source"], "imported");
    assert!(email["label"]["user"].is_null());
    assert!(email["subject"].as_str().is_some_and(|s| !s.is_empty()));
    let missing = app.api_get("/api/v1/emails/999999", &token).await;
    assert_eq!(missing.status(), 404);
    let ingest = app.token(Role::Ingest).await;
    assert_eq!(
        app.api_get(&format!("/api/v1/emails/{labelled}"), &ingest)
            .await
            .status(),
        403
    );
}

on_both_databases!(an_email_reads_back_with_its_prediction_and_label);
