//! Shape and indexing operations: reshape, permute/transpose, broadcast, slice/pad,
//! concat/stack, index_select (embedding lookup), gather/scatter_add — each with its backward.
//!
//! `permute`, `transpose` and `slice` are views: they share storage with their input and only
//! change strides and offset. `reshape` is free for standard-layout data and copies otherwise.
//! Each op and its adjoint are pairs (slice/pad, index_select/index_add, gather/scatter_add,
//! broadcast_to/sum), so every backward is itself differentiable.

use std::ops::Range;
use std::sync::Arc;

use ndarray::{ArrayD, Axis, IxDyn, Slice};

use crate::backprop::Op;
use crate::error::{Result, TensorError};
use crate::ops::elementwise::sum_to_shape;
use crate::shape::normalize_axis_rank;
use crate::tensor::{Array, Tensor};

/// Reshapes an array, sharing the data when it is in standard layout.
pub(crate) fn reshape_array(a: Array, shape: &[usize]) -> Array {
    let a = if a.is_standard_layout() {
        a
    } else {
        a.as_standard_layout().into_owned().into_shared()
    };
    a.into_shape_with_order(IxDyn(shape))
        .expect("element count checked by caller")
}

/// dL/d(parents) for the layout family.
pub(crate) fn layout_backward(op: &Op, g: &Tensor) -> Result<Vec<(Tensor, Tensor)>> {
    Ok(match op {
        Op::Reshape { x } => vec![(x.clone(), g.reshape(x.shape())?)],
        // The adjoint of a permutation is its inverse.
        Op::Permute { x, perm } => {
            let mut inv = vec![0; perm.len()];
            for (i, &p) in perm.iter().enumerate() {
                inv[p] = i;
            }
            vec![(x.clone(), g.permute(&inv)?)]
        }
        // Broadcasting copies; its adjoint sums the copies.
        Op::BroadcastTo { x } => vec![(x.clone(), sum_to_shape(g, x.shape())?)],
        // A slice's adjoint zero-pads back to the full shape.
        Op::Slice { x, ranges } => {
            let pads: Vec<(usize, usize)> = ranges
                .iter()
                .zip(x.shape())
                .map(|(r, &d)| (r.start, d - r.end))
                .collect();
            vec![(x.clone(), g.pad(&pads)?)]
        }
        // Zero padding's adjoint cuts the padding off.
        Op::Pad { x, pads } => {
            let ranges: Vec<Range<usize>> = pads
                .iter()
                .zip(x.shape())
                .map(|(&(before, _), &d)| before..before + d)
                .collect();
            vec![(x.clone(), g.slice(&ranges)?)]
        }
        Op::Concat { xs, axis } => {
            let mut start = 0;
            let mut out = Vec::with_capacity(xs.len());
            for x in xs {
                let len = x.shape()[*axis];
                if x.requires_grad() {
                    out.push((x.clone(), g.narrow(*axis as isize, start, len)?));
                }
                start += len;
            }
            out
        }
        Op::IndexSelect { x, axis, index } => {
            vec![(
                x.clone(),
                index_add_op(g, *axis, index.clone(), x.shape()[*axis])?,
            )]
        }
        Op::IndexAdd { src, axis, index } => {
            vec![(src.clone(), g.index_select(*axis as isize, index)?)]
        }
        Op::Gather { x, axis, index } => {
            vec![(
                x.clone(),
                scatter_add_op(g, *axis, index.clone(), x.shape())?,
            )]
        }
        Op::ScatterAdd { src, axis, index } => {
            vec![(src.clone(), gather_op(g, *axis, index.clone())?)]
        }
        _ => unreachable!("layout_backward called with a non-layout op {}", op.name()),
    })
}

/// `zeros` with axis `axis` of size `size`, rows `index[i]` incremented by `src`'s row `i`.
fn index_add_op(src: &Tensor, axis: usize, index: Arc<[usize]>, size: usize) -> Result<Tensor> {
    let mut shape = src.shape().to_vec();
    shape[axis] = size;
    let s = src.array();
    let mut out = ArrayD::<f32>::zeros(IxDyn(&shape));
    for (i, &j) in index.iter().enumerate() {
        let mut dst = out.index_axis_mut(Axis(axis), j);
        dst += &s.index_axis(Axis(axis), i);
    }
    Ok(Tensor::from_op(out.into_shared(), &[src], || {
        Op::IndexAdd {
            src: src.clone(),
            axis,
            index,
        }
    }))
}

