//! The [`Tensor`] handle: shared n-d `f32` data plus the autodiff bookkeeping.
//!
//! A `Tensor` is a cheap-to-clone handle (`Arc` inside). Its data is an ndarray
//! [`ArcArray`], so views produced by `transpose`, `permute` and `slice`
//! share storage with their source and carry their own strides; data is copied only when an
//! operation needs a contiguous buffer. Every tensor has a unique [`TensorId`]; a tensor made
//! by an operation while gradients are enabled and at least one input requires them records
//! that operation (its `Op`) so that [`Tensor::backward`] can walk the graph back.
//!
//! Leaves (tensors not made by a recorded operation) may require gradients; they are the
//! parameters and inputs that gradients are accumulated into. Their data can be updated in
//! place (by optimizers) through [`Tensor::update_data`].

use std::fmt;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};

use ndarray::{ArcArray, ArrayD, ArrayViewMutD, IxDyn};

use crate::backprop::{self, Op};
use crate::error::{Result, TensorError};

/// The array type every tensor stores: shared, copy-on-write, dynamic rank.
pub type Array = ArcArray<f32, IxDyn>;

/// A process-unique identifier of a tensor node.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TensorId(u64);

impl TensorId {
    fn fresh() -> Self {
        static NEXT: AtomicU64 = AtomicU64::new(1);
        TensorId(NEXT.fetch_add(1, Ordering::Relaxed))
    }
}

/// An n-dimensional `f32` tensor with reverse-mode autodiff.
///
/// Cloning is cheap and yields a handle to the *same* node (same id, same gradient slot).
#[derive(Clone)]
pub struct Tensor(pub(crate) Arc<Inner>);

pub(crate) struct Inner {
    id: TensorId,
    shape: Box<[usize]>,
    data: RwLock<Array>,
    op: Option<Op>,
    requires_grad: AtomicBool,
    grad: Mutex<Option<Tensor>>,
}

impl Drop for Inner {
    /// Drops the graph behind this node iteratively: the default recursive drop would use one
    /// stack frame per op and overflow on long chains (an unrolled RNN, 20,000 small ops).
    fn drop(&mut self) {
        let Some(op) = self.op.take() else {
            return;
        };
        let mut pending = vec![op];
        while let Some(op) = pending.pop() {
            for parent in op.into_parents() {
                // Only a node we hold the last reference to is freed here; its own op is moved
                // onto the work list before its memory goes, so no drop recurses.
                if let Ok(mut inner) = Arc::try_unwrap(parent.0) {
                    if let Some(op) = inner.op.take() {
                        pending.push(op);
                    }
                }
            }
        }
    }
}

thread_local! {
    static GRAD_ENABLED: std::cell::Cell<bool> = const { std::cell::Cell::new(true) };
}

/// Whether operations on this thread currently record the autodiff graph.
pub fn is_grad_enabled() -> bool {
    GRAD_ENABLED.with(|g| g.get())
}

/// Runs `f` with graph recording disabled on this thread (like `torch.no_grad()`).
///
/// Inside, every operation returns a plain tensor with no recorded op and no parents, so no
/// graph is allocated; the previous mode is restored afterwards, even if `f` panics.
pub fn no_grad<T>(f: impl FnOnce() -> T) -> T {
    let _guard = NoGradGuard::new();
    f()
}

/// RAII guard form of [`no_grad`]: recording is disabled until the guard is dropped.
pub struct NoGradGuard {
    previous: bool,
}

impl NoGradGuard {
    /// Disables graph recording on this thread until the guard is dropped.
    pub fn new() -> Self {
        let previous = GRAD_ENABLED.with(|g| g.replace(false));
        NoGradGuard { previous }
    }
}

impl Default for NoGradGuard {
    fn default() -> Self {
        Self::new()
    }
}

impl Drop for NoGradGuard {
    fn drop(&mut self) {
        GRAD_ENABLED.with(|g| g.set(self.previous));
    }
}

