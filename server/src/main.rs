use clap::Parser;

/// jemalloc's settings (the allocator is chosen in `lib.rs`), read before `main`:
/// freed memory goes back to the operating system after a second instead of ten,
/// returned by a background thread rather than by whichever request allocates next,
/// so the server's resident memory follows what it holds (its budget is 100 MiB).
/// Four arenas, not jemalloc's default of four per core: fewer partly used arenas
/// to keep (see WRITER_CACHE_KIB in domain/src/db.rs for the figures).
#[used]
#[unsafe(export_name = "malloc_conf")]
static MALLOC_CONF: &u8 =
    &b"background_thread:true,narenas:4,dirty_decay_ms:1000,muzzy_decay_ms:0\0"[0];

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
