//! Fused losses: one pass forward, one pass backward, no intermediate tensors.
//!
//! Binary cross-entropy on logits `x` with targets `t` (any reals; `t ∈ [0, 1]` in use):
//!
//! ```text
//! ℓ(x, t) = softplus(x) − x·t = max(x, 0) − x·t + ln(1 + e^−|x|)
//! ∂ℓ/∂x = σ(x) − t,            ∂ℓ/∂t = −x
//! ```
//!
//! The form with `e^−|x|` never overflows and keeps full relative precision of the log term
//! (`ln_1p`) for large `|x|`; `σ(x)` is computed from the same `e = e^−|x|` as `1/(1+e)` for
//! `x ≥ 0` and `e/(1+e)` otherwise. The mean over all elements is accumulated in `f64` over
//! fixed chunks combined in order, so the value does not depend on the thread count.

use rayon::prelude::*;

use crate::backprop::Op;
use crate::error::{Result, TensorError};
use crate::tensor::{is_grad_enabled, Tensor};

/// Elements per task (fixed: the chunking, and so the sum, is the same for any thread count).
const CHUNK: usize = 1 << 14;

/// `(ℓ(x, t), σ(x))` for one element.
#[inline]
fn bce_terms(x: f32, t: f32) -> (f32, f32) {
    let e = (-x.abs()).exp();
    let loss = x.max(0.0) - x * t + e.ln_1p();
    let sigmoid = if x >= 0.0 {
        1.0 / (1.0 + e)
    } else {
        e / (1.0 + e)
    };
    (loss, sigmoid)
}

impl Tensor {
    /// Mean binary cross-entropy of logits `self` against `targets` (same shape), fused and
    /// numerically stable for any logit; PyTorch's `binary_cross_entropy_with_logits(x, t)`
    /// with `reduction="mean"`:
    ///
    /// ```text
    /// ℓ(x, t) = softplus(x) − x·t = max(x, 0) − x·t + ln(1 + e^−|x|),   result = mean ℓ
    /// ```
    ///
    /// `e^−|x|` never overflows and `ln_1p` keeps the log term's relative precision for large
    /// `|x|`; the mean is summed in `f64` over fixed chunks, so it is the same for any thread
    /// count.
    ///
    /// Differentiable in both arguments, to any order: the first-order backward is one fused
    /// pass, `∂/∂x = g (σ(x) − t) / n`; under `create_graph` it is written with recorded ops.
    ///
    /// # Errors
    /// [`TensorError::ShapeMismatch`] when the shapes differ; [`TensorError::InvalidArgument`]
    /// for an empty tensor.
    pub fn bce_with_logits(&self, targets: &Tensor) -> Result<Tensor> {
        if self.shape() != targets.shape() {
            return Err(TensorError::shape_detail(
                "bce_with_logits",
                self.shape(),
                targets.shape(),
                "logits and targets must have the same shape".into(),
            ));
        }
        let n = self.numel();
        if n == 0 {
            return Err(TensorError::invalid(
                "bce_with_logits",
                "the mean of an empty tensor is undefined",
            ));
        }
        let (xa, ta) = (self.array(), targets.array());
        let (xs, ts) = (xa.as_standard_layout(), ta.as_standard_layout());
        let (x, t) = (standard(&xs), standard(&ts));
        let partial: Vec<f64> = x
            .par_chunks(CHUNK)
            .zip(t.par_chunks(CHUNK))
            .map(|(xs, ts)| {
                xs.iter()
                    .zip(ts)
                    .map(|(&x, &t)| bce_terms(x, t).0 as f64)
                    .sum::<f64>()
            })
            .collect();
        let mean = (partial.iter().sum::<f64>() / n as f64) as f32;
        let out = ndarray::arr0(mean).into_dyn().into_shared();
        Ok(Tensor::from_op(out, &[self, targets], || {
            Op::BceWithLogits {
                logits: self.clone(),
                targets: targets.clone(),
            }
        }))
    }
}

/// The slice of an array in standard layout.
fn standard<'a>(a: &'a ndarray::CowArray<'_, f32, ndarray::IxDyn>) -> &'a [f32] {
    a.as_slice().expect("standard layout is contiguous")
}

