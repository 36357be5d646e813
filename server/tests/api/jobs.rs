//! Batch jobs: queued over the API, worked by the server's worker (or by `triage
//! serve` processes), surviving a crash, shared by two processes, slowed but not
//! failed by throttling, with failures recorded and retriable.

use crate::helpers::JsonAnswer;
use domain::wire::JobKind;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use domain::audit::Actor;
use domain::role::Role;
use domain::scoring::{EndpointConfig, active};
use server::model_server::Faults;

use crate::helpers::{Backend, TestApp, spawn_app_with, with_trained_model};
use crate::on_both_databases;

/// The active built-in model over the SageMaker contract, registered as the endpoint
/// model `endpoint-jobs`; returns its version.
async fn endpoint_model(app: &TestApp, faults: Faults, batch_size: usize) -> String {
    let url = crate::helpers::model_server(&app.db, faults).await;
    let config = EndpointConfig {
        endpoint_name: "jobs".into(),
        endpoint_url: Some(url),
        timeout_ms: 5_000,
        batch_size,
        ..EndpointConfig::default()
    };
    active::register_endpoint(&app.db, &config, Actor::System)
        .await
        .unwrap();
    "endpoint-jobs".into()
}

/// An endpoint model whose every request takes `latency_ms`, answering `batch`
/// emails a request; its version.
async fn slow_endpoint(app: &TestApp, latency_ms: u64, batch: usize) -> String {
    let faults = Faults {
        latency: Duration::from_millis(latency_ms),
        ..Faults::default()
    };
    endpoint_model(app, faults, batch).await
}

/// Queues a score job with the model `version` (no worker is woken); its id.
async fn queue_score_job(app: &TestApp, version: String) -> i64 {
    let job = domain::jobs::NewJob {
        model: Some(version),
        ..domain::jobs::NewJob::of(JobKind::Score)
    };
    domain::jobs::create(&app.db, &job, Actor::System)
        .await
        .unwrap()
        .id
}

/// A score job with the model `version`, started over the API and waited for.
struct ScoreRun {
    /// Emails unscored when it started.
    waiting: i64,
    /// The supervisor's token that started it.
    supervisor: String,
    id: i64,
    /// The job as it finished.
    done: serde_json::Value,
}

async fn score_and_wait(app: &TestApp, version: &str) -> ScoreRun {
    let waiting = unscored(app).await;
    let supervisor = app.token(Role::Supervisor).await;
    let id = start_job(
        app,
        &supervisor,
        serde_json::json!({"kind": "score", "model": version}),
    )
    .await;
    let done = finished(app, &supervisor, id, Duration::from_secs(60)).await;
    ScoreRun {
        waiting,
        supervisor,
        id,
        done,
    }
}

async fn post_job(app: &TestApp, token: &str, body: serde_json::Value) -> reqwest::Response {
    reqwest::Client::new()
        .post(app.url("/api/v1/jobs"))
        .bearer_auth(token)
        .json(&body)
        .send()
        .await
        .unwrap()
}

/// Starts a job over the API; its id.
async fn start_job(app: &TestApp, token: &str, body: serde_json::Value) -> i64 {
    let response = post_job(app, token, body).await;
    assert_eq!(response.status(), 202);
    response.json::<serde_json::Value>().await.unwrap()["id"]
        .as_i64()
        .unwrap()
}

async fn job(app: &TestApp, token: &str, id: i64) -> serde_json::Value {
    app.api_json(&format!("/api/v1/jobs/{id}"), token).await
}