/// Runs `f` with graph recording forced on (used by `grad(.., create_graph = true)`).
pub(crate) fn with_grad_mode<T>(enabled: bool, f: impl FnOnce() -> T) -> T {
    struct Restore(bool);
    impl Drop for Restore {
        fn drop(&mut self) {
            GRAD_ENABLED.with(|g| g.set(self.0));
        }
    }
    let _restore = Restore(GRAD_ENABLED.with(|g| g.replace(enabled)));
    f()
}

impl Tensor {
    /// Wraps an array as a leaf tensor that does not require gradients.
    pub fn from_array(data: impl Into<Array>) -> Tensor {
        Self::leaf(data.into(), false)
    }

    pub(crate) fn leaf(data: Array, requires_grad: bool) -> Tensor {
        Tensor(Arc::new(Inner {
            id: TensorId::fresh(),
            shape: data.shape().into(),
            data: RwLock::new(data),
            op: None,
            requires_grad: AtomicBool::new(requires_grad),
            grad: Mutex::new(None),
        }))
    }

    /// Makes the result of an operation on `inputs`. The op is built (its inputs cloned into
    /// it) and recorded only when gradients are enabled and some input requires them: without
    /// gradients an op costs no allocation beyond its result.
    pub(crate) fn from_op(data: Array, inputs: &[&Tensor], op: impl FnOnce() -> Op) -> Tensor {
        let record = is_grad_enabled() && inputs.iter().any(|p| p.requires_grad());
        Tensor(Arc::new(Inner {
            id: TensorId::fresh(),
            shape: data.shape().into(),
            data: RwLock::new(data),
            op: record.then(op),
            requires_grad: AtomicBool::new(record),
            grad: Mutex::new(None),
        }))
    }

    /// Builds a tensor of `shape` from row-major `data`.
    ///
    /// # Errors
    /// [`TensorError::DataLength`] when `data.len()` is not the product of `shape`.
    pub fn from_vec(data: Vec<f32>, shape: &[usize]) -> Result<Tensor> {
        let expected: usize = shape.iter().product();
        if data.len() != expected {
            return Err(TensorError::DataLength {
                op: "from_vec",
                shape: shape.to_vec(),
                expected,
                len: data.len(),
            });
        }
        let arr = ArrayD::from_shape_vec(IxDyn(shape), data).expect("length checked above");
        Ok(Self::from_array(arr))
    }

    /// Builds a tensor from a slice (copied), with the given shape.
    ///
    /// # Errors
    /// As [`Tensor::from_vec`].
    pub fn from_slice(data: &[f32], shape: &[usize]) -> Result<Tensor> {
        Self::from_vec(data.to_vec(), shape)
    }

    /// A rank-0 tensor holding `value`.
    pub fn scalar(value: f32) -> Tensor {
        Self::from_array(ArrayD::from_elem(IxDyn(&[]), value))
    }

    /// A tensor of `shape` filled with `value`.
    pub fn full(shape: &[usize], value: f32) -> Tensor {
        Self::from_array(ArrayD::from_elem(IxDyn(shape), value))
    }

    /// A tensor of zeros.
    pub fn zeros(shape: &[usize]) -> Tensor {
        Self::full(shape, 0.0)
    }

    /// A tensor of ones.
    pub fn ones(shape: &[usize]) -> Tensor {
        Self::full(shape, 1.0)
    }

    /// The `n x n` identity matrix.
    pub fn eye(n: usize) -> Tensor {
        Self::from_array(ndarray::Array2::<f32>::eye(n).into_dyn())
    }

    /// `[0, 1, ..., n-1]` as a 1-D tensor.
    pub fn arange(n: usize) -> Tensor {
        Self::from_array(ndarray::Array1::from_iter((0..n).map(|i| i as f32)).into_dyn())
    }

    /// `n` evenly spaced values from `start` to `end` inclusive (computed in f64).
    pub fn linspace(start: f32, end: f32, n: usize) -> Tensor {
        let step = if n > 1 {
            (end as f64 - start as f64) / (n - 1) as f64
        } else {
            0.0
        };
        let v = (0..n).map(|i| (start as f64 + step * i as f64) as f32);
        Self::from_array(ndarray::Array1::from_iter(v).into_dyn())
    }

    /// A zero tensor with the shape of `self`.
    pub fn zeros_like(&self) -> Tensor {
        Self::zeros(self.shape())
    }

