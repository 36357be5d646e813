use crate::helpers::*;
use crate::on_both_databases;
use domain::role::Role;

async fn health_readiness_and_metrics_answer(app: TestApp) {
    assert_eq!(
        reqwest::get(app.url("/healthz"))
            .await
            .unwrap()
            .text()
            .await
            .unwrap(),
        "ok"
    );
    assert_eq!(
        reqwest::get(app.url("/readyz")).await.unwrap().status(),
        200
    );
    app.get("/login").await;
    let token = app.token(Role::Agent).await;
    let created = app
        .client
        .post(app.url("/api/v1/emails"))
        .bearer_auth(&token)
        .json(&serde_json::json!({"from": "a@b.example", "subject": "Hello", "body": "Hi"}))
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), 201);
    let metrics = reqwest::get(app.url("/metrics"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(metrics.contains("triage_http_requests_total"), "{metrics}");
    assert!(metrics.contains("triage_emails"));
    // What an operator pages on: the backlog by status, how old the oldest untriaged
    // email is, and jobs by status.
    for series in [
        "triage_emails_by_status{status=\"new\"}",
        "triage_emails_by_status{status=\"triaged\"}",
        "triage_oldest_untriaged_age_seconds",
        "triage_jobs_by_status{status=\"queued\"}",
        "triage_jobs_by_status{status=\"failed\"}",
        "triage_drift_alert",
        "triage_ingest_total{outcome=\"created\"}",
    ] {
        assert!(metrics.contains(series), "{series} in {metrics}");
    }
}

async fn private_pages_are_never_cached(app: TestApp) {
    app.signed_in_as(Role::Agent).await;
    let page = app.get("/").await;
    assert_eq!(page.headers()["cache-control"], "private, no-store");
    let api = app.get("/api/v1/emails").await;
    assert_eq!(api.headers()["cache-control"], "private, no-store");
}

async fn the_demo_loads_a_realistic_mailbox_once(app: TestApp) {
    let first = domain::demo::load(&app.db, domain::time::now_ms())
        .await
        .unwrap();
    assert!(first.emails_created >= 200, "{first:?}");
    assert_eq!(first.users_created, 3);
    assert!(first.labels_created > 50);
    let categories = domain::categories::list(&app.db).await.unwrap();
    assert!(categories.len() >= 8);
    let senders: i64 = sqlx::query_scalar("SELECT COUNT(DISTINCT from_address) FROM emails")
        .fetch_one(&app.db.pool)
        .await
        .unwrap();
    assert!(senders > 100, "varied senders: {senders}");
    let threads: i64 =
        sqlx::query_scalar("SELECT COUNT(*) FROM emails WHERE in_reply_to IS NOT NULL")
            .fetch_one(&app.db.pool)
            .await
            .unwrap();
    assert!(
        threads > 10,
        "some customers write again in the same thread"
    );

    // Every category a person answers has a template, and the team's past replies
    // make similar-reply suggestions appear on most new mail.
    let templates = domain::replies::templates(&app.db).await.unwrap();
    for c in categories.iter().filter(|c| c.name != "spam") {
        assert!(
            templates
                .iter()
                .any(|t| t.category.as_deref() == Some(c.name.as_str())),
            "no template for {}",
            c.name
        );
    }
    assert!(first.replies_created > 50, "{first:?}");
    let unlabelled: Vec<i64> =
        sqlx::query_scalar("SELECT id FROM emails WHERE label_id IS NULL ORDER BY id LIMIT 40")
            .fetch_all(&app.db.pool)
            .await
            .unwrap();
    let mut with_similar = 0;
    for id in &unlabelled {
        let suggestions = domain::replies::suggestions(&app.db, *id, None, "Alex Agent")
            .await
            .unwrap();
        if suggestions
            .iter()
            .any(|s| s.kind == domain::wire::SuggestionKind::Similar)
        {
            with_similar += 1;
        }
    }
    assert!(
        with_similar * 10 >= unlabelled.len() * 7,
        "similar replies on {with_similar} of {} new emails",
        unlabelled.len()
    );

    let again = domain::demo::load(&app.db, domain::time::now_ms())
        .await
        .unwrap();
    assert_eq!(again.emails_created, 0);
    assert_eq!(again.emails_already_there, first.emails_created);
    assert_eq!(
        domain::emails::count(&app.db).await.unwrap() as usize,
        first.emails_created
    );

    // The demo sign-ins from the README work.
    for (name, _, _, password) in domain::demo::DEMO_USERS {
        assert_eq!(location(&app.sign_in(name, password).await), "/", "{name}");
    }
    // The older half carries historical labels; the queue shows them as badges.
    let html = app.get("/?status=triaged").await.text().await.unwrap();
    assert!(
        html.matches("class=\"badge labelled\"").count() >= 20,
        "labelled rows show their category"
    );
}

on_both_databases!(
    health_readiness_and_metrics_answer,
    private_pages_are_never_cached,
    the_demo_loads_a_realistic_mailbox_once
);

async fn no_demo_email_arrives_in_the_future(app: TestApp) {
    let now = domain::time::now_ms();
    domain::demo::load(&app.db, now).await.unwrap();
    let latest: i64 = sqlx::query_scalar("SELECT MAX(received_at) FROM emails")
        .fetch_one(&app.db.pool)
        .await
        .unwrap();
    assert!(latest < now, "{latest} >= {now}");
    let same_minute: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM emails WHERE received_at > $1")
        .bind(now - 600_000)
        .fetch_one(&app.db.pool)
        .await
        .unwrap();
    assert_eq!(same_minute, 0, "no pile-up of mail in the last minutes");
}

on_both_databases!(no_demo_email_arrives_in_the_future);

/// `/readyz` tells a load balancer to stop sending traffic when the database is gone
/// (here: dropped under the running server), while `/healthz` says the process lives.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readiness_fails_when_the_database_is_unreachable() {
    use sqlx::Connection;
    let app = spawn_app(Backend::Postgres).await;
    assert_eq!(
        reqwest::get(app.url("/readyz")).await.unwrap().status(),
        200
    );
    let url = app.settings.database_url();
    let name = url.rsplit('/').next().unwrap().to_string();
    let mut admin = sqlx::PgConnection::connect(&format!("{}/postgres", postgres_server_url()))
        .await
        .unwrap();
    sqlx::query(&format!("DROP DATABASE {name} WITH (FORCE)"))
        .execute(&mut admin)
        .await
        .unwrap();
    let ready = reqwest::get(app.url("/readyz")).await.unwrap();
    assert_eq!(ready.status(), 503);
    assert_eq!(ready.text().await.unwrap(), "database unavailable");
    assert_eq!(
        reqwest::get(app.url("/healthz")).await.unwrap().status(),
        200
    );
}
