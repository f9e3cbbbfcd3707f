//! The error type of the nn crate.

use core_tensor::TensorError;

use crate::data::DataError;

/// Result alias of the nn crate.
pub type Result<T, E = NnError> = std::result::Result<T, E>;

/// Errors from layers, losses and data.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum NnError {
    /// A tensor operation failed (shapes, axes).
    #[error(transparent)]
    Tensor(#[from] TensorError),
    /// Loading data failed.
    #[error(transparent)]
    Data(#[from] DataError),
    /// An optimizer or Hessian tool failed.
    #[error(transparent)]
    Optim(#[from] optim::OptimError),
    /// A checkpoint could not be written or does not fit the model.
    #[error("{path}: {}", problems.join("; "))]
    Checkpoint {
        /// The file.
        path: std::path::PathBuf,
        /// Every problem found.
        problems: Vec<String>,
    },
    /// A configuration value outside its valid range (the shape optim and nn share).
    #[error(transparent)]
    InvalidParameter(#[from] optim::InvalidParameter),
    /// A layer or loss was configured or called with invalid values.
    #[error("{what}: {message}")]
    Invalid {
        /// The layer, loss or function.
        what: &'static str,
        /// What is wrong.
        message: String,
    },
}

/// So that `?` on an nn result works inside closures that return `core_tensor::Result` —
/// the closures optim's Hessian tools and `core_tensor::grad` take. A tensor error passes
/// through as itself; any other becomes `TensorError::InvalidArgument` with the full message.
impl From<NnError> for TensorError {
    fn from(e: NnError) -> TensorError {
        match e {
            NnError::Tensor(t) => t,
            other => TensorError::invalid("nn", other.to_string()),
        }
    }
}

pub(crate) fn invalid(what: &'static str, message: impl Into<String>) -> NnError {
    NnError::Invalid {
        what,
        message: message.into(),
    }
}
