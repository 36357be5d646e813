//! The learning loop end to end (issue 7) on real mail: the SpamAssassin public
//! corpus, filed by mailing list (bench/fetch_dataset.py; scripts/test.sh fetches it).
//!
//! Import emails with their historical categories for a quarter of them, train a
//! model by a retrain job and promote it, score the rest by a scoring job, let an
//! agent label a sample from the true categories (accepting or correcting the
//! predictions), retrain, compare the candidate with the active model on the same
//! held-out labels, promote it — and the promoted model's macro-F1 is the higher.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use domain::labels::{self, LabelRequest};
use domain::role::Role;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::helpers::TestApp;
use crate::on_both_databases;

/// How many of the corpus's emails the test uses (every one would only take longer).
const EMAILS: usize = 2400;

struct Mail {
    message_id: String,
    thread: String,
    category: String,
    subject: String,
    body: String,
}

/// The corpus in a fixed pseudo-random order (by a hash of each id).
fn corpus() -> Vec<Mail> {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../bench/.data/emails.jsonl");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!(
            "{}: {e}. Fetch the corpus with bench/fetch_dataset.py (scripts/test.sh does).",
            path.display()
        )
    });
    let mut mails: Vec<(Vec<u8>, Mail)> = text
        .lines()
        .map(|line| {
            let v: Value = serde_json::from_str(line).unwrap();
            let id = v["id"].as_str().unwrap();
            (
                Sha256::digest(id.as_bytes()).to_vec(),
                Mail {
                    message_id: format!("<{id}@spamassassin.corpus>"),
                    thread: v["thread"].as_str().unwrap().to_string(),
                    category: v["category"].as_str().unwrap().replace('-', "_"),
                    subject: v["subject"].as_str().unwrap().to_string(),
                    body: v["body"].as_str().unwrap().to_string(),
                },
            )
        })
        .collect();
    mails.sort_by(|a, b| a.0.cmp(&b.0));
    mails.into_iter().map(|(_, m)| m).take(EMAILS).collect()
}

async fn post(app: &TestApp, path: &str, token: &str, body: Value) -> Value {
    let response = reqwest::Client::new()
        .post(app.url(path))
        .bearer_auth(token)
        .json(&body)
        .send()
        .await
        .unwrap();
    let status = response.status();
    let answer: Value = response.json().await.unwrap_or(Value::Null);
    assert!(status.is_success(), "{path}: {status} {answer}");
    answer
}

