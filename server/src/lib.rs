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

/// jemalloc instead of glibc's malloc, for Rust and SQLite alike. Under load many
/// threads allocate (the async workers and one thread per SQLite connection), and
/// glibc gave each its own arena that kept freed memory: the server held ~700 MiB
/// for ~50 MB of live data, and spent time in malloc's locks (email view 1,318
/// pages/s with glibc, 1,991 with jemalloc; `server/examples/workspace_bench.rs`).
/// Here in the library, so the benchmarks and tests that run the server in their own
/// process allocate the same way.
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;
