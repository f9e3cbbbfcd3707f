//! Reductions over chosen axes: sum, mean, max, min, var (and their whole-tensor forms),
//! with backward rules beside them.
//!
//! Axes may be negative (counted from the end). With `keepdim = true` the reduced axes stay
//! as size 1, so the result broadcasts against the input.

use ndarray::Axis;

use crate::backprop::Op;
use crate::error::{Result, TensorError};
use crate::ops::elementwise::map_binary;
use crate::shape::normalize_axes;
use crate::tensor::{Array, Tensor};

/// Which reduction a [`Op::Reduce`] node performs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ReduceOp {
    Sum,
    Max,
    Min,
}

impl ReduceOp {
    pub(crate) fn name(self) -> &'static str {
        match self {
            ReduceOp::Sum => "sum",
            ReduceOp::Max => "max",
            ReduceOp::Min => "min",
        }
    }
}

/// NaN-propagating max/min folds (a NaN anywhere makes the result NaN, so divergence shows).
fn fold_max(acc: f32, x: f32) -> f32 {
    if x > acc || x.is_nan() || acc.is_nan() {
        if acc.is_nan() {
            acc
        } else {
            x
        }
    } else {
        acc
    }
}

fn fold_min(acc: f32, x: f32) -> f32 {
    if x < acc || x.is_nan() || acc.is_nan() {
        if acc.is_nan() {
            acc
        } else {
            x
        }
    } else {
        acc
    }
}

/// Reduces `x` over sorted `axes`.
fn reduce_array(x: &Array, axes: &[usize], keepdim: bool, op: ReduceOp) -> Array {
    let mut a = x.to_owned();
    for &ax in axes.iter().rev() {
        a = match op {
            ReduceOp::Sum => a.sum_axis(Axis(ax)),
            ReduceOp::Max => a.fold_axis(Axis(ax), f32::NEG_INFINITY, |&acc, &v| fold_max(acc, v)),
            ReduceOp::Min => a.fold_axis(Axis(ax), f32::INFINITY, |&acc, &v| fold_min(acc, v)),
        };
    }
    if keepdim {
        for &ax in axes {
            a.insert_axis_inplace(Axis(ax));
        }
    }
    a.into_shared()
}

/// The shape `x` has after reducing `axes` with `keepdim = true`.
fn keepdim_shape(shape: &[usize], axes: &[usize]) -> Vec<usize> {
    shape
        .iter()
        .enumerate()
        .map(|(i, &d)| if axes.contains(&i) { 1 } else { d })
        .collect()
}

/// dL/dx for a reduction `y = reduce(x, axes)` given `g = dL/dy`.
pub(crate) fn reduce_backward(
    op: ReduceOp,
    x: &Tensor,
    y: &Tensor,
    axes: &[usize],
    g: &Tensor,
) -> Result<Tensor> {
    let kshape = keepdim_shape(x.shape(), axes);
    // Restore the reduced axes as size 1 so g broadcasts over them.
    let g = g.reshape(&kshape)?;
    match op {
        // d sum = 1 for every element summed.
        ReduceOp::Sum => g.broadcast_to(x.shape()),
        // d max = 1 at the arg-max (split equally among ties, as PyTorch's amax), 0 elsewhere.
        ReduceOp::Max | ReduceOp::Min => {
            let xa = x.array();
            let ya = y
                .array()
                .into_shape_with_order(kshape.clone())
                .expect("keepdim shape");
            let hit = map_binary(&xa, &ya, x.shape(), |a, b| if a == b { 1.0 } else { 0.0 });
            let count = reduce_array(&hit, axes, true, ReduceOp::Sum);
            let mask = map_binary(&hit, &count, x.shape(), |h, c| h / c.max(1.0));
            g.mul(&Tensor::from_array(mask))
        }
    }
}

