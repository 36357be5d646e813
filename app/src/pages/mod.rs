pub mod admin;
pub mod email;
pub mod import;
pub mod jobs;
pub mod login;
pub mod models;
pub mod placeholder;
pub mod queue;
