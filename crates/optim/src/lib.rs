//! # optim
//!
//! Optimizers, the theory that predicts how they behave, and the Hessian tools that measure
//! the curvature they face.
//!
//! * Update rules ([`Sgd`] with heavy-ball or Nesterov momentum, [`Adam`]/AdamW/AMSGrad,
//!   [`RmsProp`], [`AdaGrad`]), each a fused single pass over a parameter's buffers with
//!   PyTorch's defaults and formulation, behind the [`Optimizer`] trait; saved and restored
//!   through [`OptimizerState`]; [`clip_grad_norm`]; learning-rate [`Schedule`]s.
//! * Optimizers that own their parameters: `Adam::new(lr).bind(params)?` gives a
//!   [`BoundOptim`] with `step()` and `zero_grad()`; `bind_groups` takes [`ParamGroup`]s with
//!   their own learning rate and weight decay (PyTorch's `param_groups`).
//! * [`theory`] — stability limits, optimal steps and rates on quadratics, per-direction
//!   momentum roots (overshoot vs monotone vs divergence), Adam's effective step.
//! * [`diagnose`] — "is my learning rate reasonable, why does my loss oscillate?" for any
//!   [`diagnose::Objective`]: the spectrum, the rule's stability limit from its own roots
//!   (Adam's on the preconditioned curvature), a probe run that tracks the sharpness, the
//!   gradient noise scale, a suggested rate, and checks of the verdict by running.
//! * [`hessian`] — exact Hessian-vector products (double backward), power iteration, Lanczos,
//!   Hutchinson's trace, stochastic Lanczos quadrature.
//! * [`problems`] — quadratics of chosen spectrum (axis-aligned or rotated), Rosenbrock,
//!   Beale, logistic regression.
//! * [`study`] — the ill-conditioning study: one run of an optimizer on a quadratic, with the
//!   measurements and the theory's predictions side by side.
//!
//! ## Example: gradient descent at the optimal step contracts at the predicted rate
//!
//! ```
//! use core_tensor::Rng;
//! use optim::problems::{Quadratic, Spectrum};
//! use optim::{theory, Sgd};
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let q = Quadratic::new(16, 50.0, 1.0, Spectrum::Uniform, true, 7)?;
//! let eta = theory::gd_optimal_step(q.mu(), q.l());
//! let x = Rng::seed(1).normal(&[16, 1], 0.0, 1.0).with_grad();
//! let mut opt = Sgd::new(eta as f32).bind([x.clone()])?;
//! let e0 = x.to_vec().iter().map(|v| (*v as f64).powi(2)).sum::<f64>().sqrt();
//! for _ in 0..100 {
//!     opt.zero_grad();
//!     q.loss(&x)?.backward()?;
//!     opt.step()?;
//! }
//! let e = x.to_vec().iter().map(|v| (*v as f64).powi(2)).sum::<f64>().sqrt();
//! let bound = theory::gd_optimal_rate(50.0).powi(100); // (49/51)^100
//! assert!(e / e0 <= bound * 1.01);
//! # Ok(())
//! # }
//! ```

#![deny(unsafe_code)]

mod adam;
mod adaptive;
mod bound;
pub mod diagnose;
mod error;
pub mod hessian;
mod method;
mod optimizer;
pub mod paths;
pub mod problems;
mod schedule;
mod sgd;
pub mod study;
pub mod theory;

pub use adam::Adam;
pub use adaptive::{AdaGrad, RmsProp};
pub use bound::{BoundOptim, ParamGroup, WithWeightDecay};
pub use error::{InvalidParameter, OptimError, Result};
pub use method::Method;
pub use optimizer::{clip_grad_norm, Optim, Optimizer, OptimizerState, UpdateRule};
pub use schedule::Schedule;
pub use sgd::Sgd;
