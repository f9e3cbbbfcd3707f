//! Elementwise operations: unary maps, scalar ops and broadcasting binary ops, each with its
//! backward rule right beside it.
//!
//! Every backward rule is written with differentiable tensor operations (not raw loops), so
//! that the gradient graph can itself be differentiated: that is what makes exact
//! Hessian-vector products (double backward) possible.
//!
//! Large contiguous inputs are processed in parallel chunks with rayon; the result of every
//! element is computed by the same scalar function whatever the split, so numbers do not depend
//! on the thread count.

use ndarray::{ArrayD, IxDyn, Zip};
use rayon::prelude::*;

use crate::backprop::Op;
use crate::error::{Result, TensorError};
use crate::shape::{broadcast_shapes, reduction_axes_to};
use crate::tensor::{Array, Tensor};

/// Below this many elements an elementwise op runs on the calling thread.
const PAR_MIN_ELEMS: usize = 1 << 15;
/// Elements per rayon task.
const PAR_CHUNK: usize = 1 << 13;

/// Applies `f` to every element, keeping the shape.
pub(crate) fn map_unary(x: &Array, f: impl Fn(f32) -> f32 + Sync + Send) -> Array {
    let out: ArrayD<f32> = match x.as_slice() {
        Some(s) => {
            let v = if s.len() >= PAR_MIN_ELEMS {
                let mut v = Vec::with_capacity(s.len());
                s.par_iter()
                    .with_min_len(PAR_CHUNK)
                    .map(|&a| f(a))
                    .collect_into_vec(&mut v);
                v
            } else {
                s.iter().map(|&a| f(a)).collect()
            };
            ArrayD::from_shape_vec(IxDyn(x.shape()), v).expect("same length")
        }
        None => x.map(|&a| f(a)),
    };
    out.into_shared()
}

/// Applies `f` pairwise after broadcasting `a` and `b` to `shape`.
pub(crate) fn map_binary(
    a: &Array,
    b: &Array,
    shape: &[usize],
    f: impl Fn(f32, f32) -> f32 + Sync + Send,
) -> Array {
    if a.shape() == shape && b.shape() == shape {
        if let (Some(sa), Some(sb)) = (a.as_slice(), b.as_slice()) {
            let v: Vec<f32> = if sa.len() >= PAR_MIN_ELEMS {
                let mut v = Vec::with_capacity(sa.len());
                sa.par_iter()
                    .zip(sb.par_iter())
                    .with_min_len(PAR_CHUNK)
                    .map(|(&x, &y)| f(x, y))
                    .collect_into_vec(&mut v);
                v
            } else {
                sa.iter().zip(sb).map(|(&x, &y)| f(x, y)).collect()
            };
            return ArrayD::from_shape_vec(IxDyn(shape), v)
                .expect("same length")
                .into_shared();
        }
    }
    let av = a.broadcast(IxDyn(shape)).expect("shape checked by caller");
    let bv = b.broadcast(IxDyn(shape)).expect("shape checked by caller");
    let zip = Zip::from(&av).and(&bv);
    let n: usize = shape.iter().product();
    let out = if n >= PAR_MIN_ELEMS {
        zip.par_map_collect(|&x, &y| f(x, y))
    } else {
        zip.map_collect(|&x, &y| f(x, y))
    };
    out.into_shared()
}

/// A unary elementwise operation (including scalar-parameterised ones).
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum UnaryOp {
    Neg,
    Exp,
    Log,
    Sqrt,
    Abs,
    Relu,
    LeakyRelu(f32),
    Sigmoid,
    Tanh,
    Erf,
    Gelu,
    Softplus,
    PowF(f32),
    AddScalar(f32),
    MulScalar(f32),
    Clamp(f32, f32),
}

const FRAC_1_SQRT_2: f32 = std::f32::consts::FRAC_1_SQRT_2;
/// 1 / sqrt(2 pi).
const INV_SQRT_2PI: f32 = 0.398_942_3;

fn sigmoid_f(x: f32) -> f32 {
    // Two branches so that exp never overflows: for x < 0 use e^x / (1 + e^x).
    if x >= 0.0 {
        1.0 / (1.0 + (-x).exp())
    } else {
        let e = x.exp();
        e / (1.0 + e)
    }
}

