//! Batch job throughput, for `bench/jobs.py`. On a fresh SQLite (or `DATABASE_URL`)
//! database with the demo data and a trained model:
//!
//! 1. endpoint: a score job over N stored emails against `triage model-server` on
//!    loopback answering each request after a fixed 20 ms, with concurrency C = 8 and
//!    batches of B = 16; the limit is C × B / 0.02 s = 6,400 emails/s;
//! 2. built-in: a score job over 100,000 stored emails with the built-in model,
//!    against the time the model alone takes to score the same emails on one core:
//!    once with copies of the short demo emails, once with copies of real mail (the
//!    SpamAssassin corpus of `bench/fetch_dataset.py`, when it has been fetched).
//!
//! Prints one JSON object (medians of 3 runs).
//!
//! cargo run --release -p server --example job_bench [-- ENDPOINT_EMAILS BUILTIN_EMAILS]
//!
//! To profile the built-in jobs alone (not the setup around them), give `perf` a
//! control fifo and its path in `PERF_CTL`:
//! `mkfifo /tmp/ctl; PERF_CTL=/tmp/ctl perf record --control=fifo:/tmp/ctl -D -1 -- job_bench 0 100000`

#[path = "support/args.rs"]
mod args;

use std::sync::Arc;
use std::time::{Duration, Instant};

use domain::audit::Actor;
use domain::db::Db;
use domain::jobs::worker::{Worker, WorkerSettings};
use domain::scoring::{AwsCredentials, EndpointConfig, active};
use domain::wire::{JobKind, JobStatus};
use server::model_server::Faults;

/// The median; NaN (printed as null) when nothing was measured.
fn median(mut xs: Vec<f64>) -> f64 {
    xs.sort_by(f64::total_cmp);
    xs.get(xs.len() / 2).copied().unwrap_or(f64::NAN)
}

/// An email's text: a stored email's, or one of the corpus.
#[derive(sqlx::FromRow)]
struct Text {
    subject: String,
    body_text: String,
}

/// The demo emails (short: about 60 words each).
async fn demo_texts(db: &Db) -> Vec<Text> {
    sqlx::query_as(
        "SELECT e.subject AS subject, b.body_text AS body_text \
         FROM emails e JOIN email_bodies b ON b.email_id = e.id \
         ORDER BY e.id LIMIT 500",
    )
    .fetch_all(&db.pool)
    .await
    .unwrap()
}

/// Real mail from `bench/.data/emails.jsonl` (the SpamAssassin corpus that
/// `bench/fetch_dataset.py` writes: about 280 words each), if it is there.
fn corpus_texts() -> Option<Vec<Text>> {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../bench/.data/emails.jsonl");
    let text = std::fs::read_to_string(path).ok()?;
    let texts: Vec<Text> = text
        .lines()
        .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
        // A few bodies hold NUL characters, which PostgreSQL's text refuses (ingest
        // drops them too).
        .map(|e| {
            let text = |field: &str| e[field].as_str().unwrap_or_default().replace('\0', "");
            Text {
                subject: text("subject"),
                body_text: text("body"),
            }
        })
        .collect();
    (!texts.is_empty()).then_some(texts)
}

/// Stores `n` more unscored emails, copies of `texts` in turn.
async fn add_emails(db: &Db, texts: &[Text], n: usize, round: usize) {
    let mut tx = db.begin_write().await.unwrap();
    for i in 0..n {
        let text = &texts[i % texts.len()];
        let message_id = format!("<bench-{round}-{i}@example.com>");
        let email = domain::emails::NewEmail {
            thread_key: message_id.clone(),
            message_id,
            from_address: "bench@example.com".into(),
            subject: text.subject.clone(),
            body_text: text.body_text.clone(),
            source: "bench".into(),
            received_at: 1_700_000_000_000i64 + i as i64,
            ..Default::default()
        };
        domain::emails::insert_in(&mut tx, &email).await.unwrap();
    }
    tx.commit().await.unwrap();
}

