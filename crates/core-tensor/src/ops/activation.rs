//! Numerically stable softmax, log-softmax and log-sum-exp over one axis, with their backward
//! rules. (The pointwise activations — relu, gelu, sigmoid, ... — live in `elementwise`.)
//!
//! All three subtract the maximum along the axis before exponentiating:
//! `logsumexp(x) = m + ln sum_i e^(x_i - m)` with `m = max_i x_i`, so logits of +-1e4 give
//! finite, exact results instead of inf/NaN.

use ndarray::Axis;

use crate::backprop::Op;
use crate::error::Result;
use crate::tensor::{Array, Tensor};

/// Which normalisation a softmax-family node computes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SoftmaxKind {
    Softmax,
    LogSoftmax,
    LogSumExp,
}

/// Applies `f(lane, out_lane)` to every 1-D lane along `axis`.
fn along_lanes(
    x: &Array,
    axis: usize,
    out_shape_keep: bool,
    f: impl Fn(ndarray::ArrayView1<f32>, ndarray::ArrayViewMut1<f32>),
) -> Array {
    let mut shape = x.shape().to_vec();
    if !out_shape_keep {
        shape[axis] = 1;
    }
    let mut out = ndarray::ArrayD::<f32>::zeros(ndarray::IxDyn(&shape));
    for (lane, out_lane) in x
        .lanes(Axis(axis))
        .into_iter()
        .zip(out.lanes_mut(Axis(axis)))
    {
        f(lane, out_lane);
    }
    out.into_shared()
}

fn lane_max(lane: &ndarray::ArrayView1<f32>) -> f32 {
    lane.fold(
        f32::NEG_INFINITY,
        |m, &v| if v > m || v.is_nan() { v } else { m },
    )
}

fn forward(x: &Array, axis: usize, kind: SoftmaxKind) -> Array {
    match kind {
        SoftmaxKind::Softmax => along_lanes(x, axis, true, |lane, mut out| {
            let m = lane_max(&lane);
            let m = if m.is_finite() { m } else { 0.0 };
            let mut total = 0.0f32;
            for (o, &v) in out.iter_mut().zip(lane.iter()) {
                *o = (v - m).exp();
                total += *o;
            }
            let inv = 1.0 / total;
            out.mapv_inplace(|o| o * inv);
        }),
        SoftmaxKind::LogSoftmax => along_lanes(x, axis, true, |lane, mut out| {
            let m = lane_max(&lane);
            let m = if m.is_finite() { m } else { 0.0 };
            let total: f32 = lane.iter().map(|&v| (v - m).exp()).sum();
            // (x - m) - ln(total) rather than x - (m + ln total): exact for huge logits.
            let log_total = total.ln();
            for (o, &v) in out.iter_mut().zip(lane.iter()) {
                *o = (v - m) - log_total;
            }
        }),
        SoftmaxKind::LogSumExp => along_lanes(x, axis, false, |lane, mut out| {
            let m = lane_max(&lane);
            let m = if m.is_finite() { m } else { 0.0 };
            let total: f32 = lane.iter().map(|&v| (v - m).exp()).sum();
            out[0] = m + total.ln();
        }),
    }
}

/// dL/dx for a softmax-family node `y` of `x` along `axis`, given `g = dL/dy`.
pub(crate) fn softmax_backward(
    kind: SoftmaxKind,
    x: &Tensor,
    y: &Tensor,
    axis: usize,
    keepdim: bool,
    g: &Tensor,
) -> Result<Tensor> {
    let ax = [axis as isize];
    match kind {
        // y = softmax(x): dx = y * (g - sum(g * y))
        SoftmaxKind::Softmax => {
            let dot = g.mul(y)?.sum(&ax, true)?;
            y.mul(&g.sub(&dot)?)
        }
        // y = log_softmax(x): dx = g - softmax(x) * sum(g),  softmax(x) = e^y
        SoftmaxKind::LogSoftmax => g.sub(&y.exp().mul(&g.sum(&ax, true)?)?),
        // y = logsumexp(x): dx = g * softmax(x) = g * e^(x - y)
        SoftmaxKind::LogSumExp => {
            let (y, g) = if keepdim {
                (y.clone(), g.clone())
            } else {
                (y.unsqueeze(axis as isize)?, g.unsqueeze(axis as isize)?)
            };
            g.mul(&x.sub(&y)?.exp())
        }
    }
}

impl Tensor {
    fn softmax_family(&self, axis: isize, kind: SoftmaxKind, keepdim: bool) -> Result<Tensor> {
        let ax = self.axis("softmax", axis)?;
        let mut out = forward(&self.array(), ax, kind);
        if kind == SoftmaxKind::LogSumExp && !keepdim {
            out.index_axis_inplace(Axis(ax), 0);
        }
        Ok(Tensor::from_op(out, &[self], || Op::Softmax {
            kind,
            x: self.clone(),
            axis: ax,
            keepdim,
        }))
    }

    /// `softmax(x)_i = e^(x_i - m) / sum_j e^(x_j - m)` along `axis` (`m` the lane maximum).
    ///
    /// # Errors
    /// [`TensorError::BadAxis`](crate::TensorError::BadAxis).
    pub fn softmax(&self, axis: isize) -> Result<Tensor> {
        self.softmax_family(axis, SoftmaxKind::Softmax, true)
    }

    /// `log_softmax(x)_i = x_i - logsumexp(x)` along `axis`, stable for any logits.
    ///
    /// # Errors
    /// [`TensorError::BadAxis`](crate::TensorError::BadAxis).
    pub fn log_softmax(&self, axis: isize) -> Result<Tensor> {
        self.softmax_family(axis, SoftmaxKind::LogSoftmax, true)
    }

    /// `logsumexp(x) = m + ln sum_i e^(x_i - m)` along `axis`.
    ///
    /// # Errors
    /// [`TensorError::BadAxis`](crate::TensorError::BadAxis).
    pub fn logsumexp(&self, axis: isize, keepdim: bool) -> Result<Tensor> {
        self.softmax_family(axis, SoftmaxKind::LogSumExp, keepdim)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stable_for_huge_logits() {
        let x = Tensor::from_vec(vec![1e4, -1e4, 0.0, 1e4], &[1, 4]).unwrap();
        let s = x.softmax(1).unwrap().to_vec();
        assert!((s[0] - 0.5).abs() < 1e-6 && (s[3] - 0.5).abs() < 1e-6 && s[1] == 0.0);
        let ls = x.log_softmax(1).unwrap().to_vec();
        assert!((ls[0] + std::f32::consts::LN_2).abs() < 1e-4);
        assert!(ls.iter().all(|v| !v.is_nan()));
        let lse = x.logsumexp(1, false).unwrap();
        assert_eq!(lse.shape(), &[1]);
        assert!((lse.to_vec()[0] - (1e4 + std::f32::consts::LN_2)).abs() < 1e-2);
    }
}