/// Position of `p` with its `axis` coordinate replaced by `j`.
fn with_coord(p: &IxDyn, axis: usize, j: usize) -> IxDyn {
    let mut q = p.clone();
    q[axis] = j;
    q
}

fn gather_op(x: &Tensor, axis: usize, index: Arc<ArrayD<usize>>) -> Result<Tensor> {
    let xa = x.array();
    let mut out = index.map(|_| 0.0f32);
    for ((p, &j), o) in index.indexed_iter().zip(out.iter_mut()) {
        *o = xa[with_coord(&p, axis, j)];
    }
    Ok(Tensor::from_op(out.into_shared(), &[x], || Op::Gather {
        x: x.clone(),
        axis,
        index,
    }))
}

fn scatter_add_op(
    src: &Tensor,
    axis: usize,
    index: Arc<ArrayD<usize>>,
    shape: &[usize],
) -> Result<Tensor> {
    let s = src.array();
    let mut out = ArrayD::<f32>::zeros(IxDyn(shape));
    for ((p, &j), &v) in index.indexed_iter().zip(s.iter()) {
        out[with_coord(&p, axis, j)] += v;
    }
    Ok(Tensor::from_op(out.into_shared(), &[src], || {
        Op::ScatterAdd {
            src: src.clone(),
            axis,
            index,
        }
    }))
}

impl Tensor {
    /// The same elements in a new shape (row-major order). Free for standard-layout data.
    ///
    /// # Errors
    /// [`TensorError::BadReshape`] when the element counts differ.
    pub fn reshape(&self, shape: &[usize]) -> Result<Tensor> {
        let to_len: usize = shape.iter().product();
        if to_len != self.numel() {
            return Err(TensorError::BadReshape {
                from: self.shape().to_vec(),
                from_len: self.numel(),
                to: shape.to_vec(),
                to_len,
            });
        }
        if shape == self.shape() {
            return Ok(self.clone());
        }
        let out = reshape_array(self.array(), shape);
        Ok(Tensor::from_op(out, &[self], || Op::Reshape {
            x: self.clone(),
        }))
    }

    /// Flattens axes `from..` into one: `[2, 3, 4].flatten_from(1)` has shape `[2, 12]`.
    ///
    /// # Errors
    /// [`TensorError::BadAxis`] when `from > ndim`.
    pub fn flatten_from(&self, from: usize) -> Result<Tensor> {
        if from > self.ndim() {
            return Err(TensorError::BadAxis {
                op: "flatten_from",
                axis: from as isize,
                ndim: self.ndim(),
                shape: self.shape().to_vec(),
            });
        }
        let mut shape = self.shape()[..from].to_vec();
        shape.push(self.shape()[from..].iter().product());
        self.reshape(&shape)
    }

    /// Inserts an axis of size 1 at `axis` (`-1` appends).
    ///
    /// # Errors
    /// [`TensorError::BadAxis`] when `axis` is outside `-(ndim+1)..=ndim`.
    pub fn unsqueeze(&self, axis: isize) -> Result<Tensor> {
        let ax = normalize_axis_rank("unsqueeze", axis, self.ndim() + 1, self.shape())?;
        let mut shape = self.shape().to_vec();
        shape.insert(ax, 1);
        self.reshape(&shape)
    }

    /// Removes axis `axis`, which must have size 1.
    ///
    /// # Errors
    /// [`TensorError::BadAxis`], or [`TensorError::InvalidArgument`] when the axis is not 1.
    pub fn squeeze(&self, axis: isize) -> Result<Tensor> {
        let ax = self.axis("squeeze", axis)?;
        if self.shape()[ax] != 1 {
            return Err(TensorError::invalid(
                "squeeze",
                format!(
                    "axis {axis} has size {}, not 1 (shape {:?})",
                    self.shape()[ax],
                    self.shape()
                ),
            ));
        }
        let mut shape = self.shape().to_vec();
        shape.remove(ax);
        self.reshape(&shape)
    }

