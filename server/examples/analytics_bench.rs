//! The analytics and retraining figures of issue 7, for `bench/analytics.py`. On a
//! fresh SQLite database (or `DATABASE_URL`, an empty PostgreSQL database):
//!
//! 1. builds 100,000 scored emails with 30,000 staff labels (the workspace
//!    benchmark's data set, spread over 90 days);
//! 2. times each analytics view over those 90 days, 15 times, and the whole report;
//! 3. times a retrain of the built-in model on every label, 3 times.
//!
//! Prints one JSON object with the median milliseconds of each view and the median
//! seconds of a retrain.
//!
//! cargo run --release -p server --example analytics_bench [-- EMAILS LABELS]

use std::time::Instant;

use domain::audit::Actor;

#[path = "support/args.rs"]
mod args;
#[path = "support/bench_data.rs"]
mod bench_data;

fn median(mut xs: Vec<f64>) -> f64 {
    xs.sort_by(f64::total_cmp);
    xs[xs.len() / 2]
}

#[tokio::main]
async fn main() {
    let [emails, labels] = args::numbers([100_000, 30_000]);
    let (db, _url, dir) = bench_data::fresh_database("analytics-bench", 8).await;
    let built = Instant::now();
    bench_data::build_data(&db, emails, labels).await;
    // As in the workspace benchmark: PostgreSQL as autovacuum leaves a table that
    // grew (statistics, and the visibility map that lets index-only scans skip the
    // table), SQLite as a deployment runs it.
    if db.dialect == domain::db::Dialect::Postgres {
        sqlx::query("VACUUM ANALYZE")
            .execute(&db.pool)
            .await
            .unwrap();
    }
    let label_count: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM labels")
        .fetch_one(&db.pool)
        .await
        .unwrap();
    eprintln!(
        "data: {emails} emails, {label_count} labels in {:.0} s",
        built.elapsed().as_secs_f64()
    );

    let now = domain::time::now_ms();
    let period = domain::analytics::period(
        Some(&domain::wire::analytics::date(now - 89 * 86_400_000)),
        None,
        now,
    )
    .unwrap();
    let mut views = serde_json::Map::new();
    macro_rules! time_view {
        ($name:expr, $call:expr) => {{
            let mut runs = Vec::new();
            for _ in 0..15 {
                let started = Instant::now();
                let _ = $call.await.unwrap();
                runs.push(started.elapsed().as_secs_f64() * 1000.0);
            }
            let m = median(runs);
            eprintln!("{:14} {m:7.1} ms", $name);
            views.insert($name.to_string(), serde_json::json!(m));
        }};
    }
    time_view!("volume", domain::analytics::volume(&db, period));
    time_view!("backlog", domain::analytics::backlog(&db, now));
    time_view!(
        "time_to_label",
        domain::analytics::time_to_label(&db, period)
    );
    time_view!("staff", domain::analytics::staff(&db, period));
    time_view!("agreement", domain::analytics::model_quality(&db, period));
    time_view!("suggestions", domain::analytics::suggestions(&db, period));
    time_view!("drift", domain::analytics::drift(&db));
    time_view!("whole_report", domain::analytics::report(&db, period));

    let mut retrains = Vec::new();
    let mut trained_on = 0;
    for seed in 0..3 {
        let started = Instant::now();
        let model = domain::training::train(&db, Actor::System, seed)
            .await
            .unwrap();
        retrains.push(started.elapsed().as_secs_f64());
        trained_on = model.training_size + model.test_size;
    }
    let retrain = median(retrains);
    eprintln!("retrain on {trained_on} labelled emails: {retrain:.2} s");
    println!(
        "{}",
        serde_json::json!({
            "database": format!("{:?}", db.dialect),
            "emails": emails,
            "labels": label_count,
            "views_ms": views,
            "retrain_s": retrain,
            "retrain_labelled_emails": trained_on,
        })
    );
    let _ = std::fs::remove_dir_all(&dir);
}
