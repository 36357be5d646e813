//! Supervisor analytics (issue 7) on a small fixed data set whose answers are worked
//! out by hand in the comments, and the drift alert.
//!
//! The fixture is written with SQL so that every time is exact: three days from
//! 2026-03-01 (UTC), two agents, an active model m1 and a retired m0.

use domain::role::Role;
use serde_json::Value;

use crate::helpers::TestApp;
use crate::on_both_databases;

const HOUR: i64 = 3_600_000;
const DAY: i64 = 24 * HOUR;
/// 2026-03-01T00:00:00Z.
const D: i64 = 1_772_323_200_000;

struct Fixture {
    alice: i64,
    bob: i64,
    billing: i64,
    shipping: i64,
    spam: i64,
}

async fn fixture(app: &TestApp) -> Fixture {
    let db = &app.db;
    let alice = app
        .add_user("alice", Role::Agent, "correct horse battery")
        .await;
    let bob = app
        .add_user("bob", Role::Agent, "correct horse battery")
        .await;
    let mut ids = Vec::new();
    for name in ["billing", "shipping", "spam"] {
        ids.push(
            domain::categories::ensure(db, name, "", "#123456")
                .await
                .unwrap(),
        );
    }
    for (version, status) in [("m0", "retired"), ("m1", "active")] {
        sqlx::query("INSERT INTO models (version, kind, status, created_at) VALUES ($1, 'endpoint', $2, $3)")
            .bind(version)
            .bind(status)
            .bind(D - DAY)
            .execute(&db.pool)
            .await
            .unwrap();
    }
    Fixture {
        alice,
        bob,
        billing: ids[0],
        shipping: ids[1],
        spam: ids[2],
    }
}

/// An email received at `received`, with its status; returns its id.
async fn email(app: &TestApp, key: &str, received: i64, status: &str) -> i64 {
    let id: i64 = sqlx::query_scalar(
        "INSERT INTO emails (message_id, thread_key, from_address, subject, source, received_at, ingested_at, status) \
         VALUES ($1, $1, 'customer@example.com', $4, 'api', $2, $2, $3) RETURNING id",
    )
    .bind(format!("<{key}@test>"))
    .bind(received)
    .bind(status)
    .bind(key)
    .fetch_one(&app.db.pool)
    .await
    .unwrap();
    sqlx::query("INSERT INTO email_bodies (email_id, body_text) VALUES ($1, 'text')")
        .bind(id)
        .execute(&app.db.pool)
        .await
        .unwrap();
    id
}

/// The model `model` predicted `category` with `confidence`; returns the prediction.
async fn predict(app: &TestApp, email: i64, model: &str, category: i64, confidence: f64) -> i64 {
    let id: i64 = sqlx::query_scalar(
        "INSERT INTO predictions (email_id, model_version, category_id, confidence, probabilities, created_at) \
         VALUES ($1, $2, $3, $4, '{}', $5) RETURNING id",
    )
    .bind(email)
    .bind(model)
    .bind(category)
    .bind(confidence)
    .bind(D)
    .fetch_one(&app.db.pool)
    .await
    .unwrap();
    sqlx::query("UPDATE emails SET prediction_id = $1, predicted_category_id = $2, confidence = $3 WHERE id = $4")
        .bind(id)
        .bind(category)
        .bind(confidence)
        .bind(email)
        .execute(&app.db.pool)
        .await
        .unwrap();
    id
}

struct Label<'a> {
    email: i64,
    category: i64,
    source: &'a str,
    user: Option<i64>,
    prediction: Option<i64>,
    seconds: f64,
    at: i64,
    undone: bool,
}

async fn label(app: &TestApp, l: Label<'_>) {
    let id: i64 = sqlx::query_scalar(
        "INSERT INTO labels (email_id, category_id, source, user_id, prediction_id, seconds_spent, created_at, undone_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING id",
    )
    .bind(l.email)
    .bind(l.category)
    .bind(l.source)
    .bind(l.user)
    .bind(l.prediction)
    .bind(l.seconds)
    .bind(l.at)
    .bind(l.undone.then_some(l.at + 10_000))
    .fetch_one(&app.db.pool)
    .await
    .unwrap();
    if !l.undone {
        sqlx::query("UPDATE emails SET label_category_id = $1, label_id = $2 WHERE id = $3")
            .bind(l.category)
            .bind(id)
            .bind(l.email)
            .execute(&app.db.pool)
            .await
            .unwrap();
    }
}