    /// A tensor of ones with the shape of `self`.
    pub fn ones_like(&self) -> Tensor {
        Self::ones(self.shape())
    }

    /// The node's unique id.
    pub fn id(&self) -> TensorId {
        self.0.id
    }

    /// The shape (size of each axis).
    pub fn shape(&self) -> &[usize] {
        &self.0.shape
    }

    /// The rank (number of axes).
    pub fn ndim(&self) -> usize {
        self.0.shape.len()
    }

    /// The number of elements.
    pub fn numel(&self) -> usize {
        self.0.shape.iter().product()
    }

    /// The size of axis `axis` (negative counts from the end).
    ///
    /// # Errors
    /// [`TensorError::BadAxis`] when the axis does not exist.
    pub fn dim(&self, axis: isize) -> Result<usize> {
        Ok(self.0.shape[self.axis("dim", axis)?])
    }

    /// A cheap handle to the data (an `Arc` clone; no element is copied).
    pub fn array(&self) -> Array {
        self.0
            .data
            .read()
            .expect("tensor data lock poisoned")
            .clone()
    }

    /// The elements in row-major (logical) order.
    pub fn to_vec(&self) -> Vec<f32> {
        let a = self.array();
        match a.as_slice() {
            Some(s) => s.to_vec(),
            None => a.iter().copied().collect(),
        }
    }

    /// The single value of a one-element tensor.
    ///
    /// # Errors
    /// [`TensorError::InvalidArgument`] when the tensor has more or fewer than one element.
    pub fn item(&self) -> Result<f32> {
        if self.numel() != 1 {
            return Err(TensorError::invalid(
                "item",
                format!(
                    "needs exactly one element, tensor has shape {:?}",
                    self.shape()
                ),
            ));
        }
        Ok(*self.array().iter().next().expect("one element"))
    }

    /// Whether gradients flow to (leaf) or through (op result) this tensor.
    pub fn requires_grad(&self) -> bool {
        self.0.requires_grad.load(Ordering::Relaxed)
    }

    /// Marks a leaf as requiring (or not) gradients.
    ///
    /// # Errors
    /// [`TensorError::Autodiff`] for a tensor made by a recorded op: only leaves can be toggled.
    pub fn set_requires_grad(&self, on: bool) -> Result<()> {
        if self.0.op.is_some() {
            return Err(TensorError::Autodiff(
                "set_requires_grad: only leaf tensors can be toggled; use detach() first".into(),
            ));
        }
        self.0.requires_grad.store(on, Ordering::Relaxed);
        Ok(())
    }

    /// A new leaf sharing this data that requires gradients (the usual way to make a parameter:
    /// `let w = rng.normal(&[3, 4], 0.0, 1.0).with_grad();`).
    pub fn with_grad(&self) -> Tensor {
        Self::leaf(self.array(), true)
    }

    /// A new leaf sharing this data, cut from the graph: no gradient flows through it.
    pub fn detach(&self) -> Tensor {
        Self::leaf(self.array(), false)
    }

    /// Whether this tensor is a leaf (not made by a recorded operation).
    pub fn is_leaf(&self) -> bool {
        self.0.op.is_none()
    }

    pub(crate) fn op(&self) -> Option<&Op> {
        self.0.op.as_ref()
    }

    /// The gradient accumulated into this leaf by [`Tensor::backward`], if any.
    pub fn grad(&self) -> Option<Tensor> {
        self.0.grad.lock().expect("grad lock poisoned").clone()
    }

    /// Replaces the accumulated gradient (e.g. after clipping it). The gradient must have this
    /// tensor's shape.
    ///
    /// # Errors
    /// [`TensorError::ShapeMismatch`] when the shapes differ.
    pub fn set_grad(&self, g: Option<Tensor>) -> Result<()> {
        if let Some(g) = &g {
            if g.shape() != self.shape() {
                return Err(TensorError::shape("set_grad", self.shape(), g.shape()));
            }
        }
        *self.0.grad.lock().expect("grad lock poisoned") = g;
        Ok(())
    }

    /// Clears the accumulated gradient (like `tensor.grad = None` in PyTorch).
    pub fn zero_grad(&self) {
        *self.0.grad.lock().expect("grad lock poisoned") = None;
    }

