//! `cargo xtask`: groundwork's task runner, built without the `full` feature by the
//! `cargo xtask` alias (see [`xtask::cli`]).

#![deny(unsafe_code)]

fn main() -> std::process::ExitCode {
    xtask::cli::main()
}