fn softplus_f(x: f32) -> f32 {
    // log(1 + e^x) = max(x, 0) + log1p(e^-|x|): exact for large |x|, never overflows.
    x.max(0.0) + (-x.abs()).exp().ln_1p()
}

impl UnaryOp {
    pub(crate) fn name(self) -> &'static str {
        match self {
            UnaryOp::Neg => "neg",
            UnaryOp::Exp => "exp",
            UnaryOp::Log => "log",
            UnaryOp::Sqrt => "sqrt",
            UnaryOp::Abs => "abs",
            UnaryOp::Relu => "relu",
            UnaryOp::LeakyRelu(_) => "leaky_relu",
            UnaryOp::Sigmoid => "sigmoid",
            UnaryOp::Tanh => "tanh",
            UnaryOp::Erf => "erf",
            UnaryOp::Gelu => "gelu",
            UnaryOp::Softplus => "softplus",
            UnaryOp::PowF(_) => "powf",
            UnaryOp::AddScalar(_) => "add_scalar",
            UnaryOp::MulScalar(_) => "mul_scalar",
            UnaryOp::Clamp(..) => "clamp",
        }
    }

    fn forward(self, x: &Array) -> Array {
        match self {
            UnaryOp::Neg => map_unary(x, |a| -a),
            UnaryOp::Exp => map_unary(x, f32::exp),
            UnaryOp::Log => map_unary(x, f32::ln),
            UnaryOp::Sqrt => map_unary(x, f32::sqrt),
            UnaryOp::Abs => map_unary(x, f32::abs),
            UnaryOp::Relu => map_unary(x, |a| if a > 0.0 { a } else { 0.0 }),
            UnaryOp::LeakyRelu(s) => map_unary(x, move |a| if a > 0.0 { a } else { s * a }),
            UnaryOp::Sigmoid => map_unary(x, sigmoid_f),
            UnaryOp::Tanh => map_unary(x, f32::tanh),
            UnaryOp::Erf => map_unary(x, libm::erff),
            UnaryOp::Gelu => map_unary(x, |a| 0.5 * a * (1.0 + libm::erff(a * FRAC_1_SQRT_2))),
            UnaryOp::Softplus => map_unary(x, softplus_f),
            UnaryOp::PowF(p) => map_unary(x, move |a| a.powf(p)),
            UnaryOp::AddScalar(c) => map_unary(x, move |a| a + c),
            UnaryOp::MulScalar(c) => map_unary(x, move |a| a * c),
            UnaryOp::Clamp(lo, hi) => map_unary(x, move |a| a.clamp(lo, hi)),
        }
    }
}

/// dL/dx for `y = op(x)` given `g = dL/dy`, in differentiable form.
pub(crate) fn unary_backward(op: UnaryOp, x: &Tensor, y: &Tensor, g: &Tensor) -> Result<Tensor> {
    match op {
        // d(-x) = -1
        UnaryOp::Neg => Ok(g.neg()),
        // d e^x = e^x = y
        UnaryOp::Exp => g.mul(y),
        // d ln x = 1/x
        UnaryOp::Log => g.div(x),
        // d sqrt(x) = 1 / (2 sqrt(x)) = 0.5 / y
        UnaryOp::Sqrt => Ok(g.div(y)?.mul_scalar(0.5)),
        // d|x| = sign(x) (0 at 0, like PyTorch)
        UnaryOp::Abs => g.mul(&x.map_const(sign0)),
        // d relu(x) = 1[x > 0]
        UnaryOp::Relu => g.mul(&x.map_const(|a| if a > 0.0 { 1.0 } else { 0.0 })),
        // d leaky(x) = 1 for x > 0, slope otherwise
        UnaryOp::LeakyRelu(s) => g.mul(&x.map_const(move |a| if a > 0.0 { 1.0 } else { s })),
        // d sigmoid(x) = s (1 - s)
        UnaryOp::Sigmoid => g.mul(&y.mul(&y.neg().add_scalar(1.0))?),
        // d tanh(x) = 1 - tanh^2
        UnaryOp::Tanh => g.mul(&y.mul(y)?.neg().add_scalar(1.0)),
        // d erf(x) = 2/sqrt(pi) e^(-x^2)
        UnaryOp::Erf => g.mul(
            &x.mul(x)?
                .neg()
                .exp()
                .mul_scalar(std::f32::consts::FRAC_2_SQRT_PI),
        ),
        // gelu(x) = x Phi(x)  =>  d gelu = Phi(x) + x phi(x),
        // Phi(x) = (1 + erf(x/sqrt 2)) / 2, phi(x) = e^(-x^2/2) / sqrt(2 pi)
        UnaryOp::Gelu => {
            let cdf = x
                .mul_scalar(FRAC_1_SQRT_2)
                .erf()
                .add_scalar(1.0)
                .mul_scalar(0.5);
            let pdf = x.mul(x)?.mul_scalar(-0.5).exp().mul_scalar(INV_SQRT_2PI);
            g.mul(&cdf.add(&x.mul(&pdf)?)?)
        }
        // d softplus(x) = sigmoid(x)
        UnaryOp::Softplus => g.mul(&x.sigmoid()),
        // d x^p = p x^(p-1)
        UnaryOp::PowF(p) => g.mul(&x.powf(p - 1.0).mul_scalar(p)),
        // d (x + c) = 1
        UnaryOp::AddScalar(_) => Ok(g.clone()),
        // d (c x) = c
        UnaryOp::MulScalar(c) => Ok(g.mul_scalar(c)),
        // d clamp(x) = 1 inside [lo, hi] (inclusive, as PyTorch), 0 outside
        UnaryOp::Clamp(lo, hi) => {
            g.mul(&x.map_const(move |a| if (lo..=hi).contains(&a) { 1.0 } else { 0.0 }))
        }
    }
}