async fn reply(app: &TestApp, email: i64, kind: &str, distance: i64) {
    sqlx::query(
        "INSERT INTO replies (email_id, body, suggestion_kind, edit_distance, created_at) VALUES ($1, 'Thanks', $2, $3, $4)",
    )
    .bind(email)
    .bind(kind)
    .bind(distance)
    .bind(D + 12 * HOUR)
    .execute(&app.db.pool)
    .await
    .unwrap();
}

/// The hand-worked data set:
///
/// | email | received | prediction        | staff label                       |
/// |-------|----------|-------------------|-----------------------------------|
/// | e1    | day 1 1h | m1 billing 0.95   | alice accepts at 2h (10 s)        |
/// | e2    | day 1 2h | m1 billing 0.65   | alice corrects to shipping at 5h (30 s) |
/// | e3    | day 1 3h | m1 shipping 0.85  | bob accepts at 4h (20 s)          |
/// | e4    | day 2 1h | m0 spam 0.92      | bob accepts at day 2 3h (40 s)    |
/// | e5    | day 2 2h | m1 shipping 0.55  | none (new)                        |
/// | e6    | day 3 0h | none              | none (new)                        |
/// | e7    | day 1 2h | m1 billing 0.75   | alice accepts at 3h, then undoes it (new) |
/// | e8    | day 1 1h | none              | imported billing                  |
async fn worked_example(app: &TestApp) {
    let f = fixture(app).await;
    let staff = |email, category, source, user, prediction, seconds, at| Label {
        email,
        category,
        source,
        user: Some(user),
        prediction: Some(prediction),
        seconds,
        at,
        undone: false,
    };
    let e1 = email(app, "e1", D + HOUR, "triaged").await;
    let p1 = predict(app, e1, "m1", f.billing, 0.95).await;
    label(
        app,
        staff(e1, f.billing, "accepted", f.alice, p1, 10.0, D + 2 * HOUR),
    )
    .await;
    let e2 = email(app, "e2", D + 2 * HOUR, "triaged").await;
    let p2 = predict(app, e2, "m1", f.billing, 0.65).await;
    label(
        app,
        staff(e2, f.shipping, "corrected", f.alice, p2, 30.0, D + 5 * HOUR),
    )
    .await;
    let e3 = email(app, "e3", D + 3 * HOUR, "replied").await;
    let p3 = predict(app, e3, "m1", f.shipping, 0.85).await;
    label(
        app,
        staff(e3, f.shipping, "accepted", f.bob, p3, 20.0, D + 4 * HOUR),
    )
    .await;
    let e4 = email(app, "e4", D + DAY + HOUR, "triaged").await;
    let p4 = predict(app, e4, "m0", f.spam, 0.92).await;
    label(
        app,
        staff(e4, f.spam, "accepted", f.bob, p4, 40.0, D + DAY + 3 * HOUR),
    )
    .await;
    let e5 = email(app, "e5", D + DAY + 2 * HOUR, "new").await;
    predict(app, e5, "m1", f.shipping, 0.55).await;
    email(app, "e6", D + 2 * DAY, "new").await;
    let e7 = email(app, "e7", D + 2 * HOUR, "new").await;
    let p7 = predict(app, e7, "m1", f.billing, 0.75).await;
    label(
        app,
        Label {
            undone: true,
            ..staff(e7, f.billing, "accepted", f.alice, p7, 5.0, D + 3 * HOUR)
        },
    )
    .await;
    let e8 = email(app, "e8", D + HOUR, "triaged").await;
    label(
        app,
        Label {
            email: e8,
            category: f.billing,
            source: "imported",
            user: None,
            prediction: None,
            seconds: 0.0,
            at: D + HOUR,
            undone: false,
        },
    )
    .await;
    reply(app, e1, "template", 0).await;
    reply(app, e2, "template", 12).await;
    reply(app, e3, "none", 0).await;
}

