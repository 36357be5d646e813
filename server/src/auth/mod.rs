//! Sign-in, sessions, CSRF protection and role checks for pages.

pub mod csrf;
pub mod guard;
pub mod handlers;
pub mod session_store;

pub mod account;

/// The session key that holds the signed-in user's id.
pub const USER_ID_KEY: &str = "user_id";
/// When the session signed in (ms): sessions older than the person's
/// `sessions_valid_after` are over (domain/src/accounts.rs).
pub const SIGNED_IN_AT_KEY: &str = "signed_in_at";
/// The last request that renewed the session's idle expiry (ms).
pub const SEEN_AT_KEY: &str = "seen_at";
/// The session cookie's name.
pub const SESSION_COOKIE: &str = "triage_session";
