//! # xtask
//!
//! groundwork's command line, a thin layer over the libraries: experiments run on
//! [`lab`] with the studies in [`registry`] (each defined whole in its crate), benchmarks
//! on [`bench_harness`] ([`bench`](mod@bench)).
//! [`cli`] parses the command line and dispatches to [`commands`] and the command modules;
//! the `full` feature (default; off in the `cargo xtask` alias) adds the commands and
//! studies that need the sentence encoder, the server and the ONNX writer.

#![deny(unsafe_code)]

#[cfg(feature = "full")]
pub mod bench;
pub mod cli;
pub mod commands;
#[cfg(feature = "full")]
pub mod embed;
#[cfg(feature = "full")]
pub mod export;
pub mod fetch;
pub mod fsutil;
pub mod registry;