async fn report(app: &TestApp, token: &str) -> Value {
    let response = app
        .api_get("/api/v1/analytics?from=2026-03-01&to=2026-03-03", token)
        .await;
    assert_eq!(response.status(), 200);
    response.json().await.unwrap()
}

fn close(v: &Value, expected: f64) -> bool {
    v.as_f64().is_some_and(|x| (x - expected).abs() < 1e-9)
}

async fn analytics_figures_match_a_hand_worked_example(app: TestApp) {
    worked_example(&app).await;
    let token = app.token(Role::Supervisor).await;
    let r = report(&app, &token).await;

    // Volume: label else prediction. Day 1: e1, e7, e8 billing; e2, e3 shipping.
    // Day 2: e4 spam, e5 shipping. Day 3: e6 unscored. Largest series first;
    // billing and shipping both have 3, so by name.
    let volume = &r["volume"];
    let series: Vec<(String, Vec<i64>)> = volume["categories"]
        .as_array()
        .unwrap()
        .iter()
        .zip(volume["counts"].as_array().unwrap())
        .map(|(c, n)| {
            (
                c[0].as_str().unwrap().to_string(),
                n.as_array()
                    .unwrap()
                    .iter()
                    .map(|v| v.as_i64().unwrap())
                    .collect(),
            )
        })
        .collect();
    assert_eq!(
        series,
        vec![
            ("billing".to_string(), vec![3, 0, 0]),
            ("shipping".to_string(), vec![2, 1, 0]),
            ("spam".to_string(), vec![0, 1, 0]),
            ("unscored".to_string(), vec![0, 0, 1]),
        ]
    );

    // Backlog: e5, e6, e7 are new, all older than a week; the oldest is e7.
    assert_eq!(r["backlog"]["untriaged"], 3);
    assert_eq!(r["backlog"]["oldest_received_at"], D + 2 * HOUR);
    assert_eq!(r["backlog"]["by_age"], serde_json::json!([0, 0, 0, 3]));

    // Time to first label (staff labels, not undone): 1 h, 3 h, 1 h, 2 h.
    // Nearest rank of 4 sorted values: median = 2nd = 1 h, p90 = 4th = 3 h.
    let ttl = &r["time_to_label"];
    assert_eq!(ttl["labelled"], 4);
    assert_eq!(ttl["median_ms"], HOUR);
    assert_eq!(ttl["p90_ms"], 3 * HOUR);
    assert_eq!(
        ttl["median_by_bucket"],
        serde_json::json!([HOUR, 2 * HOUR, null])
    );

    // Staff: alice 2 labels (e7 undone), 1 correction, median of 10 s and 30 s
    // (nearest rank) = 10 s; bob 2 labels, none corrected, 20 s.
    let people = r["staff"]["people"].as_array().unwrap();
    assert_eq!(people.len(), 2);
    assert_eq!(people[0]["user"], "alice");
    assert_eq!(
        (
            people[0]["labels"].as_i64(),
            people[0]["corrections"].as_i64()
        ),
        (Some(2), Some(1))
    );
    assert!(close(&people[0]["median_seconds"], 10.0));
    assert_eq!(
        (
            people[1]["labels"].as_i64(),
            people[1]["corrections"].as_i64()
        ),
        (Some(2), Some(0))
    );
    assert!(close(&people[1]["median_seconds"], 20.0));
    assert_eq!(r["staff"]["labels_by_bucket"], serde_json::json!([3, 1, 0]));

    // Agreement: e1, e3, e4 agree, e2 does not.
    let a = &r["agreement"];
    assert_eq!(
        (
            a["overall"]["labels"].as_i64(),
            a["overall"]["agreed"].as_i64()
        ),
        (Some(4), Some(3))
    );
    assert_eq!(
        a["by_bucket"][0],
        serde_json::json!({"labels": 3, "agreed": 2})
    );
    assert_eq!(
        a["by_bucket"][1],
        serde_json::json!({"labels": 1, "agreed": 1})
    );
    assert_eq!(
        a["by_model"],
        serde_json::json!([["m0", {"labels": 1, "agreed": 1}], ["m1", {"labels": 3, "agreed": 2}]])
    );
    assert_eq!(
        a["by_category"][1],
        serde_json::json!(["shipping", {"labels": 2, "agreed": 1}])
    );
    assert_eq!(
        a["classes"],
        serde_json::json!(["billing", "shipping", "spam"])
    );
    assert_eq!(
        a["confusion"],
        serde_json::json!([[1, 0, 0], [1, 1, 0], [0, 0, 1]])
    );

    // Calibration: bin 0.9 holds 0.95 and 0.92 (both right), 0.8 holds 0.85
    // (right), 0.6 holds 0.65 (wrong). ECE = ½·0.065 + ¼·0.65 + ¼·0.15 = 0.2325.
    let bins = r["calibration"]["bins"].as_array().unwrap();
    assert_eq!(bins[9]["count"], 2);
    assert!(close(&bins[9]["mean_confidence"], 0.935));
    assert!(close(&bins[6]["accuracy"], 0.0));
    assert!(close(&r["calibration"]["ece"], 0.2325));

    // Suggestions: two template replies (one unedited, median distance of 0 and
    // 12 by nearest rank = 0) and one written from scratch.
    let s = &r["suggestions"];
    assert_eq!(s["replies"], 3);
    assert_eq!(
        s["by_kind"][0],
        serde_json::json!({"kind": "template", "replies": 2, "median_edit_distance": 0, "unedited": 1})
    );
    assert_eq!(s["by_kind"][2]["kind"], "none");
    assert_eq!(s["by_kind"][2]["replies"], 1);

    // The CSV export of a view carries the same numbers.
    let csv = app
        .api_get(
            "/api/v1/analytics/staff?from=2026-03-01&to=2026-03-03",
            &token,
        )
        .await;
    assert_eq!(csv.status(), 200);
    assert!(
        csv.headers()["content-disposition"]
            .to_str()
            .unwrap()
            .contains("triage-staff-2026-03-01-2026-03-03.csv")
    );
    let text = csv.text().await.unwrap();
    assert_eq!(
        text.lines().next(),
        Some("user,labels,corrections,correction_rate,median_seconds")
    );
    assert!(text.contains("alice,2,1,0.5000,10.0"), "{text}");
    let confusion = app
        .api_get(
            "/api/v1/analytics/confusion?from=2026-03-01&to=2026-03-03",
            &token,
        )
        .await
        .text()
        .await
        .unwrap();
    assert!(confusion.contains("shipping,billing,1"), "{confusion}");

    // Bad periods and views are refused with the field that is wrong.
    let bad = app
        .api_get("/api/v1/analytics?from=2026-03-05&to=2026-03-01", &token)
        .await;
    assert_eq!(bad.status(), 422);
    let unknown = app.api_get("/api/v1/analytics/nonsense", &token).await;
    assert_eq!(unknown.status(), 422);
    // Agents do not see analytics.
    let agent = app.token(Role::Agent).await;
    assert_eq!(app.api_get("/api/v1/analytics", &agent).await.status(), 403);
}

