pub mod admin;
pub mod login;
pub mod placeholder;
pub mod queue;
