//! The integration suite: every test runs against SQLite and PostgreSQL, each with its
//! own server and fresh database.

mod helpers;

mod accounts;
mod admin;
mod analytics;
mod api;
mod auth;
mod aws_servers;
mod cli;
mod csrf;
mod drafts;
mod endpoint;
mod errors;
mod exports;
mod ingest;
mod jobs;
mod learning_loop;
mod mail_servers;
mod mailboxes;
mod migrations;
mod model_container;
mod operations;
mod role_matrix;
mod roles;
mod s3_mailbox;
mod security;
mod training;
mod transform;
mod workspace;
