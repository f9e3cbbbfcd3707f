//! What a training loop reaches for besides differentiable maths: `argmax`/`argmin`,
//! comparisons to masks, plain-Rust views (`to_vec1`, `to_vec2`, `to_scalar`), a `Display`
//! like PyTorch's, and the arithmetic operators.
//!
//! **Operators** follow candle: between two tensors (`&a + &b`, `&a * &b`, ...) the result is
//! a `Result<Tensor>`, because shapes may not broadcast; with a scalar (`&a * 2.0`,
//! `&a + 1.0`, `2.0 * &a`) and for negation (`-&a`) it is a plain `Tensor`, because nothing
//! can go wrong. (burn returns a tensor from every operator and panics on a shape mismatch;
//! we keep mismatches as errors, since they name both shapes.) Every operator records onto
//! the autodiff graph exactly as the named method does.

use std::fmt;
use std::ops::{Add, Div, Mul, Neg, Sub};

use ndarray::Axis;

use crate::error::{Result, TensorError};
use crate::ops::elementwise::map_binary;
use crate::shape::broadcast_shapes;
use crate::tensor::Tensor;

impl Tensor {
    /// Index of the largest value along `axis` for every position of the other axes, in
    /// row-major order of those axes: for logits `[batch, classes]`, `argmax(-1)` is the
    /// predicted class of each row. Ties go to the first index; a NaN counts as the largest
    /// (as in PyTorch).
    ///
    /// # Errors
    /// [`TensorError::InvalidArgument`] for an axis out of range or of length 0.
    pub fn argmax(&self, axis: isize) -> Result<Vec<usize>> {
        self.arg_best("argmax", axis, |x, best| x > best)
    }

    /// Index of the smallest value along `axis` (see [`Tensor::argmax`]).
    ///
    /// # Errors
    /// As [`Tensor::argmax`].
    pub fn argmin(&self, axis: isize) -> Result<Vec<usize>> {
        self.arg_best("argmin", axis, |x, best| x < best)
    }

    fn arg_best(
        &self,
        op: &'static str,
        axis: isize,
        better: fn(f32, f32) -> bool,
    ) -> Result<Vec<usize>> {
        let ax = self.axis(op, axis)?;
        if self.shape()[ax] == 0 {
            return Err(TensorError::invalid(
                op,
                format!("axis {axis} of shape {:?} is empty", self.shape()),
            ));
        }
        let a = self.array();
        Ok(a.lanes(Axis(ax))
            .into_iter()
            .map(|lane| {
                let mut best = 0;
                for (i, &x) in lane.iter().enumerate() {
                    let b = lane[best];
                    if !b.is_nan() && (x.is_nan() || better(x, b)) {
                        best = i;
                    }
                }
                best
            })
            .collect())
    }

    fn compare(&self, other: &Tensor, op: &'static str, f: fn(f32, f32) -> bool) -> Result<Tensor> {
        let shape = broadcast_shapes(op, self.shape(), other.shape())?;
        let out = map_binary(&self.array(), &other.array(), &shape, move |x, y| {
            if f(x, y) {
                1.0
            } else {
                0.0
            }
        });
        Ok(Tensor::from_array(out))
    }

    /// Mask `x > y` (1.0 where true, 0.0 elsewhere), broadcasting; a constant (no gradient).
    ///
    /// # Errors
    /// [`TensorError::ShapeMismatch`] when the shapes do not broadcast.
    pub fn gt(&self, other: &Tensor) -> Result<Tensor> {
        self.compare(other, "gt", |x, y| x > y)
    }

    /// Mask `x >= y` (see [`Tensor::gt`]).
    ///
    /// # Errors
    /// As [`Tensor::gt`].
    pub fn ge(&self, other: &Tensor) -> Result<Tensor> {
        self.compare(other, "ge", |x, y| x >= y)
    }

    /// Mask `x < y` (see [`Tensor::gt`]).
    ///
    /// # Errors
    /// As [`Tensor::gt`].
    pub fn lt(&self, other: &Tensor) -> Result<Tensor> {
        self.compare(other, "lt", |x, y| x < y)
    }

    /// Mask `x <= y` (see [`Tensor::gt`]).
    ///
    /// # Errors
    /// As [`Tensor::gt`].
    pub fn le(&self, other: &Tensor) -> Result<Tensor> {
        self.compare(other, "le", |x, y| x <= y)
    }

    /// Mask `x == y` (see [`Tensor::gt`]; NaN equals nothing).
    ///
    /// # Errors
    /// As [`Tensor::gt`].
    pub fn eq(&self, other: &Tensor) -> Result<Tensor> {
        self.compare(other, "eq", |x, y| x == y)
    }

    /// Mask `x != y` (see [`Tensor::gt`]).
    ///
    /// # Errors
    /// As [`Tensor::gt`].
    pub fn ne(&self, other: &Tensor) -> Result<Tensor> {
        self.compare(other, "ne", |x, y| x != y)
    }

    /// The values of a 1-D tensor.
    ///
    /// # Errors
    /// [`TensorError::InvalidArgument`] unless the tensor is 1-D.
    pub fn to_vec1(&self) -> Result<Vec<f32>> {
        if self.ndim() != 1 {
            return Err(TensorError::invalid(
                "to_vec1",
                format!("needs a 1-D tensor, got shape {:?}", self.shape()),
            ));
        }
        Ok(self.to_vec())
    }

