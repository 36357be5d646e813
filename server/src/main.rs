use clap::Parser;

/// jemalloc instead of glibc's malloc, for Rust and SQLite alike. Under load many
/// threads allocate (the async workers and one thread per SQLite connection), and
/// glibc gave each its own arena that kept freed memory: the server held ~700 MiB
/// for ~50 MB of live data, and spent time in malloc's locks (email view 1,318
/// pages/s with glibc, 1,991 with jemalloc; `server/examples/workspace_bench.rs`).
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

#[tokio::main]
async fn main() -> std::process::ExitCode {
    match server::cli::run(server::cli::Cli::parse()).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("triage: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
