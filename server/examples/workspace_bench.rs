//! The workspace figures of issue 6, for `bench/workspace.py`. On a fresh SQLite
//! database (or `DATABASE_URL`, an empty PostgreSQL database):
//!
//! 1. builds 100,000 scored emails with 30,000 staff labels (the demo mail, copied
//!    with other senders, times and statuses, scored by the built-in model);
//! 2. starts the release `triage serve` as its own process and signs 16 clients in;
//! 3. for each scenario, 16 clients send requests back to back for a while:
//!    - the queue page, server-rendered, 50 rows, in each of its views (plain, a
//!      filter, a search, a search with each filter, the review order), one picked at
//!      random per request and timed per view;
//!    - the email view, server-rendered, a random email;
//!    - accept/correct, the page's server function, on random emails;
//! 4. samples the server's resident memory all along.
//!
//! Prints one JSON object: requests/s, median and p99 latency per scenario (and per
//! queue view), and the peak resident memory. With `TRIAGE_BENCH_MAIL=real` the emails
//! are real mail (see `bench_data`). Each scenario runs 3 times; the medians of the
//! runs count.
//!
//! cargo run --release -p server --example workspace_bench [-- EMAILS LABELS SECONDS]

use domain::wire::EmailStatus;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use rand::{Rng, SeedableRng};

#[path = "support/bench_data.rs"]
mod bench_data;

const CLIENTS: usize = 16;
const STATUSES: [EmailStatus; 3] = [EmailStatus::New, EmailStatus::Triaged, EmailStatus::Replied];

fn percentile(sorted: &[f64], p: f64) -> f64 {
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

fn median(mut xs: Vec<f64>) -> f64 {
    xs.sort_by(f64::total_cmp);
    xs[xs.len() / 2]
}

/// The process's resident memory in MiB, from one read of `/proc/PID/status`:
/// `VmRSS`, all of it, including pages mapped from files (the program, SQLite's
/// shared-memory index), and `RssAnon`, the memory the process allocated itself.
fn resident_mib(pid: u32) -> Option<(f64, f64)> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let field = |name: &str| -> Option<f64> {
        let line = status.lines().find(|l| l.starts_with(name))?;
        let kb: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
        Some(kb / 1024.0)
    };
    Some((field("VmRSS:")?, field("RssAnon:")?))
}

/// A client signed in as the demo's `user`.
async fn signed_in_client(base: &str, (user, password): (&str, &str)) -> reqwest::Client {
    let mut headers = reqwest::header::HeaderMap::new();
    headers.insert("origin", base.parse().unwrap());
    let client = reqwest::Client::builder()
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none())
        .default_headers(headers)
        .pool_max_idle_per_host(1)
        .build()
        .unwrap();
    let response = client
        .post(format!("{base}/login"))
        .form(&[("username", user), ("password", password), ("next", "/")])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 303, "sign-in failed");
    client
}

const AGENT: (&str, &str) = ("alex", "triage-agent");
const SUPERVISOR: (&str, &str) = ("sam", "triage-supervisor");

/// The Analytics page as a supervisor opens it (the last 30 days, every chart, the
/// server rendering it whole), one request at a time: median and slowest of 15 after
/// a warm-up, in milliseconds.
async fn analytics_page(base: &str) -> serde_json::Value {
    let client = signed_in_client(base, SUPERVISOR).await;
    let mut times = Vec::new();
    for i in 0..16 {
        let started = Instant::now();
        let response = client
            .get(format!("{base}/analytics"))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200, "the Analytics page");
        let page = response.text().await.unwrap();
        assert!(
            page.contains("Time to first label"),
            "the whole page, charts and all"
        );
        if i > 0 {
            times.push(started.elapsed().as_secs_f64() * 1000.0);
        }
    }
    let slowest = times.iter().copied().fold(0.0, f64::max);
    serde_json::json!({ "median_ms": median(times), "max_ms": slowest })
}

