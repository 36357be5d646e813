//! The built-in model on a data set of labelled emails, for `bench/scoring.py`: trains
//! on `train.jsonl`, evaluates on `test.jsonl`, and times training (on 10,000 emails)
//! and scoring (features + prediction, one core). Prints one JSON object.
//!
//! cargo run --release -p triage-domain --features server --example model_bench -- \
//!     bench/.data/train.jsonl bench/.data/test.jsonl

use std::time::Instant;

use domain::model::classifier::{Classifier, TrainOptions};
use domain::model::features::{Sparse, vectorize};
use domain::model::metrics::evaluate;
use sha2::{Digest, Sha256};

#[derive(serde::Deserialize)]
struct Email {
    thread: String,
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

fn median(mut xs: Vec<f64>) -> f64 {
    xs.sort_by(f64::total_cmp);
    xs[xs.len() / 2]
}

/// Trains as `triage train` does: an eighth of the training threads calibrate.
fn train(emails: &[&Email], classes: &[String]) -> Classifier {
    let (mut fit, mut calibration) = (Vec::new(), Vec::new());
    for e in emails {
        let y = classes.binary_search(&e.category).unwrap();
        let x = vectorize(&e.subject, &e.body);
        if Sha256::digest(e.thread.as_bytes())[0] % 8 == 0 {
            calibration.push((x, y));
        } else {
            fit.push((x, y));
        }
    }
    Classifier::train_calibrated(fit, calibration, classes.to_vec(), options())
}

/// Triage's training options; `BENCH_C`, `BENCH_PASSES`, `BENCH_TOLERANCE` and
/// `BENCH_BALANCED=1` try others.
fn options() -> TrainOptions {
    let var = |name: &str| std::env::var(name).ok().and_then(|v| v.parse::<f32>().ok());
    let mut o = TrainOptions::default();
    if let Some(c) = var("BENCH_C") {
        o.c = c;
    }
    if let Some(p) = var("BENCH_PASSES") {
        o.max_passes = p as usize;
    }
    if let Some(t) = var("BENCH_TOLERANCE") {
        o.tolerance = t;
    }
    if let Some(b) = var("BENCH_BALANCED") {
        o.balanced = b != 0.0;
    }
    o
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let (train_path, test_path) = (&args[1], &args[2]);
    let runs = 3;
    let train_set = read(train_path);
    let test_set = read(test_path);
    let mut classes: Vec<String> = train_set.iter().map(|e| e.category.clone()).collect();
    classes.sort();
    classes.dedup();

    // Accuracy: the whole training split.
    let all: Vec<&Email> = train_set.iter().collect();
    let model = train(&all, &classes);
    let predictions: Vec<(usize, usize, f64)> = test_set
        .iter()
        .map(|e| {
            let y = classes.binary_search(&e.category).unwrap();
            let p = model.probabilities(&vectorize(&e.subject, &e.body));
            let (best, conf) = p
                .iter()
                .enumerate()
                .max_by(|a, b| a.1.total_cmp(b.1))
                .map(|(i, c)| (i, *c as f64))
                .unwrap();
            (y, best, conf)
        })
        .collect();
    let evaluation = evaluate(&classes, &predictions);

    // Training speed: 10,000 emails (the training split, repeated if it is smaller).
    let ten_k: Vec<&Email> = train_set.iter().cycle().take(10_000).collect();
    let train_seconds = median(
        (0..runs)
            .map(|_| {
                let started = Instant::now();
                std::hint::black_box(train(&ten_k, &classes));
                started.elapsed().as_secs_f64()
            })
            .collect(),
    );

    // Scoring speed, one core: features and prediction for 10,000 emails.
    let to_score: Vec<&Email> = test_set.iter().cycle().take(10_000).collect();
    let score_seconds = median(
        (0..runs)
            .map(|_| {
                let started = Instant::now();
                for e in &to_score {
                    let x: Sparse = vectorize(&e.subject, &e.body);
                    std::hint::black_box(model.probabilities(&x));
                }
                started.elapsed().as_secs_f64()
            })
            .collect(),
    );

    let out = serde_json::json!({
        "model": "triage built-in",
        "train_size": train_set.len(),
        "test_size": test_set.len(),
        "classes": classes.len(),
        "accuracy": evaluation.accuracy,
        "macro_f1": evaluation.macro_f1,
        "ece": evaluation.ece,
        "train_seconds_10k": train_seconds,
        "score_per_second": to_score.len() as f64 / score_seconds,
        "artifact_bytes": model.to_bytes().len(),
    });
    println!("{out}");
}
