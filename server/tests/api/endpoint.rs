//! The SageMaker endpoint client: the real AWS SDK against `triage model-server` on
//! loopback, healthy and misbehaving.

use std::time::{Duration, Instant};

use domain::audit::Actor;
use domain::role::Role;
use domain::scoring::{EmailText, EndpointConfig, ScoreError, Scorer, active};
use server::model_server::Faults;

use crate::helpers::{TestApp, model_server, score_all, test_settings, with_trained_model};
use crate::on_both_databases;

fn config(url: &str) -> EndpointConfig {
    EndpointConfig {
        endpoint_name: "triage-bert".into(),
        region: "eu-west-1".into(),
        endpoint_url: Some(url.to_string()),
        timeout_ms: 2_000,
        ..EndpointConfig::default()
    }
}

/// Registers `config` as an endpoint model and connects its scorer.
async fn endpoint_scorer(app: &TestApp, config: &EndpointConfig) -> Scorer {
    let id = active::register_endpoint(&app.db, config, Actor::System)
        .await
        .unwrap();
    let credentials = test_settings("").aws_credentials();
    active::load(&app.db, id, &credentials).await.unwrap()
}

async fn some_emails(app: &TestApp, n: i64) -> Vec<EmailText> {
    let rows: Vec<(String, String)> = sqlx::query_as(
        "SELECT e.subject, b.body_text FROM emails e JOIN email_bodies b ON b.email_id = e.id \
             ORDER BY e.id LIMIT $1",
    )
    .bind(n)
    .fetch_all(&app.db.pool)
    .await
    .unwrap();
    rows.into_iter()
        .map(|(subject, body)| EmailText { subject, body })
        .collect()
}

async fn the_sdk_client_gets_the_same_answers_as_the_model_in_process(app: TestApp) {
    let builtin_id = with_trained_model(&app).await.id;
    let url = model_server(&app.db, Faults::default()).await;
    let emails = some_emails(&app, 70).await;
    let credentials = test_settings("").aws_credentials();
    let builtin = active::load(&app.db, builtin_id, &credentials)
        .await
        .unwrap();
    let endpoint = endpoint_scorer(&app, &config(&url)).await;
    assert_eq!(endpoint.version(), "endpoint-triage-bert");

    let local = builtin.score(&emails).await.unwrap();
    let remote = endpoint.score(&emails).await.unwrap();
    assert_eq!(remote.len(), 70, "three requests of at most 32 emails");
    for (l, r) in local.iter().zip(&remote) {
        assert_eq!(l.category, r.category);
        assert!(
            (l.confidence - r.confidence).abs() < 1e-4,
            "{} vs {}",
            l.confidence,
            r.confidence
        );
        let sum: f64 = r.probabilities.iter().map(|(_, p)| p).sum();
        assert!((sum - 1.0).abs() < 1e-9);
        assert_eq!(r.probabilities.len(), 10);
    }
}