/// Waits for a job to reach a final status; returns it.
async fn finished(app: &TestApp, token: &str, id: i64, within: Duration) -> serde_json::Value {
    let deadline = Instant::now() + within;
    loop {
        let job = job(app, token, id).await;
        if ["succeeded", "failed", "cancelled"].contains(&job["status"].as_str().unwrap()) {
            return job;
        }
        assert!(Instant::now() < deadline, "job {id} did not finish: {job}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Every email of the job has exactly one prediction from it.
async fn assert_scored_once(app: &TestApp, id: i64, total: i64) {
    let (predictions, emails): (i64, i64) = sqlx::query_as(
        "SELECT COUNT(*), COUNT(DISTINCT email_id) FROM predictions WHERE job_id = $1",
    )
    .bind(id)
    .fetch_one(&app.db.pool)
    .await
    .unwrap();
    assert_eq!((predictions, emails), (total, total), "job {id}");
}

async fn unscored(app: &TestApp) -> i64 {
    sqlx::query_scalar("SELECT COUNT(*) FROM emails WHERE prediction_id IS NULL")
        .fetch_one(&app.db.pool)
        .await
        .unwrap()
}

async fn a_score_job_over_the_api_scores_every_unscored_email_once(app: TestApp) {
    with_trained_model(&app).await;
    let waiting = unscored(&app).await;
    assert!(waiting > 200, "{waiting}");
    let supervisor = app.token(Role::Supervisor).await;

    let response = post_job(&app, &supervisor, serde_json::json!({"kind": "score"})).await;
    assert_eq!(response.status(), 202);
    let queued: serde_json::Value = response.json().await.unwrap();
    assert_eq!(queued["kind"], "score");
    assert!(queued["model"].as_str().unwrap().starts_with("builtin-"));
    let id = queued["id"].as_i64().unwrap();

    let done = finished(&app, &supervisor, id, Duration::from_secs(30)).await;
    assert_eq!(done["status"], "succeeded", "{done}");
    assert_eq!(done["total"], waiting);
    assert_eq!(done["done"], waiting);
    assert_eq!(done["failed"], 0);
    assert_scored_once(&app, id, waiting).await;
    assert_eq!(unscored(&app).await, 0);

    let list: serde_json::Value = app.api_json("/api/v1/jobs", &supervisor).await;
    assert_eq!(list["items"][0]["id"], id);
    // Finished jobs cannot be cancelled.
    let again = reqwest::Client::new()
        .post(app.url(&format!("/api/v1/jobs/{id}/cancel")))
        .bearer_auth(&supervisor)
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), 409);
}

async fn job_requests_are_checked_field_by_field(app: TestApp) {
    with_trained_model(&app).await;
    let supervisor = app.token(Role::Supervisor).await;
    let agent = app.token(Role::Agent).await;
    assert_eq!(
        post_job(&app, &agent, serde_json::json!({"kind": "score"}))
            .await
            .status(),
        403
    );
    for (body, field) in [
        (serde_json::json!({"kind": "sort"}), "kind"),
        (
            serde_json::json!({"kind": "rescore", "filter": {"status": "lost"}}),
            "filter.status",
        ),
        (
            serde_json::json!({"kind": "rescore", "filter": {"min_confidence": 2}}),
            "filter.min_confidence",
        ),
        (
            serde_json::json!({"kind": "rescore", "filter": {"colour": "red"}}),
            "filter.colour",
        ),
        (
            serde_json::json!({"kind": "rescore", "model": "no-such-model"}),
            "model",
        ),
    ] {
        let response = post_job(&app, &supervisor, body.clone()).await;
        assert_eq!(response.status(), 422, "{body}");
        let error: serde_json::Value = response.json().await.unwrap();
        assert_eq!(error["error"]["details"]["field"], field, "{body}: {error}");
    }
    let not_json = reqwest::Client::new()
        .post(app.url("/api/v1/jobs"))
        .bearer_auth(&supervisor)
        .header("content-type", "application/json")
        .body("{kind")
        .send()
        .await
        .unwrap();
    assert_eq!(not_json.status(), 400);
    assert_eq!(
        app.api_get("/api/v1/jobs/999999", &supervisor)
            .await
            .status(),
        404
    );
}

async fn a_rescore_job_rescores_just_its_filter_with_the_chosen_model(app: TestApp) {
    with_trained_model(&app).await;
    crate::helpers::score_all(&app.db).await.unwrap();
    let version = endpoint_model(&app, Faults::default(), 16).await;
    let category: String = sqlx::query_scalar(
        "SELECT c.name FROM emails e JOIN categories c ON c.id = e.predicted_category_id \
         GROUP BY c.name ORDER BY COUNT(*) DESC LIMIT 1",
    )
    .fetch_one(&app.db.pool)
    .await
    .unwrap();
    let targeted: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM emails e JOIN categories c ON c.id = e.predicted_category_id WHERE c.name = $1",
    ).bind(&category).fetch_one(&app.db.pool).await.unwrap();
    let supervisor = app.token(Role::Supervisor).await;
    let id = start_job(
        &app,
        &supervisor,
        serde_json::json!({
            "kind": "rescore", "filter": {"category": category}, "model": version,
        }),
    )
    .await;
    let done = finished(&app, &supervisor, id, Duration::from_secs(30)).await;
    assert_eq!(
        (done["status"].as_str(), done["total"].as_i64()),
        (Some("succeeded"), Some(targeted)),
        "{done}"
    );
    assert_scored_once(&app, id, targeted).await;
    // The targeted emails' current prediction is now the endpoint's; the rest kept theirs.
    let by_endpoint: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM emails e JOIN predictions p ON p.id = e.prediction_id WHERE p.model_version = $1",
    ).bind(&version).fetch_one(&app.db.pool).await.unwrap();
    assert_eq!(by_endpoint, targeted);
}