#[derive(Clone, Copy, PartialEq)]
enum Scenario {
    /// The queue's views, one picked at random for each request ([`VIEWS`]).
    Queue,
    Email,
    /// Accept/correct as the page does it (a server function).
    Label,
    /// The same through the REST API (`POST /api/v1/emails/{id}/labels`), which
    /// passes the API rate limiter (issue 32).
    LabelApi,
}

/// The queue views a person uses: a name and an address whose search word, status,
/// category and confidence band are drawn at random ([`view_url`]). Every one of them must meet the
/// queue's figure: a fast plain page says nothing about search with a filter.
const VIEWS: [(&str, &str); 10] = [
    ("plain", "/"),
    ("status", "/?status={status}"),
    ("category", "/?category={category}"),
    ("search", "/?q={word}"),
    ("search+status", "/?q={word}&status={status}"),
    ("search+category", "/?q={word}&category={category}"),
    ("search+confidence", "/?q={word}&confidence={band}"),
    (
        "category+confidence",
        "/?category={category}&confidence={band}",
    ),
    ("review", "/review"),
    ("search+review", "/review?q={word}"),
];

/// Search words with a range of frequencies, for the mail the data set copies.
fn search_words() -> &'static [&'static str] {
    if bench_data::real_mail() {
        // In the SpamAssassin corpus copied to 100,000 emails: from about 1 % of them
        // (python) and 3.5 % (perl, razor) to about a quarter (free, please, list).
        &[
            "linux", "python", "perl", "razor", "free", "money", "please", "thanks", "list",
            "email",
        ]
    } else {
        &[
            "order", "invoice", "refund", "delivery", "account", "price", "please", "thank",
        ]
    }
}

/// One request's address in the queue view `view` (an index into [`VIEWS`]): its
/// address with a word, status, category and band drawn at random.
fn view_url(view: usize, rng: &mut impl Rng) -> String {
    let words = search_words();
    let word = words[rng.gen_range(0..words.len())];
    let status = STATUSES[rng.gen_range(0..STATUSES.len())];
    let category = CATEGORIES[rng.gen_range(0..CATEGORIES.len())];
    let band = ["low", "medium", "high"][rng.gen_range(0..3)];
    VIEWS[view]
        .1
        .replace("{word}", word)
        .replace("{status}", status.as_str())
        .replace("{category}", category)
        .replace("{band}", band)
}

const CATEGORIES: [&str; 5] = [
    "complaint",
    "order_status",
    "invoice_billing",
    "returns_refunds",
    "feedback_praise",
];

/// What one timed run measured: requests/s, median and p99 over all requests, and
/// (queue only) each view's latencies in ms.
struct RunFigures {
    per_second: f64,
    median_ms: f64,
    p99_ms: f64,
    views: Vec<Vec<f64>>,
}

