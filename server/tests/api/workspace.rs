//! The agents' workspace (issue 6): the queue's search, filters and sorts; labels
//! with their audit trail, concurrent labels and undo; suggested and sent replies;
//! bulk actions.

use crate::helpers::JsonAnswer;
use domain::wire::{EmailStatus, HistoryKind, LabelSource, SuggestionKind};
use std::collections::HashSet;

use domain::audit::Actor;
use domain::labels::{self, LabelRequest};
use domain::role::Role;
use serde_json::{Value, json};

use crate::helpers::{TestApp, score_all, with_trained_model};
use crate::on_both_databases;

/// Demo data, a trained model and every email scored.
async fn scored_demo(app: &crate::helpers::TestApp) {
    with_trained_model(app).await;
    score_all(&app.db).await.unwrap();
}

/// The scored demo and two agents, Ann and Bob; their ids.
async fn scored_demo_with_two_agents(app: &crate::helpers::TestApp) -> [i64; 2] {
    scored_demo(app).await;
    let mut ids = [0; 2];
    for (id, name) in ids.iter_mut().zip(["ann", "bob"]) {
        *id = app
            .add_user(name, Role::Agent, "long-enough-password")
            .await;
    }
    ids
}

async fn items(app: &crate::helpers::TestApp, token: &str, query: &str) -> Vec<Value> {
    let response = app.api_get(&format!("/api/v1/emails?{query}"), token).await;
    assert_eq!(response.status(), 200, "{query}");
    let page: Value = response.json().await.unwrap();
    page["items"].as_array().unwrap().clone()
}

/// Every id of a filter, following the cursors.
async fn all_ids(
    app: &crate::helpers::TestApp,
    token: &str,
    query: &str,
) -> Vec<(i64, Option<f64>)> {
    let mut out = Vec::new();
    let mut cursor = String::new();
    loop {
        let page: Value = app
            .api_json(
                &format!("/api/v1/emails?{query}&limit=23&cursor={cursor}"),
                token,
            )
            .await;
        for item in page["items"].as_array().unwrap() {
            out.push((item["id"].as_i64().unwrap(), item["confidence"].as_f64()));
        }
        match page["next_cursor"].as_str() {
            Some(next) => cursor = next.to_string(),
            None => return out,
        }
    }
}

fn request(email_id: i64, category: &str, user: i64, seen: Option<i64>) -> LabelRequest {
    LabelRequest {
        email_id,
        category: category.into(),
        user_id: Some(user),
        token_id: None,
        seen_label_id: seen,
        seconds_spent: Some(4.5),
    }
}

async fn search_finds_words_in_subject_and_body_and_a_typed_prefix(app: TestApp) {
    scored_demo(&app).await;
    let token = app.token(Role::Agent).await;
    let refund = items(&app, &token, "q=refund&limit=200").await;
    assert!(!refund.is_empty());
    for item in &refund {
        let id = item["id"].as_i64().unwrap();
        let email = domain::emails::detail(&app.db, id).await.unwrap();
        let text = format!("{} {}", email.subject, email.body_text).to_lowercase();
        assert!(text.contains("refund"), "email {id} has no 'refund'");
    }
    // The last word is a prefix, as someone typing it.
    let prefix = items(&app, &token, "q=refun&limit=200").await;
    assert!(prefix.len() >= refund.len());
    // Words are all required, whatever punctuation they came with.
    let both = items(&app, &token, "q=refund%20%22zzzunheardof%22&limit=200").await;
    assert!(both.is_empty());
    // Text that looks like query syntax is only words.
    let odd = app
        .api_get("/api/v1/emails?q=%22%20OR%20*%20NEAR(", &token)
        .await;
    assert_eq!(odd.status(), 200);
}

