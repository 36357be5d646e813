use std::process::Command;

use crate::helpers::*;
use crate::on_both_databases;
use domain::role::Role;
use serde_json::json;

async fn post_json(app: &TestApp, token: &str, body: serde_json::Value) -> reqwest::Response {
    reqwest::Client::new()
        .post(app.url("/api/v1/emails"))
        .bearer_auth(token)
        .json(&body)
        .send()
        .await
        .unwrap()
}

async fn post_raw(
    app: &TestApp,
    token: &str,
    content_type: &str,
    body: Vec<u8>,
) -> reqwest::Response {
    post_body(app, token, "/api/v1/emails/raw", content_type, body).await
}

/// Posts `body` as it is, with a content type of the test's choosing.
async fn post_body(
    app: &TestApp,
    token: &str,
    path: &str,
    content_type: &str,
    body: Vec<u8>,
) -> reqwest::Response {
    reqwest::Client::new()
        .post(app.url(path))
        .bearer_auth(token)
        .header("content-type", content_type)
        .body(body)
        .send()
        .await
        .unwrap()
}

async fn count(app: &TestApp, sql: &str) -> i64 {
    sqlx::query_scalar(sql)
        .fetch_one(&app.db.pool)
        .await
        .unwrap()
}

fn import(app: &TestApp, args: &[&str]) -> (bool, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_triage"))
        .arg("import")
        .args(args)
        .env("DATABASE_URL", app.settings.database_url())
        .env("TRIAGE_LOG", "warn")
        .output()
        .unwrap();
    (
        out.status.success(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

fn fixtures() -> tempdir::Dir {
    tempdir::Dir::new()
}

mod tempdir {
    pub struct Dir(pub std::path::PathBuf);
    impl Dir {
        pub fn new() -> Dir {
            let p = std::env::temp_dir().join(format!("triage-import-{}", rand::random::<u64>()));
            std::fs::create_dir_all(&p).unwrap();
            Dir(p)
        }
        pub fn write(&self, name: &str, bytes: &[u8]) -> String {
            let path = self.0.join(name);
            if let Some(parent) = path.parent() {
                std::fs::create_dir_all(parent).unwrap();
            }
            std::fs::write(&path, bytes).unwrap();
            path.display().to_string()
        }
    }
    impl Drop for Dir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
}

async fn a_json_email_is_stored_once(app: TestApp) {
    let token = app.token(Role::Ingest).await;
    let email = json!({"message_id": "<q-1@shop.example>", "from": "Ann Lee <ann@shop.example>", "subject": "Quote", "body": "Price for 200 boxes?"});
    let first = post_json(&app, &token, email.clone()).await;
    assert_eq!(first.status(), 201);
    let first: serde_json::Value = first.json().await.unwrap();
    assert_eq!(first["results"][0]["status"], "created");
    let again = post_json(&app, &token, email).await;
    assert_eq!(again.status(), 200);
    let again: serde_json::Value = again.json().await.unwrap();
    assert_eq!(again["results"][0]["status"], "duplicate");
    assert_eq!(again["results"][0]["id"], first["results"][0]["id"]);
    assert_eq!(count(&app, "SELECT COUNT(*) FROM emails").await, 1);
}

async fn a_batch_stores_the_good_emails_and_reports_each_bad_one(app: TestApp) {
    domain::categories::ensure(&app.db, "complaint", "", "#e0524f")
        .await
        .unwrap();
    let token = app.token(Role::Ingest).await;
    let response = post_json(&app, &token, json!({"emails": [
        {"message_id": "a@x", "from": "a@x.example", "subject": "ok", "body": "fine", "category": "complaint"},
        {"message_id": "b@x", "from": "b@x.example", "subject": "no body"},
        {"message_id": "c@x", "from": "not an address", "body": "x"},
        {"message_id": "a@x", "from": "a@x.example", "subject": "same again", "body": "fine"},
        {"message_id": "d@x", "from": "d@x.example", "body": "x", "category": "no_such_category"},
        "not an object"
    ]})).await;
    assert_eq!(response.status(), 200);
    let body: serde_json::Value = response.json().await.unwrap();
    let statuses: Vec<&str> = body["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["status"].as_str().unwrap())
        .collect();
    assert_eq!(
        statuses,
        [
            "created",
            "rejected",
            "rejected",
            "duplicate",
            "rejected",
            "rejected"
        ]
    );
    assert_eq!(body["results"][1]["field"], "body");
    assert_eq!(body["results"][2]["field"], "from");
    assert!(
        body["results"][4]["error"]
            .as_str()
            .unwrap()
            .contains("no_such_category")
    );
    assert_eq!(count(&app, "SELECT COUNT(*) FROM emails").await, 1);
    assert_eq!(
        count(
            &app,
            "SELECT COUNT(*) FROM labels WHERE source = 'imported'"
        )
        .await,
        1,
        "the historical label came with it"
    );
}

async fn bad_requests_get_the_right_status(app: TestApp) {
    let token = app.token(Role::Ingest).await;
    let emails = "/api/v1/emails";
    let not_json = post_body(&app, &token, emails, "application/json", b"{nope".to_vec()).await;
    assert_eq!(not_json.status(), 400);
    let wrong_type = post_body(&app, &token, emails, "text/plain", b"{}".to_vec()).await;
    assert_eq!(wrong_type.status(), 415);
    let single_bad = post_json(&app, &token, json!({"from": "a@x.example"})).await;
    assert_eq!(single_bad.status(), 422);
    let body: serde_json::Value = single_bad.json().await.unwrap();
    assert_eq!(body["error"]["details"]["field"], "body");
    let anonymous = reqwest::Client::new()
        .post(app.url("/api/v1/emails"))
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(anonymous.status(), 401);
}

async fn raw_messages_are_parsed_and_kept_whole(app: TestApp) {
    let token = app.token(Role::Ingest).await;
    let raw = b"Message-ID: <r1@x>\r\nFrom: =?UTF-8?Q?J=C3=BCrgen?= <j@x.example>\r\nSubject: Lieferung\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nWo bleibt meine Bestellung?\r\n".to_vec();
    let response = post_raw(&app, &token, "message/rfc822", raw.clone()).await;
    assert_eq!(response.status(), 201);
    let (name, stored): (String, Vec<u8>) = sqlx::query_as(
        "SELECT e.from_name, b.raw FROM emails e JOIN email_bodies b ON b.email_id = e.id",
    )
    .fetch_one(&app.db.pool)
    .await
    .unwrap();
    assert_eq!(name, "Jürgen");
    assert_eq!(stored, raw);
    assert_eq!(
        post_raw(&app, &token, "message/rfc822", raw).await.status(),
        200,
        "a duplicate"
    );
}

async fn bad_raw_messages_are_refused_with_a_reason(app: TestApp) {
    let token = app.token(Role::Ingest).await;
    assert_eq!(
        post_raw(&app, &token, "text/plain", b"From: a@x\r\n\r\nx".to_vec())
            .await
            .status(),
        415
    );
    let empty = post_raw(&app, &token, "message/rfc822", Vec::new()).await;
    assert_eq!(empty.status(), 422);
    let junk = post_raw(
        &app,
        &token,
        "message/rfc822",
        vec![0, 159, 146, 150, 1, 2, 3],
    )
    .await;
    assert_eq!(junk.status(), 422);
    let body: serde_json::Value = junk.json().await.unwrap();
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("not an email")
    );
    let mut huge = b"From: a@x.example\r\nSubject: big\r\n\r\n".to_vec();
    huge.resize(30 * 1024 * 1024, b'a');
    let too_big = post_raw(&app, &token, "message/rfc822", huge).await;
    assert_eq!(too_big.status(), 413);
    assert_eq!(count(&app, "SELECT COUNT(*) FROM emails").await, 0);
}

async fn an_email_and_its_label_are_stored_together_or_not_at_all(app: TestApp) {
    let email = domain::ingest::parse::parse_raw(
        b"From: a@x.example\r\nSubject: s\r\n\r\nb",
        1_700_000_000_000,
        1000,
        "test",
    )
    .unwrap();
    // A label pointing at no category fails inside the transaction...
    assert!(
        domain::ingest::store::store(&app.db, &email, Some(987_654))
            .await
            .is_err()
    );
    // ...and takes the email with it.
    assert_eq!(count(&app, "SELECT COUNT(*) FROM emails").await, 0);
}

async fn import_reads_eml_folders_mbox_and_json_lines_and_a_second_run_changes_nothing(
    app: TestApp,
) {
    let dir = fixtures();
    dir.write(
        "inbox/one.eml",
        b"Message-ID: <e1@x>\r\nFrom: a@x.example\r\nSubject: one\r\n\r\nfirst\r\n",
    );
    dir.write(
        "inbox/two.eml",
        b"Message-ID: <e2@x>\r\nFrom: b@x.example\r\nSubject: two\r\n\r\nsecond\r\n",
    );
    dir.write("inbox/empty.eml", b"");
    dir.write("inbox/junk.eml", &[0, 1, 2, 3, 255]);
    let mbox = dir.write("archive.mbox", b"From a@x Thu Nov  5 10:00:00 2026\nMessage-ID: <m1@x>\nFrom: c@x.example\nSubject: m1\n\nhello\n\nFrom d@x Thu Nov  5 11:00:00 2026\nMessage-ID: <m2@x>\nFrom: d@x.example\nSubject: m2\n\ncut off in the mid");
    let jsonl = dir.write("api.jsonl", b"{\"message_id\": \"j1@x\", \"from\": \"e@x.example\", \"subject\": \"j\", \"body\": \"json\", \"category\": \"feedback\"}\n{\"from\": \"broken\", \"body\": \"x\"}\nnot json at all\n");
    let labels = dir.write(
        "labels.csv",
        b"message_id,category\n<e1@x>,complaint\ne2@x,order_status\n<nowhere@x>,complaint\n",
    );
    let inbox = dir.0.join("inbox").display().to_string();

    let (ok, out) = import(&app, &[&inbox, &mbox, &jsonl, "--labels", &labels]);
    assert!(ok, "{out}");
    assert!(
        out.contains("5 imported, 0 duplicates, 4 rejected"),
        "{out}"
    );
    assert!(out.contains("empty.eml: the message is empty"), "{out}");
    assert!(out.contains("junk.eml: not an email"), "{out}");
    assert!(out.contains("api.jsonl line 2: from:"), "{out}");
    assert!(out.contains("api.jsonl line 3: not JSON"), "{out}");
    assert!(out.contains("labels: 2 attached, 1 rejected"), "{out}");
    assert!(out.contains("no email with Message-ID"), "{out}");
    assert_eq!(count(&app, "SELECT COUNT(*) FROM emails").await, 5);
    assert_eq!(count(&app, "SELECT COUNT(*) FROM labels").await, 3);
    // The run is in the job history as an import, with every rejection and why.
    let jobs = domain::jobs::list(&app.db, 10).await.unwrap();
    let recorded = jobs
        .iter()
        .find(|j| j.kind == domain::wire::JobKind::Import)
        .expect("an import job");
    assert_eq!(
        (recorded.status.as_str(), recorded.done, recorded.failed),
        ("succeeded", 5, 5),
        "{recorded:?}"
    );
    assert!(
        recorded.description.contains("archive.mbox"),
        "{recorded:?}"
    );
    let failures = domain::jobs::failures(&app.db, recorded.id, 100)
        .await
        .unwrap();
    assert!(
        failures
            .iter()
            .any(|f| f.subject.ends_with("api.jsonl line 3") && f.error.starts_with("not JSON")),
        "{failures:?}"
    );
    assert!(failures.iter().all(|f| f.email_id.is_none()));
    let retried = domain::jobs::retry(&app.db, recorded.id, domain::audit::Actor::System).await;
    assert!(
        matches!(retried, Err(domain::error::DomainError::Conflict(_))),
        "{retried:?}"
    );

    let (ok, again) = import(&app, &[&inbox, &mbox, &jsonl, "--labels", &labels]);
    assert!(ok, "{again}");
    assert!(
        again.contains("0 imported, 5 duplicates, 4 rejected"),
        "{again}"
    );
    assert_eq!(count(&app, "SELECT COUNT(*) FROM emails").await, 5);
    assert_eq!(
        count(&app, "SELECT COUNT(*) FROM labels").await,
        3,
        "labels are attached once"
    );
}

async fn strict_categories_reject_labels_nobody_created(app: TestApp) {
    let dir = fixtures();
    let eml = dir.write("a.eml", b"Message-ID: <s1@x>\r\nFrom: a@x.example\r\n\r\nx");
    let labels = dir.write("labels.csv", b"message_id,category\n<s1@x>,brand_new\n");
    let (ok, out) = import(&app, &[&eml, "--labels", &labels, "--strict-categories"]);
    assert!(ok, "{out}");
    assert!(out.contains("unknown category \"brand_new\""), "{out}");
    assert_eq!(count(&app, "SELECT COUNT(*) FROM categories").await, 0);
}

async fn the_same_file_imported_twice_at_once_is_stored_once(app: TestApp) {
    let dir = fixtures();
    let mut mbox = Vec::new();
    for i in 0..200 {
        mbox.extend_from_slice(format!("From x@x Thu Nov  5 10:00:00 2026\nMessage-ID: <c{i}@x>\nFrom: c{i}@x.example\nSubject: n{i}\n\nbody {i}\n\n").as_bytes());
    }
    let path = dir.write("big.mbox", &mbox);
    let (a, b) = std::thread::scope(|s| {
        let a = s.spawn(|| import(&app, &[&path]));
        let b = s.spawn(|| import(&app, &[&path]));
        (a.join().unwrap(), b.join().unwrap())
    });
    assert!(a.0 && b.0, "{}\n{}", a.1, b.1);
    assert_eq!(count(&app, "SELECT COUNT(*) FROM emails").await, 200);
    assert_eq!(
        count(&app, "SELECT COUNT(DISTINCT message_id) FROM emails").await,
        200
    );
}

on_both_databases!(
    a_json_email_is_stored_once,
    a_batch_stores_the_good_emails_and_reports_each_bad_one,
    bad_requests_get_the_right_status,
    raw_messages_are_parsed_and_kept_whole,
    bad_raw_messages_are_refused_with_a_reason,
    an_email_and_its_label_are_stored_together_or_not_at_all,
    import_reads_eml_folders_mbox_and_json_lines_and_a_second_run_changes_nothing,
    strict_categories_reject_labels_nobody_created,
    the_same_file_imported_twice_at_once_is_stored_once
);

/// Sends files to the Import page's upload, as its form does.
async fn upload(app: &TestApp, form: reqwest::multipart::Form) -> reqwest::Response {
    app.client
        .post(app.url("/import/upload"))
        .multipart(form)
        .send()
        .await
        .unwrap()
}

async fn a_supervisor_uploads_files_on_the_import_page_and_sees_the_summary(app: TestApp) {
    app.signed_in_as(Role::Supervisor).await;
    let form = reqwest::multipart::Form::new()
        .part("files", reqwest::multipart::Part::bytes(b"Message-ID: <u1@x>\r\nFrom: a@x.example\r\nSubject: up\r\n\r\nuploaded\r\n".to_vec()).file_name("one.eml"))
        .part("files", reqwest::multipart::Part::bytes(b"From a@x Thu Nov  5 10:00:00 2026\nMessage-ID: <u2@x>\nFrom: b@x.example\n\nmbox one\n\nFrom b@x Thu Nov  5 10:00:00 2026\nnot a header line\n".to_vec()).file_name("box.mbox"));
    let response = upload(&app, form).await;
    assert_eq!(response.status(), 303);
    assert_eq!(location(&response), "/import");
    assert_eq!(count(&app, "SELECT COUNT(*) FROM emails").await, 2);
    let page = app.get("/import").await.text().await.unwrap();
    assert!(
        page.contains("2 imported, 0 duplicates, 1 rejected"),
        "{page}"
    );
    assert!(page.contains("box.mbox message 2: not an email"), "{page}");
}

async fn an_agent_cannot_upload(app: TestApp) {
    app.signed_in_as(Role::Agent).await;
    let form = reqwest::multipart::Form::new().part(
        "files",
        reqwest::multipart::Part::bytes(b"From: a@x.example\r\n\r\nx".to_vec())
            .file_name("one.eml"),
    );
    let response = upload(&app, form).await;
    assert_eq!(response.status(), 403);
    assert_eq!(count(&app, "SELECT COUNT(*) FROM emails").await, 0);
}

async fn an_open_queue_hears_about_new_mail(app: TestApp) {
    app.signed_in_as(Role::Agent).await;
    let mut events = app.get("/events/emails").await;
    assert_eq!(events.status(), 200);
    assert_eq!(events.headers()["content-type"], "text/event-stream");
    let mut seen = String::new();
    let mut posted = false;
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(15);
    while !seen.contains("event: emails") {
        assert!(
            tokio::time::Instant::now() < deadline,
            "no event in time: {seen:?}"
        );
        if let Ok(Ok(Some(chunk))) =
            tokio::time::timeout(std::time::Duration::from_secs(2), events.chunk()).await
        {
            seen.push_str(&String::from_utf8_lossy(&chunk));
        }
        if seen.contains("watching") && !posted {
            let token = app.token(Role::Ingest).await;
            let created = post_json(
                &app,
                &token,
                json!({"from": "new@x.example", "subject": "just in", "body": "hello"}),
            )
            .await;
            assert_eq!(created.status(), 201);
            posted = true;
        }
    }
}

on_both_databases!(
    a_supervisor_uploads_files_on_the_import_page_and_sees_the_summary,
    an_agent_cannot_upload,
    an_open_queue_hears_about_new_mail
);

async fn nul_characters_do_not_stop_an_email_on_either_database(app: TestApp) {
    let token = app.token(Role::Ingest).await;
    let response = post_json(
        &app,
        &token,
        json!({"from": "a@x.example", "subject": "bad\u{0}bytes", "body": "line\u{0}one"}),
    )
    .await;
    assert_eq!(response.status(), 201);
    let subject: String = sqlx::query_scalar("SELECT subject FROM emails")
        .fetch_one(&app.db.pool)
        .await
        .unwrap();
    assert_eq!(subject, "badbytes");
    let mut raw = b"From: a@x.example\r\nSubject: nul\r\n\r\nbody\0with nul\r\n".to_vec();
    raw.extend_from_slice(b"more\r\n");
    assert_eq!(
        post_raw(&app, &token, "message/rfc822", raw.clone())
            .await
            .status(),
        201
    );
    let stored: Vec<u8> = sqlx::query_scalar("SELECT b.raw FROM email_bodies b JOIN emails e ON e.id = b.email_id WHERE e.subject = 'nul'").fetch_one(&app.db.pool).await.unwrap();
    assert_eq!(stored, raw, "the raw message keeps every byte");
}

on_both_databases!(nul_characters_do_not_stop_an_email_on_either_database);

async fn an_import_killed_midway_leaves_no_half_stored_email_and_a_rerun_finishes_it(app: TestApp) {
    let dir = fixtures();
    let mut lines = String::new();
    for i in 0..4000 {
        lines.push_str(&format!("{{\"message_id\": \"k{i}@x\", \"from\": \"c{i}@x.example\", \"subject\": \"s{i}\", \"body\": \"body {i}\", \"category\": \"complaint\"}}\n"));
    }
    let path = dir.write("history.jsonl", lines.as_bytes());
    let mut child = Command::new(env!("CARGO_BIN_EXE_triage"))
        .args(["import", "--quiet", &path])
        .env("DATABASE_URL", app.settings.database_url())
        .env("TRIAGE_LOG", "warn")
        .spawn()
        .unwrap();
    // Kill it as soon as some emails are in, long before it could finish.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        let stored: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM emails")
            .fetch_one(&app.db.pool)
            .await
            .unwrap_or(0);
        if stored > 0 || std::time::Instant::now() > deadline {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
    child.kill().unwrap();
    child.wait().unwrap();
    let emails = count(&app, "SELECT COUNT(*) FROM emails").await;
    let labelled = count(&app, "SELECT COUNT(DISTINCT email_id) FROM labels").await;
    assert!(emails > 0 && emails < 4000, "killed midway: {emails}");
    assert_eq!(
        emails, labelled,
        "every stored email has its label: nothing half-stored"
    );

    let (ok, out) = import(&app, &[&path]);
    assert!(ok, "{out}");
    assert_eq!(count(&app, "SELECT COUNT(*) FROM emails").await, 4000);
    assert_eq!(
        count(&app, "SELECT COUNT(*) FROM labels").await,
        4000,
        "{out}"
    );
}

on_both_databases!(an_import_killed_midway_leaves_no_half_stored_email_and_a_rerun_finishes_it);
