//! The predictions export (issue 32): the API and the command line, with the queue's
//! filters, as JSON Lines and CSV.

use domain::role::Role;

use crate::helpers::*;
use crate::on_both_databases;

async fn predictions_export_with_the_queues_filters(app: TestApp) {
    let trained = with_trained_model(&app).await;
    score_all(&app.db).await.unwrap();
    let supervisor = app.token(Role::Supervisor).await;
    let scored: i64 =
        sqlx::query_scalar("SELECT COUNT(*) FROM emails WHERE prediction_id IS NOT NULL")
            .fetch_one(&app.db.pool)
            .await
            .unwrap();
    assert!(scored > 100);

    // Everything, as JSON Lines: one line per scored email, with what PRODUCT.md names.
    let all = app.api_get("/api/v1/predictions/export", &supervisor).await;
    assert_eq!(all.status(), 200);
    assert!(
        all.headers()["content-disposition"]
            .to_str()
            .unwrap()
            .starts_with("attachment")
    );
    let text = all.text().await.unwrap();
    let lines: Vec<serde_json::Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len() as i64, scored);
    for key in [
        "message_id",
        "category",
        "confidence",
        "model",
        "predicted_at",
    ] {
        assert!(!lines[0][key].is_null(), "{key} in {}", lines[0]);
    }
    assert_eq!(lines[0]["model"], trained.version.as_str());

    // With the queue's filters: only confident predictions of untriaged mail.
    let filtered = app
        .api_get(
            "/api/v1/predictions/export?format=csv&status=new&confidence=high",
            &supervisor,
        )
        .await
        .text()
        .await
        .unwrap();
    let mut rows = csv::Reader::from_reader(filtered.as_bytes());
    let header = rows.headers().unwrap().clone();
    assert_eq!(
        header.iter().collect::<Vec<_>>(),
        [
            "email_id",
            "message_id",
            "category",
            "confidence",
            "model",
            "predicted_at"
        ]
    );
    let rows: Vec<csv::StringRecord> = rows.records().map(Result::unwrap).collect();
    let expected: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM emails WHERE prediction_id IS NOT NULL AND status = 'new' \
         AND confidence >= 0.8",
    )
    .fetch_one(&app.db.pool)
    .await
    .unwrap();
    assert_eq!(rows.len() as i64, expected);
    assert!(
        expected > 0 && expected < scored,
        "a real filter: {expected} of {scored}"
    );
    assert!(rows.iter().all(|r| r[3].parse::<f64>().unwrap() >= 0.8));

    // A wrong filter names its field; agents may not export.
    let wrong = app
        .api_get("/api/v1/predictions/export?confidence=sure", &supervisor)
        .await;
    assert_eq!(wrong.status(), 422);
    let agent = app.token(Role::Agent).await;
    assert_eq!(
        app.api_get("/api/v1/predictions/export", &agent)
            .await
            .status(),
        403
    );

    // The command line writes the same rows.
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_triage"))
        .args([
            "export",
            "predictions",
            "--format",
            "csv",
            "--status",
            "new",
            "--confidence",
            "high",
        ])
        .env("DATABASE_URL", app.settings.database_url())
        .env("TRIAGE_LOG", "warn")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(String::from_utf8(out.stdout).unwrap(), filtered);
}

on_both_databases!(predictions_export_with_the_queues_filters);
