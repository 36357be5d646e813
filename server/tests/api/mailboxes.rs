//! Mailboxes against real servers: Dovecot over IMAP and an SMTP server on loopback
//! (mail_servers.rs). Reading and sending are driven step by step through the domain
//! where a test needs to see each step (a crash, a restart, a server down); one test
//! runs the whole way through the HTTP server and its background runner.

use std::time::{Duration, Instant};

use domain::audit::Actor;
use domain::db::Db;
use domain::mailboxes::{self, Mailbox, outbox, sync};
use domain::replies::ReplyRequest;
use domain::role::Role;
use domain::secrets::SecretBox;
use domain::wire::SuggestionKind;
use domain::wire::mailboxes::{MailboxInput, Security};
use serde_json::{Value, json};

use crate::helpers::{Backend, TEST_SECRET_KEY, TestDatabase, spawn_app_with};
use crate::mail_servers::MailServers;

const MAX_BYTES: usize = 1024 * 1024;

fn secrets() -> SecretBox {
    SecretBox::load(Some(TEST_SECRET_KEY), std::path::Path::new("/nonexistent")).unwrap()
}

async fn database(backend: Backend) -> (TestDatabase, Db) {
    let database = TestDatabase::create(backend).await;
    let db = Db::connect(&database.url, 5).await.unwrap();
    db.migrate().await.unwrap();
    (database, db)
}

fn input(servers: &MailServers, password: &str) -> MailboxInput {
    MailboxInput {
        name: "Support".into(),
        address: "support@example.com".into(),
        imap_host: "127.0.0.1".into(),
        imap_port: servers.imap_port,
        imap_security: Security::None,
        imap_user: servers.user.clone(),
        imap_password: Some(password.into()),
        imap_folders: vec!["INBOX".into()],
        poll_seconds: 5,
        smtp_host: "127.0.0.1".into(),
        smtp_port: servers.smtp_port,
        smtp_security: Security::None,
        smtp_user: "triage".into(),
        smtp_password: Some("smtp-secret".into()),
        ..MailboxInput::default()
    }
}

async fn add_mailbox(db: &Db, servers: &MailServers) -> Mailbox {
    let id = mailboxes::create(
        db,
        &secrets(),
        &input(servers, &servers.password),
        Actor::System,
    )
    .await
    .unwrap();
    mailboxes::load(db, &secrets(), id).await.unwrap()
}

fn message(id: &str, from: &str, subject: &str, body: &str) -> Vec<u8> {
    format!(
        "Message-ID: <{id}>\r\nFrom: Customer <{from}>\r\nTo: support@example.com\r\n\
         Subject: {subject}\r\nDate: Mon, 07 Dec 2026 09:00:00 +0000\r\n\r\n{body}\r\n"
    )
    .into_bytes()
}