async fn throttled_requests_are_retried_and_endless_throttling_is_reported(app: TestApp) {
    with_trained_model(&app).await;
    let emails = some_emails(&app, 64).await;
    let every_other = model_server(
        &app.db,
        Faults {
            throttle_every: 2,
            ..Faults::default()
        },
    )
    .await;
    let scorer = endpoint_scorer(
        &app,
        &EndpointConfig {
            batch_size: 8,
            ..config(&every_other)
        },
    )
    .await;
    let answers = scorer
        .score(&emails)
        .await
        .expect("every throttled request succeeds on a retry");
    assert_eq!(answers.len(), 64);

    let always = model_server(
        &app.db,
        Faults {
            throttle_every: 1,
            ..Faults::default()
        },
    )
    .await;
    let scorer = endpoint_scorer(
        &app,
        &EndpointConfig {
            max_attempts: 3,
            ..config(&always)
        },
    )
    .await;
    let err = scorer.score(&emails[..1]).await.unwrap_err();
    assert_eq!(err, ScoreError::Throttled { attempts: 3 });
    // An operator sees both in /metrics: the requests' latency and the throttling.
    let metrics = reqwest::get(app.url("/metrics"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains("triage_endpoint_request_duration_seconds_count"),
        "{metrics}"
    );
    assert!(metrics.contains("triage_endpoint_errors_total{kind=\"throttled\"}"));
}

async fn a_slow_endpoint_times_out_instead_of_hanging(app: TestApp) {
    with_trained_model(&app).await;
    let slow = model_server(
        &app.db,
        Faults {
            latency: Duration::from_secs(5),
            ..Faults::default()
        },
    )
    .await;
    let scorer = endpoint_scorer(
        &app,
        &EndpointConfig {
            timeout_ms: 200,
            max_attempts: 2,
            ..config(&slow)
        },
    )
    .await;
    let started = Instant::now();
    let err = scorer.score(&some_emails(&app, 1).await).await.unwrap_err();
    assert_eq!(
        err,
        ScoreError::Timeout {
            timeout_ms: 200,
            attempts: 2
        }
    );
    assert!(
        started.elapsed() < Duration::from_secs(4),
        "two attempts of 200 ms, not of 5 s: {:?}",
        started.elapsed()
    );
}

async fn a_model_error_is_reported_with_the_endpoints_message(app: TestApp) {
    with_trained_model(&app).await;
    let url = model_server(&app.db, Faults::default()).await;
    let scorer = endpoint_scorer(
        &app,
        &EndpointConfig {
            content_type: "text/csv".into(),
            ..config(&url)
        },
    )
    .await;
    let err = scorer.score(&some_emails(&app, 2).await).await.unwrap_err();
    match &err {
        ScoreError::Model { status, message } => {
            assert_eq!(*status, Some(415));
            assert!(message.contains("text/csv is not supported"), "{message}");
        }
        other => panic!("expected a model error, got {other:?}"),
    }
    assert!(
        err.to_string()
            .starts_with("the model returned an error (415)"),
        "{err}"
    );
}

async fn a_label_that_is_no_category_is_an_error_that_names_it(app: TestApp) {
    with_trained_model(&app).await;
    let url = model_server(&app.db, Faults::default()).await;
    let emails = some_emails(&app, 1).await;
    let answer = endpoint_scorer(&app, &config(&url))
        .await
        .score(&emails)
        .await
        .unwrap();
    // This Triage no longer has the endpoint's top category: the model knows a
    // class the team retired.
    let top = answer[0].category.clone();
    sqlx::query("UPDATE categories SET retired_at = 1 WHERE name = $1")
        .bind(&top)
        .execute(&app.db.pool)
        .await
        .unwrap();
    let err = endpoint_scorer(&app, &config(&url))
        .await
        .score(&emails)
        .await
        .unwrap_err();
    assert_eq!(err, ScoreError::UnknownLabel { label: top.clone() });
    assert!(err.to_string().contains(&format!("{top:?}")), "{err}");

    // Mapped to a category that exists, the same answer is accepted.
    let other: String = sqlx::query_scalar(
        "SELECT name FROM categories WHERE retired_at IS NULL ORDER BY name LIMIT 1",
    )
    .fetch_one(&app.db.pool)
    .await
    .unwrap();
    let mapped = EndpointConfig {
        label_map: [(top.clone(), other.clone())].into(),
        ..config(&url)
    };
    let answer = endpoint_scorer(&app, &mapped)
        .await
        .score(&emails)
        .await
        .unwrap();
    assert!(answer[0].probabilities.iter().all(|(c, _)| c != &top));
    assert!(answer[0].probabilities.iter().any(|(c, _)| c == &other));
}

async fn no_request_exceeds_the_payload_limit(app: TestApp) {
    with_trained_model(&app).await;
    let url = model_server(&app.db, Faults::default()).await;
    let mut emails = some_emails(&app, 10).await;
    emails[3].body = "refund ".repeat(2_000); // 14 KB: larger than a whole request
    let scorer = endpoint_scorer(
        &app,
        &EndpointConfig {
            max_payload_bytes: 4_096,
            ..config(&url)
        },
    )
    .await;
    let answers = scorer.score(&emails).await.unwrap();
    assert_eq!(
        answers.len(),
        10,
        "split into small requests, the big email cut to fit"
    );
}

on_both_databases!(
    the_sdk_client_gets_the_same_answers_as_the_model_in_process,
    throttled_requests_are_retried_and_endless_throttling_is_reported,
    a_slow_endpoint_times_out_instead_of_hanging,
    a_model_error_is_reported_with_the_endpoints_message,
    a_label_that_is_no_category_is_an_error_that_names_it,
    no_request_exceeds_the_payload_limit
);

async fn new_mail_is_scored_by_the_active_endpoint_and_kept_when_it_is_down(app: TestApp) {
    with_trained_model(&app).await;
    score_all(&app.db).await.unwrap();
    let url = model_server(&app.db, Faults::default()).await;
    let id = active::register_endpoint(&app.db, &config(&url), Actor::System)
        .await
        .unwrap();
    domain::training::activate(&app.db, id, Actor::System)
        .await
        .unwrap();

    let token = app.token(Role::Ingest).await;
    let ingest = |message_id: &'static str| {
        reqwest::Client::new().post(app.url("/api/v1/emails")).bearer_auth(&token)
            .json(&serde_json::json!({"message_id": message_id, "from": "a@x.example", "subject": "Refund please", "body": "I returned the chair and want my money back"}))
            .send()
    };
    assert_eq!(ingest("via-endpoint@x").await.unwrap().status(), 201);
    let version = wait_for_prediction(&app, "<via-endpoint@x>").await;
    assert_eq!(version, "endpoint-triage-bert");

    // The endpoint goes away: ingest still answers at once and the email waits,
    // unscored, for the next run.
    let gone = EndpointConfig {
        endpoint_url: Some("http://127.0.0.1:9".into()),
        max_attempts: 1,
        ..config(&url)
    };
    active::register_endpoint(&app.db, &gone, Actor::System)
        .await
        .unwrap();
    let started = Instant::now();
    assert_eq!(ingest("while-down@x").await.unwrap().status(), 201);
    assert!(started.elapsed() < Duration::from_secs(2));
    tokio::time::sleep(Duration::from_millis(500)).await;
    let unscored: Option<i64> =
        sqlx::query_scalar("SELECT prediction_id FROM emails WHERE message_id = '<while-down@x>'")
            .fetch_one(&app.db.pool)
            .await
            .unwrap();
    assert_eq!(unscored, None);

    // Back up: the next run scores it.
    active::register_endpoint(&app.db, &config(&url), Actor::System)
        .await
        .unwrap();
    assert_eq!(score_all(&app.db).await.unwrap(), 1);
}

