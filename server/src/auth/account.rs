//! `POST /account/password` and `POST /account/sign-out-everywhere`: plain form posts
//! from the account page (app/src/pages/account.rs), like sign-in, so they work with
//! or without JavaScript.

use axum::Form;
use axum::extract::{Extension, State};
use axum::response::{IntoResponse, Redirect, Response};
use domain::accounts::PasswordChangeError;
use domain::audit::Actor;
use domain::error::DomainError;
use domain::wire::CurrentUser;
use secrecy::SecretString;
use serde::Deserialize;
use tower_sessions::Session;

use super::SIGNED_IN_AT_KEY;
use crate::state::AppState;

#[derive(Deserialize)]
pub struct PasswordForm {
    current: SecretString,
    new: SecretString,
    confirm: SecretString,
}

pub async fn change_password(
    State(state): State<AppState>,
    user: Option<Extension<CurrentUser>>,
    session: Session,
    Form(form): Form<PasswordForm>,
) -> Response {
    let Some(Extension(user)) = user else {
        return Redirect::to("/login?next=/account").into_response();
    };
    let changed = domain::accounts::change_own_password(
        &state.db,
        user.id,
        form.current,
        form.new,
        form.confirm,
    )
    .await;
    let error = match changed {
        Ok(at) => {
            // Every other session of this person is over; this one goes on, under a
            // new id.
            let renewed = async {
                session.cycle_id().await?;
                session.insert(SIGNED_IN_AT_KEY, at).await
            };
            if let Err(e) = renewed.await {
                tracing::error!(error = %e, "cannot renew the session");
                return Redirect::to("/login").into_response();
            }
            return Redirect::to("/account?done=changed").into_response();
        }
        Err(PasswordChangeError::WrongPassword) => "wrong",
        Err(PasswordChangeError::Mismatch) => "mismatch",
        Err(PasswordChangeError::Unchanged) => "unchanged",
        Err(PasswordChangeError::Domain(DomainError::Invalid { .. })) => "short",
        Err(PasswordChangeError::Domain(e)) => {
            tracing::error!(error = ?e, "password change failed");
            "unavailable"
        }
    };
    Redirect::to(&format!("/account?error={error}")).into_response()
}

pub async fn sign_out_everywhere(
    State(state): State<AppState>,
    user: Option<Extension<CurrentUser>>,
    session: Session,
) -> Response {
    if let Some(Extension(user)) = user
        && let Err(e) =
            domain::accounts::end_sessions(&state.db, user.id, Actor::User(user.id)).await
    {
        tracing::error!(error = ?e, "cannot end the sessions");
        return Redirect::to("/account?error=unavailable").into_response();
    }
    if let Err(e) = session.flush().await {
        tracing::error!(error = %e, "cannot end the session");
    }
    Redirect::to("/login?error=everywhere").into_response()
}