async fn drift_alert_is_raised_and_logged_once_then_cleared(app: TestApp) {
    let f = fixture(&app).await;
    // 40 staff labels on m1's predictions, 30 of them corrections (25 % agreement);
    // all shipping mail predicted as billing.
    for i in 0..40 {
        let e = email(&app, &format!("d{i}"), D + i * HOUR, "triaged").await;
        let p = predict(&app, e, "m1", f.billing, 0.9).await;
        let category = if i < 10 { f.billing } else { f.shipping };
        let source = if i < 10 { "accepted" } else { "corrected" };
        label(
            &app,
            Label {
                email: e,
                category,
                source,
                user: Some(f.alice),
                prediction: Some(p),
                seconds: 5.0,
                at: D + i * HOUR + 60_000,
                undone: false,
            },
        )
        .await;
    }
    let drift = domain::analytics::drift(&app.db).await.unwrap();
    assert!(drift.alert);
    assert_eq!((drift.overall.labels, drift.overall.agreed), (40, 10));
    assert_eq!(
        drift
            .low_categories
            .iter()
            .map(|(c, _)| c.as_str())
            .collect::<Vec<_>>(),
        vec!["shipping"]
    );
    // Seen again (another supervisor opens the page): still one log entry.
    assert!(domain::analytics::drift(&app.db).await.unwrap().alert);
    let logged = |action: &'static str| {
        let db = app.db.clone();
        async move { domain::audit::recent(&db, action, 10).await.unwrap().len() }
    };
    assert_eq!(logged("model.drift_alert").await, 1);
    // The page says so.
    let token = app.token(Role::Supervisor).await;
    let r = report(&app, &token).await;
    assert_eq!(r["drift"]["alert"], true);
    assert_eq!(r["drift"]["model"], "m1");

    // Still raised at a level of 20 %: shipping's own agreement is 0 of 30.
    domain::analytics::set_drift_settings(
        &app.db,
        domain::analytics::DriftSettings {
            threshold: 0.2,
            window: 200,
        },
        domain::audit::Actor::User(f.bob),
    )
    .await
    .unwrap();
    let drift = domain::analytics::drift(&app.db).await.unwrap();
    assert!(drift.alert);
    assert_eq!(drift.low_categories.len(), 1);
    // A supervisor turns the level down to 0: the alert clears, and that is logged.
    domain::analytics::set_drift_settings(
        &app.db,
        domain::analytics::DriftSettings {
            threshold: 0.0,
            window: 200,
        },
        domain::audit::Actor::User(f.bob),
    )
    .await
    .unwrap();
    assert!(!domain::analytics::drift(&app.db).await.unwrap().alert);
    assert_eq!(logged("model.drift_cleared").await, 1);
    // Out-of-range settings are refused.
    let bad = domain::analytics::set_drift_settings(
        &app.db,
        domain::analytics::DriftSettings {
            threshold: 1.5,
            window: 200,
        },
        domain::audit::Actor::System,
    )
    .await;
    assert!(bad.is_err());
}

