//! # vae
//!
//! The β-VAE study's pieces: [`dsprites`], the procedural dSprites dataset (the exact factor
//! grid of the original, rendered deterministically on demand); [`metrics`] — active units,
//! MIG, the β-VAE and FactorVAE scores, each a function of a representation and tested on
//! constructed codes; [`kl`], the rate per dimension and its decomposition over the aggregate
//! posterior (index-code MI, total correlation, dimension-wise KL); [`model`], the
//! Gaussian-encoder VAE (the Higgins MLP and the convolutional architecture, Bernoulli or
//! Gaussian decoder) with the β and capacity-annealed objectives; and [`study`], one
//! training run with everything measured after it, which `cargo xtask run-experiment
//! experiments/beta-vae-sweep.toml` sweeps over β.
//!
//! ## Example: a batch of dSprites images and their factors
//!
//! ```
//! use vae::dsprites::{DSprites, FACTOR_SIZES};
//!
//! let data = DSprites;
//! assert_eq!(DSprites::LEN, FACTOR_SIZES.iter().product::<usize>());
//! let picks = data.sample(8, 0);
//! let x = data.batch(&picks); // [8, 4096] of 0.0 / 1.0
//! assert_eq!(x.shape(), &[8, 4096]);
//! let f = data.factors(picks[0]);
//! assert!((0.5..=1.0).contains(&f.scale));
//! ```
//!
//! ## Example: a short β-VAE run and what it measured
//!
//! ```
//! use vae::study::{run_vae, VaeConfig};
//!
//! // The Higgins MLP, β = 4, a few steps and small evaluation sizes (the study's defaults
//! // are 2,000 steps and disentanglement_lib-like sample sizes).
//! let cfg = VaeConfig { steps: 3, batch: 16, eval_examples: 64, mig_points: 500,
//!                       score_train: 0, ..VaeConfig::default() };
//! let run = run_vae(&cfg, 0, None, &mut |_, _, _| {}).unwrap();
//! let e = run.eval.unwrap();
//! println!("rate {:.1} nats, distortion {:.1} nats, {} active units", e.kl(), e.recon, e.active_units);
//! assert_eq!(e.kl_per_dim.len(), 10);
//! assert!(e.factors.unwrap().mig.is_some());
//! ```

#![deny(unsafe_code)]

pub mod dsprites;
pub mod kl;
pub mod metrics;
pub mod model;
pub mod study;
