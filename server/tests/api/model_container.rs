//! The built-in model as a SageMaker container: `triage model export` writes
//! model.tar.gz, and `triage model-server --model-dir` serves it unpacked, as SageMaker
//! runs it from /opt/ml/model, with no database at all: classification, reply drafts by
//! retrieval (the text-generation contract), and Batch Transform's JSON Lines.

use std::io::BufRead;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;

use domain::model::classifier::{Classifier, TrainOptions};
use domain::model::features::vectorize;
use domain::model::reply_index::{DraftPrompt, ReplyIndex};
use server::model_server::{Faults, classify};

use crate::helpers::{JsonAnswer, TestApp, with_trained_model};
use crate::on_both_databases;

fn temp_dir() -> PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "triage-model-container-{}-{}",
        std::process::id(),
        rand::random::<u64>()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// `triage model export`, run on the app's database.
fn export(app: &TestApp, out: &Path) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_triage"))
        .args(["model", "export", "--out"])
        .arg(out)
        .env("DATABASE_URL", app.settings.database_url())
        .env("TRIAGE_LOG", "warn")
        .output()
        .unwrap()
}

fn unpack(archive: &Path, into: &Path) {
    let file = std::fs::File::open(archive).unwrap();
    tar::Archive::new(flate2::read::GzDecoder::new(file))
        .unpack(into)
        .unwrap();
}

/// `triage model-server` in its own process, ended when dropped.
struct ModelServer {
    child: Child,
    url: String,
}

impl ModelServer {
    /// Starts it on `model_dir` with no database in its environment: no
    /// DATABASE_URL, and a data folder of its own where a default SQLite database
    /// would be created.
    fn start(model_dir: &Path, data_dir: &Path) -> ModelServer {
        let mut child = Command::new(env!("CARGO_BIN_EXE_triage"))
            .args(["model-server", "--addr", "127.0.0.1:0", "--model-dir"])
            .arg(model_dir)
            .env_remove("DATABASE_URL")
            .env_remove("SM_MODEL_DIR")
            .env("TRIAGE_DATA_DIR", data_dir)
            .env("TRIAGE_LOG", "warn")
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let mut first_line = String::new();
        std::io::BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut first_line)
            .unwrap();
        let url = first_line.trim().rsplit(' ').next().unwrap().to_string();
        assert!(url.starts_with("http://127.0.0.1:"), "{first_line}");
        ModelServer { child, url }
    }
}

impl Drop for ModelServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// An email staff answered, with its category.
#[derive(sqlx::FromRow)]
struct Answered {
    subject: String,
    body: String,
    category: String,
}

async fn an_exported_model_serves_from_its_folder_without_a_database(app: TestApp) {
    let trained = with_trained_model(&app).await;
    let dir = temp_dir();
    let archive = dir.join("model.tar.gz");
    let out = export(&app, &archive);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains(&trained.version), "{stdout}");

    let model_dir = dir.join("opt-ml-model");
    unpack(&archive, &model_dir);
    let manifest: serde_json::Value =
        serde_json::from_slice(&std::fs::read(model_dir.join("model.json")).unwrap()).unwrap();
    assert_eq!(manifest["version"], trained.version.as_str());
    assert_eq!(manifest["classes"].as_array().unwrap().len(), 10);
    let reply_lines = std::fs::read_to_string(model_dir.join("replies.jsonl")).unwrap();
    assert!(reply_lines.lines().count() > 0, "the demo's past replies");
    assert_eq!(
        manifest["reply_count"].as_u64(),
        Some(reply_lines.lines().count() as u64)
    );

    let data_dir = dir.join("data");
    std::fs::create_dir_all(&data_dir).unwrap();
    let server = ModelServer::start(&model_dir, &data_dir);
    let client = reqwest::Client::new();
    let ping = client.get(format!("{}/ping", server.url)).send().await;
    assert_eq!(ping.unwrap().status(), 200);

    // Classification: the same answers as the model in the database.
    let in_db = server::model_server::load(&app.db, None).await.unwrap();
    let emails: Vec<(String, String)> = sqlx::query_as(
        "SELECT e.subject, b.body_text FROM emails e JOIN email_bodies b ON b.email_id = e.id \
         ORDER BY e.id LIMIT 40",
    )
    .fetch_all(&app.db.pool)
    .await
    .unwrap();
    let texts: Vec<String> = emails.iter().map(|(s, b)| format!("{s}\n\n{b}")).collect();
    let answers: Vec<Vec<serde_json::Value>> = client
        .post(format!("{}/invocations", server.url))
        .json(&serde_json::json!({"inputs": texts, "parameters": {"top_k": null}}))
        .json_answer()
        .await;
    assert_eq!(answers.len(), 40);
    for (text, answer) in texts.iter().zip(&answers) {
        let expected = &classify(&in_db.model, text, None)[0];
        assert_eq!(answer[0]["label"], expected.label.as_str(), "{text}");
        // JSON carries the f32 exactly (its shortest round-tripping decimal).
        let score = answer[0]["score"].as_f64().map(|s| s as f32);
        assert_eq!(score, Some(expected.score), "{text}");
    }

    // Generation: the reply staff sent to the past email most like the prompt's.
    let answered: Answered = sqlx::query_as(
        "SELECT e.subject, b.body_text AS body, c.name AS category FROM replies r \
         JOIN emails e ON e.id = r.email_id JOIN email_bodies b ON b.email_id = e.id \
         JOIN categories c ON c.id = e.label_category_id ORDER BY r.id DESC LIMIT 1",
    )
    .fetch_one(&app.db.pool)
    .await
    .unwrap();
    let prompt = format!(
        "Draft a reply to this email.\nCategory: {}\n\n### Email\nSubject: {}\n\n{}\n### Reply\n",
        answered.category, answered.subject, answered.body
    );
    let drafts: Vec<serde_json::Value> = client
        .post(format!("{}/invocations", server.url))
        .json(&serde_json::json!({"inputs": prompt, "parameters": {"max_new_tokens": 300}}))
        .json_answer()
        .await;
    assert_eq!(drafts.len(), 1);
    let draft = &drafts[0];
    let in_process = ReplyIndex::from_db(&app.db).await.unwrap();
    let expected = in_process.draft(&DraftPrompt::parse(&prompt)).unwrap();
    assert_eq!(draft["generated_text"], expected.reply);
    assert_eq!(draft["details"]["source"], "retrieval");
    assert_eq!(draft["details"]["similar_to"], answered.subject.as_str());
    assert!(draft["details"]["similarity"].as_f64().unwrap() > 0.99);
    let sent: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM replies WHERE body = $1")
        .bind(draft["generated_text"].as_str().unwrap())
        .fetch_one(&app.db.pool)
        .await
        .unwrap();
    assert!(sent > 0, "the draft is a reply staff sent");

    // The runtime's path, a generation request told by its custom attributes alone.
    let by_attribute: Vec<serde_json::Value> = client
        .post(format!("{}/endpoints/drafts/invocations", server.url))
        .header("X-Amzn-SageMaker-Custom-Attributes", "task=generate")
        .json(&serde_json::json!({"inputs": prompt}))
        .json_answer()
        .await;
    assert_eq!(by_attribute[0]["generated_text"], expected.reply);

    // Batch Transform's mini-batch: one request a line, one answer a line.
    let lines = format!(
        "{}\n{}\n",
        serde_json::json!({"id": "1", "inputs": texts[0], "parameters": {"top_k": 1}}),
        serde_json::json!({"id": "2", "inputs": texts[1], "parameters": {"top_k": 1}}),
    );
    let response = client
        .post(format!("{}/invocations", server.url))
        .header("content-type", "application/jsonlines")
        .body(lines)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let text = response.text().await.unwrap();
    let answered_lines: Vec<serde_json::Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(answered_lines.len(), 2, "{text}");
    assert_eq!(answered_lines[1][0]["label"], answers[1][0]["label"]);

    drop(server);
    assert_eq!(
        std::fs::read_dir(&data_dir).unwrap().count(),
        0,
        "the model server created no database"
    );
    std::fs::remove_dir_all(dir).unwrap();
}

