//! Who is signed in, for pages and server functions.
//!
//! The server resolves the session into a `CurrentUser` once per request (before any
//! page or server function runs) and puts it in the request's extensions; this module
//! only reads it from there.

use domain::wire::CurrentUser;
use leptos::prelude::*;

#[cfg(feature = "ssr")]
pub use server_side::*;

/// The signed-in user, for the layout and navigation.
#[server(prefix = "/rpc", endpoint = "me")]
pub async fn signed_in_user() -> Result<Option<CurrentUser>, ServerFnError> {
    Ok(request_user())
}

#[cfg(feature = "ssr")]
mod server_side {
    use domain::role::Role;
    use domain::wire::CurrentUser;
    use leptos::prelude::*;

    pub fn request_user() -> Option<CurrentUser> {
        use_context::<http::request::Parts>()
            .and_then(|parts| parts.extensions.get::<CurrentUser>().cloned())
    }

    /// The signed-in user when their role allows `required`; otherwise the response
    /// becomes 401 (nobody signed in) or 403 (not allowed) and the call fails.
    pub fn require_role(required: Role) -> Result<CurrentUser, ServerFnError> {
        let refuse = |status: http::StatusCode, message: &str| {
            if let Some(response) = use_context::<leptos_axum::ResponseOptions>() {
                response.set_status(status);
            }
            Err(ServerFnError::ServerError(message.to_string()))
        };
        match request_user() {
            None => refuse(http::StatusCode::UNAUTHORIZED, "sign in first"),
            Some(user) if !user.role.allows(required) => {
                refuse(http::StatusCode::FORBIDDEN, "your role does not allow this")
            }
            Some(user) => Ok(user),
        }
    }

    /// The database pool, provided to every page and server function at start-up.
    pub fn db() -> Result<domain::db::Db, ServerFnError> {
        use_context::<domain::db::Db>()
            .ok_or_else(|| ServerFnError::ServerError("database not available".into()))
    }

    /// Logs a domain error and returns what the browser may see: never SQL text.
    pub fn internal(err: domain::error::DomainError) -> ServerFnError {
        match err {
            domain::error::DomainError::Invalid { .. }
            | domain::error::DomainError::Conflict(_)
            | domain::error::DomainError::Scoring(_)
            | domain::error::DomainError::NotFound => ServerFnError::ServerError(err.to_string()),
            other => {
                tracing::error!(error = ?other, "server function failed");
                ServerFnError::ServerError("something went wrong; it has been logged".into())
            }
        }
    }
}
