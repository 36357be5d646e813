//! The endpoint path end to end: the AWS SDK client (`EndpointScorer`) against
//! `triage model-server` on loopback, batches of 32, one request at a time. Trains the
//! served model on `train.jsonl`, scores `test.jsonl` (repeated to 5,000 emails) and
//! prints one JSON object with the median rate of three runs.
//!
//! cargo run --release -p server --example endpoint_bench -- bench/.data/train.jsonl bench/.data/test.jsonl

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Instant;

use domain::model::classifier::{Classifier, TrainOptions};
use domain::model::features::vectorize;
use domain::scoring::{AwsCredentials, EmailText, EndpointConfig, EndpointScorer};

#[derive(serde::Deserialize)]
struct Email {
    category: String,
    subject: String,
    body: String,
}

fn read(path: &str) -> Vec<Email> {
    std::fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("{path}: {e}"))
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).expect("one email per line"))
        .collect()
}

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    let train = read(&args[1]);
    let test = read(&args[2]);
    let mut classes: Vec<String> = train.iter().map(|e| e.category.clone()).collect();
    classes.sort();
    classes.dedup();
    let examples: Vec<_> = train
        .iter()
        .map(|e| {
            (
                vectorize(&e.subject, &e.body),
                classes.binary_search(&e.category).unwrap(),
            )
        })
        .collect();
    let model = Classifier::train(&examples, classes.clone(), TrainOptions::default());
    // Triage's categories are normalised names (`spamassassin-talk` is
    // `spamassassin_talk`); the endpoint's labels are matched against those.
    let category_ids: HashMap<String, i64> = classes
        .iter()
        .enumerate()
        .map(|(i, c)| (domain::categories::normalize_name(c).unwrap(), i as i64))
        .collect();
    let served = Arc::new(model);

    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move {
        let router = server::model_server::router(served, Default::default(), Default::default());
        axum::serve(listener, router).await.unwrap();
    });

    let config = EndpointConfig {
        endpoint_name: "bench".into(),
        endpoint_url: Some(url),
        batch_size: 32,
        ..EndpointConfig::default()
    };
    let keys = AwsCredentials::fixed("bench", "bench");
    let scorer = EndpointScorer::connect(1, "bench".into(), config, category_ids, &keys).await;
    let emails: Vec<EmailText> = test
        .iter()
        .cycle()
        .take(5_000)
        .map(|e| EmailText {
            subject: e.subject.clone(),
            body: e.body.clone(),
        })
        .collect();
    let mut rates = Vec::new();
    for _ in 0..3 {
        let started = Instant::now();
        let answers = scorer.score(&emails).await.expect("the endpoint answers");
        assert_eq!(answers.len(), emails.len());
        rates.push(emails.len() as f64 / started.elapsed().as_secs_f64());
    }
    rates.sort_by(f64::total_cmp);
    println!(
        "{}",
        serde_json::json!({"path": "sdk client -> triage model-server (loopback)", "batch": 32, "emails": emails.len(), "emails_per_second": rates[1]})
    );
}