/// Starts a job and waits for it to succeed; returns it.
async fn run_job(app: &TestApp, token: &str, body: Value) -> Value {
    let job = post(app, "/api/v1/jobs", token, body).await;
    let id = job["id"].as_i64().unwrap();
    let deadline = Instant::now() + Duration::from_secs(300);
    loop {
        let job: Value = app.api_json(&format!("/api/v1/jobs/{id}"), token).await;
        match job["status"].as_str().unwrap() {
            "succeeded" => return job,
            "failed" | "cancelled" => panic!("job {id} ended: {job}"),
            _ => {}
        }
        assert!(Instant::now() < deadline, "job {id} did not finish: {job}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// The id of the model a retrain job trained.
async fn trained_model(app: &TestApp, token: &str, job: &Value) -> i64 {
    let result: Value = serde_json::from_str(job["result"].as_str().unwrap()).unwrap();
    let models: Value = app.api_json("/api/v1/models", token).await;
    models["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["version"] == result["version"])
        .unwrap()["id"]
        .as_i64()
        .unwrap()
}

async fn labels_in_a_better_model_out_proven_side_by_side(app: TestApp) {
    let mails = corpus();
    let ingest = app.token(Role::Ingest).await;
    let supervisor = app.token(Role::Supervisor).await;
    let agent = app
        .add_user("agnes", Role::Agent, "correct horse battery")
        .await;

    // The categories, as a supervisor sets them up before importing.
    let mut names: Vec<&str> = mails.iter().map(|m| m.category.as_str()).collect();
    names.sort();
    names.dedup();
    for name in names {
        domain::categories::ensure(&app.db, name, "", "#8a8f98")
            .await
            .unwrap();
    }

    // 1. Import: the first quarter with their historical categories.
    let history = mails.len() / 4;
    let mut ids: HashMap<String, i64> = HashMap::new();
    for (n, chunk) in mails.chunks(400).enumerate() {
        let emails: Vec<Value> = chunk
            .iter()
            .enumerate()
            .map(|(i, m)| {
                let mut e = json!({
                    "message_id": m.message_id, "from": "sender@example.org", "subject": m.subject,
                    "body": m.body, "references": [format!("<{}@thread>", m.thread)],
                });
                if n * 400 + i < history {
                    e["category"] = json!(m.category);
                }
                e
            })
            .collect();
        let answer = post(&app, "/api/v1/emails", &ingest, json!({"emails": emails})).await;
        for r in answer["results"].as_array().unwrap() {
            assert_eq!(r["status"], "created", "{r}");
            ids.insert(
                r["message_id"].as_str().unwrap().to_string(),
                r["id"].as_i64().unwrap(),
            );
        }
    }

    // 2. Train on the history and promote; 3. score the rest.
    let first_job = run_job(&app, &supervisor, json!({"kind": "retrain"})).await;
    let first = trained_model(&app, &supervisor, &first_job).await;
    post(
        &app,
        &format!("/api/v1/models/{first}/promote"),
        &supervisor,
        json!({}),
    )
    .await;
    run_job(&app, &supervisor, json!({"kind": "score"})).await;

    // 4. An agent labels two thirds of the rest from the true categories: the
    //    prediction accepted when right, corrected when wrong.
    let mut corrected = 0;
    for m in mails[history..]
        .iter()
        .enumerate()
        .filter(|(i, _)| i % 3 != 0)
        .map(|(_, m)| m)
    {
        let outcome = labels::label(
            &app.db,
            &LabelRequest {
                email_id: ids[&m.message_id],
                category: m.category.clone(),
                user_id: Some(agent),
                token_id: None,
                seen_label_id: None,
                seconds_spent: Some(12.0),
            },
        )
        .await
        .unwrap();
        corrected += usize::from(outcome.source == domain::wire::LabelSource::Corrected);
    }
    assert!(
        corrected > 0,
        "the first model, trained on little, makes mistakes"
    );

    // 5. Retrain: a candidate, not active yet.
    let second_job = run_job(&app, &supervisor, json!({"kind": "retrain"})).await;
    let second = trained_model(&app, &supervisor, &second_job).await;
    assert_ne!(second, first);

    // 6. Side by side on the same held-out labels.
    let comparison = post(
        &app,
        &format!("/api/v1/models/{second}/evaluate"),
        &supervisor,
        json!({}),
    )
    .await;
    let held_out = comparison["held_out"].as_i64().unwrap();
    assert!(held_out >= 200, "held out {held_out}");
    assert_eq!(comparison["active"]["model_id"], first);
    assert_eq!(comparison["candidate"]["model_id"], second);
    let (before, after) = (
        comparison["active"]["macro_f1"].as_f64().unwrap(),
        comparison["candidate"]["macro_f1"].as_f64().unwrap(),
    );
    eprintln!(
        "held out {held_out}: macro-F1 {before:.3} -> {after:.3}, {} emails change",
        comparison["changed_total"]
    );
    assert!(
        after > before,
        "the retrained model is better: {before:.3} -> {after:.3}"
    );
    assert!(comparison["changed_total"].as_i64().unwrap() > 0);
    let classes = comparison["classes"].as_array().unwrap().len();
    assert_eq!(
        comparison["candidate"]["confusion"]
            .as_array()
            .unwrap()
            .len(),
        classes
    );
    assert_eq!(
        comparison["active"]["per_class"].as_array().unwrap().len(),
        classes
    );

    // 7. Promote; every step is in the audit log.
    let promoted = post(
        &app,
        &format!("/api/v1/models/{second}/promote"),
        &supervisor,
        json!({}),
    )
    .await;
    assert_eq!(promoted["status"], "active");
    let actions = domain::audit::recent_actions(&app.db, 50).await.unwrap();
    for action in ["model.train", "model.activate", "model.evaluate"] {
        assert!(
            actions.iter().any(|a| a == action),
            "{action} in {actions:?}"
        );
    }
    // And a rollback brings the first model back.
    let back = post(&app, "/api/v1/models/rollback", &supervisor, json!({})).await;
    assert_eq!(back["id"], first);
    assert_eq!(back["status"], "active");
}

on_both_databases!(labels_in_a_better_model_out_proven_side_by_side);
