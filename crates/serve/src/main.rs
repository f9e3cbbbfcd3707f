//! `groundwork-serve`: see `groundwork-serve --help` and the `serve` crate's docs.

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