/// 16 clients, back to back, for `seconds`.
async fn run(
    scenario: Scenario,
    clients: &[reqwest::Client],
    base: &str,
    max_id: i64,
    seconds: f64,
) -> RunFigures {
    let stop = Arc::new(AtomicBool::new(false));
    let mut tasks = Vec::new();
    for (c, client) in clients.iter().enumerate() {
        let (client, base, stop) = (client.clone(), base.to_string(), stop.clone());
        tasks.push(tokio::spawn(async move {
            let mut rng = rand::rngs::StdRng::seed_from_u64(c as u64);
            // (view, ms) per request; the view is 0 outside the queue.
            let mut latencies = Vec::new();
            while !stop.load(Ordering::Relaxed) {
                let view = rng.gen_range(0..VIEWS.len());
                let started = Instant::now();
                let response = match scenario {
                    Scenario::Queue => {
                        let url = view_url(view, &mut rng);
                        client.get(format!("{base}{url}")).send().await
                    }
                    Scenario::Email => {
                        client
                            .get(format!("{base}/emails/{}", rng.gen_range(1..=max_id)))
                            .send()
                            .await
                    }
                    Scenario::Label => {
                        client
                            .post(format!("{base}/rpc/label_email"))
                            .form(&[
                                ("email_id", rng.gen_range(1..=max_id).to_string()),
                                (
                                    "category",
                                    CATEGORIES[rng.gen_range(0..CATEGORIES.len())].to_string(),
                                ),
                                ("seconds_spent", "6.0".to_string()),
                            ])
                            .send()
                            .await
                    }
                    Scenario::LabelApi => {
                        let id = rng.gen_range(1..=max_id);
                        let category = CATEGORIES[rng.gen_range(0..CATEGORIES.len())];
                        client
                            .post(format!("{base}/api/v1/emails/{id}/labels"))
                            .json(&serde_json::json!({
                                "category": category, "seconds_spent": 6.0
                            }))
                            .send()
                            .await
                    }
                }
                .unwrap();
                let expected = if scenario == Scenario::LabelApi {
                    201
                } else {
                    200
                };
                assert_eq!(response.status(), expected);
                let body = response.bytes().await.unwrap();
                if scenario == Scenario::Queue && VIEWS[view].0 == "plain" {
                    assert!(body.len() > 10_000, "a queue page with rows");
                }
                let view = if scenario == Scenario::Queue { view } else { 0 };
                latencies.push((view, started.elapsed().as_secs_f64() * 1000.0));
            }
            latencies
        }));
    }
    let started = Instant::now();
    tokio::time::sleep(Duration::from_secs_f64(seconds)).await;
    stop.store(true, Ordering::Relaxed);
    let mut all = Vec::new();
    let mut views = vec![Vec::new(); VIEWS.len()];
    for t in tasks {
        for (view, ms) in t.await.unwrap() {
            all.push(ms);
            views[view].push(ms);
        }
    }
    let elapsed = started.elapsed().as_secs_f64();
    all.sort_by(f64::total_cmp);
    for v in &mut views {
        v.sort_by(f64::total_cmp);
    }
    RunFigures {
        per_second: all.len() as f64 / elapsed,
        median_ms: percentile(&all, 0.5),
        p99_ms: percentile(&all, 0.99),
        views,
    }
}