/// The worker checks drift on its own schedule: the alert is raised and logged once
/// with nobody opening the Analytics page.
async fn the_worker_raises_the_drift_alert_with_nobody_looking(app: TestApp) {
    let f = fixture(&app).await;
    for i in 0..40 {
        let e = email(&app, &format!("w{i}"), D + i * HOUR, "triaged").await;
        let p = predict(&app, e, "m1", f.billing, 0.9).await;
        label(
            &app,
            Label {
                email: e,
                category: f.shipping,
                source: "corrected",
                user: Some(f.alice),
                prediction: Some(p),
                seconds: 5.0,
                at: D + i * HOUR + 60_000,
                undone: false,
            },
        )
        .await;
    }
    let worker = domain::jobs::worker::Worker::new(
        app.db.clone(),
        crate::helpers::test_settings("").aws_credentials(),
        domain::jobs::worker::WorkerSettings::default(),
    );
    let alerts_logged = || async {
        domain::audit::recent(&app.db, "model.drift_alert", 10)
            .await
            .unwrap()
            .len()
    };
    worker.run_once().await.unwrap();
    assert_eq!(alerts_logged().await, 1);
    // What /metrics reports (read there from the same setting).
    assert!(
        domain::analytics::drift_alert_raised(&app.db)
            .await
            .unwrap()
    );
    // Checked again at once: not due, nothing new logged.
    worker.run_once().await.unwrap();
    assert_eq!(alerts_logged().await, 1);
}

on_both_databases!(
    the_worker_raises_the_drift_alert_with_nobody_looking,
    analytics_figures_match_a_hand_worked_example,
    drift_alert_is_raised_and_logged_once_then_cleared
);

