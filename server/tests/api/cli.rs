//! The `triage` binary itself, run as a user would run it.

use std::io::Write;
use std::process::{Command, Stdio};

use crate::helpers::*;
use crate::on_both_databases;

fn triage(database_url: &str, args: &[&str], stdin: &str) -> std::process::Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_triage"))
        .args(args)
        .env("DATABASE_URL", database_url)
        .env("TRIAGE_LOG", "warn")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("triage runs");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(stdin.as_bytes())
        .unwrap();
    child.wait_with_output().unwrap()
}

async fn user_add_reads_the_password_from_stdin(app: TestApp) {
    let url = app.settings.database_url();
    let out = triage(
        &url,
        &[
            "user",
            "add",
            "Dana",
            "--role",
            "supervisor",
            "--password-stdin",
        ],
        "a long secret phrase\n",
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        location(&app.sign_in("dana", "a long secret phrase").await),
        "/"
    );
    assert_eq!(
        app.get("/analytics").await.status(),
        200,
        "dana is a supervisor"
    );

    let again = triage(
        &url,
        &["user", "add", "dana", "--role", "agent", "--password-stdin"],
        "another long one\n",
    );
    assert!(!again.status.success());
    assert!(String::from_utf8_lossy(&again.stderr).contains("already exists"));
}

