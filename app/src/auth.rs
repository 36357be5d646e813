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
pub async fn signed_in_user() -> Result<Option<CurrentUser>, crate::error::AppError> {
    Ok(request_user())
}

#[cfg(feature = "ssr")]
mod server_side {
    use domain::role::Role;
    use domain::wire::CurrentUser;
    use leptos::prelude::*;

    use crate::error::AppError;

    pub fn request_user() -> Option<CurrentUser> {
        use_context::<http::request::Parts>()
            .and_then(|parts| parts.extensions.get::<CurrentUser>().cloned())
    }

    /// The preamble of every server function: the signed-in user when their role
    /// allows `required`, and the database. Otherwise the call fails with
    /// `SignedOut` (401) or `NotAllowed` (403), and the response says so.
    pub fn guard(required: Role) -> Result<(CurrentUser, domain::db::Db), AppError> {
        let user = match request_user() {
            None => return Err(AppError::SignedOut.refuse()),
            Some(user) if !user.role.allows(required) => {
                return Err(AppError::NotAllowed.refuse());
            }
            Some(user) => user,
        };
        let db = use_context::<domain::db::Db>().ok_or_else(|| {
            tracing::error!("server function without a database in its context");
            AppError::Internal.refuse()
        })?;
        Ok((user, db))
    }
}