async fn emails_that_fail_are_recorded_and_a_retry_finishes_them(app: TestApp) {
    with_trained_model(&app).await;
    let version = endpoint_model(&app, Faults::default(), 8).await;
    // The endpoint's model knows a category this Triage has retired: the emails
    // it puts there fail with an error naming the label; the others are scored.
    let retired: String = sqlx::query_scalar("SELECT name FROM categories ORDER BY id LIMIT 1")
        .fetch_one(&app.db.pool)
        .await
        .unwrap();
    sqlx::query("UPDATE categories SET retired_at = 1 WHERE name = $1")
        .bind(&retired)
        .execute(&app.db.pool)
        .await
        .unwrap();
    let ScoreRun {
        waiting,
        supervisor,
        id,
        done,
    } = score_and_wait(&app, &version).await;
    let failed = done["failed"].as_i64().unwrap();
    assert!(failed > 0, "{done}");
    assert_eq!(done["done"].as_i64().unwrap() + failed, waiting);
    let failures: serde_json::Value = app
        .api_json(&format!("/api/v1/jobs/{id}/failures"), &supervisor)
        .await;
    let first = &failures["items"][0];
    assert!(
        first["error"]
            .as_str()
            .unwrap()
            .contains(&format!("{retired:?}")),
        "{first}"
    );
    assert!(first["attempts"].as_i64().unwrap() >= 1);

    // The label is mapped to a category that exists; the retry scores just the failures.
    let mut config: EndpointConfig = serde_json::from_str(
        &sqlx::query_scalar::<_, String>("SELECT config FROM models WHERE version = $1")
            .bind(&version)
            .fetch_one(&app.db.pool)
            .await
            .unwrap(),
    )
    .unwrap();
    config.label_map.insert(retired.clone(), "complaint".into());
    active::register_endpoint(&app.db, &config, Actor::System)
        .await
        .unwrap();
    let retried = reqwest::Client::new()
        .post(app.url(&format!("/api/v1/jobs/{id}/retry")))
        .bearer_auth(&supervisor)
        .send()
        .await
        .unwrap();
    assert_eq!(retried.status(), 200);
    let done = finished(&app, &supervisor, id, Duration::from_secs(60)).await;
    assert_eq!(
        (
            done["status"].as_str(),
            done["failed"].as_i64(),
            done["done"].as_i64()
        ),
        (Some("succeeded"), Some(0), Some(waiting)),
        "{done}"
    );
    assert_scored_once(&app, id, waiting).await;
}

on_both_databases!(
    a_score_job_over_the_api_scores_every_unscored_email_once,
    job_requests_are_checked_field_by_field,
    a_rescore_job_rescores_just_its_filter_with_the_chosen_model,
    emails_that_fail_are_recorded_and_a_retry_finishes_them
);

/// `triage serve` in its own process, on a free port, with job settings for the test.
fn serve_process(database_url: &str, extra: &[(&str, &str)]) -> Child {
    let mut command = Command::new(env!("CARGO_BIN_EXE_triage"));
    command
        .args(["serve", "--addr", "127.0.0.1:0"])
        .env("DATABASE_URL", database_url)
        .env("TRIAGE_LOG", "warn")
        .env("TRIAGE_ENDPOINT_ACCESS_KEY_ID", "test-key")
        .env("TRIAGE_ENDPOINT_SECRET_ACCESS_KEY", "test-secret")
        .stdout(Stdio::null())
        .stderr(Stdio::inherit());
    for (k, v) in extra {
        command.env(k, v);
    }
    command.spawn().expect("triage serve starts")
}