    /// The rows of a 2-D tensor.
    ///
    /// # Errors
    /// [`TensorError::InvalidArgument`] unless the tensor is 2-D.
    pub fn to_vec2(&self) -> Result<Vec<Vec<f32>>> {
        if self.ndim() != 2 {
            return Err(TensorError::invalid(
                "to_vec2",
                format!("needs a 2-D tensor, got shape {:?}", self.shape()),
            ));
        }
        let cols = self.shape()[1];
        Ok(self
            .to_vec()
            .chunks(cols.max(1))
            .take(self.shape()[0])
            .map(<[f32]>::to_vec)
            .collect())
    }

    /// The value of a one-element tensor (any rank), like PyTorch's `.item()`.
    ///
    /// # Errors
    /// [`TensorError::InvalidArgument`] unless the tensor has exactly one element.
    pub fn to_scalar(&self) -> Result<f32> {
        self.item()
    }
}

/// Shows at most this many entries per axis: the first and last half, `...` between.
const EDGE: usize = 3;

fn write_axis(
    f: &mut fmt::Formatter<'_>,
    data: &[f32],
    shape: &[usize],
    depth: usize,
) -> fmt::Result {
    let Some((&n, rest)) = shape.split_first() else {
        return write!(f, "{:.4}", data[0]);
    };
    let stride: usize = rest.iter().product();
    let shown: Vec<Option<usize>> = if n > 2 * EDGE {
        (0..EDGE)
            .map(Some)
            .chain([None])
            .chain((n - EDGE..n).map(Some))
            .collect()
    } else {
        (0..n).map(Some).collect()
    };
    write!(f, "[")?;
    for (k, i) in shown.iter().enumerate() {
        if k > 0 {
            if rest.is_empty() {
                write!(f, ", ")?;
            } else {
                write!(f, ",\n{}", " ".repeat(depth + 8))?;
            }
        }
        match i {
            Some(i) => write_axis(f, &data[i * stride..(i + 1) * stride], rest, depth + 1)?,
            None => write!(f, "...")?,
        }
    }
    write!(f, "]")
}

impl fmt::Display for Tensor {
    /// PyTorch's layout: `tensor([[0.1000, 0.2000], ...], shape=[2, 2])`, at most three
    /// entries from each end of an axis, and `requires_grad=true` when it does.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "tensor(")?;
        if self.shape().contains(&0) {
            write!(f, "[]")?;
        } else {
            write_axis(f, &self.to_vec(), self.shape(), 0)?;
        }
        write!(f, ", shape={:?}", self.shape())?;
        if self.requires_grad() {
            write!(f, ", requires_grad=true")?;
        }
        write!(f, ")")
    }
}

macro_rules! tensor_ops {
    ($($trait:ident $method:ident $op:ident $scalar:ident;)*) => {$(
        impl $trait<&Tensor> for &Tensor {
            type Output = Result<Tensor>;
            fn $method(self, rhs: &Tensor) -> Result<Tensor> {
                Tensor::$op(self, rhs)
            }
        }
        impl $trait<Tensor> for Tensor {
            type Output = Result<Tensor>;
            fn $method(self, rhs: Tensor) -> Result<Tensor> {
                Tensor::$op(&self, &rhs)
            }
        }
        impl $trait<&Tensor> for Tensor {
            type Output = Result<Tensor>;
            fn $method(self, rhs: &Tensor) -> Result<Tensor> {
                Tensor::$op(&self, rhs)
            }
        }
        impl $trait<Tensor> for &Tensor {
            type Output = Result<Tensor>;
            fn $method(self, rhs: Tensor) -> Result<Tensor> {
                Tensor::$op(self, &rhs)
            }
        }
        impl $trait<f32> for &Tensor {
            type Output = Tensor;
            fn $method(self, c: f32) -> Tensor {
                Tensor::$scalar(self, c)
            }
        }
        impl $trait<f32> for Tensor {
            type Output = Tensor;
            fn $method(self, c: f32) -> Tensor {
                Tensor::$scalar(&self, c)
            }
        }
    )*};
}

tensor_ops! {
    Add add add add_scalar;
    Sub sub sub sub_scalar;
    Mul mul mul mul_scalar;
    Div div div div_scalar;
}

impl Add<&Tensor> for f32 {
    type Output = Tensor;
    fn add(self, t: &Tensor) -> Tensor {
        t.add_scalar(self)
    }
}

impl Mul<&Tensor> for f32 {
    type Output = Tensor;
    fn mul(self, t: &Tensor) -> Tensor {
        t.mul_scalar(self)
    }
}

impl Sub<&Tensor> for f32 {
    type Output = Tensor;
    fn sub(self, t: &Tensor) -> Tensor {
        t.neg().add_scalar(self)
    }
}

impl Neg for &Tensor {
    type Output = Tensor;
    fn neg(self) -> Tensor {
        Tensor::neg(self)
    }
}

impl Neg for Tensor {
    type Output = Tensor;
    fn neg(self) -> Tensor {
        Tensor::neg(&self)
    }
}
