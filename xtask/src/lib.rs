//! # xtask
//!
//! groundwork's task runner, as a library so its pieces are testable: experiment files
//! ([`spec`]), the study registry ([`registry`]), running and resuming ([`runner`]), claims
//! ([`claims`]) and reports ([`report`]); benchmarks ([`bench`](mod@bench)) and the in-process comparison
//! with a C BLAS library ([`blas`]). `main.rs` only parses the command line and dispatches to
//! [`commands`].

pub mod bench;
pub mod blas;
pub mod claims;
pub mod commands;
pub mod environment;
pub mod fsutil;
pub mod registry;
pub mod report;
pub mod runner;
pub mod spec;
pub mod studies;