async fn progress(app: &TestApp, id: i64) -> (String, i64, i64) {
    sqlx::query_as("SELECT status, done, total FROM jobs WHERE id = $1")
        .bind(id)
        .fetch_one(&app.db.pool)
        .await
        .unwrap()
}

async fn wait_until(
    app: &TestApp,
    id: i64,
    within: Duration,
    ok: impl Fn(&(String, i64, i64)) -> bool,
) -> (String, i64, i64) {
    let deadline = Instant::now() + within;
    loop {
        let p = progress(app, id).await;
        if ok(&p) {
            return p;
        }
        assert!(Instant::now() < deadline, "job {id} stuck at {p:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The test's own server runs no worker: the `triage serve` processes do the work.
async fn app_without_worker(backend: Backend) -> TestApp {
    spawn_app_with(backend, |s| s.jobs_in_server = false).await
}

async fn a_job_survives_its_server_being_killed(backend: Backend) {
    let app = app_without_worker(backend).await;
    with_trained_model(&app).await;
    let version = slow_endpoint(&app, 50, 8).await;
    let id = queue_score_job(&app, version).await;
    let url = app.settings.database_url();
    let settings = [
        ("TRIAGE_JOB_LEASE_SECONDS", "1"),
        ("TRIAGE_JOB_BATCH_SIZE", "8"),
        ("TRIAGE_JOB_MAX_CONCURRENT_TRANSFORMS", "2"),
    ];

    let mut first = serve_process(&url, &settings);
    let (_, done, total) = wait_until(&app, id, Duration::from_secs(30), |(_, done, _)| {
        *done >= 40
    })
    .await;
    first.kill().unwrap(); // SIGKILL: no chance to tidy up
    first.wait().unwrap();
    assert!(
        done < total,
        "the job finished before the crash ({done}/{total}); make it slower"
    );

    let mut second = serve_process(&url, &settings);
    let (status, done, total) = wait_until(&app, id, Duration::from_secs(60), |(s, _, _)| {
        s != "running" && s != "queued"
    })
    .await;
    second.kill().unwrap();
    second.wait().unwrap();
    assert_eq!((status.as_str(), done), ("succeeded", total));
    assert_scored_once(&app, id, total).await;
    assert_eq!(unscored(&app).await, 0, "nothing skipped");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_survives_its_server_being_killed_sqlite() {
    a_job_survives_its_server_being_killed(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_survives_its_server_being_killed_postgres() {
    a_job_survives_its_server_being_killed(Backend::Postgres).await;
}

/// Two `triage serve` processes on one PostgreSQL database share one job.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_servers_work_one_job_together_without_scoring_an_email_twice() {
    let app = app_without_worker(Backend::Postgres).await;
    with_trained_model(&app).await;
    let version = slow_endpoint(&app, 30, 4).await;
    let url = app.settings.database_url();
    let settings = [
        ("TRIAGE_JOB_BATCH_SIZE", "4"),
        ("TRIAGE_JOB_MAX_CONCURRENT_TRANSFORMS", "2"),
    ];
    let mut servers = [
        serve_process(&url, &settings),
        serve_process(&url, &settings),
    ];
    // Both are up (their arrival scorers have nothing to do: the job does the scoring).
    tokio::time::sleep(Duration::from_secs(2)).await;
    let id = queue_score_job(&app, version).await;
    let (status, done, total) = wait_until(&app, id, Duration::from_secs(60), |(s, _, _)| {
        s == "succeeded"
    })
    .await;
    for server in &mut servers {
        server.kill().unwrap();
        server.wait().unwrap();
    }
    assert_eq!((status.as_str(), done), ("succeeded", total));
    assert_scored_once(&app, id, total).await;
    let workers: i64 =
        sqlx::query_scalar("SELECT COUNT(DISTINCT worker) FROM job_chunks WHERE job_id = $1")
            .bind(id)
            .fetch_one(&app.db.pool)
            .await
            .unwrap();
    assert_eq!(workers, 2, "both processes took chunks");
}

async fn an_answer_for_an_email_scored_meanwhile_leaves_no_trace(app: TestApp) {
    use domain::scoring::store::{Replace, store_answers, store_unscored};
    let model = with_trained_model(&app).await;
    let credentials = crate::helpers::test_settings("").aws_credentials();
    let scorer = active::load(&app.db, model.id, &credentials).await.unwrap();
    let email: i64 = sqlx::query_scalar(
        "INSERT INTO emails (message_id, thread_key, from_address, subject, source, received_at, ingested_at) \
         VALUES ('<race@example.com>', 'race', 'a@example.com', 'Quote for 40 chairs', 'test', 1, 1) \
         RETURNING id",
    )
    .fetch_one(&app.db.pool)
    .await
    .unwrap();
    let text = domain::scoring::EmailText {
        subject: "Quote for 40 chairs".into(),
        body: "Please send a quotation for 40 office chairs.".into(),
    };
    let answers = scorer.score(&[text]).await.unwrap();
    let history = |db: domain::db::Db| async move {
        sqlx::query_as::<_, (i64, i64)>(
            "SELECT COUNT(*), MAX(p.id) FROM predictions p WHERE p.email_id = $1",
        )
        .bind(email)
        .fetch_one(&db.pool)
        .await
        .unwrap()
    };
    let current = |db: domain::db::Db| async move {
        sqlx::query_scalar::<_, i64>("SELECT prediction_id FROM emails WHERE id = $1")
            .bind(email)
            .fetch_one(&db.pool)
            .await
            .unwrap()
    };

    // The first scorer stores its answer; a second one, finding the email scored
    // by then, stores nothing and leaves no prediction behind.
    assert_eq!(
        store_unscored(&app.db, &scorer, &[email], &answers, None)
            .await
            .unwrap(),
        1
    );
    let (count, first) = history(app.db.clone()).await;
    assert_eq!(count, 1);
    assert_eq!(current(app.db.clone()).await, first);
    assert_eq!(
        store_unscored(&app.db, &scorer, &[email], &answers, None)
            .await
            .unwrap(),
        0
    );
    assert_eq!(history(app.db.clone()).await, (1, first));
    assert_eq!(current(app.db.clone()).await, first);

    // Rescoring replaces the current prediction and keeps the old one in the history.
    let mut tx = app.db.begin_write().await.unwrap();
    let stored = store_answers(
        &mut tx,
        &scorer,
        &[(email, &answers[0])],
        None,
        Replace::Always,
    )
    .await
    .unwrap();
    tx.commit().await.unwrap();
    assert_eq!(stored, vec![email]);
    let (count, latest) = history(app.db.clone()).await;
    assert_eq!(count, 2);
    assert!(latest > first);
    assert_eq!(current(app.db.clone()).await, latest);
}

on_both_databases!(an_answer_for_an_email_scored_meanwhile_leaves_no_trace);

async fn batch_transform_input_goes_out_and_its_output_comes_back_as_predictions(app: TestApp) {
    with_trained_model(&app).await;
    let version = endpoint_model(&app, Faults::default(), 32).await;
    let endpoint_url: String = sqlx::query_scalar("SELECT config FROM models WHERE version = $1")
        .bind(&version)
        .fetch_one(&app.db.pool)
        .await
        .map(|c: String| {
            serde_json::from_str::<EndpointConfig>(&c)
                .unwrap()
                .endpoint_url
                .unwrap()
        })
        .unwrap();
    let waiting = unscored(&app).await;

    let mut input = Vec::new();
    let written = domain::jobs::batch_transform::export_input(&app.db, false, &mut input)
        .await
        .unwrap();
    assert_eq!(written as i64, waiting);
    // What Batch Transform does with JoinSource=Input: send each line to the
    // container's /invocations and write the line back with SageMakerOutput.
    let client = reqwest::Client::new();
    let mut output = String::new();
    for line in String::from_utf8(input).unwrap().lines() {
        let mut record: serde_json::Value = serde_json::from_str(line).unwrap();
        assert!(
            record["inputs"].is_string() && record["id"].is_string(),
            "{line}"
        );
        let answer: serde_json::Value = client
            .post(format!("{endpoint_url}/invocations"))
            .header("content-type", "application/json")
            .body(line.to_string())
            .json_answer()
            .await;
        record["SageMakerOutput"] = answer;
        output.push_str(&record.to_string());
        output.push('\n');
    }
    output.push_str("{\"id\": \"99999999\", \"SageMakerOutput\": [{\"label\": \"complaint\", \"score\": 1.0}]}\n");
    output.push_str("[{\"label\": \"complaint\", \"score\": 1.0}]\n");
    let dir = std::env::temp_dir().join(format!("triage-bt-{}", rand::random::<u64>()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("input.jsonl.out");
    std::fs::write(&file, output).unwrap();

    let out = Command::new(env!("CARGO_BIN_EXE_triage"))
        .args([
            "import",
            "batch-output",
            file.to_str().unwrap(),
            "--model",
            &version,
        ])
        .env("DATABASE_URL", app.settings.database_url())
        .env("TRIAGE_LOG", "warn")
        .output()
        .unwrap();
    std::fs::remove_dir_all(&dir).unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    // Two bad lines: the command says which and why, and fails.
    assert!(!out.status.success(), "{stdout}");
    assert!(
        stdout.contains(&format!("{waiting} predictions stored")),
        "{stdout}"
    );
    assert!(stdout.contains("there is no email 99999999"), "{stdout}");
    assert!(stdout.contains("JoinSource=Input"), "{stdout}");
    assert_eq!(unscored(&app).await, 0);
    let job: (i64, String, i64, i64) = sqlx::query_as(
        "SELECT id, status, done, failed FROM jobs WHERE kind = 'import' ORDER BY id DESC LIMIT 1",
    )
    .fetch_one(&app.db.pool)
    .await
    .unwrap();
    assert_eq!((job.1.as_str(), job.2, job.3), ("succeeded", waiting, 2));
    assert_scored_once(&app, job.0, waiting).await;
}

on_both_databases!(batch_transform_input_goes_out_and_its_output_comes_back_as_predictions);

/// The demo with a trained model, on an app whose jobs take small chunks with a
/// short lease, so a test sees many requests quickly.
async fn app_with_small_chunks(backend: Backend) -> TestApp {
    let app = spawn_app_with(backend, |s| {
        s.job_batch_size = 8;
        s.job_max_concurrent_transforms = 2;
        s.job_lease_seconds = 2;
    })
    .await;
    with_trained_model(&app).await;
    app
}

async fn an_endpoint_that_throttles_half_the_requests_still_completes_the_job(backend: Backend) {
    let app = app_with_small_chunks(backend).await;
    let version = endpoint_model(
        &app,
        Faults {
            throttle_every: 2,
            ..Faults::default()
        },
        8,
    )
    .await;
    let ScoreRun {
        waiting, id, done, ..
    } = score_and_wait(&app, &version).await;
    assert_eq!(done["status"], "succeeded", "{done}");
    assert_eq!(
        (done["done"].as_i64(), done["failed"].as_i64()),
        (Some(waiting), Some(0)),
        "{done}"
    );
    assert_scored_once(&app, id, waiting).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_endpoint_that_throttles_half_the_requests_still_completes_the_job_sqlite() {
    an_endpoint_that_throttles_half_the_requests_still_completes_the_job(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_endpoint_that_throttles_half_the_requests_still_completes_the_job_postgres() {
    an_endpoint_that_throttles_half_the_requests_still_completes_the_job(Backend::Postgres).await;
}

async fn a_cancelled_job_stops_taking_chunks(backend: Backend) {
    let app = app_with_small_chunks(backend).await;
    // Slow: 200 ms per request of 4 emails, one at a time.
    let version = slow_endpoint(&app, 200, 4).await;
    let supervisor = app.token(Role::Supervisor).await;
    let id = start_job(
        &app,
        &supervisor,
        serde_json::json!({"kind": "score", "model": version}),
    )
    .await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let cancelled = reqwest::Client::new()
        .post(app.url(&format!("/api/v1/jobs/{id}/cancel")))
        .bearer_auth(&supervisor)
        .send()
        .await
        .unwrap();
    assert_eq!(cancelled.status(), 200);
    tokio::time::sleep(Duration::from_millis(1_000)).await;
    let job = job(&app, &supervisor, id).await;
    assert_eq!(job["status"], "cancelled");
    let scored = job["done"].as_i64().unwrap();
    assert!(scored < job["total"].as_i64().unwrap(), "{job}");
    tokio::time::sleep(Duration::from_millis(1_000)).await;
    // At most the chunks in flight when it was cancelled were added since.
    let later = self::job(&app, &supervisor, id).await["done"]
        .as_i64()
        .unwrap();
    assert!(later - scored <= 4 * 4, "{scored} then {later}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cancelled_job_stops_taking_chunks_sqlite() {
    a_cancelled_job_stops_taking_chunks(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cancelled_job_stops_taking_chunks_postgres() {
    a_cancelled_job_stops_taking_chunks(Backend::Postgres).await;
}
