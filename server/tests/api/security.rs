//! Hardening (issue 32): security headers, the sandboxed mail frame, rate limits and
//! body limits, on both databases.

use crate::helpers::*;
use crate::{on_both_backends, on_both_databases};
use domain::role::Role;

/// The part of `policy` for `directive`, e.g. `script-src 'self' 'nonce-…'`.
fn directive<'a>(policy: &'a str, name: &str) -> &'a str {
    policy
        .split(';')
        .map(str::trim)
        .find(|d| d.split_whitespace().next() == Some(name))
        .unwrap_or_default()
}

async fn pages_carry_a_policy_whose_nonce_is_on_their_scripts(app: TestApp) {
    app.signed_in_as(Role::Agent).await;
    let page = app.get("/").await;
    assert_eq!(page.status(), 200);
    let headers = page.headers().clone();
    let policy = headers["content-security-policy"]
        .to_str()
        .unwrap()
        .to_string();
    let html = page.text().await.unwrap();
    let scripts = directive(&policy, "script-src");
    let nonce = scripts
        .split_whitespace()
        .find_map(|s| s.strip_prefix("'nonce-")?.strip_suffix('\''))
        .unwrap_or_else(|| panic!("no nonce in {policy}"));
    assert!(!scripts.contains("unsafe-inline"), "{policy}");
    // Every inline script on the page carries this response's nonce, so the page
    // hydrates under the policy; none can run without it.
    let inline_scripts = html.matches("<script").count();
    assert!(inline_scripts > 0, "the hydration script is inline");
    assert_eq!(
        html.matches(&format!("nonce=\"{nonce}\"")).count(),
        html.matches(" nonce=\"").count(),
        "one nonce on the whole page"
    );
    for script in html.split("<script").skip(1) {
        let tag = script.split('>').next().unwrap_or_default();
        assert!(tag.contains(&format!("nonce=\"{nonce}\"")), "<script{tag}>");
    }
    assert_eq!(
        directive(&policy, "frame-ancestors"),
        "frame-ancestors 'none'"
    );
    assert_eq!(directive(&policy, "object-src"), "object-src 'none'");
    assert_eq!(headers["x-frame-options"], "DENY");
    assert_eq!(headers["x-content-type-options"], "nosniff");
    assert_eq!(headers["referrer-policy"], "same-origin");
    // Not over TLS (the test server): no HSTS, which would lock browsers out.
    assert!(headers.get("strict-transport-security").is_none());
    // Another answer, another nonce.
    let again = app.get("/").await;
    assert_ne!(again.headers()["content-security-policy"], policy.as_str());

    // API answers and static files: no script at all.
    let api = app.get("/api/v1/categories").await;
    assert_eq!(
        directive(
            api.headers()["content-security-policy"].to_str().unwrap(),
            "script-src"
        ),
        "script-src 'none'"
    );
    assert_eq!(api.headers()["x-content-type-options"], "nosniff");
}

async fn hsts_is_sent_once_the_cookie_is_secure(backend: Backend) {
    let app = spawn_app_with(backend, |s| s.cookie_secure = true).await;
    let page = app.get("/login").await;
    assert_eq!(
        page.headers()["strict-transport-security"],
        "max-age=31536000; includeSubDomains"
    );
}