/// Reads the folder to the end, as the runner does after each wake-up.
async fn read_all(db: &Db, mailbox: &Mailbox) -> sync::Pass {
    let mut session = mailboxes::imap::connect(mailbox.imap.as_ref().unwrap())
        .await
        .unwrap();
    let mut total = sync::Pass::default();
    loop {
        let pass = sync::pass(&mut session, db, mailbox, "INBOX", MAX_BYTES)
            .await
            .unwrap();
        total.tally.created += pass.tally.created;
        total.tally.duplicates += pass.tally.duplicates;
        total.unreadable += pass.unreadable;
        if !pass.backfill_left {
            return total;
        }
    }
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
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

crate::on_both_backends!(
    mail_is_read_once_and_a_restart_repeats_nothing,
    a_new_uidvalidity_reads_again_without_duplicates,
    a_full_mailbox_is_read_newest_first_in_chunks_and_new_mail_goes_first,
    a_message_over_the_limit_is_kept_as_its_header_with_the_reason,
    stored_mail_is_marked_read_or_moved_when_asked,
    a_mailbox_from_the_configuration_file_is_changed_there_only,
    attachments_and_the_original_are_downloads_never_pages,
    a_reply_leaves_threaded_from_the_mailbox_and_is_sent_once,
    a_refused_recipient_fails_with_the_servers_words_and_can_be_sent_again,
    a_server_that_is_down_is_retried_until_it_answers,
    a_send_cut_short_by_a_crash_is_never_repeated_on_its_own,
    mailboxes_over_the_api_end_to_end,
);

async fn mail_is_read_once_and_a_restart_repeats_nothing(backend: Backend) {
    let servers = MailServers::start().await;
    servers.deliver(
        "INBOX",
        &message("one@x", "a@example.com", "Refund", "Please refund."),
    );
    servers.deliver("INBOX", b"this is not an email at all\r\n");
    servers.deliver(
        "INBOX",
        &message("two@x", "b@example.com", "Quote", "Price for 20?"),
    );
    let (_database, db) = database(backend).await;
    let mailbox = add_mailbox(&db, &servers).await;

    let first = read_all(&db, &mailbox).await;
    assert_eq!((first.tally.created, first.unreadable), (2, 1));
    let stored: Vec<(String, String, Option<i64>)> =
        sqlx::query_as("SELECT message_id, source, mailbox_id FROM emails ORDER BY message_id")
            .fetch_all(&db.pool)
            .await
            .unwrap();
    assert_eq!(
        stored,
        vec![
            ("<one@x>".to_string(), "imap".to_string(), Some(mailbox.id)),
            ("<two@x>".to_string(), "imap".to_string(), Some(mailbox.id)),
        ]
    );
    let unreadable = mailboxes::unreadable(&db, mailbox.id, 10).await.unwrap();
    assert_eq!(unreadable.len(), 1);
    assert!(
        unreadable[0].error.contains("mail header"),
        "{:?}",
        unreadable[0]
    );
    let raw = mailboxes::unreadable_raw(&db, unreadable[0].id)
        .await
        .unwrap();
    assert_eq!(raw, b"this is not an email at all\r\n", "kept whole");

    // A new connection (a restart) reads nothing again.
    let again = read_all(&db, &mailbox).await;
    assert_eq!(
        (
            again.tally.created,
            again.tally.duplicates,
            again.unreadable
        ),
        (0, 0, 0)
    );

    // A crash before the position was written: the same messages are read again,
    // and stored none the more.
    sqlx::query("UPDATE mailbox_folders SET last_uid = 0")
        .execute(&db.pool)
        .await
        .unwrap();
    let repeated = read_all(&db, &mailbox).await;
    assert_eq!((repeated.tally.created, repeated.tally.duplicates), (0, 2));
    assert_eq!(count(&db, "SELECT COUNT(*) FROM emails").await, 2);
    assert_eq!(count(&db, "SELECT COUNT(*) FROM unreadable_mail").await, 1);

    // New mail after that is new.
    servers.deliver(
        "INBOX",
        &message("three@x", "c@example.com", "Order", "Order 4411."),
    );
    assert_eq!(read_all(&db, &mailbox).await.tally.created, 1);
    let status = mailboxes::get(&db, mailbox.id).await.unwrap();
    assert_eq!(status.folders[0].stored, 3);
    assert!(status.folders[0].last_sync_at.is_some());
}

async fn a_new_uidvalidity_reads_again_without_duplicates(backend: Backend) {
    let servers = MailServers::start().await;
    servers.deliver(
        "INBOX",
        &message("one@x", "a@example.com", "Refund", "Please refund."),
    );
    let (_database, db) = database(backend).await;
    let mailbox = add_mailbox(&db, &servers).await;
    assert_eq!(read_all(&db, &mailbox).await.tally.created, 1);
    let before: i64 = count(&db, "SELECT uid_validity FROM mailbox_folders").await;

    servers.reset_uidvalidity("INBOX");
    servers.deliver(
        "INBOX",
        &message("two@x", "b@example.com", "Quote", "Price?"),
    );
    let pass = read_all(&db, &mailbox).await;
    assert_eq!((pass.tally.created, pass.tally.duplicates), (1, 1));
    assert_ne!(
        count(&db, "SELECT uid_validity FROM mailbox_folders").await,
        before
    );
    assert_eq!(count(&db, "SELECT COUNT(*) FROM emails").await, 2);
}

async fn a_full_mailbox_is_read_newest_first_in_chunks_and_new_mail_goes_first(backend: Backend) {
    let servers = MailServers::start().await;
    // More than the first search window (4 chunks), so the window widens too.
    let already = sync::CHUNK * 5 + 7;
    for i in 0..already {
        servers.deliver(
            "INBOX",
            &message(
                &format!("old{i}@x"),
                "a@example.com",
                &format!("Old {i}"),
                "Hello",
            ),
        );
    }
    let (_database, db) = database(backend).await;
    let mailbox = add_mailbox(&db, &servers).await;
    let mut session = mailboxes::imap::connect(mailbox.imap.as_ref().unwrap())
        .await
        .unwrap();

    // The first pass reads one chunk: the newest messages.
    let first = sync::pass(&mut session, &db, &mailbox, "INBOX", MAX_BYTES)
        .await
        .unwrap();
    assert!(first.backfill_left);
    assert_eq!(first.tally.created, sync::CHUNK);
    let newest = format!("<old{}@x>", already - 1);
    let has_newest: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM emails WHERE message_id = $1")
        .bind(&newest)
        .fetch_one(&db.pool)
        .await
        .unwrap();
    assert_eq!(has_newest, 1, "the newest message comes first");
    let progress = &mailboxes::get(&db, mailbox.id).await.unwrap().folders[0];
    assert_eq!(
        (progress.backfill_done, progress.backfill_total),
        (sync::CHUNK as i64, already as i64)
    );

    // Mail that arrives during the read-in is stored at the next pass, before the
    // next chunk of old mail.
    servers.deliver(
        "INBOX",
        &message("fresh@x", "b@example.com", "Urgent", "Now please"),
    );
    let second = sync::pass(&mut session, &db, &mailbox, "INBOX", MAX_BYTES)
        .await
        .unwrap();
    assert_eq!(second.tally.created, sync::CHUNK + 1);
    let fresh: i64 = count(
        &db,
        "SELECT COUNT(*) FROM emails WHERE message_id = '<fresh@x>'",
    )
    .await;
    assert_eq!(fresh, 1);

    let rest = read_all(&db, &mailbox).await;
    assert_eq!(rest.tally.created, already - 2 * sync::CHUNK);
    assert_eq!(
        count(&db, "SELECT COUNT(*) FROM emails").await,
        already as i64 + 1
    );
    let done = &mailboxes::get(&db, mailbox.id).await.unwrap().folders[0];
    assert_eq!(done.backfill_done, done.backfill_total);
}

async fn a_message_over_the_limit_is_kept_as_its_header_with_the_reason(backend: Backend) {
    let servers = MailServers::start().await;
    let big = message(
        "big@x",
        "a@example.com",
        "Huge",
        &"x".repeat(MAX_BYTES + 10),
    );
    servers.deliver("INBOX", &big);
    let (_database, db) = database(backend).await;
    let mailbox = add_mailbox(&db, &servers).await;
    let pass = read_all(&db, &mailbox).await;
    assert_eq!((pass.tally.created, pass.unreadable), (0, 1));
    let kept = &mailboxes::unreadable(&db, mailbox.id, 10).await.unwrap()[0];
    assert!(kept.error.contains("over the limit"), "{}", kept.error);
    let raw = mailboxes::unreadable_raw(&db, kept.id).await.unwrap();
    assert!(
        raw.starts_with(b"Message-ID: <big@x>"),
        "{}",
        String::from_utf8_lossy(&raw)
    );
    assert!(raw.len() < 1000, "only the header");
}

async fn stored_mail_is_marked_read_or_moved_when_asked(backend: Backend) {
    use futures::TryStreamExt;
    let servers = MailServers::start().await;
    servers.create_folder("Done");
    servers.deliver("INBOX", &message("one@x", "a@example.com", "One", "First"));
    let (_database, db) = database(backend).await;
    let mut mailbox = add_mailbox(&db, &servers).await;

    mailbox.after_store = domain::wire::mailboxes::AfterStore::MarkRead;
    assert_eq!(read_all(&db, &mailbox).await.tally.created, 1);
    let mut session = mailboxes::imap::connect(mailbox.imap.as_ref().unwrap())
        .await
        .unwrap();
    session.select("INBOX").await.unwrap();
    let fetched: Vec<_> = session
        .uid_fetch("1:*", "(UID FLAGS)")
        .await
        .unwrap()
        .try_collect()
        .await
        .unwrap();
    let flags: Vec<String> = fetched[0].flags().map(|f| format!("{f:?}")).collect();
    assert!(flags.iter().any(|f| f.contains("Seen")), "{flags:?}");

    mailbox.after_store = domain::wire::mailboxes::AfterStore::Move;
    mailbox.move_to = "Done".into();
    servers.deliver("INBOX", &message("two@x", "b@example.com", "Two", "Second"));
    assert_eq!(read_all(&db, &mailbox).await.tally.created, 1);
    assert_eq!(
        session.select("INBOX").await.unwrap().exists,
        1,
        "the read one stays"
    );
    assert_eq!(
        session.select("Done").await.unwrap().exists,
        1,
        "the new one moved"
    );
}

async fn attachments_and_the_original_are_downloads_never_pages(backend: Backend) {
    let app = spawn_app_with(backend, |_| {}).await;
    let raw = "Message-ID: <files@x>\r\nFrom: a@example.com\r\nSubject: Files\r\n\
        MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n\
        --b\r\nContent-Type: text/plain\r\n\r\nSee attached.\r\n\
        --b\r\nContent-Type: text/html; name=\"r\u{e9}sum\u{e9}.html\"\r\n\
        Content-Disposition: attachment; filename=\"page.html\"\r\n\r\n\
        <script>alert(1)</script>\r\n--b--\r\n";
    let stored = domain::ingest::parse::parse_raw(raw.as_bytes(), 0, MAX_BYTES, "api").unwrap();
    let id = domain::ingest::store::store(&app.db, &stored, None)
        .await
        .unwrap();
    let domain::ingest::Outcome::Created { id, .. } = id else {
        panic!("{id:?}")
    };
    app.signed_in_as(Role::Agent).await;

    let original = app.get(&format!("/emails/{id}/original.eml")).await;
    assert_eq!(original.status(), 200);
    let disposition = original.headers()["content-disposition"]
        .to_str()
        .unwrap()
        .to_string();
    assert!(disposition.starts_with("attachment;"), "{disposition}");
    assert_eq!(original.bytes().await.unwrap(), raw.as_bytes());

    let file = app.get(&format!("/emails/{id}/attachments/0")).await;
    assert_eq!(file.status(), 200);
    assert_eq!(
        file.headers()["content-type"],
        "application/octet-stream",
        "never rendered"
    );
    assert!(
        file.headers()["content-disposition"]
            .to_str()
            .unwrap()
            .contains("page.html")
    );
    assert_eq!(
        file.text().await.unwrap().trim(),
        "<script>alert(1)</script>"
    );
    assert_eq!(
        app.get(&format!("/emails/{id}/attachments/9"))
            .await
            .status(),
        404
    );

    // Unreadable mail is for admins.
    let refused = app.get("/admin/mailboxes/1/unreadable/1").await;
    assert_eq!(refused.status(), 403);
}

/// What "test connection" says of a mailbox's two servers.
async fn connection_test(app: &crate::helpers::TestApp, admin: &str, id: i64) -> Value {
    reqwest::Client::new()
        .post(app.url(&format!("/api/v1/mailboxes/{id}/test")))
        .bearer_auth(admin)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

async fn a_mailbox_from_the_configuration_file_is_changed_there_only(backend: Backend) {
    let servers = MailServers::start().await;
    let config = domain::mailboxes::MailboxConfig {
        input: input(&servers, &servers.password),
    };
    let app = spawn_app_with(backend, |s| s.mailboxes = vec![config]).await;
    let admin = app.token(Role::Admin).await;
    let client = reqwest::Client::new();
    let list: Value = app.api_json("/api/v1/mailboxes", &admin).await;
    assert_eq!(list["items"][0]["from_config"], true);
    let id = list["items"][0]["id"].as_i64().unwrap();
    let change = client
        .put(app.url(&format!("/api/v1/mailboxes/{id}")))
        .bearer_auth(&admin)
        .json(&input(&servers, "x"))
        .send()
        .await
        .unwrap();
    assert_eq!(change.status(), 409);

    // Its connection test passes, and one to a closed port says so in plain words.
    let test = connection_test(&app, &admin, id).await;
    assert_eq!(
        (&test["imap"]["ok"], &test["smtp"]["ok"]),
        (&json!(true), &json!(true)),
        "{test}"
    );
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut nowhere = input(&servers, "x");
    nowhere.name = "Nowhere".into();
    nowhere.imap_port = closed;
    nowhere.smtp_port = closed;
    let nowhere = mailboxes::create(&app.db, &secrets(), &nowhere, Actor::System)
        .await
        .unwrap();
    let test = connection_test(&app, &admin, nowhere).await;
    let said = test["imap"]["message"].as_str().unwrap();
    assert!(
        said.contains("cannot reach") && said.contains("connection refused"),
        "{said}"
    );
    assert_eq!(test["smtp"]["ok"], false);
    assert!(
        test["smtp"]["message"]
            .as_str()
            .unwrap()
            .contains("cannot reach"),
        "{test}"
    );
}

/// One email in from the mailbox, and a reply request to it.
async fn email_and_reply(db: &Db, servers: &MailServers, from: &str) -> (Mailbox, ReplyRequest) {
    let mailbox = add_mailbox(db, servers).await;
    servers.deliver(
        "INBOX",
        &message(
            "question@customer.example",
            from,
            "Where is my order?",
            "Order 4411, please.",
        ),
    );
    assert_eq!(read_all(db, &mailbox).await.tally.created, 1);
    let email_id = count(db, "SELECT id FROM emails").await;
    let request = ReplyRequest {
        email_id,
        user_id: None,
        agent_name: "Alice Agent".into(),
        body: "Your order left today. Ünïcode too.".into(),
        suggestion_kind: SuggestionKind::Unassisted,
        suggestion_ref: None,
        generated_text: None,
    };
    (mailbox, request)
}

fn header<'a>(message: &'a str, name: &str) -> &'a str {
    message
        .lines()
        .find_map(|l| l.strip_prefix(&format!("{name}: ")))
        .unwrap_or_else(|| panic!("no {name} header in {message}"))
}

