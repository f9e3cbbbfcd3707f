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

use crate::backprop::{self, GradOptions, Op};
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
    /// The recording, until a backward pass without `retain_graph` frees it.
    op: RwLock<Option<Op>>,
    /// The name of the op that made this tensor (`None`: a leaf); kept after the op is freed.
    made_by: Option<&'static str>,
    requires_grad: AtomicBool,
    grad: Mutex<Option<Tensor>>,
}

impl Drop for Inner {
    /// Drops the graph behind this node iteratively: the default recursive drop would use one
    /// stack frame per op and overflow on long chains (an unrolled RNN, 20,000 small ops).
    fn drop(&mut self) {
        let Some(op) = take(&mut self.op) else {
            return;
        };
        let mut pending = vec![op];
        while let Some(op) = pending.pop() {
            for parent in op.into_parents() {
                // Only a node we hold the last reference to is freed here; its own op is moved
                // onto the work list before its memory goes, so no drop recurses.
                if let Ok(mut inner) = Arc::try_unwrap(parent.0) {
                    if let Some(op) = take(&mut inner.op) {
                        pending.push(op);
                    }
                }
            }
        }
    }
}

/// Takes the op out of a node we own (a poisoned lock still holds a valid `Option`).
fn take(op: &mut RwLock<Option<Op>>) -> Option<Op> {
    op.get_mut().unwrap_or_else(|e| e.into_inner()).take()
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
            op: RwLock::new(None),
            made_by: None,
            requires_grad: AtomicBool::new(requires_grad),
            grad: Mutex::new(None),
        }))
    }

    /// Makes the result of an operation on `inputs`. The op is built (its inputs cloned into
    /// it) and recorded only when gradients are enabled and some input requires them: without
    /// gradients an op costs no allocation beyond its result.
    pub(crate) fn from_op(data: Array, inputs: &[&Tensor], op: impl FnOnce() -> Op) -> Tensor {
        let record = is_grad_enabled() && inputs.iter().any(|p| p.requires_grad());
        let op = record.then(op);
        Tensor(Arc::new(Inner {
            id: TensorId::fresh(),
            shape: data.shape().into(),
            data: RwLock::new(data),
            made_by: op.as_ref().map(Op::name),
            op: RwLock::new(op),
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
        if !self.is_leaf() {
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

    /// Whether this tensor is a leaf (not made by a recorded operation). A result whose graph
    /// a backward pass has freed is still no leaf.
    pub fn is_leaf(&self) -> bool {
        self.0.made_by.is_none()
    }

    /// The recorded op (`None` in the guard for a leaf or a freed node).
    pub(crate) fn op(&self) -> std::sync::RwLockReadGuard<'_, Option<Op>> {
        self.0.op.read().unwrap_or_else(|e| e.into_inner())
    }

    /// The name of the op that made this tensor, `None` for a leaf.
    pub(crate) fn made_by(&self) -> Option<&'static str> {
        self.0.made_by
    }

    /// Drops this node's recording (its inputs and saved state): what a backward pass without
    /// `retain_graph` does to every node it walked.
    pub(crate) fn free_op(&self) {
        let op = self.0.op.write().unwrap_or_else(|e| e.into_inner()).take();
        drop(op);
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
    /// The pass then **frees the graph** it walked, as PyTorch's `loss.backward()` does: every
    /// intermediate result drops its inputs and saved state (tensors the caller still holds
    /// keep their values), so activations and the weight views the forward made are released
    /// before the optimizer updates the weights in place. A second backward through the same
    /// graph is an error; keep it with [`Tensor::backward_with`] and
    /// `GradOptions { retain_graph: true, .. }`. The backward pass records no graph; for
    /// higher-order gradients use [`grad`](crate::grad) with `create_graph = true`.
    ///
    /// # Errors
    /// [`TensorError::Autodiff`] when `self` is not a one-element tensor, does not require
    /// gradients, or its graph was freed by an earlier backward.
    pub fn backward(&self) -> Result<()> {
        self.backward_with(None, GradOptions::default())
    }

    /// Like [`Tensor::backward`] for a non-scalar output: `seed` is dL/d(self), of the same
    /// shape as `self`. Frees the graph as `backward` does.
    ///
    /// # Errors
    /// [`TensorError::ShapeMismatch`] when the seed's shape differs; [`TensorError::Autodiff`]
    /// as for [`Tensor::backward`].
    pub fn backward_with_grad(&self, seed: &Tensor) -> Result<()> {
        self.backward_with(Some(seed), GradOptions::default())
    }

    /// The general backward: `seed` is dL/d(self) (`None`: ones, for a scalar), and `options`
    /// say whether the graph is kept for another pass (`retain_graph`) and whether the
    /// gradients accumulated into the leaves are themselves recorded (`create_graph`, which
    /// also keeps the graph, as in PyTorch).
    ///
    /// # Errors
    /// As [`Tensor::backward_with_grad`]; without a seed, as [`Tensor::backward`].
    pub fn backward_with(&self, seed: Option<&Tensor>, options: GradOptions) -> Result<()> {
        let ones;
        let seed = match seed {
            Some(s) => s,
            None if self.numel() == 1 => {
                ones = self.ones_like();
                &ones
            }
            None => {
                return Err(TensorError::Autodiff(format!(
                    "backward() needs a scalar (one-element) tensor, got shape {:?}; \
                     reduce it first or pass a seed (backward_with_grad)",
                    self.shape()
                )))
            }
        };
        let grads = backprop::run_backward(self, seed, options)?;
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
        if !self.is_leaf() {
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
            self.made_by().unwrap_or("leaf"),
        )?;
        if self.numel() <= 16 {
            write!(f, ", data={:?}", self.to_vec())?;
        }
        write!(f, ")")
    }
}
