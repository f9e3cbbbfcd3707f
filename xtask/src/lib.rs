//! # xtask
//!
//! groundwork's command line, a thin layer over the libraries: experiments run on
//! [`lab`] with the studies in [`registry`] (each defined whole in its crate), benchmarks
//! on [`bench_harness`] ([`bench`](mod@bench)).
//! `main.rs` only parses the command line and dispatches to [`commands`].

#![deny(unsafe_code)]

pub mod bench;
pub mod commands;
pub mod embed;
pub mod export;
pub mod fetch;
pub mod fsutil;
pub mod registry;