async fn a_reply_leaves_threaded_from_the_mailbox_and_is_sent_once(backend: Backend) {
    let servers = MailServers::start().await;
    let (_database, db) = database(backend).await;
    let (mailbox, request) = email_and_reply(&db, &servers, "buyer@customer.example").await;

    let (stored, outbox_id) = outbox::send_reply(&db, &secrets(), &request).await.unwrap();
    assert!(stored.edit_distance > 0);
    let status: String = sqlx::query_scalar("SELECT status FROM emails WHERE id = $1")
        .bind(request.email_id)
        .fetch_one(&db.pool)
        .await
        .unwrap();
    assert_eq!(status, "replied", "replied as soon as it is in the outbox");
    assert!(
        servers.delivered_by_smtp().is_empty(),
        "nothing left before the sender ran"
    );

    assert_eq!(outbox::send_due(&db, &secrets()).await.unwrap(), 1);
    assert_eq!(
        outbox::send_due(&db, &secrets()).await.unwrap(),
        0,
        "sent once"
    );
    let delivered = servers.delivered_by_smtp();
    assert_eq!(delivered.len(), 1);
    let sent = String::from_utf8_lossy(&delivered[0]).to_string();
    assert_eq!(header(&sent, "Subject"), "Re: Where is my order?");
    assert_eq!(header(&sent, "In-Reply-To"), "<question@customer.example>");
    assert!(header(&sent, "References").contains("<question@customer.example>"));
    assert_eq!(header(&sent, "X-Envelope-To"), "buyer@customer.example");
    let parsed = mail_parser::MessageParser::default()
        .parse(&delivered[0])
        .unwrap();
    let from = parsed.from().and_then(|f| f.first()).unwrap();
    assert_eq!(from.address(), Some("support@example.com"));
    assert_eq!(
        from.name(),
        Some("Alice Agent (Support)"),
        "the agent, for the mailbox"
    );
    assert_eq!(
        parsed.body_text(0).unwrap().trim(),
        "Your order left today. Ünïcode too."
    );

    let outgoing = outbox::for_email(&db, request.email_id).await.unwrap();
    assert_eq!(outgoing.len(), 1);
    assert_eq!(
        (outgoing[0].id, outgoing[0].status.as_str()),
        (outbox_id, "sent")
    );
    assert_eq!(
        header(&sent, "Message-ID"),
        outgoing[0].message_id,
        "the Message-ID written before sending is the one sent"
    );

    // The sink files the sent reply in the same inbox; reading it back does not make
    // it a new email.
    let pass = read_all(&db, &mailbox).await;
    assert_eq!(pass.tally.created, 0);
    assert_eq!(count(&db, "SELECT COUNT(*) FROM emails").await, 1);
}

