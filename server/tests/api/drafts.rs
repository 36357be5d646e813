//! Generated reply drafts: Triage's generator client (the real AWS SDK) against the
//! built-in model server's text-generation route on loopback, healthy, slow and
//! failing; the prompt it sends; and a reply sent from a draft, counted as generated.

use std::sync::Arc;
use std::time::{Duration, Instant};

use domain::model::reply_index::{DraftPrompt, ReplyIndex};
use domain::role::Role;
use domain::settings::Settings;
use serde_json::Value;
use server::model_server::Faults;
use tokio::net::TcpListener;

use crate::helpers::{Backend, TestApp, spawn_app_with, with_trained_model};
use crate::{on_both_backends, on_both_databases};

/// What the model server drafts from.
enum Replies {
    /// The database's past replies.
    FromDatabase,
    /// None at all: every draft request fails with a model error.
    None,
}

/// A Triage whose text-generation endpoint is the built-in model server, trained on
/// the demo data. The server's port is taken before Triage starts (Triage connects
/// its generator at start-up); it serves once the model exists.
async fn app_with_generator(
    backend: Backend,
    faults: Faults,
    replies: Replies,
    change: impl FnOnce(&mut Settings),
) -> TestApp {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let app = spawn_app_with(backend, |s| {
        s.generator_endpoint_name = Some("triage-drafts".into());
        s.generator_endpoint_url = Some(url);
        s.generator_region = "eu-west-1".into();
        s.generator_timeout_ms = 5_000;
        change(s);
    })
    .await;
    with_trained_model(&app).await;
    let served = server::model_server::load(&app.db, None).await.unwrap();
    let replies = match replies {
        Replies::FromDatabase => ReplyIndex::from_db(&app.db).await.unwrap(),
        Replies::None => ReplyIndex::default(),
    };
    tokio::spawn(async move {
        let router =
            server::model_server::router(Arc::new(served.model), Arc::new(replies), faults);
        axum::serve(listener, router).await.unwrap();
    });
    app
}

/// A labelled demo email nobody answered yet, of a category with templates.
async fn unanswered_email(app: &TestApp) -> (i64, String, String) {
    sqlx::query_as(
        "SELECT e.id, e.subject, c.name FROM emails e \
         JOIN categories c ON c.id = e.label_category_id \
         WHERE c.name = 'account_change' \
           AND NOT EXISTS (SELECT 1 FROM replies r WHERE r.email_id = e.id) \
         ORDER BY e.id LIMIT 1",
    )
    .fetch_one(&app.db.pool)
    .await
    .unwrap()
}

/// Asks for the email's draft through the REST API; the status and the JSON answer.
async fn draft_over_api(app: &TestApp, email_id: i64) -> (u16, Value) {
    let token = app.token(Role::Agent).await;
    let response = app
        .api_get(&format!("/api/v1/emails/{email_id}/draft"), &token)
        .await;
    let status = response.status().as_u16();
    (status, response.json().await.unwrap())
}

async fn a_draft_comes_back_through_the_sdk_built_from_the_most_similar_past_reply(
    backend: Backend,
) {
    let app = app_with_generator(backend, Faults::default(), Replies::FromDatabase, |_| {}).await;
    let (id, _, _) = unanswered_email(&app).await;
    let (status, draft) = draft_over_api(&app, id).await;
    assert_eq!(status, 200, "{draft}");
    assert_eq!(draft["source"], "retrieval");
    assert_eq!(draft["endpoint"], "triage-drafts");
    assert!(draft["elapsed_ms"].as_u64().is_some(), "{draft}");
    // The model server has no language model: the draft is a reply staff sent.
    let text = draft["text"].as_str().unwrap();
    let sent: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM replies WHERE body = $1")
        .bind(text)
        .fetch_one(&app.db.pool)
        .await
        .unwrap();
    assert!(sent >= 1, "not a past reply: {text:?}");

    // The reply panel's server function gives the same draft to a signed-in agent.
    app.signed_in_as(Role::Agent).await;
    let response = app
        .client
        .post(app.url("/rpc/draft_reply"))
        .form(&[("email_id", id.to_string())])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let from_panel: Value = response.json().await.unwrap();
    for field in ["text", "source", "endpoint"] {
        assert_eq!(from_panel[field], draft[field], "{from_panel}");
    }
}