/// CPU seconds each thread of this process has used so far, by thread id, with the
/// thread's name (Linux only; empty elsewhere): where a job's time goes, model lanes
/// against the database. Kept per thread, so a thread that ends during a job loses
/// only its own share instead of taking its earlier seconds off its name's total.
fn cpu_by_thread() -> std::collections::HashMap<u64, (String, f64)> {
    let mut threads = std::collections::HashMap::new();
    let Ok(tasks) = std::fs::read_dir("/proc/self/task") else {
        return threads;
    };
    for task in tasks.flatten() {
        let Some(tid) = task.file_name().to_str().and_then(|t| t.parse().ok()) else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(task.path().join("stat")) else {
            continue;
        };
        // "pid (name) state ppid ...": utime and stime are fields 14 and 15, in ticks
        // of 1/100 s; the name may hold spaces, so fields are counted after the ')'.
        let (Some(open), Some(close)) = (stat.find('('), stat.rfind(')')) else {
            continue;
        };
        let name = stat[open + 1..close].trim_end_matches(|c: char| c.is_ascii_digit());
        let fields: Vec<&str> = stat[close + 2..].split(' ').collect();
        let ticks = |i: usize| {
            fields
                .get(i)
                .and_then(|t| t.parse::<f64>().ok())
                .unwrap_or(0.0)
        };
        threads.insert(tid, (name.to_string(), (ticks(11) + ticks(12)) / 100.0));
    }
    threads
}

/// Tells `perf` to start or stop recording (`enable`, `disable`) through the control
/// fifo named by `PERF_CTL`, when there is one.
fn profiler(command: &str) {
    if let Ok(fifo) = std::env::var("PERF_CTL") {
        std::fs::write(&fifo, format!("{command}\n")).expect("PERF_CTL names perf's control fifo");
    }
}

/// Queues a score job with `model` and works it to the end; returns emails/s.
async fn run_job(db: &Db, model: &str, settings: WorkerSettings) -> (f64, i64) {
    let job = domain::jobs::NewJob {
        model: Some(model.to_string()),
        ..domain::jobs::NewJob::of(JobKind::Score)
    };
    let id = domain::jobs::create(db, &job, Actor::System)
        .await
        .unwrap()
        .id;
    let worker = Worker::new(
        db.clone(),
        AwsCredentials::fixed("bench", "bench"),
        settings,
    );
    let started = Instant::now();
    worker.run_until_idle().await.unwrap();
    let seconds = started.elapsed().as_secs_f64();
    let job = domain::jobs::get(db, id).await.unwrap();
    assert_eq!(job.status, JobStatus::Succeeded, "{job:?}");
    assert_eq!(job.failed, 0, "{job:?}");
    (job.done as f64 / seconds, job.done)
}

/// A built-in score job over `n` new copies of `texts` against the model alone
/// scoring the same emails on one core: the medians of 3 runs, as JSON.
async fn builtin_ratio(
    db: &Db,
    loaded: &domain::training::LoadedModel,
    version: &str,
    texts: &[Text],
    n: usize,
    first_round: usize,
) -> serde_json::Value {
    let mut job_seconds = Vec::new();
    let mut alone_seconds = Vec::new();
    // Mean CPU seconds per job by thread name: SQLite's connection threads
    // ("sqlx-sqlite-wor…"), the async workers and the model's blocking threads
    // ("tokio-rt-worker"). A thread that ended during a job is not counted.
    let mut job_cpu = std::collections::BTreeMap::<String, f64>::new();
    for round in first_round..first_round + 3 {
        add_emails(db, texts, n, round).await;
        let stored: Vec<Text> = sqlx::query_as(
            "SELECT e.subject AS subject, b.body_text AS body_text \
             FROM emails e JOIN email_bodies b ON b.email_id = e.id \
             WHERE e.prediction_id IS NULL ORDER BY e.id",
        )
        .fetch_all(&db.pool)
        .await
        .unwrap();
        let started = Instant::now();
        for text in &stored {
            std::hint::black_box(
                loaded
                    .model
                    .probabilities(&domain::model::features::vectorize(
                        &text.subject,
                        &text.body_text,
                    )),
            );
        }
        alone_seconds.push(started.elapsed().as_secs_f64());
        let (before, started) = (cpu_by_thread(), Instant::now());
        profiler("enable");
        let (_, done) = run_job(db, version, WorkerSettings::default()).await;
        profiler("disable");
        job_seconds.push(started.elapsed().as_secs_f64());
        for (tid, (name, after)) in cpu_by_thread() {
            let used = after - before.get(&tid).map_or(0.0, |(_, seconds)| *seconds);
            *job_cpu.entry(name).or_insert(0.0) += used / 3.0;
        }
        assert_eq!(done as usize, stored.len());
    }
    let words = texts
        .iter()
        .map(|t| t.subject.split_whitespace().count() + t.body_text.split_whitespace().count())
        .sum::<usize>()
        / texts.len().max(1);
    let (job, alone) = (median(job_seconds), median(alone_seconds));
    serde_json::json!({"emails": n, "words_per_email": words, "job_seconds": job,
                       "model_alone_seconds": alone, "ratio": job / alone,
                       "job_cpu_seconds": job_cpu})
}