/// A search with a filter, followed page by page through its cursors, yields exactly
/// the emails one plain query over the full-text index selects, newest first (on
/// PostgreSQL a rare word takes the index's matches first; on SQLite a common one
/// walks the filter's order: both must page the same way).
async fn a_search_with_a_filter_pages_exactly_what_it_matches_newest_first(app: TestApp) {
    scored_demo(&app).await;
    let token = app.token(Role::Agent).await;
    let matching = match app.db.dialect {
        domain::db::Dialect::Sqlite => {
            "SELECT id FROM emails WHERE id IN (SELECT rowid FROM emails_fts WHERE emails_fts MATCH $1) \
             AND confidence >= 0.8 ORDER BY received_at DESC, id DESC"
        }
        domain::db::Dialect::Postgres => {
            "SELECT id FROM emails WHERE id IN (SELECT email_id FROM email_search \
               WHERE search @@ to_tsquery('simple', $1)) \
             AND confidence >= 0.8 ORDER BY received_at DESC, id DESC"
        }
    };
    for (word, full_text_query) in [("refund", "refund"), ("order", "order")] {
        let query = match app.db.dialect {
            domain::db::Dialect::Sqlite => format!("\"{full_text_query}\"*"),
            domain::db::Dialect::Postgres => format!("{full_text_query}:*"),
        };
        let expected: Vec<i64> = sqlx::query_scalar(matching)
            .bind(&query)
            .fetch_all(&app.db.pool)
            .await
            .unwrap();
        assert!(
            expected.len() > 23,
            "{word}: more than one page ({})",
            expected.len()
        );
        let paged: Vec<i64> = all_ids(&app, &token, &format!("q={word}&confidence=high"))
            .await
            .into_iter()
            .map(|(id, _)| id)
            .collect();
        assert_eq!(paged, expected, "{word}");
    }
}

async fn the_review_order_pages_every_scored_email_once_least_sure_first(app: TestApp) {
    scored_demo(&app).await;
    let token = app.token(Role::Agent).await;
    let ids = all_ids(&app, &token, "sort=least_confident").await;
    let scored: i64 =
        sqlx::query_scalar("SELECT COUNT(*) FROM emails WHERE confidence IS NOT NULL")
            .fetch_one(&app.db.pool)
            .await
            .unwrap();
    assert_eq!(ids.len() as i64, scored);
    assert_eq!(
        ids.iter().map(|(id, _)| id).collect::<HashSet<_>>().len(),
        ids.len(),
        "an email came twice"
    );
    let confidences: Vec<f64> = ids.iter().map(|(_, c)| c.unwrap()).collect();
    assert!(
        confidences.windows(2).all(|w| w[0] <= w[1]),
        "least sure first"
    );
    // The band filters hold.
    for (_, c) in all_ids(&app, &token, "confidence=low").await {
        assert!(c.unwrap() < 0.5);
    }
    for (_, c) in all_ids(&app, &token, "min_confidence=0.6&max_confidence=0.9").await {
        let c = c.unwrap();
        assert!((0.6..=0.9).contains(&c), "{c}");
    }
}

async fn filters_combine_and_bad_values_name_their_field(app: TestApp) {
    scored_demo(&app).await;
    let token = app.token(Role::Agent).await;
    let category = "complaint";
    for item in items(
        &app,
        &token,
        &format!("category={category}&status=new&limit=200"),
    )
    .await
    {
        assert_eq!(item["status"], "new");
        assert_eq!(
            item["label"]
                .as_str()
                .or(item["predicted_category"].as_str()),
            Some(category)
        );
    }
    let today = chrono::Utc::now().format("%Y-%m-%d").to_string();
    let since_today = items(&app, &token, &format!("from={today}&limit=200")).await;
    let all = items(&app, &token, "limit=200").await;
    assert!(since_today.len() < all.len());
    assert!(items(&app, &token, "assignee=none&limit=5").await.len() == 5);
    for (query, field) in [
        ("sort=sideways", "sort"),
        ("category=nonsense", "category"),
        ("confidence=extreme", "confidence"),
        ("from=yesterday", "from"),
        ("min_confidence=2", "min_confidence"),
        ("assignee=nobody-by-that-name", "assignee"),
        ("sort=least_confident&cursor=1700000000000_x", "cursor"),
    ] {
        let response = app
            .api_get(&format!("/api/v1/emails?{query}"), &token)
            .await;
        assert_eq!(response.status(), 422, "{query}");
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["error"]["details"]["field"], field, "{query}");
    }
}