impl Tensor {
    fn reduce(&self, op: ReduceOp, axes: &[isize], keepdim: bool) -> Result<Tensor> {
        let axes = normalize_axes(op.name(), axes, self.shape())?;
        if op != ReduceOp::Sum {
            if let Some(&ax) = axes.iter().find(|&&a| self.shape()[a] == 0) {
                return Err(TensorError::invalid(
                    op.name(),
                    format!(
                        "cannot reduce the empty axis {ax} of shape {:?}",
                        self.shape()
                    ),
                ));
            }
        }
        let out = reduce_array(&self.array(), &axes, keepdim, op);
        Ok(Tensor::from_op(out, &[self], || Op::Reduce {
            op,
            x: self.clone(),
            axes,
        }))
    }

    /// Sum over `axes`: `y[j] = sum_i x[i, j]`. An empty `axes` list returns the input
    /// unchanged (as a new node).
    ///
    /// # Errors
    /// [`TensorError::BadAxis`] for an axis out of range; [`TensorError::InvalidArgument`] for
    /// a repeated axis.
    pub fn sum(&self, axes: &[isize], keepdim: bool) -> Result<Tensor> {
        self.reduce(ReduceOp::Sum, axes, keepdim)
    }

    /// Sum of every element, as a rank-0 tensor.
    ///
    /// # Errors
    /// Never fails.
    pub fn sum_all(&self) -> Result<Tensor> {
        let axes: Vec<isize> = (0..self.ndim() as isize).collect();
        self.sum(&axes, false)
    }

    /// Mean over `axes`: `sum(x, axes) / n` with `n` the number of elements reduced.
    ///
    /// # Errors
    /// As [`Tensor::sum`], and [`TensorError::InvalidArgument`] when an axis is empty.
    pub fn mean(&self, axes: &[isize], keepdim: bool) -> Result<Tensor> {
        let n = self.reduced_count("mean", axes)?;
        Ok(self.sum(axes, keepdim)?.mul_scalar(1.0 / n as f32))
    }

    /// Mean of every element, as a rank-0 tensor.
    ///
    /// # Errors
    /// [`TensorError::InvalidArgument`] for an empty tensor.
    pub fn mean_all(&self) -> Result<Tensor> {
        let axes: Vec<isize> = (0..self.ndim() as isize).collect();
        self.mean(&axes, false)
    }

    /// Maximum over `axes` (NaN propagates). The gradient flows to the maximal elements,
    /// split equally among ties.
    ///
    /// # Errors
    /// As [`Tensor::sum`], and [`TensorError::InvalidArgument`] when an axis is empty.
    pub fn max(&self, axes: &[isize], keepdim: bool) -> Result<Tensor> {
        self.reduce(ReduceOp::Max, axes, keepdim)
    }

    /// Minimum over `axes` (NaN propagates).
    ///
    /// # Errors
    /// As [`Tensor::max`].
    pub fn min(&self, axes: &[isize], keepdim: bool) -> Result<Tensor> {
        self.reduce(ReduceOp::Min, axes, keepdim)
    }

    /// Variance over `axes` with `correction` subtracted from the count (0: population
    /// variance, 1: unbiased sample variance, as `torch.var(correction=...)`):
    /// `var = sum (x - mean)^2 / (n - correction)`.
    ///
    /// # Errors
    /// As [`Tensor::sum`], and [`TensorError::InvalidArgument`] when `n <= correction`.
    pub fn var(&self, axes: &[isize], correction: usize, keepdim: bool) -> Result<Tensor> {
        let n = self.reduced_count("var", axes)?;
        if n <= correction {
            return Err(TensorError::invalid(
                "var",
                format!(
                    "needs more than {correction} elements per reduction, got {n} \
                     (shape {:?}, axes {axes:?})",
                    self.shape()
                ),
            ));
        }
        let centred = self.sub(&self.mean(axes, true)?)?;
        Ok(centred
            .square()
            .sum(axes, keepdim)?
            .mul_scalar(1.0 / (n - correction) as f32))
    }

    fn reduced_count(&self, op: &'static str, axes: &[isize]) -> Result<usize> {
        let axes = normalize_axes(op, axes, self.shape())?;
        let n: usize = axes.iter().map(|&a| self.shape()[a]).product();
        if n == 0 {
            return Err(TensorError::invalid(
                op,
                format!(
                    "cannot reduce empty axes {axes:?} of shape {:?}",
                    self.shape()
                ),
            ));
        }
        Ok(n)
    }
}