async fn a_refused_recipient_fails_with_the_servers_words_and_can_be_sent_again(backend: Backend) {
    let servers = MailServers::start_with(&["gone@customer.example"], &[]).await;
    let (_database, db) = database(backend).await;
    let (_mailbox, request) = email_and_reply(&db, &servers, "gone@customer.example").await;
    let (_, outbox_id) = outbox::send_reply(&db, &secrets(), &request).await.unwrap();

    assert_eq!(outbox::send_due(&db, &secrets()).await.unwrap(), 0);
    let failed = &outbox::for_email(&db, request.email_id).await.unwrap()[0];
    assert_eq!(failed.status.as_str(), "failed", "a 5xx is not retried");
    let error = failed.error.as_deref().unwrap();
    assert!(
        error.contains("550") && error.contains("Recipient address rejected"),
        "{error}"
    );
    assert_eq!(outbox::send_due(&db, &secrets()).await.unwrap(), 0);
    assert!(servers.delivered_by_smtp().is_empty());

    outbox::send_again(&db, outbox_id, Actor::System)
        .await
        .unwrap();
    let queued = &outbox::for_email(&db, request.email_id).await.unwrap()[0];
    assert_eq!(queued.status.as_str(), "queued");
    assert!(
        outbox::send_again(&db, outbox_id, Actor::System)
            .await
            .is_err(),
        "only a failed one"
    );
    outbox::send_due(&db, &secrets()).await.unwrap();
    let again = &outbox::for_email(&db, request.email_id).await.unwrap()[0];
    assert_eq!((again.status.as_str(), again.attempts), ("failed", 1));
}