    /// Reorders axes: output axis `i` is input axis `perm[i]`. A view (no copy).
    ///
    /// # Errors
    /// [`TensorError::InvalidArgument`] when `perm` is not a permutation of `0..ndim`.
    pub fn permute(&self, perm: &[usize]) -> Result<Tensor> {
        let n = self.ndim();
        let mut seen = vec![false; n];
        let valid = perm.len() == n
            && perm
                .iter()
                .all(|&p| p < n && !std::mem::replace(&mut seen[p], true));
        if !valid {
            return Err(TensorError::invalid(
                "permute",
                format!(
                    "{perm:?} is not a permutation of the {n} axes of shape {:?}",
                    self.shape()
                ),
            ));
        }
        let out = self.array().permuted_axes(IxDyn(perm));
        Ok(Tensor::from_op(out, &[self], || Op::Permute {
            x: self.clone(),
            perm: perm.to_vec(),
        }))
    }

    /// Swaps two axes. A view.
    ///
    /// # Errors
    /// [`TensorError::BadAxis`] for an axis out of range.
    pub fn transpose(&self, a: isize, b: isize) -> Result<Tensor> {
        let (a, b) = (self.axis("transpose", a)?, self.axis("transpose", b)?);
        let mut perm: Vec<usize> = (0..self.ndim()).collect();
        perm.swap(a, b);
        self.permute(&perm)
    }

    /// Swaps the last two axes (the matrix transpose of each batch element); a tensor of
    /// rank 0 or 1 is returned as it is (PyTorch's `.t()` does the same). A view; it cannot
    /// fail.
    pub fn t(&self) -> Tensor {
        if self.ndim() < 2 {
            return self.clone();
        }
        self.transpose(-2, -1)
            .expect("rank >= 2 has a last pair of axes")
    }

    /// Expands size-1 (or missing leading) axes to `shape` by repetition. The backward sums.
    ///
    /// # Errors
    /// [`TensorError::ShapeMismatch`] when `self` does not broadcast to `shape`.
    pub fn broadcast_to(&self, shape: &[usize]) -> Result<Tensor> {
        if shape == self.shape() {
            return Ok(self.clone());
        }
        let a = self.array();
        let Some(view) = a.broadcast(IxDyn(shape)) else {
            return Err(TensorError::shape_detail(
                "broadcast_to",
                self.shape(),
                shape,
                "only size-1 or missing leading axes can be expanded".into(),
            ));
        };
        let out = view.to_owned().into_shared();
        Ok(Tensor::from_op(out, &[self], || Op::BroadcastTo {
            x: self.clone(),
        }))
    }

    /// Takes `ranges[i]` along axis `i`; axes beyond `ranges.len()` are kept whole. A view.
    ///
    /// # Errors
    /// [`TensorError::InvalidArgument`] with more ranges than axes or a reversed range;
    /// [`TensorError::IndexOutOfBounds`] for a range past the end of its axis.
    pub fn slice(&self, ranges: &[Range<usize>]) -> Result<Tensor> {
        if ranges.len() > self.ndim() {
            return Err(TensorError::invalid(
                "slice",
                format!(
                    "{} ranges for a tensor of shape {:?}",
                    ranges.len(),
                    self.shape()
                ),
            ));
        }
        let mut full: Vec<Range<usize>> = Vec::with_capacity(self.ndim());
        for (ax, &d) in self.shape().iter().enumerate() {
            let r = ranges.get(ax).cloned().unwrap_or(0..d);
            if r.start > r.end {
                return Err(TensorError::invalid(
                    "slice",
                    format!("range {r:?} on axis {ax} is reversed"),
                ));
            }
            if r.end > d {
                return Err(TensorError::IndexOutOfBounds {
                    op: "slice",
                    index: r.end,
                    axis: ax,
                    size: d,
                    shape: self.shape().to_vec(),
                });
            }
            full.push(r);
        }
        let mut a = self.array();
        for (ax, r) in full.iter().enumerate() {
            a.slice_axis_inplace(Axis(ax), Slice::from(r.clone()));
        }
        Ok(Tensor::from_op(a, &[self], || Op::Slice {
            x: self.clone(),
            ranges: full,
        }))
    }

