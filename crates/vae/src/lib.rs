//! # vae
//!
//! The β-VAE study's pieces. Built so far: [`dsprites`], the procedural dSprites dataset
//! (the exact factor grid of the original, rendered deterministically on demand), and
//! [`metrics`] — active units, MIG, the β-VAE and FactorVAE scores, each a function of a
//! representation and tested on constructed codes — and [`kl`], the rate per dimension and
//! its decomposition over the aggregate posterior (index-code MI, total correlation,
//! dimension-wise KL) — and [`model`], the Gaussian-encoder VAE (the Higgins MLP and the
//! convolutional architecture, Bernoulli or Gaussian decoder) with the β and
//! capacity-annealed objectives. Still to come (issue "vae"): the β-sweep study on `lab`
//! (training runs, images, traversals, report, claims) and its speed work.
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

#![deny(unsafe_code)]

pub mod dsprites;
pub mod kl;
pub mod metrics;
pub mod model;