#[tokio::main]
async fn main() {
    let [endpoint_emails, builtin_emails] = args::numbers([20_000, 100_000]);
    let dir = std::env::temp_dir().join(format!("triage-job-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let url = std::env::var("DATABASE_URL")
        .unwrap_or_else(|_| format!("sqlite://{}/triage.db", dir.display()));
    let db = Db::connect(&url, 10).await.unwrap();
    db.migrate().await.unwrap();
    domain::demo::load(&db, domain::time::now_ms())
        .await
        .unwrap();
    let model = domain::training::train(&db, Actor::System, 42)
        .await
        .unwrap();
    domain::training::activate(&db, model.id, Actor::System)
        .await
        .unwrap();

    // 1. Through an endpoint answering after 20 ms.
    let served = server::model_server::load(&db, None).await.unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let endpoint_url = format!("http://{}", listener.local_addr().unwrap());
    let latency = Duration::from_millis(20);
    tokio::spawn(async move {
        let router = server::model_server::router(
            Arc::new(served.model),
            Default::default(),
            Faults {
                latency,
                throttle_every: 0,
            },
        );
        axum::serve(listener, router).await.unwrap();
    });
    let config = EndpointConfig {
        endpoint_name: "bench".into(),
        endpoint_url: Some(endpoint_url),
        ..EndpointConfig::default()
    };
    active::register_endpoint(&db, &config, Actor::System)
        .await
        .unwrap();
    let demo = demo_texts(&db).await;
    let corpus = corpus_texts();
    let (concurrency, batch) = (8, 16);
    let limit = (concurrency * batch) as f64 / latency.as_secs_f64();
    let mut endpoint_rates = Vec::new();
    // ENDPOINT_EMAILS = 0 skips the endpoint part (to look at the built-in job alone).
    let endpoint_rounds = if endpoint_emails == 0 { 0 } else { 3 };
    for round in 0..endpoint_rounds {
        // Score whatever is left unscored first, so each run times only its own emails.
        run_job(&db, &model.version, WorkerSettings::default()).await;
        add_emails(&db, &demo, endpoint_emails, round).await;
        let settings = WorkerSettings {
            concurrency,
            batch_size: batch,
            ..WorkerSettings::default()
        };
        endpoint_rates.push(run_job(&db, "endpoint-bench", settings).await.0);
    }

    // What one request took, as the job saw it (the endpoint's 20 ms and the way
    // there and back): the job's limit given these requests is C × B / this.
    let request_ms = median(
        sqlx::query_scalar::<_, f64>(
            "SELECT p.latency_ms FROM predictions p JOIN models m ON m.id = p.model_id \
             WHERE m.kind = 'endpoint'",
        )
        .fetch_all(&db.pool)
        .await
        .unwrap(),
    );

    // 2. The built-in model: the job against the model alone on the same emails, for
    //    short demo emails and for real mail.
    let loaded = domain::training::load_model(&db, Some(&model.version))
        .await
        .unwrap()
        .unwrap();
    let demo = builtin_ratio(&db, &loaded, &model.version, &demo, builtin_emails, 10).await;
    let real = match &corpus {
        Some(texts) => builtin_ratio(&db, &loaded, &model.version, texts, builtin_emails, 20).await,
        None => serde_json::Value::Null,
    };
    println!(
        "{}",
        serde_json::json!({
            "database": domain::db::redact(&url),
            "endpoint": {"emails": endpoint_emails, "concurrency": concurrency, "batch": batch,
                         "latency_ms": 20, "limit_per_second": limit,
                         "median_request_ms": request_ms,
                         "emails_per_second": median(endpoint_rates.clone()),
                         "share_of_limit": median(endpoint_rates) / limit},
            "builtin": demo,
            "builtin_real_mail": real,
        })
    );
    db.close().await;
    let _ = std::fs::remove_dir_all(&dir);
}
