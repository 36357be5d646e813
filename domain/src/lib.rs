//! Triage's domain: the plain-Rust heart of the product.
//!
//! The types at the top (roles, wire types) compile everywhere, including the browser.
//! Everything behind the `server` feature talks to the database or the operating system
//! and is used by the `server` binary and by the `app` crate's server functions.
//! Nothing here imports axum or Leptos.

pub mod role;
pub mod wire;

#[cfg(feature = "server")]
pub mod accounts;
#[cfg(feature = "server")]
pub mod analytics;
#[cfg(feature = "server")]
pub mod audit;
#[cfg(feature = "server")]
pub mod auth;
#[cfg(feature = "server")]
pub mod auto_accept;
#[cfg(feature = "server")]
pub mod aws;
#[cfg(feature = "server")]
pub mod backlog;
#[cfg(feature = "server")]
pub mod bulk;
#[cfg(feature = "server")]
pub mod categories;
#[cfg(feature = "server")]
pub mod db;
#[cfg(feature = "server")]
pub mod demo;
#[cfg(feature = "server")]
pub mod drafts;
#[cfg(feature = "server")]
pub mod email_state;
#[cfg(feature = "server")]
pub mod emails;
#[cfg(feature = "server")]
pub mod error;
#[cfg(feature = "server")]
pub mod evaluation;
#[cfg(feature = "server")]
pub mod ingest;
#[cfg(feature = "server")]
pub mod jobs;
#[cfg(feature = "server")]
pub mod labels;
#[cfg(feature = "server")]
pub mod labels_export;
#[cfg(feature = "server")]
pub mod mailboxes;
#[cfg(feature = "server")]
pub mod model;
#[cfg(feature = "server")]
pub mod models;
#[cfg(feature = "server")]
pub mod password;
#[cfg(feature = "server")]
pub mod predictions_export;
#[cfg(feature = "server")]
pub mod queue;
#[cfg(feature = "server")]
pub mod replies;
#[cfg(feature = "server")]
pub mod scoring;
#[cfg(feature = "server")]
pub mod search_hits;
#[cfg(feature = "server")]
pub mod secrets;
#[cfg(feature = "server")]
pub mod settings;
#[cfg(feature = "server")]
pub mod sql;
#[cfg(feature = "server")]
pub mod time;
#[cfg(feature = "server")]
pub mod tokens;
#[cfg(feature = "server")]
pub mod training;
#[cfg(feature = "server")]
pub mod users;
