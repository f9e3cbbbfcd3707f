//! # core-tensor
//!
//! The tensor crate every other groundwork crate stands on: n-dimensional `f32` tensors over
//! [`ndarray`], matrix products on our own packed AVX2/AVX-512 GEMM (with [`matrixmultiply`]
//! as the portable fallback; [`gemm_kernel_name`] says which runs) over rayon, reverse-mode
//! automatic differentiation with higher-order gradients, a finite-difference gradient checker,
//! and seeded random tensors that are the same on every machine and thread count.
//!
//! * [`Tensor`] — a cheap-to-clone handle. Elementwise ops broadcast NumPy-style; reductions
//!   take a list of axes (negative counts from the end); `permute`/`t`/`slice` are views.
//!   Ops that cannot fail (unary maths, activations, scalar ops) return a `Tensor`; ops whose
//!   shapes may disagree return a `Result`. Operators follow candle: `&a + &b` is a
//!   `Result<Tensor>`, `&a * 2.0` and `-&a` are `Tensor`s. `argmax`/`argmin`, comparison
//!   masks (`gt`, `eq`, ...), `to_vec1`/`to_vec2`/`to_scalar`, and a PyTorch-like `Display`.
//! * Autodiff — ops record their inputs when some input requires gradients.
//!   [`Tensor::backward`] accumulates `dL/dx` into every leaf `x` (read with
//!   [`Tensor::grad`]) and then frees the graph it walked, as PyTorch does (keep it with
//!   [`GradOptions::retain_graph`] and [`Tensor::backward_with`]); [`grad()`] returns
//!   gradients without touching `.grad()` and, with [`GradOptions::create_graph`], records
//!   them so they can be differentiated again (exact Hessian-vector products). [`no_grad`]
//!   turns recording off. Fused ops where fusion is the numerics: the stable
//!   [`Tensor::bce_with_logits`].
//! * [`multiversion!`] — one loop compiled for AVX-512, AVX2 and baseline x86-64, chosen at
//!   run time ([`cpu::level`]); the optimizers' update rules and quant's encoder loops use it.
//! * [`check_gradients`] — compares autodiff against central finite differences.
//! * [`PackedMatrix`] and [`gemm_into`] — products with a matrix packed once (inference:
//!   weights never change), into caller-provided buffers, with a fused per-row epilogue.
//! * [`Rng`] — ChaCha8-based seeded generator for uniform, normal, Bernoulli tensors and
//!   permutations.
//!
//! Errors that depend on input (shapes, axes, indices) are [`TensorError`]s naming the op and
//! the shapes involved.
//!
//! ## Example: a tiny two-layer network, its gradient, and a gradient check
//!
//! ```
//! use core_tensor::{check_gradients, GradCheck, Rng, Tensor};
//!
//! # fn main() -> core_tensor::Result<()> {
//! let mut rng = Rng::seed(0);
//! let x = rng.normal(&[8, 4], 0.0, 1.0);               // a batch of 8 inputs
//! let y = rng.normal(&[8, 1], 0.0, 1.0);               // regression targets
//! let w1 = rng.normal(&[4, 16], 0.0, 0.5).with_grad(); // parameters: leaves with gradients
//! let b1 = Tensor::zeros(&[16]).with_grad();
//! let w2 = rng.normal(&[16, 1], 0.0, 0.25).with_grad();
//!
//! // loss = mean((tanh(x W1 + b1) W2 - y)^2)
//! let forward = |w1: &Tensor, b1: &Tensor, w2: &Tensor| -> core_tensor::Result<Tensor> {
//!     let h = (&x.matmul(w1)? + b1)?.tanh();
//!     (&h.matmul(w2)? - &y)?.square().mean_all()
//! };
//! let loss = forward(&w1, &b1, &w2)?;
//! loss.backward()?;
//! assert_eq!(w1.grad().unwrap().shape(), &[4, 16]);
//!
//! // The same gradients, checked against central finite differences.
//! let report = check_gradients(
//!     |p| forward(&p[0], &p[1], &p[2]),
//!     &[w1.clone(), b1.clone(), w2.clone()],
//!     &GradCheck::default(),
//! )?;
//! assert!(report.max_rel_error < 1e-3, "{report}");
//! # Ok(())
//! # }
//! ```

#![deny(unsafe_code)]

mod backprop;
mod error;
mod gradcheck;
// `unsafe` and `#[target_feature]` code lives only here (STYLE.md), each SIMD kernel with a
// scalar twin that is its specification.
#[allow(unsafe_code)]
mod kernels;
pub use kernels::fpenv::{flush_denormals_enabled, with_flush_denormals};
pub use kernels::gemm::kernel_name as gemm_kernel_name;
pub use kernels::gemm::{gemm_into, PackedMatrix};
pub use kernels::par::Epilogue;
/// The kernel substrate every crate's kernels share: what this CPU runs (detection, the one
/// `GROUNDWORK_ISA` override, kernel families) and how work is split between threads.
pub use kernels::{cpu, par};
mod ops;
mod random;
pub mod shape;
mod tensor;

pub use backprop::{grad, GradOptions};
pub use error::{CallerError, Result, TensorError};
pub use gradcheck::{check_gradgrad, check_gradients, GradCheck, GradCheckReport, GradCheckWorst};
pub use ops::conv::Patches;
pub use random::Rng;
pub use tensor::{is_grad_enabled, no_grad, Array, NoGradGuard, Tensor, TensorId};

/// Re-exported so users can name the array types in [`Tensor::from_array`] and
/// [`Tensor::gather`] without adding their own ndarray dependency.
pub use ndarray;
