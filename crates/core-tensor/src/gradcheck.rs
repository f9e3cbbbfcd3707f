//! Gradient checking: autodiff gradients against central finite differences.
//!
//! For a function `f` of tensors `x_1..x_n` with any output shape, the checker fixes random
//! weights `r` (seeded) and compares the gradient of the scalar `L = sum_i r_i f(x)_i`:
//!
//! * analytic: reverse-mode autodiff seeded with `r`;
//! * numeric: `(L(x + h e_j) - L(x - h e_j)) / (2h)` for every element `j` of every input, the
//!   weighted sums and the difference computed in `f64` from `f`'s `f32` outputs, with
//!   `h = step * max(1, |x_j|)`.
//!
//! Central differences have truncation error `h^2 |L'''| / 6` and rounding error of order
//! `eps_f32 * sum_i |r_i f_i| / h`; the default `step = 1e-2` balances the two for `f32`
//! functions of moderate curvature. The reported error of one element is
//! `|analytic - numeric| / max(|analytic|, |numeric|, floor)`: relative for large gradients,
//! absolute (scaled by `1/floor`) near zero, where a relative error is meaningless.
//!
//! [`check_gradgrad`] checks second derivatives the same way, by checking the gradient of
//! `x -> grad(<f(x), r>, x)` computed with `create_graph = true` (PyTorch's gradgradcheck).

use std::fmt;

use crate::backprop::{grad, GradOptions};
use crate::error::{Result, TensorError};
use crate::random::Rng;
use crate::tensor::{no_grad, Tensor};

/// Settings for [`check_gradients`].
#[derive(Debug, Clone, PartialEq)]
pub struct GradCheck {
    /// Relative finite-difference step: `h = step * max(1, |x|)`.
    pub step: f64,
    /// Denominator floor of the relative error (see the module docs).
    pub floor: f64,
    /// Seed of the output weights `r`.
    pub seed: u64,
}

impl Default for GradCheck {
    fn default() -> Self {
        GradCheck {
            step: 1e-2,
            floor: 1e-1,
            seed: 0x6772_6164, // "grad"
        }
    }
}

/// The element where analytic and numeric gradients disagree most.
#[derive(Debug, Clone, PartialEq)]
pub struct GradCheckWorst {
    /// Which input (position in the `inputs` slice).
    pub input: usize,
    /// Flat (row-major) index of the element in that input.
    pub index: usize,
    /// Autodiff value.
    pub analytic: f64,
    /// Finite-difference value.
    pub numeric: f64,
}

/// The outcome of a gradient check.
#[derive(Debug, Clone, PartialEq)]
pub struct GradCheckReport {
    /// The largest error over all checked elements (see the module docs for the formula).
    pub max_rel_error: f64,
    /// Largest error per input.
    pub per_input: Vec<f64>,
    /// Where the largest error occurred (`None` when no element was checked).
    pub worst: Option<GradCheckWorst>,
    /// Number of elements compared.
    pub checked: usize,
}

impl fmt::Display for GradCheckReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "worst relative error {:.3e} over {} elements",
            self.max_rel_error, self.checked
        )?;
        if let Some(w) = &self.worst {
            write!(
                f,
                " (input {} element {}: autodiff {:.6e}, finite difference {:.6e})",
                w.input, w.index, w.analytic, w.numeric
            )?;
        }
        Ok(())
    }
}

fn weighted_sum(y: &Tensor, r: &[f32]) -> f64 {
    y.to_vec()
        .iter()
        .zip(r)
        .map(|(&a, &b)| a as f64 * b as f64)
        .sum()
}

