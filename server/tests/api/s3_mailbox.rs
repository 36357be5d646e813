//! Mailboxes read from S3 (issue 31, the SES "deliver to S3" pattern), against moto's
//! S3 reached by the real AWS SDK. Passes are driven through the domain where a test
//! needs to see each one (a restart, a replaced object); the sync request and the
//! runner run the whole way through the HTTP server.

use std::sync::Arc;
use std::time::{Duration, Instant};

use aws_sdk_s3::primitives::ByteStream;
use domain::audit::Actor;
use domain::db::Db;
use domain::mailboxes::runner::{self, RunnerSettings};
use domain::mailboxes::{self, Mailbox, s3, sync};
use domain::role::Role;
use domain::secrets::SecretBox;
use domain::wire::mailboxes::{MailboxInput, MailboxKind};
use serde_json::{Value, json};

use crate::aws_servers::{Moto, credentials};
use crate::helpers::{Backend, TEST_SECRET_KEY, TestApp, TestDatabase, spawn_app_with};

const BUCKET: &str = "triage-inbound";
const PREFIX: &str = "ses/inbound/";
/// Small, so a "huge" message is cheap to make.
const MAX_BYTES: usize = 64 * 1024;

fn secrets() -> SecretBox {
    SecretBox::load(Some(TEST_SECRET_KEY), std::path::Path::new("/nonexistent")).unwrap()
}

async fn database(backend: Backend) -> (TestDatabase, Db) {
    let database = TestDatabase::create(backend).await;
    let db = Db::connect(&database.url, 5).await.unwrap();
    db.migrate().await.unwrap();
    (database, db)
}

fn s3_input(moto: &Moto) -> MailboxInput {
    MailboxInput {
        name: "Inbound".into(),
        address: "support@example.com".into(),
        kind: MailboxKind::S3,
        s3_bucket: BUCKET.into(),
        s3_prefix: PREFIX.into(),
        s3_region: "us-east-1".into(),
        s3_endpoint_url: moto.url.clone(),
        poll_seconds: 3600,
        ..MailboxInput::default()
    }
}

async fn add_mailbox(db: &Db, input: &MailboxInput) -> Mailbox {
    let id = mailboxes::create(db, &secrets(), input, Actor::System)
        .await
        .unwrap();
    mailboxes::load(db, &secrets(), id).await.unwrap()
}

/// A pass as the runner makes it, with a client of its own (as a fresh process has).
async fn pass(db: &Db, mailbox: &Mailbox) -> sync::Pass {
    let client = domain::aws::s3(
        &mailbox.s3.as_ref().unwrap().address(&Default::default()),
        &credentials(),
    )
    .await;
    s3::pass(&client, db, mailbox, MAX_BYTES, &|| {})
        .await
        .unwrap()
}

async fn put(client: &aws_sdk_s3::Client, key: &str, body: &[u8]) {
    client
        .put_object()
        .bucket(BUCKET)
        .key(key)
        .body(ByteStream::from(body.to_vec()))
        .send()
        .await
        .unwrap();
}

async fn count(db: &Db, sql: &str) -> i64 {
    sqlx::query_scalar(sql).fetch_one(&db.pool).await.unwrap()
}