    /// `len` entries of axis `axis` starting at `start`. A view.
    ///
    /// # Errors
    /// [`TensorError::BadAxis`] or [`TensorError::IndexOutOfBounds`].
    pub fn narrow(&self, axis: isize, start: usize, len: usize) -> Result<Tensor> {
        let ax = self.axis("narrow", axis)?;
        let mut ranges: Vec<Range<usize>> = self.shape().iter().map(|&d| 0..d).collect();
        ranges[ax] = start..start + len;
        self.slice(&ranges)
    }

    /// Zero-pads axis `i` with `pads[i].0` entries before and `pads[i].1` after; axes beyond
    /// `pads.len()` are not padded.
    ///
    /// # Errors
    /// [`TensorError::InvalidArgument`] with more pad pairs than axes.
    pub fn pad(&self, pads: &[(usize, usize)]) -> Result<Tensor> {
        if pads.len() > self.ndim() {
            return Err(TensorError::invalid(
                "pad",
                format!(
                    "{} pad pairs for a tensor of shape {:?}",
                    pads.len(),
                    self.shape()
                ),
            ));
        }
        let mut full = pads.to_vec();
        full.resize(self.ndim(), (0, 0));
        let shape: Vec<usize> = self
            .shape()
            .iter()
            .zip(&full)
            .map(|(&d, &(b, a))| d + b + a)
            .collect();
        let mut out = ArrayD::<f32>::zeros(IxDyn(&shape));
        {
            let mut view = out.view_mut();
            for (ax, (&(b, _), &d)) in full.iter().zip(self.shape()).enumerate() {
                view.slice_axis_inplace(Axis(ax), Slice::from(b..b + d));
            }
            view.assign(&self.array());
        }
        Ok(Tensor::from_op(out.into_shared(), &[self], || Op::Pad {
            x: self.clone(),
            pads: full,
        }))
    }

    /// Joins tensors along an existing axis. All other axes must agree.
    ///
    /// # Errors
    /// [`TensorError::InvalidArgument`] for an empty list; [`TensorError::ShapeMismatch`] when
    /// ranks or non-joined sizes differ; [`TensorError::BadAxis`].
    pub fn concat(xs: &[Tensor], axis: isize) -> Result<Tensor> {
        let Some(first) = xs.first() else {
            return Err(TensorError::invalid("concat", "needs at least one tensor"));
        };
        let ax = first.axis("concat", axis)?;
        for x in &xs[1..] {
            let same_rank = x.ndim() == first.ndim();
            let same_rest = same_rank
                && x.shape()
                    .iter()
                    .zip(first.shape())
                    .enumerate()
                    .all(|(i, (a, b))| i == ax || a == b);
            if !same_rest {
                return Err(TensorError::shape_detail(
                    "concat",
                    first.shape(),
                    x.shape(),
                    format!("all axes but {ax} must match"),
                ));
            }
        }
        let arrays: Vec<Array> = xs.iter().map(Tensor::array).collect();
        let views: Vec<_> = arrays.iter().map(|a| a.view()).collect();
        let out = ndarray::concatenate(Axis(ax), &views).expect("shapes checked above");
        Ok(Tensor::from_op(
            out.into_shared(),
            &xs.iter().collect::<Vec<_>>(),
            || Op::Concat {
                xs: xs.to_vec(),
                axis: ax,
            },
        ))
    }

    /// Stacks equally shaped tensors along a new axis `axis`.
    ///
    /// # Errors
    /// As [`Tensor::concat`].
    pub fn stack(xs: &[Tensor], axis: isize) -> Result<Tensor> {
        let Some(first) = xs.first() else {
            return Err(TensorError::invalid("stack", "needs at least one tensor"));
        };
        let ax = normalize_axis_rank("stack", axis, first.ndim() + 1, first.shape())?;
        for x in &xs[1..] {
            if x.shape() != first.shape() {
                return Err(TensorError::shape_detail(
                    "stack",
                    first.shape(),
                    x.shape(),
                    "stacked tensors must have equal shapes".into(),
                ));
            }
        }
        let expanded: Vec<Tensor> = xs
            .iter()
            .map(|x| x.unsqueeze(ax as isize))
            .collect::<Result<_>>()?;
        Tensor::concat(&expanded, ax as isize)
    }