on_both_databases!(new_mail_is_scored_by_the_active_endpoint_and_kept_when_it_is_down);

async fn configuration_can_pin_the_endpoint_as_the_scorer(app: TestApp) {
    with_trained_model(&app).await;
    let url = model_server(&app.db, Faults::default()).await;
    let settings = domain::settings::Settings {
        scorer: Some("endpoint".into()),
        endpoint_name: Some("configured".into()),
        endpoint_url: Some(url),
        endpoint_label_map: "LABEL_0=feedback".into(),
        ..app.settings.clone()
    };
    active::apply_pin(&app.db, settings.pinned_scorer().unwrap())
        .await
        .unwrap();
    let (kind, version, config): (String, String, String) =
        sqlx::query_as("SELECT kind, version, config FROM models WHERE status = 'active'")
            .fetch_one(&app.db.pool)
            .await
            .unwrap();
    assert_eq!(
        (kind.as_str(), version.as_str()),
        ("endpoint", "endpoint-configured")
    );
    assert!(config.contains("\"LABEL_0\":\"feedback\""), "{config}");

    // Back to the built-in model by configuration: the newest one is active again.
    let builtin = domain::settings::Settings {
        scorer: Some("builtin".into()),
        ..settings.clone()
    };
    active::apply_pin(&app.db, builtin.pinned_scorer().unwrap())
        .await
        .unwrap();
    let kind: String = sqlx::query_scalar("SELECT kind FROM models WHERE status = 'active'")
        .fetch_one(&app.db.pool)
        .await
        .unwrap();
    assert_eq!(kind, "builtin");

    let wrong = domain::settings::Settings {
        scorer: Some("endpoint".into()),
        endpoint_name: None,
        ..settings
    };
    let err = wrong.pinned_scorer().unwrap_err();
    assert!(err.to_string().starts_with("endpoint_name"), "{err}");
}

on_both_databases!(configuration_can_pin_the_endpoint_as_the_scorer);

