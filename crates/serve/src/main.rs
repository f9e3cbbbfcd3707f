//! `groundwork-serve`: see `groundwork-serve --help` and the `serve` crate's docs.
//!
//! The system allocator, not xtask's mimalloc: after `scripts/hostile_probe.py`'s flood of
//! 192 one-MiB requests the server held 174 MiB with glibc against 276 MiB with mimalloc's
//! defaults (idle after one full batch: 141 and 197 MiB; INT8, 2 cores, 2026-12-02).

use clap::Parser;

#[derive(Parser)]
#[command(name = "groundwork-serve", version)]
struct Cli {
    #[command(flatten)]
    args: serve::cli::Args,
}

fn main() -> std::process::ExitCode {
    serve::cli::run(&Cli::parse().args)
}