async fn a_label_records_who_when_what_it_answered_and_the_time_spent(app: TestApp) {
    scored_demo(&app).await;
    let agent = app.signed_in_as(Role::Agent).await;
    let (email_id, predicted, model): (i64, String, String) = sqlx::query_as(
        "SELECT e.id, c.name, p.model_version FROM emails e JOIN predictions p ON p.id = e.prediction_id \
         JOIN categories c ON c.id = e.predicted_category_id WHERE e.label_id IS NULL AND e.status = 'new' LIMIT 1",
    )
    .fetch_one(&app.db.pool).await.unwrap();
    // Through the page's server function, as the browser sends it.
    let response = app
        .client
        .post(app.url("/rpc/label_email"))
        .form(&[
            ("email_id", email_id.to_string()),
            ("category", predicted.clone()),
            ("seconds_spent", "12.5".into()),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let outcome: Value = response.json().await.unwrap();
    assert_eq!(outcome["source"], "accepted");
    assert!(outcome["conflict"].is_null());
    let (user, source, label_model, seconds, prediction_id): (Option<i64>, String, Option<String>, Option<f64>, Option<i64>) =
        sqlx::query_as("SELECT user_id, source, model_version, seconds_spent, prediction_id FROM labels WHERE id = $1")
            .bind(outcome["label_id"].as_i64().unwrap())
            .fetch_one(&app.db.pool).await.unwrap();
    assert_eq!(user, Some(agent));
    assert_eq!(source, "accepted");
    assert_eq!(label_model.as_deref(), Some(model.as_str()));
    assert_eq!(seconds, Some(12.5));
    assert!(prediction_id.is_some());
    let email = domain::emails::detail(&app.db, email_id).await.unwrap();
    assert_eq!(email.status, EmailStatus::Triaged);
    assert_eq!(email.label.unwrap().category, predicted);

    // A different category is a correction, through the REST API too.
    let other = if predicted == "complaint" {
        "feedback_praise"
    } else {
        "complaint"
    };
    let token = app.token(Role::Agent).await;
    let response = reqwest::Client::new()
        .post(app.url(&format!("/api/v1/emails/{email_id}/labels")))
        .bearer_auth(&token)
        .json(&json!({"category": other, "seen_label_id": outcome["label_id"]}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201);
    let second: Value = response.json().await.unwrap();
    assert_eq!(second["source"], "corrected");
    let history = labels::history(&app.db, email_id).await.unwrap();
    let kinds: Vec<HistoryKind> = history.iter().map(|h| h.kind).collect();
    assert_eq!(
        &kinds[..2],
        [
            HistoryKind::Label(LabelSource::Corrected),
            HistoryKind::Label(LabelSource::Accepted)
        ],
        "{kinds:?}"
    );
    assert!(kinds.contains(&HistoryKind::Prediction));
    // Unknown categories and emails are refused with the field or a 404.
    let response = reqwest::Client::new()
        .post(app.url(&format!("/api/v1/emails/{email_id}/labels")))
        .bearer_auth(&token)
        .json(&json!({"category": "no_such"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 422);
    let response = reqwest::Client::new()
        .post(app.url("/api/v1/emails/999999/labels"))
        .bearer_auth(&token)
        .json(&json!({"category": other}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 404);

    // Every label is in the labels export, in each format; an undone one is not.
    let undone = labels::label(&app.db, &request(email_id, &predicted, agent, None))
        .await
        .unwrap();
    labels::undo(&app.db, undone.label_id, agent).await.unwrap();
    let supervisor = app.token(Role::Supervisor).await;
    assert_eq!(
        app.api_get("/api/v1/labels/export", &token).await.status(),
        403,
        "agents do not export"
    );
    let jsonl = app
        .api_get("/api/v1/labels/export?format=jsonl", &supervisor)
        .await
        .text()
        .await
        .unwrap();
    let exported: Vec<Value> = jsonl
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let total: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM labels WHERE undone_at IS NULL")
        .fetch_one(&app.db.pool)
        .await
        .unwrap();
    assert_eq!(exported.len() as i64, total);
    let find = |id: &Value| exported.iter().find(|l| &l["label_id"] == id).cloned();
    let accepted = find(&outcome["label_id"]).expect("the accepted label");
    assert_eq!(
        (accepted["source"].as_str(), accepted["current"].as_bool()),
        (Some("accepted"), Some(false))
    );
    assert_eq!(accepted["seconds_spent"], 12.5);
    assert_eq!(accepted["model_version"], model.as_str());
    let corrected = find(&second["label_id"]).expect("the correction");
    assert_eq!(
        (
            corrected["category"].as_str(),
            corrected["current"].as_bool()
        ),
        (Some(other), Some(true))
    );
    assert!(
        find(&json!(undone.label_id)).is_none(),
        "undone labels are left out"
    );
    let csv = app
        .api_get("/api/v1/labels/export?format=csv", &supervisor)
        .await
        .text()
        .await
        .unwrap();
    let mut reader = csv::Reader::from_reader(csv.as_bytes());
    assert_eq!(
        reader.records().count() as i64,
        total,
        "one CSV record per label, bodies with line breaks included"
    );
    let fasttext = app
        .api_get("/api/v1/labels/export?format=fasttext", &supervisor)
        .await
        .text()
        .await
        .unwrap();
    assert_eq!(fasttext.lines().count() as i64, total);
    assert!(fasttext.lines().all(|l| l.starts_with("__label__")));
    let bad = app
        .api_get("/api/v1/labels/export?format=xml", &supervisor)
        .await;
    assert_eq!(bad.status(), 422);
}

async fn two_people_labelling_one_email_at_once_keep_both_labels_and_the_second_is_told(
    app: TestApp,
) {
    let [ann, bob] = scored_demo_with_two_agents(&app).await;
    let ids: Vec<i64> =
        sqlx::query_scalar("SELECT id FROM emails WHERE label_id IS NULL ORDER BY id LIMIT 12")
            .fetch_all(&app.db.pool)
            .await
            .unwrap();
    for &id in &ids {
        // Both opened the email when it had no label, and decide at the same moment.
        let (db_a, db_b) = (app.db.clone(), app.db.clone());
        let a = tokio::spawn(async move {
            labels::label(&db_a, &request(id, "complaint", ann, None)).await
        });
        let b = tokio::spawn(async move {
            labels::label(&db_b, &request(id, "feedback_praise", bob, None)).await
        });
        let (a, b) = (a.await.unwrap().unwrap(), b.await.unwrap().unwrap());
        // Exactly one of them came second and was told who came first.
        let (first, second) = if a.label_id < b.label_id {
            (&a, &b)
        } else {
            (&b, &a)
        };
        assert!(first.conflict.is_none(), "the first label had no rival yet");
        let conflict = second.conflict.as_ref().expect("the second is told");
        assert_eq!(conflict.category, first.category);
        let count: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM labels WHERE email_id = $1")
            .bind(id)
            .fetch_one(&app.db.pool)
            .await
            .unwrap();
        assert_eq!(count, 2, "the audit trail keeps both");
        let email = domain::emails::detail(&app.db, id).await.unwrap();
        assert_eq!(
            email.label_id,
            Some(second.label_id),
            "the later label is current"
        );
    }
    // Someone who saw the current label is not warned.
    let id = ids[0];
    let current = domain::emails::detail(&app.db, id).await.unwrap().label_id;
    let third = labels::label(&app.db, &request(id, "order_status", ann, current))
        .await
        .unwrap();
    assert!(third.conflict.is_none());
}

async fn undo_restores_the_label_before_only_for_its_author_and_only_for_a_while(app: TestApp) {
    let [ann, bob] = scored_demo_with_two_agents(&app).await;
    let id: i64 = sqlx::query_scalar(
        "SELECT id FROM emails WHERE label_id IS NULL AND status = 'new' LIMIT 1",
    )
    .fetch_one(&app.db.pool)
    .await
    .unwrap();
    let first = labels::label(&app.db, &request(id, "complaint", ann, None))
        .await
        .unwrap();
    let second = labels::label(
        &app.db,
        &request(id, "feedback_praise", ann, Some(first.label_id)),
    )
    .await
    .unwrap();
    // Only its author may undo it.
    assert!(matches!(
        labels::undo(&app.db, second.label_id, bob).await,
        Err(domain::error::DomainError::Conflict(_))
    ));
    labels::undo(&app.db, second.label_id, ann).await.unwrap();
    let email = domain::emails::detail(&app.db, id).await.unwrap();
    assert_eq!(email.label_id, Some(first.label_id));
    assert_eq!(email.label.unwrap().category, "complaint");
    assert!(
        labels::undo(&app.db, second.label_id, ann).await.is_err(),
        "undone once only"
    );
    // The trail keeps the undone label, marked.
    let history = labels::history(&app.db, id).await.unwrap();
    assert!(
        history
            .iter()
            .any(|h| h.undone && h.category == "feedback_praise")
    );
    // Undoing the last one puts the email back in the queue as new.
    labels::undo(&app.db, first.label_id, ann).await.unwrap();
    let email = domain::emails::detail(&app.db, id).await.unwrap();
    assert_eq!((email.label_id, email.status.as_str()), (None, "new"));
    // Too late: a label older than the undo window stays.
    let late = labels::label(&app.db, &request(id, "complaint", ann, None))
        .await
        .unwrap();
    sqlx::query("UPDATE labels SET created_at = created_at - $1 WHERE id = $2")
        .bind(labels::UNDO_WINDOW_MS + 1)
        .bind(late.label_id)
        .execute(&app.db.pool)
        .await
        .unwrap();
    let refused = labels::undo(&app.db, late.label_id, ann).await;
    assert!(
        matches!(refused, Err(domain::error::DomainError::Conflict(m)) if m.contains("too late"))
    );
}

async fn suggested_replies_fill_templates_and_reuse_what_was_sent_to_similar_mail(app: TestApp) {
    scored_demo(&app).await;
    let agent = app
        .add_user("robin", Role::Agent, "long-enough-password")
        .await;
    let template = domain::replies::save_template(
        &app.db,
        &domain::replies::TemplateInput {
            id: None,
            category: "complaint".into(),
            name: "Apology".into(),
            body: "Dear {{customer_first_name}},\nsorry about \"{{subject}}\".\n{{agent_name}}"
                .into(),
        },
        Actor::User(agent),
    )
    .await
    .unwrap();
    let (id, subject, from_name): (i64, String, String) = sqlx::query_as(
        "SELECT e.id, e.subject, e.from_name FROM emails e JOIN categories c ON c.id = e.predicted_category_id \
         WHERE c.name = 'complaint' AND e.from_name <> '' \
         AND e.subject NOT LIKE 'Re:%' AND e.subject NOT LIKE 'Fw%' ORDER BY e.id LIMIT 1",
    ).fetch_one(&app.db.pool).await.unwrap();
    let suggestions = domain::replies::suggestions(&app.db, id, Some("complaint"), "Alex")
        .await
        .unwrap();
    let first = suggestions
        .iter()
        .find(|s| s.kind == SuggestionKind::Template && s.reference == Some(template))
        .expect("the template");
    // The demo's own templates for other categories are not offered.
    assert!(
        suggestions
            .iter()
            .all(|s| s.kind != SuggestionKind::Template || !s.title.contains("Order on its way"))
    );
    let first_name = from_name.split_whitespace().next().unwrap();
    assert_eq!(
        first.body,
        format!("Dear {first_name},\nsorry about \"{subject}\".\nAlex")
    );

    // The agent edits it a little and marks the email replied.
    let sent = format!("{}\nKind regards", first.body);
    let stored = domain::replies::record(
        &app.db,
        &domain::replies::ReplyRequest {
            email_id: id,
            user_id: Some(agent),
            agent_name: "Alex".into(),
            body: sent.clone(),
            suggestion_kind: SuggestionKind::Template,
            suggestion_ref: Some(template),
            generated_text: None,
        },
    )
    .await
    .unwrap();
    assert_eq!(
        stored.edit_distance,
        "\nKind regards".chars().count() as i64
    );
    assert_eq!(
        domain::emails::detail(&app.db, id).await.unwrap().status,
        EmailStatus::Replied
    );

    // The next customer who writes the same gets that reply as a suggestion.
    let original = domain::emails::detail(&app.db, id).await.unwrap();
    let twin = domain::emails::insert(
        &app.db,
        &domain::emails::NewEmail {
            message_id: "<twin@example.com>".into(),
            thread_key: "<twin@example.com>".into(),
            from_address: "someone.else@example.com".into(),
            subject: original.subject.clone(),
            body_text: original.body_text.clone(),
            source: "test".into(),
            received_at: domain::time::now_ms(),
            ..Default::default()
        },
    )
    .await
    .unwrap()
    .id();
    let suggestions = domain::replies::suggestions(&app.db, twin, Some("complaint"), "Alex")
        .await
        .unwrap();
    let similar = suggestions
        .iter()
        .find(|s| s.kind == SuggestionKind::Similar)
        .expect("a similar email's reply");
    assert_eq!(similar.body, sent);
    // A reply needs text, and a template suggestion needs its template.
    let empty = domain::replies::record(
        &app.db,
        &domain::replies::ReplyRequest {
            email_id: id,
            user_id: Some(agent),
            agent_name: "Alex".into(),
            body: "  ".into(),
            suggestion_kind: SuggestionKind::Unassisted,
            suggestion_ref: None,
            generated_text: None,
        },
    )
    .await;
    assert!(
        matches!(empty, Err(domain::error::DomainError::Invalid { field, .. }) if field == "body")
    );
}

async fn a_bulk_accept_on_a_filter_labels_every_unlabelled_email_it_selects_once(app: TestApp) {
    scored_demo(&app).await;
    let agent = app.signed_in_as(Role::Agent).await;
    let query = json!({"status": "new", "category": "order_status"});
    let count: i64 = app
        .client
        .post(app.url("/rpc/bulk_count"))
        .json(&json!({"query": query}))
        .json_answer()
        .await;
    assert!(count > 0);
    let unlabelled: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM emails e JOIN categories c ON c.id = e.predicted_category_id \
         WHERE e.status = 'new' AND c.name = 'order_status' AND e.label_id IS NULL",
    )
    .fetch_one(&app.db.pool)
    .await
    .unwrap();
    let response = app.client.post(app.url("/rpc/bulk_apply"))
        .json(&json!({"query": query, "ids": [], "action": "accept", "category": null, "assignee": null}))
        .send().await.unwrap();
    assert_eq!(response.status(), 200);
    let message: String = response.json().await.unwrap();
    assert_eq!(message, format!("{unlabelled} emails accepted."));
    let labelled: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM labels WHERE user_id = $1 AND source = 'accepted'",
    )
    .bind(agent)
    .fetch_one(&app.db.pool)
    .await
    .unwrap();
    assert_eq!(labelled, unlabelled);
    let left: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM emails e JOIN categories c ON c.id = e.predicted_category_id \
         WHERE e.status = 'new' AND c.name = 'order_status'",
    )
    .fetch_one(&app.db.pool)
    .await
    .unwrap();
    assert_eq!(left, count - unlabelled, "accepted emails are triaged");
    assert_eq!(
        domain::audit::recent_actions(&app.db, 1).await.unwrap(),
        ["bulk.accept"]
    );

    // Assign and archive a selection.
    let ids: Vec<i64> = sqlx::query_scalar("SELECT id FROM emails ORDER BY id LIMIT 3")
        .fetch_all(&app.db.pool)
        .await
        .unwrap();
    let message: String = app.client.post(app.url("/rpc/bulk_apply"))
        .json(&json!({"query": {}, "ids": ids, "action": "assign", "category": null, "assignee": agent}))
        .json_answer().await;
    assert_eq!(message, "3 emails assigned.");
    let token = app.token(Role::Agent).await;
    let mine = items(
        &app,
        &token,
        &format!(
            "assignee={}",
            domain::users::list(&app.db)
                .await
                .unwrap()
                .iter()
                .find(|u| u.id == agent)
                .unwrap()
                .username
        ),
    )
    .await;
    assert_eq!(mine.len(), 3);
    let message: String = app.client.post(app.url("/rpc/bulk_apply"))
        .json(&json!({"query": {}, "ids": ids, "action": "archive", "category": null, "assignee": null}))
        .json_answer().await;
    assert_eq!(message, "3 emails archived.");
}

on_both_databases!(
    search_finds_words_in_subject_and_body_and_a_typed_prefix,
    a_search_with_a_filter_pages_exactly_what_it_matches_newest_first,
    the_review_order_pages_every_scored_email_once_least_sure_first,
    filters_combine_and_bad_values_name_their_field,
    a_label_records_who_when_what_it_answered_and_the_time_spent,
    two_people_labelling_one_email_at_once_keep_both_labels_and_the_second_is_told,
    undo_restores_the_label_before_only_for_its_author_and_only_for_a_while,
    suggested_replies_fill_templates_and_reuse_what_was_sent_to_similar_mail,
    a_bulk_accept_on_a_filter_labels_every_unlabelled_email_it_selects_once
);

async fn a_label_without_time_spent_then_one_with_it_on_the_same_connection(app: TestApp) {
    // sqlx's Any driver once prepared a NULL double as a PostgreSQL `real`, and
    // the next label with seconds on that connection failed. One connection
    // makes the order certain.
    scored_demo(&app).await;
    let agent = app
        .add_user("agnes", Role::Agent, "correct horse battery")
        .await;
    let one = domain::db::Db::connect(&app.settings.database_url(), 1)
        .await
        .unwrap();
    let emails: Vec<(i64, String)> = sqlx::query_as(
        "SELECT e.id, c.name FROM emails e JOIN categories c ON c.id = e.predicted_category_id \
         WHERE e.label_id IS NULL ORDER BY e.id LIMIT 3",
    )
    .fetch_all(&one.pool)
    .await
    .unwrap();
    for ((email, category), seconds) in emails.iter().zip([None, Some(4.5), None]) {
        let req = LabelRequest {
            seconds_spent: seconds,
            ..request(*email, category, agent, None)
        };
        labels::label(&one, &req).await.unwrap();
    }
    let stored: Vec<Option<f64>> =
        sqlx::query_scalar("SELECT seconds_spent FROM labels WHERE user_id = $1 ORDER BY id")
            .bind(agent)
            .fetch_all(&one.pool)
            .await
            .unwrap();
    assert_eq!(stored, vec![None, Some(4.5), None]);
    // The same for an auto-accept threshold taken away and set again.
    domain::auto_accept::set_threshold(&one, "spam", None, Actor::System)
        .await
        .unwrap();
    domain::auto_accept::set_threshold(&one, "spam", Some(0.97), Actor::System)
        .await
        .unwrap();
    let threshold: Option<f64> =
        sqlx::query_scalar("SELECT auto_accept_threshold FROM categories WHERE name = 'spam'")
            .fetch_one(&one.pool)
            .await
            .unwrap();
    assert_eq!(threshold, Some(0.97));
}

on_both_databases!(a_label_without_time_spent_then_one_with_it_on_the_same_connection);