async fn a_server_that_is_down_is_retried_until_it_answers(backend: Backend) {
    let mut servers = MailServers::start().await;
    let (_database, db) = database(backend).await;
    let (_mailbox, request) = email_and_reply(&db, &servers, "buyer@customer.example").await;
    servers.stop_smtp().await;
    outbox::send_reply(&db, &secrets(), &request).await.unwrap();

    assert_eq!(outbox::send_due(&db, &secrets()).await.unwrap(), 0);
    let waiting = &outbox::for_email(&db, request.email_id).await.unwrap()[0];
    assert_eq!((waiting.status.as_str(), waiting.attempts), ("queued", 1));
    assert!(
        waiting.error.as_deref().unwrap().contains("cannot reach"),
        "{waiting:?}"
    );
    // It waits out its back-off: nothing is tried before then.
    assert_eq!(outbox::send_due(&db, &secrets()).await.unwrap(), 0);
    assert_eq!(
        outbox::for_email(&db, request.email_id).await.unwrap()[0].attempts,
        1
    );

    servers.start_smtp_again().await;
    sqlx::query("UPDATE outbox SET next_attempt_at = 0")
        .execute(&db.pool)
        .await
        .unwrap(); // the back-off has passed
    assert_eq!(outbox::send_due(&db, &secrets()).await.unwrap(), 1);
    let sent = &outbox::for_email(&db, request.email_id).await.unwrap()[0];
    assert_eq!((sent.status.as_str(), sent.attempts), ("sent", 2));
    assert_eq!(servers.delivered_by_smtp().len(), 1);
}

