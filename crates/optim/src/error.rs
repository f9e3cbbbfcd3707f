//! The error type of the optim crate.

use core_tensor::TensorError;
pub use lab::params::InvalidParameter;
use thiserror::Error;

/// Result alias of the optim crate.
pub type Result<T, E = OptimError> = std::result::Result<T, E>;

/// Errors from optimizers, schedules, theory functions and Hessian tools.
#[derive(Debug, Clone, PartialEq, Error)]
pub enum OptimError {
    /// A hyper-parameter outside its valid range (the shape every groundwork crate shares).
    #[error(transparent)]
    InvalidParameter(#[from] InvalidParameter),
    /// A saved optimizer state that does not fit the parameters or the optimizer.
    #[error("optimizer state mismatch: {0}")]
    StateMismatch(String),
    /// Parameters an optimizer cannot own (not a leaf, no gradient, given twice, none).
    #[error("optimizer parameters: {0}")]
    Params(String),
    /// A diagnosis that cannot be made (no parameters, a non-finite loss at the start): what
    /// could not be determined and why.
    #[error("cannot diagnose: {0}")]
    Undetermined(String),
    /// An error from a tensor operation.
    #[error(transparent)]
    Tensor(#[from] TensorError),
}

/// Returns [`OptimError::InvalidParameter`] unless `ok`.
pub(crate) fn check(
    ok: bool,
    what: &'static str,
    field: &'static str,
    value: f64,
    reason: impl Into<String>,
) -> Result<()> {
    Ok(lab::params::ensure(ok, what, field, value, reason)?)
}
