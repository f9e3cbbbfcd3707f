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
/// through as itself; any other is kept whole in `TensorError::Caller` (its message and
/// source unchanged, and downcastable back to the `NnError`).
impl From<NnError> for TensorError {
    fn from(e: NnError) -> TensorError {
        match e {
            NnError::Tensor(t) => t,
            other => TensorError::Caller(core_tensor::CallerError::new(other)),
        }
    }
}

pub(crate) fn invalid(what: &'static str, message: impl Into<String>) -> NnError {
    NnError::Invalid {
        what,
        message: message.into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_nn_error_through_a_tensor_result_keeps_its_type_and_message() {
        let e = invalid("Linear", "in_features = 0 (must be >= 1)");
        let message = e.to_string();
        let t = TensorError::from(e);
        assert_eq!(t.to_string(), message);
        let TensorError::Caller(caller) = &t else {
            panic!("expected TensorError::Caller, got {t:?}");
        };
        assert!(matches!(
            caller.get().downcast_ref::<NnError>(),
            Some(NnError::Invalid { what: "Linear", .. })
        ));
        let shape = TensorError::shape("matmul", &[2, 3], &[4, 5]);
        assert_eq!(TensorError::from(NnError::Tensor(shape.clone())), shape);
    }
}
