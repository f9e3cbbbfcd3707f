//! `xtask-full`: the same command line as `cargo xtask`, built with the `full` feature
//! (the sentence encoder, the server, the ONNX writer); `cargo xtask` hands it the commands
//! that need them (see [`xtask::cli`]).

#![deny(unsafe_code)]

fn main() -> std::process::ExitCode {
    xtask::cli::main()
}
