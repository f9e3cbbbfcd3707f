//! `cargo xtask`: groundwork's task runner.
//!
//! For now it knows one command, `bench`, which runs the criterion benchmarks in `benches/`.
//! The experiment runner (`run-experiment`, `check`, `report`, ...) is tracked by its own issue.

use std::process::{Command, ExitCode};

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some("bench") => {
            let status = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
                .args(["bench", "-p", "groundwork-benches"])
                .args(&args[1..])
                .status();
            match status {
                Ok(s) if s.success() => ExitCode::SUCCESS,
                Ok(_) => ExitCode::FAILURE,
                Err(e) => {
                    eprintln!("xtask bench: could not run cargo: {e}");
                    ExitCode::FAILURE
                }
            }
        }
        other => {
            if let Some(cmd) = other {
                eprintln!("xtask: unknown command `{cmd}`\n");
            }
            eprintln!("usage: cargo xtask <command>\n\ncommands:\n  bench [-- criterion args]   run the criterion benchmarks in benches/");
            ExitCode::from(2)
        }
    }
}