async fn html_mail_is_served_sanitized_in_a_sandboxed_frame(app: TestApp) {
    let token = app.token(Role::Agent).await;
    let created: serde_json::Value = app
        .client
        .post(app.url("/api/v1/emails"))
        .bearer_auth(&token)
        .json(&serde_json::json!({"emails": [{
            "message_id": "<frame@test.example>",
            "from": "news@shop.example",
            "subject": "Newsletter",
            "body": "Plain part",
            "html": "<p>Hello</p><img src=\"https://tracker.example/p.gif\">\
                     <img src=\" //tracker.example/q.gif\"><script>alert(1)</script>"
        }]}))
        .json_answer()
        .await;
    let id = created["results"][0]["id"].as_i64().unwrap();
    let frame_url = format!("/emails/{id}/html");

    // Only for people who may read mail.
    let anonymous = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
        .get(app.url(&frame_url))
        .send()
        .await
        .unwrap();
    assert_eq!(anonymous.status(), 303, "anonymous: sent to sign in");

    app.signed_in_as(Role::Agent).await;
    let frame = app.get(&frame_url).await;
    assert_eq!(frame.status(), 200);
    let policy = frame.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .to_string();
    assert_eq!(directive(&policy, "default-src"), "default-src 'none'");
    assert_eq!(directive(&policy, "img-src"), "img-src data:");
    assert!(
        directive(&policy, "sandbox").starts_with("sandbox"),
        "{policy}"
    );
    assert!(!directive(&policy, "sandbox").contains("allow-scripts"));
    assert!(!directive(&policy, "sandbox").contains("allow-same-origin"));
    assert_eq!(
        directive(&policy, "frame-ancestors"),
        "frame-ancestors 'self'"
    );
    assert_eq!(frame.headers()["x-frame-options"], "SAMEORIGIN");
    let html = frame.text().await.unwrap();
    assert!(html.contains("<p>Hello</p>"), "{html}");
    assert!(
        !html.contains("tracker.example") && !html.contains("alert"),
        "{html}"
    );

    // Asked for, remote images load: the sanitizer keeps the plain one and the frame's
    // policy lets https images through; the protocol-relative one stays out.
    let shown = app.get(&format!("{frame_url}?images=1")).await;
    let policy = shown.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .to_string();
    assert!(directive(&policy, "img-src").contains("https:"), "{policy}");
    let html = shown.text().await.unwrap();
    assert!(html.contains("https://tracker.example/p.gif"));
    assert!(!html.contains("q.gif"));

    // The email page frames it and no longer puts the mail's HTML in the page itself.
    let page = app
        .get(&format!("/emails/{id}?html=1"))
        .await
        .text()
        .await
        .unwrap();
    assert!(
        page.contains(&format!("src=\"/emails/{id}/html\"")),
        "the frame"
    );
    assert!(page.contains("sandbox=\"allow-popups allow-popups-to-escape-sandbox\""));
    assert!(!page.contains("<p>Hello</p>"));

    assert_eq!(app.get("/emails/999999/html").await.status(), 404);
}

async fn an_api_caller_over_its_rate_gets_429_with_retry_after(backend: Backend) {
    let app = spawn_app_with(backend, |s| {
        s.api_requests_per_minute = 60;
        s.api_burst = 3;
    })
    .await;
    let busy = app.token(Role::Agent).await;
    for _ in 0..3 {
        assert_eq!(app.api_get("/api/v1/categories", &busy).await.status(), 200);
    }
    let refused = app.api_get("/api/v1/categories", &busy).await;
    assert_eq!(refused.status(), 429);
    let retry_after: u64 = refused.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=2).contains(&retry_after), "{retry_after}");
    let body: serde_json::Value = refused.json().await.unwrap();
    assert_eq!(body["error"]["code"], "rate_limited");
    // Another token is not slowed down by the first.
    let other = app.token(Role::Agent).await;
    assert_eq!(
        app.api_get("/api/v1/categories", &other).await.status(),
        200
    );
    // After the wait, the first may go on.
    tokio::time::sleep(std::time::Duration::from_secs(retry_after)).await;
    assert_eq!(app.api_get("/api/v1/categories", &busy).await.status(), 200);
}

async fn bodies_over_the_limit_are_refused_on_every_route(backend: Backend) {
    let app = spawn_app_with(backend, |s| s.max_request_bytes = 16 * 1024).await;
    app.signed_in_as(Role::Agent).await;
    let big = "x".repeat(64 * 1024);
    // A server function, an API route and the sign-in form.
    for path in ["/rpc/load_email", "/api/v1/emails/1/labels", "/login"] {
        let answer = app
            .client
            .post(app.url(path))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(big.clone())
            .send()
            .await
            .unwrap();
        assert_eq!(answer.status(), 413, "{path}");
    }
    // Chunked, with no length declared: cut off at the limit all the same.
    let stream =
        futures::stream::iter((0..8).map(|_| Ok::<_, std::io::Error>(vec![b'y'; 8 * 1024])));
    let chunked = app
        .client
        .post(app.url("/api/v1/emails/1/labels"))
        .header("content-type", "application/json")
        .body(reqwest::Body::wrap_stream(stream))
        .send()
        .await
        .unwrap();
    assert_eq!(chunked.status(), 413);
    // Mail itself has its own, larger limit: a 64 KiB email is welcome.
    let token = app.token(Role::Agent).await;
    let mail = app
        .client
        .post(app.url("/api/v1/emails"))
        .bearer_auth(&token)
        .json(&serde_json::json!({"emails": [{
            "message_id": "<long@test.example>", "from": "a@b.example",
            "subject": "Long", "body": big
        }]}))
        .json_answer::<serde_json::Value>()
        .await;
    assert_eq!(mail["results"][0]["status"], "created", "{mail}");
}

