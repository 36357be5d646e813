//! The data set the workspace and analytics benchmarks share: 100,000 emails like the
//! demo's, scored by the built-in model, 30,000 of them labelled by staff. With
//! `TRIAGE_BENCH_MAIL=real`, the emails' texts are real mail instead (the corpus
//! `bench/fetch_dataset.py` writes: long bodies, quoted text, about 280 words each).

use domain::audit::Actor;
use domain::db::Db;
use domain::labels::NewLabel;
use domain::wire::{EmailStatus, LabelSource};
use rand::{Rng, SeedableRng};

/// A benchmark's database: `DATABASE_URL` (an empty PostgreSQL database) or a new
/// SQLite file in a temporary folder, migrated. Returns it, its URL and the folder
/// (to remove at the end).
pub async fn fresh_database(name: &str, connections: u32) -> (Db, String, std::path::PathBuf) {
    let dir = std::env::temp_dir().join(format!("triage-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let url = std::env::var("DATABASE_URL")
        .unwrap_or_else(|_| format!("sqlite://{}/triage.db", dir.display()));
    let db = Db::connect(&url, connections).await.unwrap();
    db.migrate().await.unwrap();
    (db, url, dir)
}

/// An email's text to copy, and its sender's name.
#[derive(sqlx::FromRow)]
struct Demo {
    subject: String,
    body_text: String,
    from_name: String,
}

/// 100,000 emails like the demo's, spread over 90 days, scored, 30,000 labelled.
pub async fn build_data(db: &Db, emails: usize, labels: usize) {
    domain::demo::load(db, domain::time::now_ms())
        .await
        .unwrap();
    let model = domain::training::train(db, Actor::System, 42)
        .await
        .unwrap();
    domain::training::activate(db, model.id, Actor::System)
        .await
        .unwrap();
    let mut demo: Vec<Demo> = sqlx::query_as(
        "SELECT e.subject AS subject, b.body_text AS body_text, e.from_name AS from_name \
         FROM emails e JOIN email_bodies b ON b.email_id = e.id ORDER BY e.id",
    )
    .fetch_all(&db.pool)
    .await
    .unwrap();
    if real_mail() {
        demo = real_mail_texts(&demo);
    }
    let now = domain::time::now_ms();
    let mut rng = rand::rngs::StdRng::seed_from_u64(6);
    let existing = domain::emails::count(db).await.unwrap() as usize;
    let mut tx = db.begin_write().await.unwrap();
    for i in existing..emails {
        let picked = &demo[rng.gen_range(0..demo.len())];
        let message_id = format!("<bench-{i}@example.com>");
        let email = domain::emails::NewEmail {
            thread_key: message_id.clone(),
            message_id,
            from_name: picked.from_name.clone(),
            from_address: format!("customer{}@example.com", i % 5000),
            subject: picked.subject.clone(),
            body_text: picked.body_text.clone(),
            source: "bench".into(),
            received_at: now - rng.gen_range(0..90 * 86_400_000i64),
            ..Default::default()
        };
        domain::emails::insert_in(&mut tx, &email).await.unwrap();
    }
    tx.commit().await.unwrap();
    domain::scoring::score_unscored(db, &domain::scoring::AwsCredentials::fixed("b", "b"))
        .await
        .unwrap();
    // Staff labels on the oldest emails: 9 in 10 accept the model, 1 in 10 corrects it.
    let agent: i64 = sqlx::query_scalar("SELECT id FROM users WHERE username = 'alex'")
        .fetch_one(&db.pool)
        .await
        .unwrap();
    let have: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM labels")
        .fetch_one(&db.pool)
        .await
        .unwrap();
    let more = labels.saturating_sub(have as usize) as i64;
    let categories: Vec<i64> = sqlx::query_scalar("SELECT id FROM categories ORDER BY id")
        .fetch_all(&db.pool)
        .await
        .unwrap();
    #[derive(sqlx::FromRow)]
    struct Target {
        id: i64,
        predicted_category_id: i64,
        prediction_id: i64,
    }
    let targets: Vec<Target> = sqlx::query_as(
        "SELECT id, predicted_category_id, prediction_id FROM emails \
         WHERE label_id IS NULL ORDER BY received_at LIMIT $1",
    )
    .bind(more)
    .fetch_all(&db.pool)
    .await
    .unwrap();
    // Through the domain's one owner of email state: each label becomes its email's
    // current one (moving it to triaged), then every other email is marked replied.
    let mut tx = db.begin_write().await.unwrap();
    let mut replied = Vec::new();
    for (n, target) in targets.iter().enumerate() {
        let (category_id, source) = if n % 10 == 0 {
            (categories[n % categories.len()], LabelSource::Corrected)
        } else {
            (target.predicted_category_id, LabelSource::Accepted)
        };
        let label = NewLabel {
            email_id: target.id,
            category_id,
            source,
            user_id: Some(agent),
            token_id: None,
            prediction_id: Some(target.prediction_id),
            seconds_spent: Some(7.5),
            created_at: now,
        };
        domain::labels::record(&mut tx, &label).await.unwrap();
        if n % 2 == 1 {
            replied.push(target.id);
        }
    }
    domain::email_state::set_statuses(&mut tx, &replied, EmailStatus::Replied)
        .await
        .unwrap();
    tx.commit().await.unwrap();
}

/// Whether the emails copy real mail (`TRIAGE_BENCH_MAIL=real`) instead of the demo's.
pub fn real_mail() -> bool {
    std::env::var("TRIAGE_BENCH_MAIL").as_deref() == Ok("real")
}

/// The real-mail corpus as texts to copy, senders' names taken from the demo in turn.
fn real_mail_texts(demo: &[Demo]) -> Vec<Demo> {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../bench/.data/emails.jsonl");
    let corpus = std::fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("{path}: {e} (run bench/fetch_dataset.py first)"));
    corpus
        .lines()
        .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
        .zip(demo.iter().cycle())
        // A few bodies hold NUL characters, which ingest drops too.
        .map(|(e, sender)| Demo {
            subject: e["subject"].as_str().unwrap_or_default().replace('\0', ""),
            body_text: e["body"].as_str().unwrap_or_default().replace('\0', ""),
            from_name: sender.from_name.clone(),
        })
        .collect()
}