/// Waits for `done` to hold, up to `limit` (a deadline for a background task, not a
/// speed figure: speeds are measured in bench/).
async fn eventually<F, Fut>(what: &str, limit: Duration, mut done: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let start = Instant::now();
    while !done().await {
        assert!(start.elapsed() < limit, "{what}: not within {limit:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Mail as SES delivers it: a multipart message with an HTML part.
fn multipart(id: &str, subject: &str) -> Vec<u8> {
    format!(
        "Return-Path: <buyer@customer.example>\r\n\
         Received: from mail.customer.example by inbound-smtp.us-east-1.amazonaws.com\r\n\
         Message-ID: <{id}>\r\nFrom: \"Buyer\" <buyer@customer.example>\r\n\
         To: support@example.com\r\nSubject: {subject}\r\n\
         Date: Mon, 07 Dec 2026 09:00:00 +0000\r\nMIME-Version: 1.0\r\n\
         Content-Type: multipart/alternative; boundary=\"b1\"\r\n\r\n\
         --b1\r\nContent-Type: text/plain; charset=UTF-8\r\n\r\n\
         Where is order 4411? It was due on Friday.\r\n\r\n> On Monday you wrote:\r\n\
         > It leaves the warehouse this week.\r\n\
         --b1\r\nContent-Type: text/html; charset=UTF-8\r\n\r\n\
         <p>Where is order <b>4411</b>? It was due on Friday.</p>\r\n--b1--\r\n"
    )
    .into_bytes()
}

/// A message in ISO-8859-1, quoted-printable, as older mail programs still send.
fn latin1() -> Vec<u8> {
    let mut raw = b"Message-ID: <latin1@customer.example>\r\n\
        From: =?ISO-8859-1?Q?Ren=E9e_Dupr=E9?= <renee@customer.example>\r\n\
        To: support@example.com\r\nSubject: =?ISO-8859-1?Q?R=E9clamation_factur=E9e?=\r\n\
        Date: Tue, 08 Dec 2026 10:30:00 +0100\r\nMIME-Version: 1.0\r\n\
        Content-Type: text/plain; charset=ISO-8859-1\r\n\
        Content-Transfer-Encoding: 8bit\r\n\r\n"
        .to_vec();
    // "Le montant débité est erroné." in Latin-1 bytes, not UTF-8.
    raw.extend_from_slice(b"Le montant d\xe9bit\xe9 est erron\xe9.\r\n");
    raw
}

crate::on_both_backends!(
    mail_from_s3_is_stored_once_and_a_restart_reads_nothing_again,
    a_replaced_object_is_read_again_and_a_huge_one_only_by_its_header,
    a_sync_request_brings_the_mail_within_seconds,
    a_server_that_reads_no_mail_itself_still_reads_s3_on_request,
    new_mail_queues_one_batch_transform_job,
    an_imap_mailbox_is_read_again_on_request,
    a_bucket_of_many_chunks_is_read_once_with_duplicates_across_chunks,
);

crate::on_both_databases!(an_s3_mailbox_needs_a_bucket_and_no_imap_server);

async fn mail_from_s3_is_stored_once_and_a_restart_reads_nothing_again(backend: Backend) {
    let moto = Moto::start().await;
    let client = moto.bucket(BUCKET).await;
    put(
        &client,
        &format!("{PREFIX}AMAZON_SES_SETUP_NOTIFICATION"),
        b"setup",
    )
    .await;
    put(&client, PREFIX, b"").await; // a "folder" placeholder
    put(
        &client,
        &format!("{PREFIX}0a1b2c3d4e"),
        &multipart("one@customer.example", "Order 4411"),
    )
    .await;
    put(&client, &format!("{PREFIX}5f6g7h8i9j"), &latin1()).await;
    put(
        &client,
        &format!("{PREFIX}broken"),
        b"\x00\x01 this is not an email at all",
    )
    .await;
    put(
        &client,
        "elsewhere/k1",
        &multipart("other@customer.example", "Not ours"),
    )
    .await;
    let (database, db) = database(backend).await;
    let mailbox = add_mailbox(&db, &s3_input(&moto)).await;

    let first = pass(&db, &mailbox).await;
    assert_eq!((first.tally.created, first.unreadable), (2, 1));
    let stored: Vec<(String, String, Option<i64>, String)> = sqlx::query_as(
        "SELECT message_id, source, mailbox_id, subject FROM emails ORDER BY message_id",
    )
    .fetch_all(&db.pool)
    .await
    .unwrap();
    assert_eq!(
        stored,
        vec![
            (
                "<latin1@customer.example>".to_string(),
                "s3".to_string(),
                Some(mailbox.id),
                "Réclamation facturée".to_string()
            ),
            (
                "<one@customer.example>".to_string(),
                "s3".to_string(),
                Some(mailbox.id),
                "Order 4411".to_string()
            ),
        ]
    );
    let body: String = sqlx::query_scalar(
        "SELECT b.body_text FROM email_bodies b JOIN emails e ON e.id = b.email_id \
         WHERE e.message_id = '<latin1@customer.example>'",
    )
    .fetch_one(&db.pool)
    .await
    .unwrap();
    assert!(body.contains("Le montant débité est erroné."), "{body}");

    // The unreadable one is kept whole with its reason, under its key.
    let unreadable = mailboxes::unreadable(&db, mailbox.id, 10).await.unwrap();
    assert_eq!(unreadable.len(), 1);
    assert_eq!(unreadable[0].folder, format!("{PREFIX}broken"));
    assert!(
        unreadable[0].error.contains("mail header"),
        "{:?}",
        unreadable[0]
    );
    let raw = mailboxes::unreadable_raw(&db, unreadable[0].id)
        .await
        .unwrap();
    assert_eq!(raw, b"\x00\x01 this is not an email at all");
    let recorded: Vec<(String, Option<i64>, Option<String>)> =
        sqlx::query_as("SELECT object_key, email_id, error FROM s3_objects ORDER BY object_key")
            .fetch_all(&db.pool)
            .await
            .unwrap();
    assert_eq!(recorded.len(), 3, "{recorded:?}");
    assert!(
        recorded[2].1.is_none() && recorded[2].2.is_some(),
        "{recorded:?}"
    );

    // Read again: nothing new, and the unreadable one is not tried again.
    let again = pass(&db, &mailbox).await;
    assert_eq!(
        (
            again.tally.created,
            again.tally.duplicates,
            again.unreadable
        ),
        (0, 0, 0)
    );

    // A restart: a new process, with its own connections and client, reads nothing.
    drop(db);
    let db = Db::connect(&database.url, 5).await.unwrap();
    let mailbox = mailboxes::load(&db, &secrets(), mailbox.id).await.unwrap();
    let restarted = pass(&db, &mailbox).await;
    assert_eq!(
        (
            restarted.tally.created,
            restarted.tally.duplicates,
            restarted.unreadable
        ),
        (0, 0, 0)
    );

    // A new object: only it is read (had the others been downloaded again, they would
    // count as duplicates or unreadable).
    put(
        &client,
        &format!("{PREFIX}zz-new"),
        &multipart("two@customer.example", "Invoice"),
    )
    .await;
    let new = pass(&db, &mailbox).await;
    assert_eq!(
        (new.tally.created, new.tally.duplicates, new.unreadable),
        (1, 0, 0)
    );
    assert_eq!(count(&db, "SELECT COUNT(*) FROM emails").await, 3);
    assert_eq!(count(&db, "SELECT COUNT(*) FROM unreadable_mail").await, 1);

    let view = mailboxes::get(&db, mailbox.id).await.unwrap();
    assert_eq!(view.folders.len(), 1);
    let folder = &view.folders[0];
    assert_eq!(folder.folder, format!("s3://{BUCKET}/{PREFIX}"));
    assert_eq!(folder.stored, 3);
    assert!(folder.last_sync_at.is_some() && folder.last_error.is_none());
    assert_eq!((view.s3_objects, view.unreadable), (4, 1));
}

async fn a_replaced_object_is_read_again_and_a_huge_one_only_by_its_header(backend: Backend) {
    let moto = Moto::start().await;
    let client = moto.bucket(BUCKET).await;
    let key = format!("{PREFIX}replaced");
    put(&client, &key, b"not mail yet").await;
    let mut huge = multipart("huge@customer.example", "Scanned invoice");
    huge.extend(std::iter::repeat_n(b'x', MAX_BYTES * 3));
    put(&client, &format!("{PREFIX}huge"), &huge).await;
    let (_database, db) = database(backend).await;
    let mailbox = add_mailbox(&db, &s3_input(&moto)).await;

    let first = pass(&db, &mailbox).await;
    assert_eq!((first.tally.created, first.unreadable), (0, 2));
    let kept = mailboxes::unreadable(&db, mailbox.id, 10).await.unwrap();
    let big = kept.iter().find(|u| u.folder.ends_with("huge")).unwrap();
    assert!(
        big.error.contains("over the limit") && big.error.contains("header"),
        "{}",
        big.error
    );
    let raw = mailboxes::unreadable_raw(&db, big.id).await.unwrap();
    let header = String::from_utf8_lossy(&raw);
    assert!(
        header.contains("Message-ID: <huge@customer.example>"),
        "{header}"
    );
    assert!(
        raw.len() < 2000,
        "only the header is kept, not {} bytes",
        raw.len()
    );

    // The sender fixed the object: the same key with new contents is read again.
    put(&client, &key, &multipart("fixed@customer.example", "Fixed")).await;
    let second = pass(&db, &mailbox).await;
    assert_eq!((second.tally.created, second.unreadable), (1, 0));
    // Replaced once more by the same message: a duplicate, not a second email.
    let mut same = multipart("fixed@customer.example", "Fixed");
    same.extend_from_slice(b"\r\n");
    put(&client, &key, &same).await;
    let third = pass(&db, &mailbox).await;
    assert_eq!((third.tally.created, third.tally.duplicates), (0, 1));
    assert_eq!(count(&db, "SELECT COUNT(*) FROM emails").await, 1);
    let versions: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM s3_objects WHERE object_key = $1")
        .bind(&key)
        .fetch_one(&db.pool)
        .await
        .unwrap();
    assert_eq!(versions, 3, "each version of the key is recorded");
}

async fn create_over_api(app: &TestApp, admin: &str, body: &Value) -> reqwest::Response {
    reqwest::Client::new()
        .post(app.url("/api/v1/mailboxes"))
        .bearer_auth(admin)
        .json(body)
        .send()
        .await
        .unwrap()
}

async fn ask_sync(app: &TestApp, token: &str, id: i64) -> reqwest::Response {
    reqwest::Client::new()
        .post(app.url(&format!("/api/v1/sources/{id}/sync")))
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
}

async fn an_s3_mailbox_needs_a_bucket_and_no_imap_server(app: TestApp) {
    let admin = app.token(Role::Admin).await;
    let refused = create_over_api(
        &app,
        &admin,
        &json!({"name": "Inbound", "address": "support@example.com", "kind": "s3"}),
    )
    .await;
    assert_eq!(refused.status(), 422);
    let error: Value = refused.json().await.unwrap();
    assert_eq!(error["error"]["details"]["field"], "s3_bucket", "{error}");
    assert!(
        error["error"]["message"]
            .as_str()
            .unwrap()
            .contains("bucket"),
        "{error}"
    );

    let bad_url = create_over_api(
        &app,
        &admin,
        &json!({"name": "Inbound", "address": "support@example.com", "kind": "s3",
                "s3_bucket": "mail", "s3_endpoint_url": "127.0.0.1:9000"}),
    )
    .await;
    assert_eq!(bad_url.status(), 422);
    let error: Value = bad_url.json().await.unwrap();
    assert_eq!(
        error["error"]["details"]["field"], "s3_endpoint_url",
        "{error}"
    );

    // No IMAP or SMTP server needed; IMAP settings sent along are dropped.
    let created = create_over_api(
        &app,
        &admin,
        &json!({"name": "Inbound", "address": "support@example.com", "kind": "s3",
                "s3_bucket": "mail", "s3_prefix": "/inbound/", "imap_host": "imap.example.com",
                "transform_after_sync": true}),
    )
    .await;
    assert_eq!(created.status(), 201);
    let view: Value = created.json().await.unwrap();
    assert_eq!(
        (
            &view["kind"],
            &view["s3_bucket"],
            &view["s3_prefix"],
            &view["imap_host"]
        ),
        (&json!("s3"), &json!("mail"), &json!("inbound/"), &json!(""))
    );
    assert_eq!(view["transform_after_sync"], true);
    assert_eq!(view["poll_seconds"], 60, "the usual interval");
    assert_eq!(view["folders"][0]["folder"], "s3://mail/inbound/");

    // A mailbox without SMTP cannot send: replies to its mail say so.
    let id = view["id"].as_i64().unwrap();
    let raw = multipart("q@customer.example", "Question");
    let mut email = domain::ingest::parse::parse_raw(&raw, 0, MAX_BYTES, "s3").unwrap();
    email.mailbox_id = Some(id);
    domain::ingest::store::store(&app.db, &email, None)
        .await
        .unwrap();
    let email_id = count(&app.db, "SELECT id FROM emails").await;
    let agent = app.token(Role::Agent).await;
    let reply = reqwest::Client::new()
        .post(app.url(&format!("/api/v1/emails/{email_id}/replies")))
        .bearer_auth(&agent)
        .json(&json!({"body": "Thanks"}))
        .send()
        .await
        .unwrap();
    assert_eq!(reply.status(), 422);
    let error: Value = reply.json().await.unwrap();
    assert!(
        error["error"]["message"]
            .as_str()
            .unwrap()
            .contains("no mailbox can send"),
        "{error}"
    );

    // The Mailboxes page shows where it reads and offers both kinds in its form.
    app.signed_in_as(Role::Admin).await;
    let page = app.get("/admin/mailboxes").await.text().await.unwrap();
    for shown in [
        "Amazon S3",
        "s3://mail/inbound/",
        "Mail comes from",
        "name=\"mailbox[kind]\"",
        "name=\"mailbox[s3_bucket]\"",
        "Read now",
    ] {
        assert!(page.contains(shown), "{shown} not on the page");
    }

    // The sync route is for admins only; an unknown mailbox is 404.
    assert_eq!(ask_sync(&app, &agent, id).await.status(), 403);
    assert_eq!(ask_sync(&app, &admin, 9999).await.status(), 404);
}

/// An app whose settings point S3 at moto.
async fn app_on(backend: Backend, moto: &Moto, runs_mail: bool) -> TestApp {
    let url = moto.url.clone();
    spawn_app_with(backend, move |s| {
        s.s3_region = "us-east-1".into();
        s.s3_endpoint_url = Some(url);
        s.jobs_in_server = runs_mail;
    })
    .await
}

async fn a_sync_request_brings_the_mail_within_seconds(backend: Backend) {
    let moto = Moto::start().await;
    let client = moto.bucket(BUCKET).await;
    let app = app_on(backend, &moto, true).await;
    let admin = app.token(Role::Admin).await;
    // The mailbox names no endpoint of its own: the settings' S3 (moto) is used.
    let mut input = serde_json::to_value(s3_input(&moto)).unwrap();
    input["s3_endpoint_url"] = json!("");
    input["s3_region"] = json!("");
    let created = create_over_api(&app, &admin, &input).await;
    assert_eq!(created.status(), 201);
    let id = created.json::<Value>().await.unwrap()["id"]
        .as_i64()
        .unwrap();
    let path = format!("/api/v1/mailboxes/{id}");
    // Its task's first pass (at start) finds the bucket empty; the next is an hour away.
    eventually("the first pass", Duration::from_secs(20), || async {
        let view: Value = app.api_json(&path, &admin).await;
        view["folders"][0]["last_sync_at"].as_i64().is_some()
    })
    .await;

    put(
        &client,
        &format!("{PREFIX}evt1"),
        &multipart("event@customer.example", "Hello"),
    )
    .await;
    let answer = ask_sync(&app, &admin, id).await;
    assert_eq!(answer.status(), 202);
    let body: Value = answer.json().await.unwrap();
    assert_eq!(
        body,
        json!({"mailbox_id": id, "kind": "s3", "folders": [format!("s3://{BUCKET}/{PREFIX}")]})
    );
    let db = app.db.clone();
    eventually("the mail arrives", Duration::from_secs(5), || {
        let db = db.clone();
        async move { count(&db, "SELECT COUNT(*) FROM emails").await == 1 }
    })
    .await;

    // Several requests at once make passes, never duplicates.
    put(
        &client,
        &format!("{PREFIX}evt2"),
        &multipart("event2@customer.example", "Again"),
    )
    .await;
    let (a, b, c) = tokio::join!(
        ask_sync(&app, &admin, id),
        ask_sync(&app, &admin, id),
        ask_sync(&app, &admin, id)
    );
    assert!([a, b, c].iter().all(|r| r.status() == 202));
    eventually("the second mail arrives", Duration::from_secs(5), || {
        let db = db.clone();
        async move { count(&db, "SELECT COUNT(*) FROM emails").await == 2 }
    })
    .await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(count(&app.db, "SELECT COUNT(*) FROM emails").await, 2);
    assert_eq!(count(&app.db, "SELECT COUNT(*) FROM s3_objects").await, 2);

    // A disabled mailbox is not read on request.
    let disabled = reqwest::Client::new()
        .post(app.url(&format!("/api/v1/mailboxes/{id}/enabled")))
        .bearer_auth(&admin)
        .json(&json!({"enabled": false}))
        .send()
        .await
        .unwrap();
    assert_eq!(disabled.status(), 200);
    assert_eq!(ask_sync(&app, &admin, id).await.status(), 409);

    // An IMAP mailbox that only sends has nothing to read.
    let send_only = create_over_api(
        &app,
        &admin,
        &json!({"name": "Outbound", "address": "out@example.com",
                "smtp_host": "127.0.0.1", "smtp_port": 2525}),
    )
    .await;
    let send_only = send_only.json::<Value>().await.unwrap()["id"]
        .as_i64()
        .unwrap();
    let refused = ask_sync(&app, &admin, send_only).await;
    assert_eq!(refused.status(), 409);
    let error: Value = refused.json().await.unwrap();
    assert!(
        error["error"]["message"]
            .as_str()
            .unwrap()
            .contains("only sends"),
        "{error}"
    );

    // The route is in the API's document.
    let openapi: Value = reqwest::get(app.url("/api/v1/openapi.json"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(
        openapi["paths"]["/api/v1/sources/{id}/sync"]["post"].is_object(),
        "{}",
        openapi["paths"]
    );
}

async fn a_server_that_reads_no_mail_itself_still_reads_s3_on_request(backend: Backend) {
    let moto = Moto::start().await;
    let client = moto.bucket(BUCKET).await;
    // `triage worker` reads the mail; this server only answers requests.
    let app = app_on(backend, &moto, false).await;
    let admin = app.token(Role::Admin).await;
    let mailbox = add_mailbox(&app.db, &s3_input(&moto)).await;
    put(
        &client,
        &format!("{PREFIX}evt1"),
        &multipart("event@customer.example", "Hello"),
    )
    .await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        count(&app.db, "SELECT COUNT(*) FROM emails").await,
        0,
        "nothing reads it on its own"
    );
    assert_eq!(ask_sync(&app, &admin, mailbox.id).await.status(), 202);
    let db = app.db.clone();
    eventually("the mail arrives", Duration::from_secs(5), || {
        let db = db.clone();
        async move { count(&db, "SELECT COUNT(*) FROM emails").await == 1 }
    })
    .await;
}

/// A pass as the runner makes it (recording its outcome, queuing a transform job).
async fn runner_pass(db: &Db, mailbox: &Mailbox, moto: &Moto) -> sync::Pass {
    let settings =
        RunnerSettings::new(MAX_BYTES, Arc::new(|| {})).with_aws(moto.address(), credentials());
    let client = domain::aws::s3(&moto.address(), &credentials()).await;
    runner::read_bucket_once(&client, db, mailbox, &settings)
        .await
        .unwrap()
}

async fn transform_jobs(db: &Db) -> i64 {
    count(db, "SELECT COUNT(*) FROM jobs WHERE kind = 'transform'").await
}

async fn new_mail_queues_one_batch_transform_job(backend: Backend) {
    let moto = Moto::start().await;
    let client = moto.bucket(BUCKET).await;
    // Nothing runs jobs here: the queued job stays queued.
    let app = app_on(backend, &moto, false).await;
    let plain = add_mailbox(
        &app.db,
        &MailboxInput {
            name: "Plain".into(),
            s3_prefix: "plain/".into(),
            ..s3_input(&moto)
        },
    )
    .await;
    let piped = add_mailbox(
        &app.db,
        &MailboxInput {
            transform_after_sync: true,
            ..s3_input(&moto)
        },
    )
    .await;
    put(
        &client,
        "plain/m1",
        &multipart("plain@customer.example", "Plain"),
    )
    .await;
    put(
        &client,
        &format!("{PREFIX}m1"),
        &multipart("m1@customer.example", "One"),
    )
    .await;

    // No model is active yet: the mail is stored, the mailbox says why no job came.
    assert_eq!(runner_pass(&app.db, &plain, &moto).await.tally.created, 1);
    assert_eq!(runner_pass(&app.db, &piped, &moto).await.tally.created, 1);
    assert_eq!(transform_jobs(&app.db).await, 0);
    let view = mailboxes::get(&app.db, piped.id).await.unwrap();
    let said = view.folders[0].last_error.clone().unwrap_or_default();
    assert!(
        said.contains("no Batch Transform job could be queued"),
        "{said}"
    );

    crate::helpers::with_trained_model(&app).await;
    put(
        &client,
        "plain/m2",
        &multipart("plain2@customer.example", "Plain"),
    )
    .await;
    assert_eq!(runner_pass(&app.db, &plain, &moto).await.tally.created, 1);
    assert_eq!(
        transform_jobs(&app.db).await,
        0,
        "not asked by this mailbox"
    );

    put(
        &client,
        &format!("{PREFIX}m2"),
        &multipart("m2@customer.example", "Two"),
    )
    .await;
    assert_eq!(runner_pass(&app.db, &piped, &moto).await.tally.created, 1);
    assert_eq!(transform_jobs(&app.db).await, 1);
    let status: String = sqlx::query_scalar("SELECT status FROM jobs WHERE kind = 'transform'")
        .fetch_one(&app.db.pool)
        .await
        .unwrap();
    assert_eq!(status, "queued");

    // More mail while that job waits: no second job.
    put(
        &client,
        &format!("{PREFIX}m3"),
        &multipart("m3@customer.example", "Three"),
    )
    .await;
    assert_eq!(runner_pass(&app.db, &piped, &moto).await.tally.created, 1);
    // A pass that stores nothing queues nothing either.
    assert_eq!(runner_pass(&app.db, &piped, &moto).await.tally.created, 0);
    assert_eq!(transform_jobs(&app.db).await, 1);

    // Once it is over, new mail queues the next.
    sqlx::query("UPDATE jobs SET status = 'succeeded' WHERE kind = 'transform'")
        .execute(&app.db.pool)
        .await
        .unwrap();
    put(
        &client,
        &format!("{PREFIX}m4"),
        &multipart("m4@customer.example", "Four"),
    )
    .await;
    runner_pass(&app.db, &piped, &moto).await;
    assert_eq!(transform_jobs(&app.db).await, 2);

    // Mail that comes while that job runs (past its export) is not in it, and its
    // arrival queues nothing: the job's end queues the next one for it.
    tokio::time::sleep(Duration::from_millis(5)).await;
    let started = domain::time::now_ms();
    sqlx::query("UPDATE jobs SET status = 'running', started_at = $1 WHERE status = 'queued'")
        .bind(started)
        .execute(&app.db.pool)
        .await
        .unwrap();
    put(
        &client,
        &format!("{PREFIX}m5"),
        &multipart("m5@customer.example", "Five"),
    )
    .await;
    assert_eq!(runner_pass(&app.db, &piped, &moto).await.tally.created, 1);
    assert_eq!(transform_jobs(&app.db).await, 2);
    sqlx::query("UPDATE jobs SET status = 'succeeded' WHERE kind = 'transform'")
        .execute(&app.db.pool)
        .await
        .unwrap();
    let later = domain::time::now_ms() + 1;
    let none = mailboxes::queue_transform_for_mail_since(&app.db, later).await;
    assert_eq!(none.unwrap(), None, "nothing came after that");
    let next = mailboxes::queue_transform_for_mail_since(&app.db, started).await;
    assert!(next.unwrap().is_some(), "m5 gets its job");
    assert_eq!(transform_jobs(&app.db).await, 3);

    // Several processes finding new mail at the same moment queue one job between
    // them, not one each.
    sqlx::query("UPDATE jobs SET status = 'succeeded' WHERE kind = 'transform'")
        .execute(&app.db.pool)
        .await
        .unwrap();
    let asked =
        futures::future::join_all((0..8).map(|_| mailboxes::queue_transform(&app.db))).await;
    let queued = asked
        .into_iter()
        .filter(|q| q.as_ref().unwrap().is_some())
        .count();
    assert_eq!(queued, 1);
    assert_eq!(transform_jobs(&app.db).await, 4);
}

/// The same request for an IMAP mailbox wakes its folder's task, here out of IDLE
/// (which would otherwise wait 25 minutes with nothing new).
async fn an_imap_mailbox_is_read_again_on_request(backend: Backend) {
    let servers = crate::mail_servers::MailServers::start().await;
    let app = spawn_app_with(backend, |_| {}).await;
    let admin = app.token(Role::Admin).await;
    let created = create_over_api(
        &app,
        &admin,
        &json!({"name": "Support", "address": "support@example.com",
                "imap_host": "127.0.0.1", "imap_port": servers.imap_port,
                "imap_security": "none", "imap_user": servers.user,
                "imap_password": servers.password, "poll_seconds": 3600}),
    )
    .await;
    assert_eq!(created.status(), 201);
    let id = created.json::<Value>().await.unwrap()["id"]
        .as_i64()
        .unwrap();
    let path = format!("/api/v1/mailboxes/{id}");
    let last_sync = || async {
        let view: Value = app.api_json(&path, &admin).await;
        view["folders"][0]["last_sync_at"].as_i64()
    };
    eventually("the first pass", Duration::from_secs(20), || async {
        last_sync().await.is_some()
    })
    .await;
    let before = last_sync().await;
    tokio::time::sleep(Duration::from_millis(20)).await;

    let answer = ask_sync(&app, &admin, id).await;
    assert_eq!(answer.status(), 202);
    let body: Value = answer.json().await.unwrap();
    assert_eq!(
        body,
        json!({"mailbox_id": id, "kind": "imap", "folders": ["INBOX"]})
    );
    eventually("a pass on request", Duration::from_secs(5), || async {
        last_sync().await > before
    })
    .await;

    // The folder's task goes on as before: new mail still arrives by IDLE.
    servers.deliver(
        "INBOX",
        b"Message-ID: <after@x>\r\nFrom: a@example.com\r\nSubject: After\r\n\r\nHello\r\n",
    );
    let db = app.db.clone();
    eventually("mail after the request", Duration::from_secs(20), || {
        let db = db.clone();
        async move { count(&db, "SELECT COUNT(*) FROM emails").await == 1 }
    })
    .await;
}

/// More objects than a listing page holds, so many chunks (downloaded and stored
/// several at once), with the same message delivered twice in different chunks: each
/// object is recorded once, each message stored once.
async fn a_bucket_of_many_chunks_is_read_once_with_duplicates_across_chunks(backend: Backend) {
    let moto = Moto::start().await;
    let client = moto.bucket(BUCKET).await;
    let total = s3::PAGE as usize + s3::CHUNK / 2 + 17;
    let mut puts = Vec::new();
    for i in 0..total {
        // Every 25th object past the second chunk repeats a message two chunks back.
        let id = if i % 25 == 24 && i >= 2 * s3::CHUNK {
            i - 2 * s3::CHUNK
        } else {
            i
        };
        let (client, key) = (client.clone(), format!("{PREFIX}{i:05}"));
        let body = multipart(&format!("bulk{id}@customer.example"), &format!("Bulk {id}"));
        puts.push(tokio::spawn(async move { put(&client, &key, &body).await }));
    }
    for put in puts {
        put.await.unwrap();
    }
    let (_database, db) = database(backend).await;
    let mailbox = add_mailbox(&db, &s3_input(&moto)).await;
    let first = pass(&db, &mailbox).await;
    let distinct: i64 = count(&db, "SELECT COUNT(DISTINCT message_id) FROM emails").await;
    assert_eq!(first.tally.created as i64, distinct);
    assert_eq!(first.tally.created + first.tally.duplicates, total);
    assert!(first.tally.duplicates > 0);
    assert_eq!(
        count(&db, "SELECT COUNT(*) FROM s3_objects").await,
        total as i64
    );
    let linked = count(
        &db,
        "SELECT COUNT(*) FROM s3_objects WHERE email_id IS NOT NULL",
    )
    .await;
    assert_eq!(
        linked, total as i64,
        "each object names its email, duplicates too"
    );
    let again = pass(&db, &mailbox).await;
    assert_eq!((again.tally.created, again.tally.duplicates), (0, 0));
    assert_eq!(
        mailboxes::get(&db, mailbox.id).await.unwrap().folders[0].stored,
        distinct
    );
}