/// Sign with sign(0) = 0 (`f32::signum` gives +-1 at zero).
fn sign0(a: f32) -> f32 {
    if a > 0.0 {
        1.0
    } else if a < 0.0 {
        -1.0
    } else {
        0.0
    }
}

/// A broadcasting binary elementwise operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum BinaryOp {
    Add,
    Sub,
    Mul,
    Div,
    Maximum,
    Minimum,
}

impl BinaryOp {
    pub(crate) fn name(self) -> &'static str {
        match self {
            BinaryOp::Add => "add",
            BinaryOp::Sub => "sub",
            BinaryOp::Mul => "mul",
            BinaryOp::Div => "div",
            BinaryOp::Maximum => "maximum",
            BinaryOp::Minimum => "minimum",
        }
    }
}

/// Sums a broadcast gradient back to the operand's shape (the adjoint of broadcasting).
pub(crate) fn sum_to_shape(g: &Tensor, shape: &[usize]) -> Result<Tensor> {
    if g.shape() == shape {
        return Ok(g.clone());
    }
    let axes: Vec<isize> = reduction_axes_to(g.shape(), shape)
        .into_iter()
        .map(|a| a as isize)
        .collect();
    g.sum(&axes, false)?.reshape(shape)
}

/// Gradients of both operands of `y = a op b`, each summed back to its operand's shape.
pub(crate) fn binary_backward(
    op: BinaryOp,
    a: &Tensor,
    b: &Tensor,
    y: &Tensor,
    g: &Tensor,
) -> Result<(Option<Tensor>, Option<Tensor>)> {
    let (want_a, want_b) = (a.requires_grad(), b.requires_grad());
    let (ga, gb) = match op {
        // d(a + b) = (1, 1)
        BinaryOp::Add => (want_a.then(|| g.clone()), want_b.then(|| g.clone())),
        // d(a - b) = (1, -1)
        BinaryOp::Sub => (want_a.then(|| g.clone()), want_b.then(|| g.neg())),
        // d(a b) = (b, a)
        BinaryOp::Mul => (
            want_a.then(|| g.mul(b)).transpose()?,
            want_b.then(|| g.mul(a)).transpose()?,
        ),
        // d(a / b) = (1/b, -a/b^2 = -y/b)
        BinaryOp::Div => (
            want_a.then(|| g.div(b)).transpose()?,
            want_b
                .then(|| Ok::<_, TensorError>(g.mul(y)?.div(b)?.neg()))
                .transpose()?,
        ),
        // d max(a, b): the larger operand gets the gradient; ties split it in half (as PyTorch).
        BinaryOp::Maximum | BinaryOp::Minimum => {
            let shape = y.shape().to_vec();
            let (aa, ba) = (a.array(), b.array());
            let is_max = op == BinaryOp::Maximum;
            let mask_a = map_binary(&aa, &ba, &shape, move |x, z| {
                if x == z {
                    0.5
                } else if (x > z) == is_max {
                    1.0
                } else {
                    0.0
                }
            });
            let mask_a = Tensor::from_array(mask_a);
            let ga = want_a.then(|| g.mul(&mask_a)).transpose()?;
            let gb = want_b
                .then(|| g.mul(&mask_a.neg().add_scalar(1.0)))
                .transpose()?;
            (ga, gb)
        }
    };
    let ga = ga.map(|t| sum_to_shape(&t, a.shape())).transpose()?;
    let gb = gb.map(|t| sum_to_shape(&t, b.shape())).transpose()?;
    Ok((ga, gb))
}