/// The `i`-th failed sign-in, for a user name of its own, from a client that claims
/// to be at 203.0.113.`i`: the status it gets.
async fn fail_sign_in_as_another_address(app: &TestApp, i: i64) -> u16 {
    app.client
        .post(app.url("/login"))
        .header("x-forwarded-for", format!("203.0.113.{i}"))
        .form(&[
            ("username", format!("nobody{i}")),
            ("password", "guess".into()),
        ])
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

async fn forwarded_for_counts_only_from_a_trusted_proxy(backend: Backend) {
    // Untrusted: the header is ignored, so one address failing for many user names is
    // stopped (4 x login_max_failures) whatever addresses it claims.
    let app = spawn_app(backend).await;
    let mut refused = None;
    for i in 0..20i64 {
        if fail_sign_in_as_another_address(&app, i).await == 429 {
            refused = Some(i);
            break;
        }
    }
    let limit = app.settings.login_max_failures * 4;
    assert_eq!(refused, Some(limit), "stopped at the address limit");

    // Behind a trusted proxy (loopback here), each forwarded address counts alone.
    let app = spawn_app_with(backend, |s| s.trusted_proxies = "127.0.0.1".into()).await;
    for i in 0..20i64 {
        assert_eq!(
            fail_sign_in_as_another_address(&app, i).await,
            303,
            "attempt {i}"
        );
    }
    let by_address: i64 = sqlx::query_scalar("SELECT COUNT(DISTINCT ip) FROM login_failures")
        .fetch_one(&app.db.pool)
        .await
        .unwrap();
    assert_eq!(by_address, 20);
}

on_both_databases!(
    pages_carry_a_policy_whose_nonce_is_on_their_scripts,
    html_mail_is_served_sanitized_in_a_sandboxed_frame,
);

on_both_backends!(
    hsts_is_sent_once_the_cookie_is_secure,
    an_api_caller_over_its_rate_gets_429_with_retry_after,
    bodies_over_the_limit_are_refused_on_every_route,
    forwarded_for_counts_only_from_a_trusted_proxy,
);

/// Every page keeps its own policy, and the site's files keep theirs, when requests
/// overlap. (leptos_axum's file handler once took the headers of whatever page was
/// rendering on the same thread: under 16 concurrent requests a third of the answers
/// carried the wrong policy, and a page without its nonce does not hydrate.)
async fn policies_stay_with_their_answers_under_concurrent_requests(app: TestApp) {
    app.signed_in_as(Role::Admin).await;
    let paths = [
        "/",
        "/models",
        "/analytics",
        "/jobs",
        "/pkg/triage.css",
        "/admin",
    ];
    let mut requests = Vec::new();
    for round in 0..20 {
        for (i, path) in paths.iter().enumerate() {
            let (client, url, path) = (app.client.clone(), app.url(path), *path);
            requests.push(tokio::spawn(async move {
                let answer = client.get(url).send().await.unwrap();
                let policy = answer.headers()["content-security-policy"]
                    .to_str()
                    .unwrap()
                    .to_string();
                let body = answer.text().await.unwrap();
                (path, policy, body, round * 10 + i)
            }));
        }
    }
    for request in requests {
        let (path, policy, body, _) = request.await.unwrap();
        if path.starts_with("/pkg/") {
            assert_eq!(
                directive(&policy, "script-src"),
                "script-src 'none'",
                "{path}"
            );
        } else {
            let nonce = directive(&policy, "script-src")
                .split_whitespace()
                .find_map(|s| s.strip_prefix("'nonce-")?.strip_suffix('\''))
                .unwrap_or_else(|| panic!("{path} without its nonce: {policy}"))
                .to_string();
            assert!(body.contains(&format!("nonce=\"{nonce}\"")), "{path}");
        }
    }
}

on_both_databases!(policies_stay_with_their_answers_under_concurrent_requests);