    /// Adds `g` to the accumulated gradient.
    pub(crate) fn accumulate_grad(&self, g: Tensor) -> Result<()> {
        let mut slot = self.0.grad.lock().expect("grad lock poisoned");
        *slot = Some(match slot.take() {
            None => g,
            Some(prev) => prev.add(&g)?,
        });
        Ok(())
    }

    /// Runs reverse-mode differentiation from this scalar and *accumulates* the gradient into
    /// every leaf that requires one (read it with [`Tensor::grad`]). Calling it on several
    /// losses sums their gradients, as in PyTorch; clear with [`Tensor::zero_grad`].
    ///
    /// The backward pass records no graph; for higher-order gradients use
    /// [`grad`](crate::grad) with `create_graph = true`.
    ///
    /// # Errors
    /// [`TensorError::Autodiff`] when `self` is not a one-element tensor or does not require
    /// gradients.
    pub fn backward(&self) -> Result<()> {
        if self.numel() != 1 {
            return Err(TensorError::Autodiff(format!(
                "backward() needs a scalar (one-element) tensor, got shape {:?}; \
                 reduce it first or use backward_with_grad",
                self.shape()
            )));
        }
        self.backward_with_grad(&self.ones_like())
    }

    /// Like [`Tensor::backward`] for a non-scalar output: `seed` is dL/d(self), of the same
    /// shape as `self`.
    ///
    /// # Errors
    /// [`TensorError::ShapeMismatch`] when the seed's shape differs; [`TensorError::Autodiff`]
    /// when `self` does not require gradients.
    pub fn backward_with_grad(&self, seed: &Tensor) -> Result<()> {
        let grads = backprop::run_backward(self, seed, false)?;
        for (leaf, g) in grads.into_leaves() {
            leaf.accumulate_grad(g)?;
        }
        Ok(())
    }

    /// Replaces the data of a leaf in place, keeping its shape.
    ///
    /// # Errors
    /// [`TensorError::ShapeMismatch`] when the new data has another shape;
    /// [`TensorError::Autodiff`] when `self` is not a leaf (its value is fixed by its graph).
    pub fn set_data(&self, data: impl Into<Array>) -> Result<()> {
        let data = data.into();
        if data.shape() != self.shape() {
            return Err(TensorError::shape("set_data", self.shape(), data.shape()));
        }
        self.check_leaf("set_data")?;
        *self.0.data.write().expect("tensor data lock poisoned") = data;
        Ok(())
    }

    /// Mutates the data of a leaf in place (the optimizer's path). The view is contiguous and
    /// in standard (row-major) layout; if the storage was shared with another tensor it is
    /// copied first, so other tensors never see the change.
    ///
    /// # Errors
    /// [`TensorError::Autodiff`] when `self` is not a leaf.
    pub fn update_data<T>(&self, f: impl FnOnce(&mut ArrayViewMutD<'_, f32>) -> T) -> Result<T> {
        self.check_leaf("update_data")?;
        let mut guard = self.0.data.write().expect("tensor data lock poisoned");
        if !guard.is_standard_layout() {
            *guard = guard.as_standard_layout().into_owned().into_shared();
        }
        let mut view = guard.view_mut();
        Ok(f(&mut view))
    }

    fn check_leaf(&self, op: &'static str) -> Result<()> {
        if self.0.op.is_some() {
            return Err(TensorError::Autodiff(format!(
                "{op}: only leaf tensors can be modified in place; this one was made by an op"
            )));
        }
        Ok(())
    }

    /// Resolves a possibly negative axis against this tensor's rank.
    pub(crate) fn axis(&self, op: &'static str, axis: isize) -> Result<usize> {
        crate::shape::normalize_axis(op, axis, self.shape())
    }
}

impl fmt::Debug for Tensor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "Tensor(id={}, shape={:?}, requires_grad={}, op={}",
            self.0.id.0,
            self.shape(),
            self.requires_grad(),
            self.op().map(|o| o.name()).unwrap_or("leaf"),
        )?;
        if self.numel() <= 16 {
            write!(f, ", data={:?}", self.to_vec())?;
        }
        write!(f, ")")
    }
}