async fn token_create_prints_a_token_that_works_once_shown(app: TestApp) {
    let out = triage(
        &app.settings.database_url(),
        &["token", "create", "mail gateway", "--role", "ingest"],
        "",
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let token = String::from_utf8(out.stdout).unwrap().trim().to_string();
    assert!(token.starts_with("trg_"));
    assert_eq!(
        app.api_get("/api/v1/categories", &token).await.status(),
        200
    );
    assert_eq!(app.api_get("/api/v1/emails", &token).await.status(), 403);
}

fn succeeded(out: &std::process::Output) -> String {
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

async fn user_passwd_deactivate_and_list_manage_people(app: TestApp) {
    let url = app.settings.database_url();
    app.add_user("alex", domain::role::Role::Agent, "the first phrase")
        .await;
    assert_eq!(
        location(&app.sign_in("alex", "the first phrase").await),
        "/"
    );
    succeeded(&triage(
        &url,
        &["user", "passwd", "alex", "--password-stdin"],
        "the second phrase\n",
    ));
    // The session from before the change is over; the new password works.
    assert_eq!(app.get("/").await.status(), 303);
    assert!(location(&app.sign_in("alex", "the first phrase").await).contains("invalid"));
    assert_eq!(
        location(&app.sign_in("alex", "the second phrase").await),
        "/"
    );

    let listed = succeeded(&triage(&url, &["user", "list"], ""));
    let row = listed
        .lines()
        .find(|l| l.starts_with("alex "))
        .expect(&listed);
    assert!(row.contains("agent") && row.contains(" yes "), "{row}");

    succeeded(&triage(&url, &["user", "deactivate", "alex"], ""));
    assert_eq!(app.get("/").await.status(), 303, "signed out at once");
    let listed = succeeded(&triage(&url, &["user", "list"], ""));
    let row = listed
        .lines()
        .find(|l| l.starts_with("alex "))
        .expect(&listed);
    assert!(row.contains(" no "), "{row}");

    let unknown = triage(&url, &["user", "deactivate", "nobody"], "");
    assert!(!unknown.status.success());
    assert!(String::from_utf8_lossy(&unknown.stderr).contains("no user named nobody"));
}

/// `triage backup` copies a SQLite database while it is in use; the copy holds every
/// label. PostgreSQL is sent to pg_dump.
async fn backup_copies_the_database_with_every_label(app: TestApp) {
    with_trained_model(&app).await;
    let labels: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM labels")
        .fetch_one(&app.db.pool)
        .await
        .unwrap();
    assert!(labels > 0);
    let dir = std::env::temp_dir().join(format!("triage-backup-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let copy = dir.join(format!("copy-{labels}-{}.db", domain::time::now_ms()));
    let out = triage(
        &app.settings.database_url(),
        &["backup", copy.to_str().unwrap()],
        "",
    );
    if app.db.dialect == domain::db::Dialect::Postgres {
        assert!(!out.status.success());
        assert!(String::from_utf8_lossy(&out.stderr).contains("pg_dump"));
        return;
    }
    succeeded(&out);
    let restored = domain::db::Db::connect(&format!("sqlite://{}", copy.display()), 1)
        .await
        .unwrap();
    let copied: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM labels")
        .fetch_one(&restored.pool)
        .await
        .unwrap();
    assert_eq!(copied, labels);
    // Never over an existing file.
    let again = triage(
        &app.settings.database_url(),
        &["backup", copy.to_str().unwrap()],
        "",
    );
    assert!(!again.status.success());
    assert!(String::from_utf8_lossy(&again.stderr).contains("exists already"));
    let _ = std::fs::remove_dir_all(&dir);
}

async fn token_list_and_revoke(app: TestApp) {
    let url = app.settings.database_url();
    let token = succeeded(&triage(
        &url,
        &["token", "create", "crm sync", "--role", "agent"],
        "",
    ))
    .trim()
    .to_string();
    assert_eq!(app.api_get("/api/v1/emails", &token).await.status(), 200);
    let listed = succeeded(&triage(&url, &["token", "list"], ""));
    let row = listed
        .lines()
        .find(|l| l.contains("crm sync"))
        .expect(&listed);
    assert!(row.ends_with("active"), "{row}");
    assert!(!listed.contains(&token), "the secret is never listed");
    assert!(row.contains(&token[..8]), "its first characters are: {row}");
    let id = row.split_whitespace().next().unwrap();

    succeeded(&triage(&url, &["token", "revoke", id], ""));
    assert_eq!(app.api_get("/api/v1/emails", &token).await.status(), 401);
    let listed = succeeded(&triage(&url, &["token", "list"], ""));
    assert!(
        listed
            .lines()
            .any(|l| l.contains("crm sync") && l.ends_with("revoked"))
    );
}

async fn export_labels_prints_the_dataset_hash_and_rebuilds_the_same_set_with_as_of(app: TestApp) {
    with_trained_model(&app).await;
    let url = app.settings.database_url();
    let export = |extra: &[&str]| {
        let mut args = vec![
            "export",
            "labels",
            "--format",
            "fasttext",
            "--split-at",
            "2000-01-01",
            "--side",
            "test",
        ];
        args.extend_from_slice(extra);
        let out = triage(&url, &args, "");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        (
            String::from_utf8(out.stdout).unwrap(),
            String::from_utf8(out.stderr).unwrap(),
        )
    };
    // Every demo label is after 2000: all on the test side, one fastText line each.
    let (lines, said) = export(&[]);
    let imported: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM labels")
        .fetch_one(&app.db.pool)
        .await
        .unwrap();
    assert_eq!(lines.lines().count() as i64, imported);
    assert!(lines.lines().all(|l| l.starts_with("__label__")));
    let hash = said
        .split("dataset sha256 ")
        .nth(1)
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_string();
    let as_of = said.trim().rsplit(' ').next().unwrap().to_string();
    // One more label changes the set; --as-of gives the first one back, hash and all.
    let email: i64 = sqlx::query_scalar("SELECT MIN(id) FROM emails WHERE label_id IS NULL")
        .fetch_one(&app.db.pool)
        .await
        .unwrap();
    domain::emails::add_imported_label(
        &app.db,
        email,
        domain::categories::find_id(&app.db, "spam")
            .await
            .unwrap()
            .unwrap(),
        domain::time::now_ms(),
    )
    .await
    .unwrap();
    let (_, changed) = export(&[]);
    assert!(!changed.contains(&hash));
    let (again, same) = export(&["--as-of", &as_of]);
    assert_eq!(again, lines);
    assert!(same.contains(&hash), "{same}");
    // A side without a split date is refused with the flag's name.
    let out = triage(&url, &["export", "labels", "--side", "test"], "");
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("side"));
}

on_both_databases!(
    user_add_reads_the_password_from_stdin,
    token_create_prints_a_token_that_works_once_shown,
    user_passwd_deactivate_and_list_manage_people,
    token_list_and_revoke,
    backup_copies_the_database_with_every_label,
    export_labels_prints_the_dataset_hash_and_rebuilds_the_same_set_with_as_of
);

#[test]
fn a_database_that_cannot_be_reached_stops_the_program_loudly() {
    let out = triage("postgres://postgres@127.0.0.1:1/none", &["migrate"], "");
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("cannot connect to the database"));
}

#[test]
fn an_unsupported_database_url_is_named_in_the_error() {
    let out = triage("mysql://root@localhost/triage", &["migrate"], "");
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("must start with sqlite: or postgres://")
    );
}