impl Tensor {
    fn unary(&self, op: UnaryOp) -> Tensor {
        let out = op.forward(&self.array());
        Tensor::from_op(out, &[self], || Op::Unary {
            op,
            x: self.clone(),
        })
    }

    /// A constant (never differentiated) tensor `f(x)` of the same shape; used for masks.
    pub(crate) fn map_const(&self, f: impl Fn(f32) -> f32 + Sync + Send) -> Tensor {
        Tensor::from_array(map_unary(&self.array(), f))
    }

    fn binary(&self, other: &Tensor, op: BinaryOp) -> Result<Tensor> {
        let shape = broadcast_shapes(op.name(), self.shape(), other.shape())?;
        let (a, b) = (self.array(), other.array());
        let out = match op {
            BinaryOp::Add => map_binary(&a, &b, &shape, |x, y| x + y),
            BinaryOp::Sub => map_binary(&a, &b, &shape, |x, y| x - y),
            BinaryOp::Mul => map_binary(&a, &b, &shape, |x, y| x * y),
            BinaryOp::Div => map_binary(&a, &b, &shape, |x, y| x / y),
            // NaN-propagating, unlike f32::max.
            BinaryOp::Maximum => {
                map_binary(
                    &a,
                    &b,
                    &shape,
                    |x, y| if x >= y || x.is_nan() { x } else { y },
                )
            }
            BinaryOp::Minimum => {
                map_binary(
                    &a,
                    &b,
                    &shape,
                    |x, y| if x <= y || x.is_nan() { x } else { y },
                )
            }
        };
        Ok(Tensor::from_op(out, &[self, other], || Op::Binary {
            op,
            a: self.clone(),
            b: other.clone(),
        }))
    }

    /// `self + other`, broadcasting.
    ///
    /// # Errors
    /// [`TensorError::ShapeMismatch`] when the shapes do not broadcast.
    pub fn add(&self, other: &Tensor) -> Result<Tensor> {
        self.binary(other, BinaryOp::Add)
    }

    /// `self - other`, broadcasting.
    ///
    /// # Errors
    /// [`TensorError::ShapeMismatch`] when the shapes do not broadcast.
    pub fn sub(&self, other: &Tensor) -> Result<Tensor> {
        self.binary(other, BinaryOp::Sub)
    }

    /// `self * other` elementwise, broadcasting.
    ///
    /// # Errors
    /// [`TensorError::ShapeMismatch`] when the shapes do not broadcast.
    pub fn mul(&self, other: &Tensor) -> Result<Tensor> {
        self.binary(other, BinaryOp::Mul)
    }

    /// `self / other` elementwise, broadcasting.
    ///
    /// # Errors
    /// [`TensorError::ShapeMismatch`] when the shapes do not broadcast.
    pub fn div(&self, other: &Tensor) -> Result<Tensor> {
        self.binary(other, BinaryOp::Div)
    }

    /// Elementwise `max(self, other)`, broadcasting; NaN propagates. The gradient goes to the
    /// larger operand, split equally on ties.
    ///
    /// # Errors
    /// [`TensorError::ShapeMismatch`] when the shapes do not broadcast.
    pub fn maximum(&self, other: &Tensor) -> Result<Tensor> {
        self.binary(other, BinaryOp::Maximum)
    }