    /// Selects entries `index` along `axis` (repeats allowed): an embedding lookup is
    /// `table.index_select(0, &token_ids)`. The backward adds rows back (`index_add`).
    ///
    /// # Errors
    /// [`TensorError::BadAxis`] or [`TensorError::IndexOutOfBounds`].
    pub fn index_select(&self, axis: isize, index: &[usize]) -> Result<Tensor> {
        let ax = self.axis("index_select", axis)?;
        let size = self.shape()[ax];
        if let Some(&bad) = index.iter().find(|&&i| i >= size) {
            return Err(TensorError::IndexOutOfBounds {
                op: "index_select",
                index: bad,
                axis: ax,
                size,
                shape: self.shape().to_vec(),
            });
        }
        let out = self.array().select(Axis(ax), index).into_shared();
        Ok(Tensor::from_op(out, &[self], || Op::IndexSelect {
            x: self.clone(),
            axis: ax,
            index: index.into(),
        }))
    }

    /// PyTorch's `gather`: `out[p] = self[p with p[axis] = index[p]]`. `index` has the rank of
    /// `self` and, on every other axis, a size no larger than `self`'s. Picking the target
    /// logit of each row is `logits.gather(1, &targets_as_column)`.
    ///
    /// # Errors
    /// [`TensorError::ShapeMismatch`] for an index of another rank or too large;
    /// [`TensorError::IndexOutOfBounds`] for an index value past the axis.
    pub fn gather(&self, axis: isize, index: &ArrayD<usize>) -> Result<Tensor> {
        let ax = self.axis("gather", axis)?;
        let fits = index.ndim() == self.ndim()
            && index
                .shape()
                .iter()
                .zip(self.shape())
                .enumerate()
                .all(|(i, (&n, &d))| i == ax || n <= d);
        if !fits {
            return Err(TensorError::shape_detail(
                "gather",
                self.shape(),
                index.shape(),
                format!(
                    "the index must have the same rank and sizes no larger except on axis {ax}"
                ),
            ));
        }
        let size = self.shape()[ax];
        if let Some(&bad) = index.iter().find(|&&i| i >= size) {
            return Err(TensorError::IndexOutOfBounds {
                op: "gather",
                index: bad,
                axis: ax,
                size,
                shape: self.shape().to_vec(),
            });
        }
        gather_op(self, ax, Arc::new(index.clone()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn views_share_storage() {
        let x = Tensor::arange(6).reshape(&[2, 3]).unwrap();
        let t = x.t();
        assert_eq!(t.shape(), &[3, 2]);
        assert_eq!(t.to_vec(), vec![0.0, 3.0, 1.0, 4.0, 2.0, 5.0]);
        assert_eq!(t.array().as_ptr(), x.array().as_ptr());
        let s = x.slice(&[1..2, 1..3]).unwrap();
        assert_eq!(s.to_vec(), vec![4.0, 5.0]);
    }

    #[test]
    fn gather_and_index_select_pick_entries() {
        let x = Tensor::arange(6).reshape(&[2, 3]).unwrap();
        let idx = ArrayD::from_shape_vec(IxDyn(&[2, 1]), vec![2usize, 0]).unwrap();
        assert_eq!(x.gather(1, &idx).unwrap().to_vec(), vec![2.0, 3.0]);
        assert_eq!(x.index_select(0, &[1, 1, 0]).unwrap().shape(), &[3, 3]);
        assert!(matches!(
            x.index_select(1, &[3]),
            Err(TensorError::IndexOutOfBounds {
                index: 3,
                size: 3,
                ..
            })
        ));
    }

    #[test]
    fn shape_errors_name_the_op_and_shapes() {
        let x = Tensor::zeros(&[2, 3]);
        let e = x.reshape(&[4, 2]).unwrap_err();
        assert_eq!(
            e.to_string(),
            "reshape: cannot reshape [2, 3] (6 elements) into [4, 2] (8 elements)"
        );
        let e = Tensor::concat(&[x.clone(), Tensor::zeros(&[3, 2])], 0).unwrap_err();
        assert!(e
            .to_string()
            .starts_with("concat: shapes [2, 3] and [3, 2] are incompatible"));
        assert!(x.permute(&[0, 0]).is_err());
        assert!(x.broadcast_to(&[3, 3]).is_err());
    }
}