async fn the_prompt_carries_the_category_its_templates_similar_replies_and_the_email(app: TestApp) {
    with_trained_model(&app).await;
    let (id, subject, category) = unanswered_email(&app).await;
    let body: String = sqlx::query_scalar("SELECT body_text FROM email_bodies WHERE email_id = $1")
        .bind(id)
        .fetch_one(&app.db.pool)
        .await
        .unwrap();
    let prompt = domain::drafts::prompt_for(&app.db, id, "Alex Agent")
        .await
        .unwrap();
    let category_line = prompt
        .find(&format!("\nCategory: {category}\n"))
        .expect("a Category line");
    // A template of the category, filled for this email and agent.
    let template = prompt
        .find("the change you asked for is done")
        .expect("the category's template");
    assert!(
        !prompt.contains("{{agent_name}}"),
        "placeholders are filled"
    );
    assert!(prompt.contains("Alex Agent"));
    let similar = prompt
        .find("the reply sent to a similar email")
        .expect("a similar past reply");
    let email = prompt
        .find(&format!("\n### Email\nSubject: {subject}\n\n"))
        .expect("the email");
    assert!(category_line < template && template < email && similar < email);
    assert!(prompt.ends_with("\n### Reply\n"), "{prompt}");

    // The model server reads the same email and category back out of it.
    let read = DraftPrompt::parse(&prompt);
    assert_eq!(read.category, Some(category.as_str()));
    assert_eq!(read.subject, subject);
    // Line ends become plain newlines in the prompt.
    assert_eq!(read.body, body.replace("\r\n", "\n").trim());
}

async fn a_slow_endpoint_gives_the_timeout_error_promptly(backend: Backend) {
    let slow = Faults {
        latency: Duration::from_secs(5),
        ..Faults::default()
    };
    let app = app_with_generator(backend, slow, Replies::FromDatabase, |s| {
        s.generator_timeout_ms = 300;
    })
    .await;
    let (id, _, _) = unanswered_email(&app).await;
    let started = Instant::now();
    let (status, answer) = draft_over_api(&app, id).await;
    assert_eq!(status, 504, "{answer}");
    assert_eq!(answer["error"]["code"], "generation_timeout");
    assert_eq!(
        answer["error"]["message"],
        "the endpoint did not answer within 300 ms (1 attempt)"
    );
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "one attempt of 300 ms, not a 5 s wait: {:?}",
        started.elapsed()
    );
}

async fn a_failing_endpoint_is_reported_in_its_own_words(backend: Backend) {
    // The model server answers a draft request with nothing to draft from as a
    // container error; the runtime passes it on as a ModelError.
    let app = app_with_generator(backend, Faults::default(), Replies::None, |_| {}).await;
    let (id, _, _) = unanswered_email(&app).await;
    let (status, answer) = draft_over_api(&app, id).await;
    assert_eq!(status, 502, "{answer}");
    assert_eq!(answer["error"]["code"], "generation_failed");
    assert_eq!(answer["error"]["details"]["kind"], "model_error");
    let message = answer["error"]["message"].as_str().unwrap();
    assert!(
        message.starts_with("the model returned an error (424)")
            && message.contains("there are no past replies to draft from"),
        "{message}"
    );

    // The reply panel hears the same words.
    app.signed_in_as(Role::Agent).await;
    let response = app
        .client
        .post(app.url("/rpc/draft_reply"))
        .form(&[("email_id", id.to_string())])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 503);
    let error: Value = response.json().await.unwrap();
    assert!(
        error["Unavailable"]
            .as_str()
            .is_some_and(|m| m.contains("there are no past replies")),
        "{error}"
    );
}