async fn a_send_cut_short_by_a_crash_is_never_repeated_on_its_own(backend: Backend) {
    let servers = MailServers::start().await;
    let (_database, db) = database(backend).await;
    let (_mailbox, request) = email_and_reply(&db, &servers, "buyer@customer.example").await;
    let (_, outbox_id) = outbox::send_reply(&db, &secrets(), &request).await.unwrap();
    // A process claimed it and stopped before it could say how the send went.
    sqlx::query(
        "UPDATE outbox SET status = 'sending', attempts = 1, lease_until = 1 WHERE id = $1",
    )
    .bind(outbox_id)
    .execute(&db.pool)
    .await
    .unwrap();
    assert_eq!(outbox::send_due(&db, &secrets()).await.unwrap(), 0);
    let stopped = &outbox::for_email(&db, request.email_id).await.unwrap()[0];
    assert_eq!(stopped.status.as_str(), "failed");
    assert!(stopped.error.as_deref().unwrap().contains("Sent folder"));
    assert!(servers.delivered_by_smtp().is_empty());
}

/// The whole way: an admin adds the mailbox over the API, the server's runner reads
/// mail as it arrives, an agent replies through the API, the runner sends it.
async fn mailboxes_over_the_api_end_to_end(backend: Backend) {
    let mut servers = MailServers::start().await;
    let app = spawn_app_with(backend, |_| {}).await;
    let admin = app.token(Role::Admin).await;
    let agent = app.token(Role::Agent).await;
    let client = reqwest::Client::new();

    // A wrong password: the error in the server's words, on the page and in /metrics.
    let mut wrong = serde_json::to_value(input(&servers, "not-the-password")).unwrap();
    wrong["smtp_password"] = json!("hunter2-smtp");
    let created = client
        .post(app.url("/api/v1/mailboxes"))
        .bearer_auth(&admin)
        .json(&wrong)
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), 201);
    let view: Value = created.json().await.unwrap();
    let id = view["id"].as_i64().unwrap();
    let shown = view.to_string();
    assert!(!shown.contains("not-the-password") && !shown.contains("hunter2-smtp"));
    assert_eq!(view["imap_password_set"], true);
    let stored: String = sqlx::query_scalar("SELECT imap_password || smtp_password FROM mailboxes")
        .fetch_one(&app.db.pool)
        .await
        .unwrap();
    assert!(!stored.contains("not-the-password") && !stored.contains("hunter2-smtp"));

    let test = connection_test(&app, &admin, id).await;
    assert_eq!(test["imap"]["ok"], false);
    let said = test["imap"]["message"].as_str().unwrap();
    assert!(said.contains("refused the user name or password"), "{said}");
    assert_eq!(test["smtp"]["ok"], true, "{test}");

    let mailbox_path = format!("/api/v1/mailboxes/{id}");
    eventually(
        "the sign-in error shows",
        Duration::from_secs(20),
        || async {
            let view: Value = app.api_json(&mailbox_path, &admin).await;
            view["folders"][0]["last_error"]
                .as_str()
                .is_some_and(|e| e.contains("refused"))
        },
    )
    .await;
    let metrics = client
        .get(app.url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(metrics.contains("triage_mailbox_errors_total"), "{metrics}");

    // The right password (the SMTP one left out stays as it was).
    let mut right = serde_json::to_value(input(&servers, &servers.password)).unwrap();
    right["smtp_password"] = Value::Null;
    let updated = client
        .put(app.url(&mailbox_path))
        .bearer_auth(&admin)
        .json(&right)
        .send()
        .await
        .unwrap();
    assert_eq!(updated.status(), 200);
    let smtp_kept: String = sqlx::query_scalar("SELECT smtp_password FROM mailboxes")
        .fetch_one(&app.db.pool)
        .await
        .unwrap();
    assert_eq!(secrets().open(&smtp_kept).unwrap(), "hunter2-smtp");

    servers.deliver(
        "INBOX",
        &message("live@x", "buyer@customer.example", "Live", "Hello?"),
    );
    let db = app.db.clone();
    eventually("the mail arrives", Duration::from_secs(30), || {
        let db = db.clone();
        async move { count(&db, "SELECT COUNT(*) FROM emails").await == 1 }
    })
    .await;
    let view: Value = app.api_json(&mailbox_path, &admin).await;
    assert!(
        view["folders"][0]["last_error"].is_null(),
        "cleared by a good sync: {view}"
    );

    // The IMAP server goes away: the error shows beside the last good sync, the web
    // server keeps answering, and mail is read again once the server is back.
    servers.stop_imap().await;
    eventually("the outage shows", Duration::from_secs(30), || async {
        let view: Value = app.api_json(&mailbox_path, &admin).await;
        view["folders"][0]["last_error"].as_str().is_some()
            && view["folders"][0]["last_sync_at"].as_i64().is_some()
    })
    .await;
    servers.start_imap_again().await;
    servers.deliver(
        "INBOX",
        &message("after@x", "other@customer.example", "Back", "Hi"),
    );
    eventually(
        "mail after the outage arrives",
        Duration::from_secs(60),
        || {
            let db = db.clone();
            async move { count(&db, "SELECT COUNT(*) FROM emails").await == 2 }
        },
    )
    .await;

    let email_id = count(&app.db, "SELECT MIN(id) FROM emails").await;
    let reply = client
        .post(app.url(&format!("/api/v1/emails/{email_id}/replies")))
        .bearer_auth(&agent)
        .json(&json!({"body": "Hello from Triage"}))
        .send()
        .await
        .unwrap();
    assert_eq!(reply.status(), 201);
    let replies_path = format!("/api/v1/emails/{email_id}/replies");
    eventually("the reply is sent", Duration::from_secs(30), || async {
        let list: Value = app.api_json(&replies_path, &agent).await;
        list["items"][0]["status"] == "sent"
    })
    .await;
    assert_eq!(servers.delivered_by_smtp().len(), 1);

    // Agents cannot see or change mailboxes.
    let refused = client
        .get(app.url("/api/v1/mailboxes"))
        .bearer_auth(&agent)
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 403);
}
