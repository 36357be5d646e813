//! The `triage` binary's library: HTTP wiring (pages, REST API, sessions), the
//! command line, and start-up. Domain logic lives in the `domain` crate.

pub mod api;
pub mod auth;
pub mod cli;
pub mod downloads;
pub mod import;
pub mod jobs_cli;
pub mod limits;
pub mod live;
pub mod mail_frame;
pub mod model_server;
pub mod observability;
pub mod security_headers;
pub mod startup;
pub mod state;
pub mod upload;

/// jemalloc instead of glibc's malloc, for Rust and SQLite alike. Under load many
/// threads allocate (the async workers and one thread per SQLite connection), and
/// glibc gave each its own arena that kept freed memory and took its locks. With 16
/// wrk clients on the same binary (jemalloc preloaded): email view 1,318 pages/s
/// with glibc, 1,991 with jemalloc; after the email and label runs 114 MiB of
/// anonymous memory with glibc, 67 MiB with jemalloc, for ~46 MB of live heap.
/// Here in the library, so the benchmarks and tests that run the server in their own
/// process allocate the same way (the decay settings in `main.rs` are `triage`'s).
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;