async fn an_endpoint_that_keeps_throttling_is_tried_again_then_reported(backend: Backend) {
    let throttling = Faults {
        throttle_every: 1,
        ..Faults::default()
    };
    let app = app_with_generator(backend, throttling, Replies::FromDatabase, |s| {
        s.generator_max_attempts = 2;
    })
    .await;
    let (id, _, _) = unanswered_email(&app).await;
    let (status, answer) = draft_over_api(&app, id).await;
    assert_eq!(status, 502, "{answer}");
    assert_eq!(answer["error"]["details"]["kind"], "throttled");
    assert!(
        answer["error"]["message"]
            .as_str()
            .unwrap()
            .starts_with("the endpoint kept throttling requests (2 attempts)"),
        "{answer}"
    );
}

async fn without_a_generator_there_is_no_draft_and_it_says_so(app: TestApp) {
    with_trained_model(&app).await;
    let (id, _, _) = unanswered_email(&app).await;
    let (status, answer) = draft_over_api(&app, id).await;
    assert_eq!(status, 404, "{answer}");
    assert_eq!(answer["error"]["code"], "no_generator");
    assert_eq!(
        answer["error"]["message"],
        "no text-generation endpoint is configured (set generator_endpoint_name)"
    );
    // The panel is told there is no draft to wait for: no error, nothing to show.
    app.signed_in_as(Role::Agent).await;
    let response = app
        .client
        .post(app.url("/rpc/draft_reply"))
        .form(&[("email_id", id.to_string())])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.json::<Value>().await.unwrap(), Value::Null);
    let page: Value = app
        .client
        .post(app.url("/rpc/load_email"))
        .form(&[
            ("id", id.to_string()),
            ("html", "false".into()),
            ("images", "false".into()),
        ])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(page["drafts"], false);
}

async fn a_reply_sent_from_a_draft_counts_as_generated_with_its_edits(backend: Backend) {
    let app = app_with_generator(backend, Faults::default(), Replies::FromDatabase, |_| {}).await;
    let (id, _, _) = unanswered_email(&app).await;
    app.signed_in_as(Role::Agent).await;
    let draft: Value = app
        .client
        .post(app.url("/rpc/draft_reply"))
        .form(&[("email_id", id.to_string())])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let text = draft["text"].as_str().unwrap().to_string();
    // The agent adds a line, then records the reply as sent, as the panel does.
    let edited = format!("{text}\nP.S. Thanks!");
    let response = app
        .client
        .post(app.url("/rpc/send_reply"))
        .form(&[
            ("email_id", id.to_string()),
            ("body", edited.clone()),
            ("suggestion_kind", "generated".into()),
            ("generated_text", text.clone()),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let stored: Value = response.json().await.unwrap();
    assert_eq!(stored["edit_distance"], 13);
    let (kind, distance, length): (String, i64, i64) = sqlx::query_as(
        "SELECT suggestion_kind, edit_distance, suggestion_length FROM replies \
         WHERE email_id = $1",
    )
    .bind(id)
    .fetch_one(&app.db.pool)
    .await
    .unwrap();
    assert_eq!(
        (kind.as_str(), distance, length),
        ("generated", 13, text.chars().count() as i64)
    );
    // Analytics count its use like any other suggestion's.
    let analytics: Value = app
        .api_json("/api/v1/analytics", &app.token(Role::Supervisor).await)
        .await;
    let generated = analytics["suggestions"]["by_kind"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["kind"] == "generated")
        .cloned()
        .unwrap_or_default();
    assert_eq!(generated["replies"], 1, "{analytics}");
    assert_eq!(generated["median_edit_distance"], 13);
}

on_both_backends!(
    a_draft_comes_back_through_the_sdk_built_from_the_most_similar_past_reply,
    a_slow_endpoint_gives_the_timeout_error_promptly,
    a_failing_endpoint_is_reported_in_its_own_words,
    an_endpoint_that_keeps_throttling_is_tried_again_then_reported,
    a_reply_sent_from_a_draft_counts_as_generated_with_its_edits,
);

on_both_databases!(
    the_prompt_carries_the_category_its_templates_similar_replies_and_the_email,
    without_a_generator_there_is_no_draft_and_it_says_so,
);