async fn labels_export_filters_splits_by_time_keeping_threads_whole_and_can_be_rebuilt(
    app: TestApp,
) {
    worked_example(&app).await;
    let token = app.token(Role::Supervisor).await;
    let export = |query: &'static str| {
        let (app, token) = (&app, token.clone());
        async move {
            let response = app
                .api_get(&format!("/api/v1/labels/export?{query}"), &token)
                .await;
            assert_eq!(response.status(), 200, "{query}");
            let hash = response.headers()["x-dataset-hash"]
                .to_str()
                .unwrap()
                .to_string();
            let as_of = response.headers()["x-dataset-as-of"]
                .to_str()
                .unwrap()
                .to_string();
            let rows: Vec<Value> = response
                .text()
                .await
                .unwrap()
                .lines()
                .map(|l| serde_json::from_str(l).unwrap())
                .collect();
            (rows, hash, as_of)
        }
    };
    let subjects = |rows: &[Value]| {
        rows.iter()
            .map(|r| r["subject"].as_str().unwrap().to_string())
            .collect::<Vec<_>>()
    };

    // Five labels stand (e7's was undone): e1, e2, e3, e4 by staff, e8 imported.
    let (all, hash, as_of) = export("").await;
    assert_eq!(all.len(), 5);
    // By source and by the day the label was given.
    assert_eq!(subjects(&export("source=corrected").await.0), vec!["e2"]);
    assert_eq!(
        subjects(&export("source=imported,accepted").await.0).len(),
        4
    );
    assert_eq!(
        subjects(&export("from=2026-03-02&to=2026-03-02").await.0),
        vec!["e4"]
    );

    // A reply in e1's thread, labelled on day 3, stays with its thread on the
    // train side of a split at day 2; e4's thread is the only test one.
    let e9 = email(&app, "e9", D + 2 * DAY + HOUR, "triaged").await;
    sqlx::query("UPDATE emails SET thread_key = '<e1@test>' WHERE id = $1")
        .bind(e9)
        .execute(&app.db.pool)
        .await
        .unwrap();
    let shipping = domain::categories::find_id(&app.db, "shipping")
        .await
        .unwrap()
        .unwrap();
    label(
        &app,
        Label {
            email: e9,
            category: shipping,
            source: "accepted",
            user: None,
            prediction: None,
            seconds: 3.0,
            at: D + 2 * DAY + 2 * HOUR,
            undone: false,
        },
    )
    .await;
    let (split, _, _) = export("split_at=2026-03-02").await;
    let side =
        |subject: &str| split.iter().find(|r| r["subject"] == subject).unwrap()["split"].clone();
    assert_eq!(side("e9"), "train");
    assert_eq!(side("e1"), "train");
    assert_eq!(side("e4"), "test");
    assert_eq!(
        subjects(&export("split_at=2026-03-02&side=test").await.0),
        vec!["e4"]
    );
    let fasttext = app
        .api_get(
            "/api/v1/labels/export?format=fasttext&split_at=2026-03-02&side=test",
            &token,
        )
        .await
        .text()
        .await
        .unwrap();
    assert_eq!(fasttext.trim(), "__label__spam e4 text");
    let csv = app
        .api_get(
            "/api/v1/labels/export?format=csv&split_at=2026-03-02",
            &token,
        )
        .await
        .text()
        .await
        .unwrap();
    assert!(csv.starts_with("label_id,message_id,category,source,user,model_version,seconds_spent,created_at,current,split,subject,body"));

    // The new label changes the data set and its hash; `as_of` rebuilds the old one.
    let (now_rows, now_hash, _) = export("").await;
    assert_eq!(now_rows.len(), 6);
    assert_ne!(now_hash, hash);
    let again = app
        .api_get(&format!("/api/v1/labels/export?as_of={as_of}"), &token)
        .await;
    assert_eq!(again.headers()["x-dataset-hash"].to_str().unwrap(), hash);

    // Bad filters are refused with the field.
    for query in [
        "source=robot",
        "from=last-week",
        "side=test",
        "split_at=2026-03-02&side=both",
    ] {
        let response = app
            .api_get(&format!("/api/v1/labels/export?{query}"), &token)
            .await;
        assert_eq!(response.status(), 422, "{query}");
    }
}

