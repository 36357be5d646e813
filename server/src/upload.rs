//! `POST /import/upload`: the Import page's files (supervisors; the role is checked
//! by the page guard, as for `/import`). The summary goes to the audit log, which the
//! page lists, then the browser is sent back to the page.

use axum::Extension;
use axum::extract::{Multipart, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use domain::audit::{self, Actor};
use domain::ingest::store::UnknownCategories;
use domain::wire::CurrentUser;

use crate::import::{self, ImportOptions};
use crate::state::AppState;

pub async fn upload(
    State(state): State<AppState>,
    Extension(user): Extension<CurrentUser>,
    mut multipart: Multipart,
) -> Response {
    let mut files = Vec::new();
    loop {
        match multipart.next_field().await {
            Ok(Some(field)) => {
                let name = field.file_name().unwrap_or("upload").to_string();
                match field.bytes().await {
                    Ok(bytes) => files.push((name, bytes.to_vec())),
                    Err(e) => {
                        return (
                            StatusCode::PAYLOAD_TOO_LARGE,
                            format!("the upload could not be read: {e}"),
                        )
                            .into_response();
                    }
                }
            }
            Ok(None) => break,
            Err(e) => {
                return (
                    StatusCode::BAD_REQUEST,
                    format!("the upload could not be read: {e}"),
                )
                    .into_response();
            }
        }
    }
    let options = ImportOptions {
        labels: None,
        unknown_categories: UnknownCategories::Reject,
        max_message_bytes: state.settings.max_message_bytes,
        progress: false,
        dry_run: false,
    };
    let report = match import::run_uploads(&state.db, &files, &options, Actor::User(user.id)).await
    {
        Ok(r) => r,
        Err(e) => {
            tracing::error!(error = ?e, "upload import failed");
            return (
                StatusCode::INTERNAL_SERVER_ERROR,
                "the import failed; it has been logged",
            )
                .into_response();
        }
    };
    if report.tally.created > 0 {
        state.scorer.new_mail();
    }
    let details = serde_json::json!({
        "via": "upload",
        "files": files.iter().map(|(n, _)| n.as_str()).collect::<Vec<_>>(),
        "created": report.tally.created,
        "duplicates": report.tally.duplicates,
        "rejected": report.tally.rejected,
        "seconds": report.seconds,
        "rejections": report.rejections.iter().take(50).collect::<Vec<_>>(),
    });
    if let Err(e) = audit::record(
        &state.db,
        Actor::User(user.id),
        "emails.import",
        "email",
        "",
        details,
    )
    .await
    {
        tracing::error!(error = ?e, "could not record the import");
    }
    Redirect::to("/import").into_response()
}