/// Gradients of the fused BCE for `g = dL/dℓ̄` (a one-element tensor): `(d logits, d targets)`,
/// each only when that input requires gradients.
pub(crate) fn bce_with_logits_backward(
    logits: &Tensor,
    targets: &Tensor,
    g: &Tensor,
) -> Result<(Option<Tensor>, Option<Tensor>)> {
    let n = logits.numel() as f32;
    if is_grad_enabled() {
        // create_graph: the same rule with recorded ops, so it can be differentiated again.
        let scale = g.mul_scalar(1.0 / n);
        let dx = logits
            .requires_grad()
            .then(|| logits.sigmoid().sub(targets)?.mul(&scale))
            .transpose()?;
        let dt = targets
            .requires_grad()
            .then(|| logits.neg().mul(&scale))
            .transpose()?;
        return Ok((dx, dt));
    }
    let scale = g.item()? / n;
    let shape = logits.shape().to_vec();
    let make = |v: Vec<f32>| Tensor::from_vec(v, &shape);
    let (xa, ta) = (logits.array(), targets.array());
    let (xs, ts) = (xa.as_standard_layout(), ta.as_standard_layout());
    let (x, t) = (standard(&xs), standard(&ts));
    let dx = if logits.requires_grad() {
        let mut dx = vec![0.0f32; x.len()];
        dx.par_chunks_mut(CHUNK)
            .zip(x.par_chunks(CHUNK).zip(t.par_chunks(CHUNK)))
            .for_each(|(d, (xs, ts))| {
                for ((d, &x), &t) in d.iter_mut().zip(xs).zip(ts) {
                    *d = scale * (bce_terms(x, t).1 - t);
                }
            });
        Some(make(dx)?)
    } else {
        None
    };
    let dt = if targets.requires_grad() {
        Some(make(x.iter().map(|&x| -scale * x).collect())?)
    } else {
        None
    };
    Ok((dx, dt))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `ℓ` in f64 from its definition `ln(1 + e^x) − x t`, for moderate logits.
    fn reference(x: f32, t: f32) -> f64 {
        let (x, t) = (x as f64, t as f64);
        (1.0 + x.exp()).ln() - x * t
    }

    #[test]
    fn value_and_gradient_are_exact_and_stable() {
        let xs = [-30.0f32, -5.0, -0.3, 0.0, 1e-6, 0.7, 4.0, 25.0];
        let ts = [0.0f32, 1.0, 0.25, 0.5, 1.0, 0.0, 0.9, 1.0];
        let x = Tensor::from_vec(xs.to_vec(), &[8]).unwrap().with_grad();
        let t = Tensor::from_vec(ts.to_vec(), &[8]).unwrap();
        let l = x.bce_with_logits(&t).unwrap();
        let want = xs
            .iter()
            .zip(&ts)
            .map(|(&x, &t)| reference(x, t))
            .sum::<f64>()
            / 8.0;
        assert!((l.item().unwrap() as f64 - want).abs() <= 1e-6 * want.abs().max(1.0));
        l.backward().unwrap();
        for ((&x, &t), g) in xs.iter().zip(&ts).zip(x.grad().unwrap().to_vec()) {
            let s = 1.0 / (1.0 + (-(x as f64)).exp());
            assert!((g as f64 - (s - t as f64) / 8.0).abs() < 1e-7, "x {x}: {g}");
        }
        // Logits far beyond exp's range: finite, and the exact limits max(x,0) - x t.
        let x = Tensor::from_vec(vec![1e4, -1e4], &[2]).unwrap();
        let t = Tensor::from_vec(vec![0.0, 0.0], &[2]).unwrap();
        assert_eq!(x.bce_with_logits(&t).unwrap().item().unwrap(), 5e3);
        // Mismatched shapes and empty tensors are errors.
        assert!(x.bce_with_logits(&Tensor::ones(&[3])).is_err());
        let e = Tensor::ones(&[0]);
        assert!(e.bce_with_logits(&e).is_err());
    }

    #[test]
    fn same_bits_for_any_thread_count() {
        let n = 5 * CHUNK + 123;
        let x = crate::Rng::seed(3).normal(&[n], 0.0, 4.0).with_grad();
        let t = crate::Rng::seed(4).uniform(&[n], 0.0, 1.0);
        let run = |threads: usize| {
            let pool = rayon::ThreadPoolBuilder::new()
                .num_threads(threads)
                .build()
                .unwrap();
            pool.install(|| {
                x.zero_grad();
                let l = x.bce_with_logits(&t).unwrap();
                l.backward().unwrap();
                (l.item().unwrap().to_bits(), x.grad().unwrap().to_vec())
            })
        };
        assert_eq!(run(1), run(2));
    }
}
