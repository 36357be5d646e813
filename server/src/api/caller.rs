//! Who is calling the API: a bearer token (`Authorization: Bearer trg_…`) or, for the
//! browser, the signed-in user's session.

use axum::extract::FromRequestParts;
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;
use domain::audit::Actor;
use domain::role::Role;
use domain::wire::CurrentUser;

use super::error::ApiError;
use crate::state::AppState;

#[derive(Debug, Clone)]
pub struct ApiCaller {
    pub role: Role,
    pub actor: Actor,
}

impl ApiCaller {
    /// The caller, unless it is over its rate (server/src/limits.rs): then 429.
    fn within_rate(self, state: &AppState) -> Result<ApiCaller, ApiError> {
        match state.api_rate.check(&self.actor) {
            Ok(()) => Ok(self),
            Err(wait) => Err(ApiError::too_many_requests(
                crate::limits::retry_after_seconds(wait),
            )),
        }
    }

    /// The caller, when their role allows `required`; 403 otherwise.
    pub fn require(self, required: Role) -> Result<ApiCaller, ApiError> {
        if self.role.allows(required) {
            Ok(self)
        } else {
            Err(ApiError::forbidden())
        }
    }
}

impl FromRequestParts<AppState> for ApiCaller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        if let Some(value) = parts.headers.get(AUTHORIZATION) {
            let secret = value
                .to_str()
                .ok()
                .and_then(|v| {
                    v.strip_prefix("Bearer ")
                        .or_else(|| v.strip_prefix("bearer "))
                })
                .ok_or_else(ApiError::unauthorized)?;
            let principal = domain::tokens::authenticate(&state.db, secret.trim())
                .await?
                .ok_or_else(ApiError::unauthorized)?;
            return ApiCaller {
                role: principal.role,
                actor: Actor::Token(principal.id),
            }
            .within_rate(state);
        }
        match parts.extensions.get::<CurrentUser>() {
            Some(user) => ApiCaller {
                role: user.role,
                actor: Actor::User(user.id),
            }
            .within_rate(state),
            None => Err(ApiError::unauthorized()),
        }
    }
}
