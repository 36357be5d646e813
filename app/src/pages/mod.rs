pub mod admin;
pub mod import;
pub mod login;
pub mod placeholder;
pub mod queue;
