//! The built-in model on a data set of labelled emails, for `bench/scoring.py`: trains
//! on `train.jsonl`, evaluates on `test.jsonl`, and times training (on 10,000 emails)
//! and scoring (features + prediction, one core). Prints one JSON object.
//!
//! cargo run --release -p triage-domain --features server --example model_bench -- \
//!     bench/.data/train.jsonl bench/.data/test.jsonl
//!
//! With `--splits DIR...`, trains on each folder's `train.jsonl` and judges on its
//! `test.jsonl`, untimed: one JSON object {folder: figures with per-category recall}.

use std::time::Instant;

use domain::model::classifier::{Classifier, TrainOptions};
use domain::model::features::{Sparse, vectorize};
use domain::model::metrics::evaluate;
use domain::training::{CROSS_FIT_FOLDS, cross_fit_fold};

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

/// Trains as `triage train` fits the model it ships: on every email, the temperature
/// cross-fitted over folds of threads.
fn train(emails: &[&Email], classes: &[String]) -> Classifier {
    let examples: Vec<(Sparse, usize)> = emails
        .iter()
        .map(|e| (vectorize(&e.subject, &e.body), class_of(classes, e)))
        .collect();
    let folds: Vec<usize> = emails
        .iter()
        .map(|e| cross_fit_fold(&e.thread, CROSS_FIT_FOLDS))
        .collect();
    Classifier::train_cross_fitted(&examples, &folds, classes.to_vec(), options())
}

fn class_of(classes: &[String], e: &Email) -> usize {
    classes
        .binary_search(&e.category)
        .expect("a known category")
}

/// The categories of a training and a test set together (a category can be missing
/// from either side of a split).
fn classes_of(sets: &[&[Email]]) -> Vec<String> {
    let mut classes: Vec<String> = sets
        .iter()
        .flat_map(|s| s.iter().map(|e| e.category.clone()))
        .collect();
    classes.sort();
    classes.dedup();
    classes
}

/// Accuracy, macro-F1, ECE and per-category recall and support of `model` on `test`.
fn judge(model: &Classifier, classes: &[String], test: &[Email]) -> serde_json::Value {
    let predictions: Vec<(usize, usize, f64)> = test
        .iter()
        .map(|e| {
            let p = model.probabilities(&vectorize(&e.subject, &e.body));
            let (best, conf) = p
                .iter()
                .enumerate()
                .max_by(|a, b| a.1.total_cmp(b.1))
                .map(|(i, c)| (i, *c as f64))
                .unwrap();
            (class_of(classes, e), best, conf)
        })
        .collect();
    let e = evaluate(classes, &predictions);
    serde_json::json!({
        "accuracy": e.accuracy,
        "macro_f1": e.macro_f1,
        "ece": e.ece,
        "recall": e.per_class.iter().map(|c| (c.class.clone(), c.recall)).collect::<std::collections::BTreeMap<_, _>>(),
        "support": e.per_class.iter().map(|c| (c.class.clone(), c.support)).collect::<std::collections::BTreeMap<_, _>>(),
    })
}

/// `--splits DIR...`: every folder's figures, untimed.
fn splits(folders: &[String]) {
    let mut out = serde_json::Map::new();
    for folder in folders {
        let train_set = read(&format!("{folder}/train.jsonl"));
        let test_set = read(&format!("{folder}/test.jsonl"));
        let classes = classes_of(&[&train_set, &test_set]);
        let model = train(&train_set.iter().collect::<Vec<_>>(), &classes);
        out.insert(folder.clone(), judge(&model, &classes, &test_set));
    }
    println!("{}", serde_json::Value::Object(out));
}

/// Triage's training options; `BENCH_C`, `BENCH_NB` (naive Bayes smoothing, 0 for a
/// plain SVM), `BENCH_PASSES`, `BENCH_TOLERANCE` and `BENCH_BALANCED=0|1` try others.
fn options() -> TrainOptions {
    let var = |name: &str| std::env::var(name).ok().and_then(|v| v.parse::<f32>().ok());
    let mut o = TrainOptions::default();
    if let Some(c) = var("BENCH_C") {
        o.c = c;
    }
    if let Some(nb) = var("BENCH_NB") {
        o.nb_smoothing = nb;
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
    if args[1] == "--splits" {
        return splits(&args[2..]);
    }
    let (train_path, test_path) = (&args[1], &args[2]);
    let runs = 3;
    let train_set = read(train_path);
    let test_set = read(test_path);
    let classes = classes_of(&[&train_set, &test_set]);

    // Accuracy: the whole training split.
    let all: Vec<&Email> = train_set.iter().collect();
    let model = train(&all, &classes);
    let figures = judge(&model, &classes, &test_set);

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
        "accuracy": figures["accuracy"],
        "macro_f1": figures["macro_f1"],
        "ece": figures["ece"],
        "train_seconds_10k": train_seconds,
        "score_per_second": to_score.len() as f64 / score_seconds,
        "artifact_bytes": model.to_bytes().len(),
    });
    println!("{out}");
}
