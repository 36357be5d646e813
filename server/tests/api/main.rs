//! The integration suite: every test runs against SQLite and PostgreSQL, each with its
//! own server and fresh database.

mod helpers;

mod accounts;
mod admin;
mod analytics;
mod api;
mod auth;
mod cli;
mod csrf;
mod endpoint;
mod errors;
mod exports;
mod ingest;
mod jobs;
mod learning_loop;
mod mail_servers;
mod mailboxes;
mod migrations;
mod operations;
mod role_matrix;
mod roles;
mod security;
mod training;
mod workspace;
