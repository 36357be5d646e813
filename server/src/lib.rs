//! The `triage` binary's library: HTTP wiring (pages, REST API, sessions), the
//! command line, and start-up. Domain logic lives in the `domain` crate.

pub mod api;
pub mod auth;
pub mod cli;
pub mod import;
pub mod jobs_cli;
pub mod live;
pub mod model_server;
pub mod observability;
pub mod startup;
pub mod state;
pub mod upload;
