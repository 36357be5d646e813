//! `GET /api/v1/emails/{id}/draft`: a reply drafted by the text-generation endpoint
//! (domain/src/drafts.rs), as the reply panel shows it.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use domain::error::DomainError;
use domain::role::Role;
use domain::wire::Draft;

use super::caller::ApiCaller;
use super::error::ApiError;
use crate::state::AppState;

/// A reply drafted for the email from its text, its category, the category's
/// templates and the replies sent to the most similar past emails. `source` is
/// `retrieval` when the endpoint is Triage's own model server, which has no language
/// model and answers with the reply to the most similar past email.
#[utoipa::path(get, path = "/api/v1/emails/{id}/draft", tag = "emails",
    params(("id" = i64, Path, description = "the email")),
    responses((status = 200, body = Draft),
              (status = 404, body = super::error::ErrorBody,
               description = "no such email (`not_found`), or no text-generation endpoint is configured (`no_generator`)"),
              (status = 502, body = super::error::ErrorBody,
               description = "the endpoint failed: throttled, unavailable, a model error or an unreadable answer (`generation_failed`)"),
              (status = 504, body = super::error::ErrorBody, description = "the endpoint did not answer in time (`generation_timeout`)")),
    security(("bearer" = [])))]
#[tracing::instrument(skip_all, fields(email_id = id))]
pub async fn draft(
    State(state): State<AppState>,
    caller: ApiCaller,
    Path(id): Path<i64>,
) -> Result<Json<Draft>, ApiError> {
    let caller = caller.require(Role::Agent)?;
    let Some(generator) = &state.generator else {
        return Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "no_generator",
            domain::drafts::NOT_CONFIGURED,
        ));
    };
    let agent_name = match caller.actor.user_id() {
        Some(user) => domain::users::find_active(&state.db, user)
            .await?
            .map(|u| u.display_name)
            .unwrap_or_default(),
        None => String::new(),
    };
    match domain::drafts::draft(&state.db, generator, id, &agent_name).await {
        Ok(draft) => Ok(Json(draft)),
        Err(DomainError::Scoring(e)) => {
            let (status, code) = match e {
                domain::error::ScoreError::Timeout { .. } => {
                    (StatusCode::GATEWAY_TIMEOUT, "generation_timeout")
                }
                _ => (StatusCode::BAD_GATEWAY, "generation_failed"),
            };
            Err(ApiError {
                details: serde_json::json!({ "kind": e.kind() }),
                ..ApiError::new(status, code, e.to_string())
            })
        }
        Err(other) => Err(other.into()),
    }
}
