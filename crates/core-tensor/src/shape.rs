//! Shape arithmetic: axis normalisation and NumPy-style broadcasting rules.
//!
//! Broadcasting aligns shapes at their last axis; two sizes are compatible when they are equal
//! or one of them is 1, and a missing leading axis counts as 1. The result takes the larger
//! size on each axis: `[4, 1, 3]` with `[5, 1]` gives `[4, 5, 3]`.

use crate::error::{Result, TensorError};

/// Turns a possibly negative axis into an index in `0..shape.len()`.
///
/// # Errors
/// [`TensorError::BadAxis`] when the axis is out of range.
pub fn normalize_axis(op: &'static str, axis: isize, shape: &[usize]) -> Result<usize> {
    normalize_axis_rank(op, axis, shape.len(), shape)
}

/// Like [`normalize_axis`] for a rank that may exceed the shape (e.g. `unsqueeze`, which
/// accepts `0..=ndim`).
pub(crate) fn normalize_axis_rank(
    op: &'static str,
    axis: isize,
    rank: usize,
    shape: &[usize],
) -> Result<usize> {
    let a = if axis < 0 { axis + rank as isize } else { axis };
    if a < 0 || a >= rank as isize {
        return Err(TensorError::BadAxis {
            op,
            axis,
            ndim: shape.len(),
            shape: shape.to_vec(),
        });
    }
    Ok(a as usize)
}

/// Normalises a list of axes, rejecting duplicates; returns them sorted ascending.
///
/// # Errors
/// [`TensorError::BadAxis`] for an axis out of range, [`TensorError::InvalidArgument`] for a
/// repeated axis.
pub fn normalize_axes(op: &'static str, axes: &[isize], shape: &[usize]) -> Result<Vec<usize>> {
    let mut out = Vec::with_capacity(axes.len());
    for &a in axes {
        let n = normalize_axis(op, a, shape)?;
        if out.contains(&n) {
            return Err(TensorError::invalid(
                op,
                format!("axis {a} is repeated in {axes:?} (shape {shape:?})"),
            ));
        }
        out.push(n);
    }
    out.sort_unstable();
    Ok(out)
}

/// The broadcast shape of `a` and `b`.
///
/// # Errors
/// [`TensorError::ShapeMismatch`] naming `op` when some axis has two different sizes, neither
/// of them 1.
pub fn broadcast_shapes(op: &'static str, a: &[usize], b: &[usize]) -> Result<Vec<usize>> {
    let n = a.len().max(b.len());
    let mut out = vec![0; n];
    for i in 0..n {
        let da = if i < n - a.len() {
            1
        } else {
            a[i - (n - a.len())]
        };
        let db = if i < n - b.len() {
            1
        } else {
            b[i - (n - b.len())]
        };
        out[i] = match (da, db) {
            (x, y) if x == y => x,
            (1, y) => y,
            (x, 1) => x,
            _ => {
                return Err(TensorError::shape_detail(
                    op,
                    a,
                    b,
                    format!(
                        "axis {i} of the broadcast result has sizes {da} and {db}; \
                         broadcasting needs equal sizes or 1"
                    ),
                ))
            }
        };
    }
    Ok(out)
}

/// The axes of `from` that must be summed to reduce a gradient of shape `from` back to a
/// broadcast operand of shape `to`: the leading extra axes and every axis where `to` is 1 and
/// `from` is not. Axes are given in `from`'s numbering.
pub(crate) fn reduction_axes_to(from: &[usize], to: &[usize]) -> Vec<usize> {
    let lead = from.len() - to.len();
    let mut axes: Vec<usize> = (0..lead).collect();
    for (i, &t) in to.iter().enumerate() {
        if t == 1 && from[lead + i] != 1 {
            axes.push(lead + i);
        }
    }
    axes
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn broadcast_rules() {
        assert_eq!(
            broadcast_shapes("t", &[4, 1, 3], &[5, 1]).unwrap(),
            vec![4, 5, 3]
        );
        assert_eq!(broadcast_shapes("t", &[], &[2, 3]).unwrap(), vec![2, 3]);
        let err = broadcast_shapes("add", &[2, 3], &[4, 3]).unwrap_err();
        assert_eq!(
            err.to_string(),
            "add: shapes [2, 3] and [4, 3] are incompatible (axis 0 of the broadcast result \
             has sizes 2 and 4; broadcasting needs equal sizes or 1)"
        );
    }

    #[test]
    fn axes_normalise_and_reject() {
        assert_eq!(
            normalize_axes("sum", &[-1, 0], &[2, 3, 4]).unwrap(),
            vec![0, 2]
        );
        assert!(matches!(
            normalize_axis("sum", 3, &[2, 3, 4]),
            Err(TensorError::BadAxis {
                axis: 3,
                ndim: 3,
                ..
            })
        ));
        assert!(normalize_axes("sum", &[1, -2], &[2, 3, 4]).is_err());
    }

    #[test]
    fn reduction_axes_for_broadcast_gradients() {
        assert_eq!(reduction_axes_to(&[4, 5, 3], &[5, 1]), vec![0, 2]);
        assert_eq!(reduction_axes_to(&[2, 3], &[2, 3]), Vec::<usize>::new());
    }
}
