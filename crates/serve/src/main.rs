//! `groundwork-serve`: see `groundwork-serve --help` and the `serve` crate's docs.
//!
//! The system allocator, not xtask's mimalloc: after the flood of 192 one-MiB requests that
//! `scripts/hostile_probe.py` sends, the server held 174 MiB with glibc against 276 MiB with
//! mimalloc's defaults (one-off comparison, INT8, 2 cores, 2026-12-02; how to rerun it:
//! docs/results.md, "Deploying the server").

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