#[tokio::main]
async fn main() {
    let args: Vec<f64> = std::env::args()
        .skip(1)
        .filter_map(|a| a.parse().ok())
        .collect();
    let emails = args.first().copied().unwrap_or(100_000.0) as usize;
    let labels = args.get(1).copied().unwrap_or(30_000.0) as usize;
    let seconds = args.get(2).copied().unwrap_or(10.0);
    let (db, url, dir) = bench_data::fresh_database("workspace-bench", 5).await;
    let built = Instant::now();
    bench_data::build_data(&db, emails, labels).await;
    // PostgreSQL: the statistics autovacuum gathers on a database that grew over
    // time; without them the planner still sees the few hundred demo rows and scans
    // whole tables (email view: 8 pages/s instead of 660). SQLite gathers none by
    // itself, and with them (ANALYZE) its queue plan gets worse (47 pages/s instead
    // of 156), so it is measured as a deployment would run it: without.
    if db.dialect == domain::db::Dialect::Postgres {
        sqlx::query("ANALYZE").execute(&db.pool).await.unwrap();
    }
    eprintln!(
        "data: {emails} emails, {labels} labels in {:.0} s",
        built.elapsed().as_secs_f64()
    );
    let max_id: i64 = sqlx::query_scalar("SELECT MAX(id) FROM emails")
        .fetch_one(&db.pool)
        .await
        .unwrap();
    db.close().await;

    let target = std::env::var("CARGO_TARGET_DIR").unwrap_or_else(|_| "target".into());
    let bin =
        std::env::var("TRIAGE_BENCH_BIN").unwrap_or_else(|_| format!("{target}/release/triage"));
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let base = format!("http://127.0.0.1:{port}");
    let mut server = std::process::Command::new(&bin)
        .args(["serve", "--addr", &format!("127.0.0.1:{port}")])
        .env("DATABASE_URL", &url)
        .env("TRIAGE_LOG", "warn")
        .env("TRIAGE_LOGIN_MAX_FAILURES", "1000")
        // The API rate limiter stays on (its cost is part of what is measured) but
        // never refuses: the 16 clients are one person. 0 turns it off, to compare.
        .env(
            "TRIAGE_API_REQUESTS_PER_MINUTE",
            std::env::var("TRIAGE_BENCH_API_RATE").unwrap_or_else(|_| "1000000000".into()),
        )
        .env("TRIAGE_API_BURST", "1000000")
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {bin}: {e} (build it: scripts/build-release.sh)"));
    let pid = server.id();
    for _ in 0..300 {
        if reqwest::get(format!("{base}/readyz"))
            .await
            .is_ok_and(|r| r.status() == 200)
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let peak = Arc::new(AtomicU64::new(0));
    let peak_own = Arc::new(AtomicU64::new(0));
    let sampling = Arc::new(AtomicBool::new(true));
    let sampler = {
        let (peak, peak_own, sampling) = (peak.clone(), peak_own.clone(), sampling.clone());
        tokio::spawn(async move {
            while sampling.load(Ordering::Relaxed) {
                if let Some((all, own)) = resident_mib(pid) {
                    peak.fetch_max((all * 10.0) as u64, Ordering::Relaxed);
                    peak_own.fetch_max((own * 10.0) as u64, Ordering::Relaxed);
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        })
    };
    let mut clients = Vec::new();
    for _ in 0..CLIENTS {
        clients.push(signed_in_client(&base, AGENT).await);
    }
    let mut figures = serde_json::Map::new();
    for (name, scenario) in [
        ("queue", Scenario::Queue),
        ("email", Scenario::Email),
        ("label", Scenario::Label),
        ("label_api", Scenario::LabelApi),
    ] {
        // A short warm-up, then three timed runs.
        run(scenario, &clients, &base, max_id, 1.0).await;
        let mut runs = Vec::new();
        for _ in 0..3 {
            runs.push(run(scenario, &clients, &base, max_id, seconds).await);
        }
        figures.insert(
            name.into(),
            serde_json::json!({
                "per_second": median(runs.iter().map(|r| r.per_second).collect()),
                "median_ms": median(runs.iter().map(|r| r.median_ms).collect()),
                "p99_ms": median(runs.iter().map(|r| r.p99_ms).collect()),
            }),
        );
        if scenario == Scenario::Queue {
            let views: serde_json::Map<String, serde_json::Value> = VIEWS
                .iter()
                .enumerate()
                .map(|(v, (name, _))| {
                    let of =
                        |p: f64| median(runs.iter().map(|r| percentile(&r.views[v], p)).collect());
                    let requests: usize = runs.iter().map(|r| r.views[v].len()).sum();
                    let figures = serde_json::json!({
                        "requests": requests,
                        "median_ms": of(0.5),
                        "p99_ms": of(0.99),
                    });
                    (name.to_string(), figures)
                })
                .collect();
            figures.insert("views".into(), views.into());
        }
    }
    // The peak so far is the agents' work alone; the Analytics page comes after.
    figures.insert(
        "peak_resident_mib_before_analytics".into(),
        (peak.load(Ordering::Relaxed) as f64 / 10.0).into(),
    );
    figures.insert("analytics_page".into(), analytics_page(&base).await);
    sampling.store(false, Ordering::Relaxed);
    sampler.await.unwrap();
    let _ = server.kill();
    let _ = server.wait();
    // TRIAGE_BENCH_KEEP=1 keeps the database to study its plans afterwards.
    if std::env::var_os("TRIAGE_BENCH_KEEP").is_some() {
        eprintln!("kept: {}", domain::db::redact(&url));
    } else {
        let _ = std::fs::remove_dir_all(&dir);
    }
    figures.insert("database".into(), domain::db::redact(&url).into());
    figures.insert("emails".into(), emails.into());
    figures.insert("labels".into(), labels.into());
    figures.insert("clients".into(), CLIENTS.into());
    figures.insert(
        "peak_resident_mib".into(),
        (peak.load(Ordering::Relaxed) as f64 / 10.0).into(),
    );
    figures.insert(
        "peak_anonymous_mib".into(),
        (peak_own.load(Ordering::Relaxed) as f64 / 10.0).into(),
    );
    println!("{}", serde_json::Value::Object(figures));
}
