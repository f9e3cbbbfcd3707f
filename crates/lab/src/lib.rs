//! # lab
//!
//! Experiments as checked specifications: a study's parameters defined once, experiment
//! files that say what to run and what "correct" means, a parallel resumable runner, and
//! self-contained reports.
//!
//! * [`params`](mod@params) — a study's parameters defined once ([`params!`]): name, type, default, doc
//!   and valid range, from which parsing, validation messages and the docs all come.
//! * [`study`] — the [`Study`](study::Study) trait a study implements (config, run, record,
//!   report) and, with the engine, the [`Registry`](study::Registry) that maps a file's
//!   `kind` to it.
//! * [`report`] — a report's [`Section`](report::Section)s and [`report::Plot`]s as data;
//!   with the engine, `report.md`, a self-contained `report.html` with the plots rendered
//!   to SVG, and `results/index.html`.
//!
//! Those three compile without the `engine` feature, so a study crate defines its whole
//! study — parameters, run, metrics, report — depending on lab with
//! `default-features = false`. The engine adds:
//!
//! * [`spec`] — experiment files: read, validated (every error, located, with suggestions)
//!   and expanded into runs.
//! * [`claims`] — `[[expect]]` statements and their evaluation.
//! * [`runner`] — runs in parallel, each folder written atomically; `--resume`, `--shard`.
//!
//! ## Example: a study of your own, run from a TOML file
//!
//! `examples/custom_study.rs` (run it with
//! `cargo run --release -p lab --example custom_study`) defines a tiny study in a few dozen
//! lines and runs `examples/custom_study.toml` against it: a sweep, a claim, a report.
//!
//! ```
//! use lab::report::Section;
//! use lab::study::{Progress, Record, Registry, RunError, Study};
//! use serde::Serialize;
//!
//! lab::params! {
//!     /// Sums of `n` terms of the geometric series with ratio `r`.
//!     #[derive(Debug, Clone, Serialize)]
//!     pub struct SeriesConfig as "geometric series" {
//!         /// The ratio.
//!         pub r: f64 = 0.5; bounds(gt = -1, lt = 1),
//!         /// Terms to add.
//!         pub n: u64 = 50; bounds(min = 1, max = 1_000_000),
//!     }
//! }
//!
//! struct Geometric;
//! impl Study for Geometric {
//!     type Config = SeriesConfig;
//!     type Output = f64;
//!     const KIND: &'static str = "geometric";
//!     const DESCRIPTION: &'static str = "partial sums of a geometric series";
//!     const METRICS: &'static [&'static str] = &["sum", "limit"];
//!     fn run(&self, c: &SeriesConfig, _seed: u64, _p: &mut Progress<'_>) -> Result<f64, RunError> {
//!         Ok((0..c.n).map(|k| c.r.powi(k as i32)).sum())
//!     }
//!     fn record(&self, c: &SeriesConfig, sum: &f64) -> Record {
//!         Record::new().metric("sum", *sum).metric("limit", 1.0 / (1.0 - c.r))
//!     }
//! }
//!
//! let registry = Registry::new().with(Geometric);
//! let text = r#"
//! [experiment]
//! name = "geometric"
//! description = "partial sums approach 1/(1-r)"
//! kind = "geometric"
//! [sweep]
//! r = [0.1, 0.5]
//! [[expect]]
//! metric = "sum"
//! op = "~="
//! reference = "limit"
//! rel_tol = 1e-6
//! "#;
//! let exp = lab::spec::parse("g.toml".as_ref(), text, &registry, &Default::default()).unwrap();
//! assert_eq!(exp.runs.len(), 2);
//! ```

#![deny(unsafe_code)]

pub mod assets;
pub mod files;
pub mod image;
pub mod params;

#[cfg(feature = "engine")]
pub mod claims;
#[cfg(feature = "engine")]
pub mod data;
#[cfg(feature = "engine")]
pub mod environment;
#[cfg(feature = "engine")]
pub mod fsutil;
pub mod report;
#[cfg(feature = "engine")]
pub mod runner;
#[cfg(feature = "engine")]
pub mod spec;
pub mod study;
