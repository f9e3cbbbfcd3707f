//! Adapters from study crates to xtask: parameters, metrics, series and report sections.

pub mod classifier;
pub mod minilm;
pub mod paths;
pub mod quadratic;
pub mod serving;
pub mod vae;
