//! Sign-in, sessions, CSRF protection and role checks for pages.

pub mod csrf;
pub mod guard;
pub mod handlers;
pub mod session_store;

/// The session key that holds the signed-in user's id.
pub const USER_ID_KEY: &str = "user_id";
/// The session cookie's name.
pub const SESSION_COOKIE: &str = "triage_session";