    /// Elementwise `min(self, other)`, broadcasting; NaN propagates.
    ///
    /// # Errors
    /// [`TensorError::ShapeMismatch`] when the shapes do not broadcast.
    pub fn minimum(&self, other: &Tensor) -> Result<Tensor> {
        self.binary(other, BinaryOp::Minimum)
    }

    /// `-x`.
    pub fn neg(&self) -> Tensor {
        self.unary(UnaryOp::Neg)
    }

    /// `e^x`.
    pub fn exp(&self) -> Tensor {
        self.unary(UnaryOp::Exp)
    }

    /// Natural logarithm `ln x` (NaN for x < 0, -inf at 0).
    pub fn log(&self) -> Tensor {
        self.unary(UnaryOp::Log)
    }

    /// `sqrt(x)`; derivative `1 / (2 sqrt x)`.
    pub fn sqrt(&self) -> Tensor {
        self.unary(UnaryOp::Sqrt)
    }

    /// `|x|`; derivative `sign(x)` with sign(0) = 0.
    pub fn abs(&self) -> Tensor {
        self.unary(UnaryOp::Abs)
    }

    /// `x^p` for a scalar exponent; derivative `p x^(p-1)`.
    pub fn powf(&self, p: f32) -> Tensor {
        self.unary(UnaryOp::PowF(p))
    }

    /// `x^2`, as `x * x`.
    pub fn square(&self) -> Tensor {
        self.mul(self).expect("a tensor broadcasts with itself")
    }

    /// `x + c`.
    pub fn add_scalar(&self, c: f32) -> Tensor {
        self.unary(UnaryOp::AddScalar(c))
    }

    /// `x - c`.
    pub fn sub_scalar(&self, c: f32) -> Tensor {
        self.unary(UnaryOp::AddScalar(-c))
    }

    /// `c x`.
    pub fn mul_scalar(&self, c: f32) -> Tensor {
        self.unary(UnaryOp::MulScalar(c))
    }

    /// `x / c`.
    pub fn div_scalar(&self, c: f32) -> Tensor {
        self.unary(UnaryOp::MulScalar(1.0 / c))
    }

    /// `min(max(x, lo), hi)`; the gradient passes where `lo <= x <= hi`.
    ///
    /// # Errors
    /// [`TensorError::InvalidArgument`] when `lo > hi` or either bound is NaN.
    pub fn clamp(&self, lo: f32, hi: f32) -> Result<Tensor> {
        if lo.is_nan() || hi.is_nan() || lo > hi {
            return Err(TensorError::invalid(
                "clamp",
                format!("needs lo <= hi, got lo = {lo}, hi = {hi}"),
            ));
        }
        Ok(self.unary(UnaryOp::Clamp(lo, hi)))
    }

    /// `relu(x) = max(x, 0)`; derivative `1[x > 0]`.
    pub fn relu(&self) -> Tensor {
        self.unary(UnaryOp::Relu)
    }

    /// `leaky_relu(x) = x` for x > 0, `slope * x` otherwise.
    pub fn leaky_relu(&self, slope: f32) -> Tensor {
        self.unary(UnaryOp::LeakyRelu(slope))
    }

    /// `sigmoid(x) = 1 / (1 + e^-x)`, evaluated without overflow; derivative `s (1 - s)`.
    pub fn sigmoid(&self) -> Tensor {
        self.unary(UnaryOp::Sigmoid)
    }

    /// `tanh(x)`; derivative `1 - tanh^2 x`.
    pub fn tanh(&self) -> Tensor {
        self.unary(UnaryOp::Tanh)
    }

    /// The error function `erf(x) = 2/sqrt(pi) * integral_0^x e^(-t^2) dt`.
    pub fn erf(&self) -> Tensor {
        self.unary(UnaryOp::Erf)
    }

    /// GELU in its exact erf form (as BERT uses): `gelu(x) = x * Phi(x)`,
    /// `Phi(x) = (1 + erf(x / sqrt 2)) / 2`; derivative `Phi(x) + x * phi(x)`.
    pub fn gelu(&self) -> Tensor {
        self.unary(UnaryOp::Gelu)
    }

    /// `softplus(x) = ln(1 + e^x)`, computed as `max(x, 0) + ln(1 + e^-|x|)` so it never
    /// overflows; derivative `sigmoid(x)`.
    pub fn softplus(&self) -> Tensor {
        self.unary(UnaryOp::Softplus)
    }
}