on_both_databases!(labels_export_filters_splits_by_time_keeping_threads_whole_and_can_be_rebuilt);

async fn auto_accept_takes_confident_predictions_out_of_the_queue_but_never_counts_as_staff(
    app: TestApp,
) {
    crate::helpers::with_trained_model(&app).await;
    let threshold = 0.6;
    for c in domain::auto_accept::overview(&app.db).await.unwrap() {
        domain::auto_accept::set_threshold(
            &app.db,
            &c.category,
            Some(threshold),
            domain::audit::Actor::System,
        )
        .await
        .unwrap();
    }
    crate::helpers::score_all(&app.db).await.unwrap();

    // Every unlabelled email predicted at 0.6 or more was accepted automatically:
    // no person, the prediction's category, out of the queue.
    let autos: Vec<(f64, String, Option<i64>, i64, i64)> = sqlx::query_as(
        "SELECT p.confidence, e.status, l.user_id, l.category_id, p.category_id FROM labels l \
         JOIN emails e ON e.id = l.email_id AND e.label_id = l.id JOIN predictions p ON p.id = l.prediction_id \
         WHERE l.source = 'auto'",
    ).fetch_all(&app.db.pool).await.unwrap();
    assert!(!autos.is_empty(), "the demo has confident predictions");
    for (confidence, status, user, label, predicted) in &autos {
        assert!(*confidence >= threshold);
        assert_eq!(status, "triaged");
        assert_eq!((*user, label), (None, predicted));
    }
    // The less sure ones wait for a person, still new and unlabelled.
    let waiting: Vec<(f64, Option<i64>)> = sqlx::query_as(
        "SELECT e.confidence, e.label_id FROM emails e WHERE e.status = 'new' AND e.confidence IS NOT NULL",
    ).fetch_all(&app.db.pool).await.unwrap();
    assert!(!waiting.is_empty(), "some demo predictions are below 0.6");
    assert!(
        waiting
            .iter()
            .all(|(c, label)| *c < threshold && label.is_none())
    );
    // Emails that already had a (historical) label kept it.
    let relabelled: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM labels a JOIN labels i ON i.email_id = a.email_id \
         WHERE a.source = 'auto' AND i.source = 'imported'",
    )
    .fetch_one(&app.db.pool)
    .await
    .unwrap();
    assert_eq!(relabelled, 0);

    // Not staff work: no person in the throughput, no judgement of the model.
    let period = domain::analytics::period(None, None, domain::time::now_ms()).unwrap();
    let report = domain::analytics::report(&app.db, period).await.unwrap();
    assert!(report.staff.people.is_empty());
    assert_eq!(report.agreement.overall.labels, 0);
    // And the next model trains on what people decided only.
    let imported: i64 =
        sqlx::query_scalar("SELECT COUNT(DISTINCT email_id) FROM labels WHERE source = 'imported'")
            .fetch_one(&app.db.pool)
            .await
            .unwrap();
    let model = domain::training::train(&app.db, domain::audit::Actor::System, 1)
        .await
        .unwrap();
    assert_eq!(model.training_size as i64, imported);

    // The overview shows the threshold in force and its coverage; bad values are refused.
    let overview = domain::auto_accept::overview(&app.db).await.unwrap();
    assert!(overview.iter().all(|c| c.threshold == Some(threshold)));
    let covered: i64 = overview
        .iter()
        .map(|c| {
            c.options
                .iter()
                .find(|o| o.threshold == threshold)
                .unwrap()
                .covered
        })
        .sum();
    assert!(covered >= autos.len() as i64);
    let bad = domain::auto_accept::set_threshold(
        &app.db,
        "complaint",
        Some(0.2),
        domain::audit::Actor::System,
    )
    .await;
    assert!(bad.is_err());
}

on_both_databases!(
    auto_accept_takes_confident_predictions_out_of_the_queue_but_never_counts_as_staff
);
