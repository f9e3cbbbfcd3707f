//! The error type of the optim crate.

use core_tensor::TensorError;
use thiserror::Error;

/// Result alias of the optim crate.
pub type Result<T, E = OptimError> = std::result::Result<T, E>;

/// Errors from optimizers, schedules, theory functions and Hessian tools.
#[derive(Debug, Clone, PartialEq, Error)]
pub enum OptimError {
    /// A hyper-parameter outside its valid range.
    #[error("{what}: {field} = {value} is invalid: {reason}")]
    InvalidParameter {
        /// The optimizer, schedule or function.
        what: &'static str,
        /// The parameter's name.
        field: &'static str,
        /// The value given.
        value: f64,
        /// The valid range.
        reason: &'static str,
    },
    /// A saved optimizer state that does not fit the parameters or the optimizer.
    #[error("optimizer state mismatch: {0}")]
    StateMismatch(String),
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
    reason: &'static str,
) -> Result<()> {
    if ok {
        Ok(())
    } else {
        Err(OptimError::InvalidParameter {
            what,
            field,
            value,
            reason,
        })
    }
}