async fn wait_for_prediction(app: &TestApp, message_id: &str) -> String {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let version: Option<String> = sqlx::query_scalar(
            "SELECT p.model_version FROM emails e JOIN predictions p ON p.id = e.prediction_id WHERE e.message_id = $1",
        )
        .bind(message_id)
        .fetch_optional(&app.db.pool)
        .await
        .unwrap();
        if let Some(v) = version {
            return v;
        }
        assert!(Instant::now() < deadline, "{message_id} was not scored");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn from_the_command_line_import_scores_through_a_configured_endpoint(app: TestApp) {
    use std::io::BufRead;
    with_trained_model(&app).await;
    score_all(&app.db).await.unwrap(); // so the import's count is the new email alone
    let url = app.settings.database_url();
    // `triage model-server` in its own process, on a free port it reports.
    let mut server = std::process::Command::new(env!("CARGO_BIN_EXE_triage"))
        .args(["model-server", "--addr", "127.0.0.1:0"])
        .env("DATABASE_URL", &url)
        .env("TRIAGE_LOG", "warn")
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut first_line = String::new();
    std::io::BufReader::new(server.stdout.take().unwrap())
        .read_line(&mut first_line)
        .unwrap();
    let endpoint_url = first_line.trim().rsplit(' ').next().unwrap().to_string();
    assert!(
        endpoint_url.starts_with("http://127.0.0.1:"),
        "{first_line}"
    );

    let dir = tempfile_dir();
    let file = dir.join("new.jsonl");
    std::fs::write(&file, "{\"message_id\": \"cli-1@x\", \"from\": \"a@x.example\", \"subject\": \"Invoice copy\", \"body\": \"Please send a copy of invoice 4711\"}\n").unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_triage"))
        .args(["import", file.to_str().unwrap()])
        .env("DATABASE_URL", &url)
        .env("TRIAGE_LOG", "warn")
        .env("TRIAGE_SCORER", "endpoint")
        .env("TRIAGE_ENDPOINT_NAME", "from-cli")
        .env("TRIAGE_ENDPOINT_URL", &endpoint_url)
        .env("TRIAGE_ENDPOINT_ACCESS_KEY_ID", "test-key")
        .env("TRIAGE_ENDPOINT_SECRET_ACCESS_KEY", "test-secret")
        .output()
        .unwrap();
    server.kill().unwrap();
    let _ = server.wait();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("1 emails scored"), "{stdout}");
    assert_eq!(
        wait_for_prediction(&app, "<cli-1@x>").await,
        "endpoint-from-cli"
    );
    std::fs::remove_dir_all(dir).unwrap();
}

on_both_databases!(from_the_command_line_import_scores_through_a_configured_endpoint);

fn tempfile_dir() -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "triage-endpoint-{}-{}",
        std::process::id(),
        rand::random::<u64>()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

async fn supervisors_list_models_and_promote_an_endpoint_over_the_api(app: TestApp) {
    let builtin = with_trained_model(&app).await.id;
    score_all(&app.db).await.unwrap();
    let url = model_server(&app.db, Faults::default()).await;
    let endpoint = active::register_endpoint(&app.db, &config(&url), Actor::System)
        .await
        .unwrap();
    let supervisor = app.token(Role::Supervisor).await;
    let agent = app.token(Role::Agent).await;

    assert_eq!(app.api_get("/api/v1/models", &agent).await.status(), 403);
    let list: serde_json::Value = app.api_json("/api/v1/models", &supervisor).await;
    let items = list["items"].as_array().unwrap();
    assert_eq!(items[0]["id"], builtin, "the active model comes first");
    assert_eq!(items[0]["status"], "active");
    assert!(items[0]["macro_f1"].as_f64().unwrap() > 0.0);
    let listed = items.iter().find(|m| m["id"] == endpoint).unwrap();
    assert_eq!(listed["kind"], "endpoint");
    assert_eq!(listed["status"], "candidate");
    assert_eq!(listed["endpoint"], format!("triage-bert at {url}"));

    let promote = |id: i64, token: &str| {
        reqwest::Client::new()
            .post(app.url(&format!("/api/v1/models/{id}/promote")))
            .bearer_auth(token)
            .send()
    };
    assert_eq!(promote(endpoint, &agent).await.unwrap().status(), 403);
    assert_eq!(promote(999_999, &supervisor).await.unwrap().status(), 404);
    let promoted = promote(endpoint, &supervisor).await.unwrap();
    assert_eq!(promoted.status(), 200);
    let promoted: serde_json::Value = promoted.json().await.unwrap();
    assert_eq!(promoted["status"], "active");

    // New mail now goes to the endpoint; promoting the built-in model rolls back.
    let ingest = app.token(Role::Ingest).await;
    let response = reqwest::Client::new().post(app.url("/api/v1/emails")).bearer_auth(&ingest)
        .json(&serde_json::json!({"message_id": "after-promote@x", "from": "a@x.example", "subject": "Quote", "body": "Price for 40 desks?"}))
        .send().await.unwrap();
    assert_eq!(response.status(), 201);
    assert_eq!(
        wait_for_prediction(&app, "<after-promote@x>").await,
        "endpoint-triage-bert"
    );
    assert_eq!(promote(builtin, &supervisor).await.unwrap().status(), 200);
    let active: String = sqlx::query_scalar("SELECT version FROM models WHERE status = 'active'")
        .fetch_one(&app.db.pool)
        .await
        .unwrap();
    assert!(active.starts_with("builtin-"), "{active}");
}

on_both_databases!(supervisors_list_models_and_promote_an_endpoint_over_the_api);
