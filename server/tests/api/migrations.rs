//! Upgrading a database that already holds mail: the schema as an earlier version
//! left it, emails stored in it, then today's migrations. Nothing may be lost.

use domain::db::Db;
use domain::queue::QueueFilter;

use crate::helpers::{Backend, TestDatabase};

/// The last migration before the bodies moved to `email_bodies`.
const BEFORE_BODIES: i64 = 7;

/// Applies the project's migrations up to `last` only, as an older Triage would have.
async fn migrate_up_to(db: &Db, backend: Backend, last: i64) {
    let folder = match backend {
        Backend::Sqlite => "sqlite",
        Backend::Postgres => "postgres",
    };
    let source = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../migrations")
        .join(folder);
    let older = std::env::temp_dir().join(format!(
        "triage-migrations-{folder}-{}-{last}",
        std::process::id()
    ));
    std::fs::create_dir_all(&older).unwrap();
    for entry in std::fs::read_dir(&source).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_str().unwrap().to_string();
        let version: i64 = name.split('_').next().unwrap().parse().unwrap();
        if version <= last {
            std::fs::copy(&path, older.join(&name)).unwrap();
        }
    }
    sqlx::migrate::Migrator::new(older.as_path())
        .await
        .unwrap()
        .run(&db.pool)
        .await
        .unwrap();
    std::fs::remove_dir_all(older).unwrap();
}

async fn bodies_move_out_of_emails_and_stay_searchable(backend: Backend) {
    let database = TestDatabase::create(backend).await;
    let db = Db::connect(&database.url, 4).await.unwrap();
    migrate_up_to(&db, backend, BEFORE_BODIES).await;
    let raw = b"Subject: Where is my parcel\r\n\r\nThe blue lamp never came.\r\n".to_vec();
    let long_body = "Another customer writes at length. ".repeat(100);
    let mut ids = Vec::new();
    for i in 0..50 {
        let body = if i == 0 {
            "The blue lamp never came."
        } else {
            &long_body
        };
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO emails (message_id, thread_key, from_address, subject, body_text, body_html, \
               attachments, raw, raw_size, source, received_at, ingested_at) \
             VALUES ($1, $1, 'a@example.com', $2, $3, '<p>The blue lamp never came.</p>', \
               '[{\"filename\":\"receipt.pdf\",\"content_type\":\"application/pdf\",\"size\":12}]', \
               $4, $5, 'api', $6, $6) RETURNING id",
        )
        .bind(format!("<old-{i}@example.com>"))
        .bind(if i == 0 { "Where is my parcel" } else { "Other" })
        .bind(body)
        .bind(&raw)
        .bind(raw.len() as i64)
        .bind(1_700_000_000_000i64 + i)
        .fetch_one(&db.pool)
        .await
        .unwrap();
        ids.push(id);
    }

    db.migrate().await.unwrap();

    let detail = domain::emails::detail(&db, ids[0]).await.unwrap();
    assert_eq!(detail.subject, "Where is my parcel");
    assert_eq!(detail.body_text, "The blue lamp never came.");
    assert_eq!(
        detail.body_html.as_deref(),
        Some("<p>The blue lamp never came.</p>")
    );
    assert_eq!(detail.attachments[0]["filename"], "receipt.pdf");
    let kept_raw: Vec<u8> = sqlx::query_scalar("SELECT raw FROM email_bodies WHERE email_id = $1")
        .bind(ids[0])
        .fetch_one(&db.pool)
        .await
        .unwrap();
    assert_eq!(kept_raw, raw, "the raw message keeps every byte");
    let bodies: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM email_bodies")
        .fetch_one(&db.pool)
        .await
        .unwrap();
    assert_eq!(bodies, 50, "every email keeps its body");

    // Search finds old mail by its body and its subject, and new mail as it arrives.
    let search = |words: &[&str]| QueueFilter {
        words: words.iter().map(|w| w.to_string()).collect(),
        limit: 10,
        ..Default::default()
    };
    let found = |page: domain::wire::QueuePage| page.rows.iter().map(|r| r.id).collect::<Vec<_>>();
    let by_body = domain::queue::page(&db, &search(&["lamp"])).await.unwrap();
    assert_eq!(found(by_body.clone()), vec![ids[0]]);
    assert!(
        by_body.rows[0].snippet.starts_with("The blue lamp"),
        "the queue's snippet comes from the body"
    );
    assert_eq!(
        found(
            domain::queue::page(&db, &search(&["parcel"]))
                .await
                .unwrap()
        ),
        vec![ids[0]]
    );
    let new = domain::emails::insert(
        &db,
        &domain::emails::NewEmail {
            message_id: "<new@example.com>".into(),
            thread_key: "<new@example.com>".into(),
            from_address: "b@example.com".into(),
            subject: "Lamp again".into(),
            body_text: "A second lamp, also missing.".into(),
            source: "api".into(),
            received_at: 1_800_000_000_000,
            ..Default::default()
        },
    )
    .await
    .unwrap()
    .id();
    let mut both = found(domain::queue::page(&db, &search(&["lamp"])).await.unwrap());
    both.sort();
    assert_eq!(both, vec![ids[0], new]);

    if backend == Backend::Sqlite {
        // Dropping the columns left their pages free; the VACUUM after the
        // migration gave them back.
        let free: i64 = sqlx::query_scalar("PRAGMA freelist_count")
            .fetch_one(&db.pool)
            .await
            .unwrap();
        assert_eq!(free, 0, "the upgraded file was packed");
    }
    db.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bodies_move_out_of_emails_and_stay_searchable_sqlite() {
    bodies_move_out_of_emails_and_stay_searchable(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bodies_move_out_of_emails_and_stay_searchable_postgres() {
    bodies_move_out_of_emails_and_stay_searchable(Backend::Postgres).await;
}
