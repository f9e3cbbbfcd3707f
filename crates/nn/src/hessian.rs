//! Second-order analysis of any [`Module`] in one call: [`hessian_operator`] turns a model,
//! a batch and a loss into optim's [`HessianOperator`] — the map `v ↦ H v` with
//! `H = ∇²_θ L(f_θ(x))`, computed exactly by double backpropagation (Pearlmutter's trick:
//! `H v = ∇_θ (∇_θ L · v)`), never by finite differences and never materialising `H`. On it,
//! optim's tools each take one call:
//!
//! * [`power_iteration`](optim::hessian::power_iteration) — the top eigenvalue (the
//!   sharpness `λ_max`, which gradient descent at step `η` keeps below `2/η`);
//! * [`lanczos`](optim::hessian::lanczos) — extreme eigenvalues and the Ritz spectrum;
//! * [`hutchinson_trace`](optim::hessian::hutchinson_trace) — `tr H = E[zᵀHz]`;
//! * [`slq_density`](optim::hessian::slq_density) — the spectral density by stochastic
//!   Lanczos quadrature.
//!
//! The model is evaluated through [`Module::forward_with`], so its own parameters are
//! neither changed nor recorded into.
//!
//! ```
//! use core_tensor::Rng;
//! use nn::{loss, Activation, Linear, Sequential};
//! use optim::hessian::{lanczos, power_iteration};
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let mut rng = Rng::seed(0);
//! let net = Sequential::new()
//!     .push(Linear::new(4, 6, true, &mut rng)?)
//!     .push(Activation::Tanh)
//!     .push(Linear::new(6, 3, true, &mut rng)?);
//! let (x, y) = (rng.normal(&[16, 4], 0.0, 1.0), vec![0, 1, 2, 1].repeat(4));
//! let h = nn::hessian::hessian_operator(&net, &x, |out| loss::cross_entropy(out, &y));
//! let top = power_iteration(&h, 200, 1e-8, 1)?.eigenvalue;
//! let spectrum = lanczos(&h, 30, 1)?;
//! assert!((spectrum.top(1)[0] - top).abs() < 1e-3 * top.abs());
//! # Ok(())
//! # }
//! ```

use core_tensor::Tensor;
use optim::hessian::HessianOperator;

use crate::module::Module;
use crate::Result;

/// The Hessian of `loss(model(x))` with respect to the model's parameters, at their current
/// values, as a linear operator (dimension: the number of parameter values).
///
/// `loss` maps the model's output to a scalar tensor, e.g.
/// `|out| nn::loss::cross_entropy(out, &labels)`.
pub fn hessian_operator<'a, M, L>(
    model: &'a M,
    x: &'a Tensor,
    loss: L,
) -> HessianOperator<impl Fn(&[Tensor]) -> core_tensor::Result<Tensor> + 'a>
where
    M: Module + ?Sized,
    L: Fn(&Tensor) -> Result<Tensor> + 'a,
{
    let f = move |p: &[Tensor]| -> core_tensor::Result<Tensor> {
        Ok(loss(&model.forward_with(p, x)?)?)
    };
    HessianOperator::new(f, &parameter_tensors_of(model))
}

fn parameter_tensors_of<M: Module + ?Sized>(model: &M) -> Vec<Tensor> {
    model.parameters().into_iter().map(|(_, t)| t).collect()
}
