//! The REST API under `/api/v1` (PRODUCT.md, "The API at a glance"), documented as
//! OpenAPI at `/api/v1/openapi.json`.

pub mod analytics;
pub mod caller;
pub mod categories;
pub mod drafts;
pub mod emails;
pub mod error;
pub mod ingest;
pub mod jobs;
pub mod json;
pub mod mailboxes;
pub mod models;
pub mod openapi;
pub mod users;

use axum::Router;
use axum::routing::{get, post};

use crate::state::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/openapi.json", get(openapi::serve))
        .route("/analytics", get(analytics::report))
        .route("/analytics/{view}", get(analytics::view_csv))
        .route("/categories", get(categories::list))
        .route("/emails", get(emails::list).post(ingest::create))
        .route("/emails/raw", post(ingest::create_raw))
        .route("/emails/{id}", get(emails::get_one))
        .route("/emails/{id}/labels", post(emails::label))
        .route("/emails/{id}/draft", get(drafts::draft))
        .route(
            "/emails/{id}/replies",
            get(mailboxes::replies).post(mailboxes::reply),
        )
        .route("/outbox/{id}/send-again", post(mailboxes::send_again))
        .route("/mailboxes", get(mailboxes::list).post(mailboxes::create))
        .route(
            "/mailboxes/{id}",
            get(mailboxes::get_one).put(mailboxes::update),
        )
        .route("/mailboxes/{id}/enabled", post(mailboxes::set_enabled))
        .route("/mailboxes/{id}/test", post(mailboxes::test))
        .route("/mailboxes/{id}/unreadable", get(mailboxes::unreadable))
        .route("/sources/{id}/sync", post(mailboxes::sync))
        .route("/labels/{id}/undo", post(emails::undo_label))
        .route("/labels/export", get(emails::export_labels))
        .route("/predictions/export", get(emails::export_predictions))
        .route("/jobs", get(jobs::list).post(jobs::create))
        .route("/jobs/{id}", get(jobs::get_one))
        .route("/jobs/{id}/failures", get(jobs::failures))
        .route("/jobs/{id}/cancel", post(jobs::cancel))
        .route("/jobs/{id}/retry", post(jobs::retry))
        .route("/models", get(models::list))
        .route("/models/rollback", post(models::rollback))
        .route("/models/{id}/promote", post(models::promote))
        .route("/models/{id}/evaluate", post(models::evaluate))
        .route("/users", get(users::list))
        .fallback(|| async { error::ApiError::not_found() })
}