async fn exporting_without_a_built_in_model_is_refused_clearly(app: TestApp) {
    let dir = temp_dir();
    let out = export(&app, &dir.join("model.tar.gz"));
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("there is no active built-in model"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!dir.join("model.tar.gz").exists());
    std::fs::remove_dir_all(dir).unwrap();
}

on_both_databases!(
    an_exported_model_serves_from_its_folder_without_a_database,
    exporting_without_a_built_in_model_is_refused_clearly
);

#[test]
fn a_model_folder_without_a_model_stops_the_server_naming_the_file() {
    let dir = temp_dir();
    let out = Command::new(env!("CARGO_BIN_EXE_triage"))
        .args(["model-server", "--addr", "127.0.0.1:0", "--model-dir"])
        .arg(&dir)
        .env_remove("DATABASE_URL")
        .env("TRIAGE_DATA_DIR", dir.join("data"))
        .env("TRIAGE_LOG", "warn")
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("model.json: cannot read"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!dir.join("data").exists(), "no database was created");
    std::fs::remove_dir_all(dir).unwrap();
}

/// With no past replies the container says so in its own error shape, and the
/// runtime's path as `InvokeEndpoint` reports a model error.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_no_past_replies_a_draft_request_says_there_is_nothing_to_draft_from() {
    let examples = vec![
        (vectorize("Refund", "I want my money back"), 0),
        (vectorize("Invoice copy", "Please send my invoice"), 1),
    ];
    let classes = vec!["Refund".to_string(), "Invoice".to_string()];
    let model = Classifier::train(&examples, classes, TrainOptions::default());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move {
        let router = server::model_server::router(
            Arc::new(model),
            Arc::new(ReplyIndex::default()),
            Faults::default(),
        );
        axum::serve(listener, router).await.unwrap();
    });
    let client = reqwest::Client::new();
    let request = serde_json::json!({"inputs": "### Email\nSubject: Hi\n\nWhere is my parcel?\n### Reply\n", "parameters": {"max_new_tokens": 200}});

    let response = client
        .post(format!("{base}/invocations"))
        .json(&request)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 424);
    let body: serde_json::Value = response.json().await.unwrap();
    assert!(
        body["error"]
            .as_str()
            .unwrap()
            .starts_with("there are no past replies to draft from"),
        "{body}"
    );

    let response = client
        .post(format!("{base}/endpoints/drafts/invocations"))
        .json(&request)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 424);
    assert_eq!(response.headers()["x-amzn-errortype"], "ModelError");
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body["OriginalStatusCode"], 424);

    // Classification does not need replies.
    let labels: Vec<serde_json::Value> = client
        .post(format!("{base}/invocations"))
        .json(&serde_json::json!({"inputs": "Invoice copy\n\nPlease send my invoice"}))
        .json_answer()
        .await;
    assert_eq!(labels[0]["label"], "Invoice");
}
