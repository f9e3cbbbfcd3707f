//! The error type of core-tensor.
//!
//! Everything that depends on input (shapes, axes, indices, data lengths) is reported through
//! [`TensorError`]; each variant names the operation and the values involved, so a message such
//! as `matmul: shapes [2, 3] and [4, 5] are incompatible (inner dimensions 3 and 4)` is enough
//! to find the bug without a debugger.

use thiserror::Error;

/// Result alias used throughout core-tensor.
pub type Result<T, E = TensorError> = std::result::Result<T, E>;

/// Errors raised by tensor operations whose validity depends on their inputs.
#[derive(Debug, Clone, PartialEq, Error)]
pub enum TensorError {
    /// Two operand shapes cannot be combined by `op` (broadcasting, matmul, concat, ...).
    #[error("{op}: shapes {lhs:?} and {rhs:?} are incompatible{detail}")]
    ShapeMismatch {
        /// The operation that was attempted.
        op: &'static str,
        /// Shape of the first operand.
        lhs: Vec<usize>,
        /// Shape of the second operand.
        rhs: Vec<usize>,
        /// Extra explanation, starting with a space-separated clause (may be empty).
        detail: String,
    },
    /// An axis index outside `0..ndim`.
    #[error("{op}: axis {axis} is out of range for a tensor of rank {ndim} (shape {shape:?})")]
    BadAxis {
        /// The operation that was attempted.
        op: &'static str,
        /// The axis requested (may be negative, counting from the end).
        axis: isize,
        /// The rank of the tensor.
        ndim: usize,
        /// The shape of the tensor.
        shape: Vec<usize>,
    },
    /// A reshape whose element counts differ.
    #[error(
        "reshape: cannot reshape {from:?} ({from_len} elements) into {to:?} ({to_len} elements)"
    )]
    BadReshape {
        /// The source shape.
        from: Vec<usize>,
        /// Number of elements of the source.
        from_len: usize,
        /// The requested shape.
        to: Vec<usize>,
        /// Number of elements the requested shape holds.
        to_len: usize,
    },
    /// A data buffer whose length does not match the requested shape.
    #[error("{op}: {len} values cannot fill shape {shape:?} ({expected} elements)")]
    DataLength {
        /// The constructor that was called.
        op: &'static str,
        /// The requested shape.
        shape: Vec<usize>,
        /// Elements the shape holds.
        expected: usize,
        /// Values supplied.
        len: usize,
    },
    /// An index (or range end) beyond the size of an axis.
    #[error(
        "{op}: index {index} is out of bounds for axis {axis} of size {size} (shape {shape:?})"
    )]
    IndexOutOfBounds {
        /// The operation that was attempted.
        op: &'static str,
        /// The offending index.
        index: usize,
        /// The axis indexed.
        axis: usize,
        /// The size of that axis.
        size: usize,
        /// The full shape of the indexed tensor.
        shape: Vec<usize>,
    },
    /// An argument outside the values the operation accepts.
    #[error("{op}: {message}")]
    InvalidArgument {
        /// The operation that was attempted.
        op: &'static str,
        /// What was wrong.
        message: String,
    },
    /// `backward` or `grad` was asked for something the graph cannot provide.
    #[error("autodiff: {0}")]
    Autodiff(String),
    /// An error of the caller's own code run inside a tensor routine — a model's forward pass
    /// in [`grad`](crate::grad), a loss in optim's Hessian tools — kept whole rather than
    /// turned into a message: its `Display` and `source()` are this error's, and
    /// [`CallerError::get`] gives it back (`e.get().downcast_ref::<nn::NnError>()`).
    #[error(transparent)]
    Caller(CallerError),
}

/// The caller's error inside [`TensorError::Caller`], shared so that errors stay `Clone`;
/// equal only to itself (the same shared error), since arbitrary errors cannot be compared.
#[derive(Debug, Clone)]
pub struct CallerError(std::sync::Arc<dyn std::error::Error + Send + Sync + 'static>);

impl CallerError {
    /// Wraps `e`.
    pub fn new(e: impl std::error::Error + Send + Sync + 'static) -> CallerError {
        CallerError(std::sync::Arc::new(e))
    }

    /// The caller's error, to downcast to its own type.
    pub fn get(&self) -> &(dyn std::error::Error + Send + Sync + 'static) {
        &*self.0
    }
}

impl PartialEq for CallerError {
    fn eq(&self, other: &CallerError) -> bool {
        std::sync::Arc::ptr_eq(&self.0, &other.0)
    }
}

impl std::fmt::Display for CallerError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

impl std::error::Error for CallerError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.0.source()
    }
}

impl TensorError {
    /// Builds a [`TensorError::ShapeMismatch`] without extra detail.
    pub fn shape(op: &'static str, lhs: &[usize], rhs: &[usize]) -> Self {
        TensorError::ShapeMismatch {
            op,
            lhs: lhs.to_vec(),
            rhs: rhs.to_vec(),
            detail: String::new(),
        }
    }

    /// Builds a [`TensorError::ShapeMismatch`] with an explanatory clause.
    pub fn shape_detail(op: &'static str, lhs: &[usize], rhs: &[usize], detail: String) -> Self {
        TensorError::ShapeMismatch {
            op,
            lhs: lhs.to_vec(),
            rhs: rhs.to_vec(),
            detail: format!(" ({detail})"),
        }
    }

    /// Builds a [`TensorError::InvalidArgument`].
    pub fn invalid(op: &'static str, message: impl Into<String>) -> Self {
        TensorError::InvalidArgument {
            op,
            message: message.into(),
        }
    }
}