/// Compares the autodiff gradient of `f` with central finite differences at `inputs`.
///
/// `f` must be deterministic. Inputs are copied into fresh leaves; the originals are untouched.
///
/// # Errors
/// Whatever `f` returns, and [`TensorError::Autodiff`] when `f`'s output does not depend on
/// any input.
pub fn check_gradients<F>(f: F, inputs: &[Tensor], config: &GradCheck) -> Result<GradCheckReport>
where
    F: Fn(&[Tensor]) -> Result<Tensor>,
{
    let leaves: Vec<Tensor> = inputs.iter().map(|x| x.detach().with_grad()).collect();
    let y = f(&leaves)?;
    let mut rng = Rng::seed(config.seed);
    let r_t = rng.uniform(y.shape(), -1.0, 1.0);
    let r = r_t.to_vec();
    let refs: Vec<&Tensor> = leaves.iter().collect();
    let analytic = grad(&y, &refs, Some(&r_t), GradOptions::default())?;

    let mut report = GradCheckReport {
        max_rel_error: 0.0,
        per_input: vec![0.0; inputs.len()],
        worst: None,
        checked: 0,
    };
    for (i, x) in inputs.iter().enumerate() {
        let base = x.to_vec();
        let a = analytic[i].to_vec();
        for j in 0..base.len() {
            let h32 = (config.step * (base[j].abs() as f64).max(1.0)) as f32;
            let eval = |delta: f32| -> Result<(f64, f32)> {
                let mut v = base.clone();
                v[j] = base[j] + delta;
                // The perturbation actually applied, after f32 rounding of x + delta.
                let applied = v[j] - base[j];
                let mut args: Vec<Tensor> = inputs.iter().map(Tensor::detach).collect();
                args[i] = Tensor::from_vec(v, x.shape())?;
                let out = no_grad(|| f(&args))?;
                Ok((weighted_sum(&out, &r), applied))
            };
            let (lp, hp) = eval(h32)?;
            let (lm, hm) = eval(-h32)?;
            let numeric = (lp - lm) / (hp as f64 - hm as f64);
            let an = a[j] as f64;
            let err = (an - numeric).abs() / an.abs().max(numeric.abs()).max(config.floor);
            report.checked += 1;
            if err > report.per_input[i] {
                report.per_input[i] = err;
            }
            if report.worst.is_none() || err > report.max_rel_error {
                report.max_rel_error = err;
                report.worst = Some(GradCheckWorst {
                    input: i,
                    index: j,
                    analytic: an,
                    numeric,
                });
            }
        }
    }
    Ok(report)
}

/// Checks second derivatives of `f`: runs [`check_gradients`] on
/// `x -> concat_i flatten(grad(<f(x), r>, x_i))`, whose own gradient needs the backward rules
/// of every op in `f` to be differentiable. This is what makes Hessian-vector products exact.
///
/// # Errors
/// As [`check_gradients`].
pub fn check_gradgrad<F>(f: F, inputs: &[Tensor], config: &GradCheck) -> Result<GradCheckReport>
where
    F: Fn(&[Tensor]) -> Result<Tensor>,
{
    let seed_cfg = config.seed ^ 0x5eed;
    let first_order = |xs: &[Tensor]| -> Result<Tensor> {
        let y = f(xs)?;
        let r = Rng::seed(seed_cfg).uniform(y.shape(), -1.0, 1.0);
        let refs: Vec<&Tensor> = xs.iter().collect();
        let gs = grad(&y, &refs, Some(&r), GradOptions::create_graph())?;
        let flat: Vec<Tensor> = gs
            .iter()
            .map(|g| g.reshape(&[g.numel()]))
            .collect::<Result<_>>()?;
        Tensor::concat(&flat, 0)
    };
    // Under no_grad (the numeric side), first_order must still build its inner graph.
    let wrapped = |xs: &[Tensor]| -> Result<Tensor> {
        if crate::tensor::is_grad_enabled() {
            first_order(xs)
        } else {
            let leaves: Vec<Tensor> = xs.iter().map(|x| x.detach().with_grad()).collect();
            let out = crate::tensor::with_grad_mode(true, || first_order(&leaves))?;
            Ok(out.detach())
        }
    };
    let report = check_gradients(wrapped, inputs, config)?;
    if report.checked == 0 {
        return Err(TensorError::Autodiff(
            "check_gradgrad: nothing to check".into(),
        ));
    }
    Ok(report)
}
