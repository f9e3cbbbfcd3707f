//! The error type of the quant crate: every problem with a model's files names the file
//! (and the tensor) and says what was expected.

use std::path::PathBuf;

/// Result alias of the quant crate.
pub type Result<T, E = QuantError> = std::result::Result<T, E>;

/// Errors from loading a model or running it.
#[derive(Debug, thiserror::Error)]
pub enum QuantError {
    /// A file could not be read.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// A file that is not what a model directory needs (JSON that does not parse, a value
    /// out of range, a safetensors header that does not hold together).
    #[error("{}: {message}", path.display())]
    Format {
        /// The file.
        path: PathBuf,
        /// What is wrong, and what was expected.
        message: String,
    },
    /// A tensor that is missing or has the wrong shape or dtype.
    #[error("{}: tensor `{name}`: {message}", path.display())]
    Tensor {
        /// The weights file.
        path: PathBuf,
        /// The tensor's name.
        name: String,
        /// What is wrong, and what was expected.
        message: String,
    },
    /// The tokenizer could not load or encode.
    #[error("{}: tokenizer: {message}", path.display())]
    Tokenizer {
        /// `tokenizer.json`.
        path: PathBuf,
        /// The tokenizer's message.
        message: String,
    },
    /// Input the encoder cannot take (an empty batch entry, a token id outside the vocabulary).
    #[error("{0}")]
    Input(String),
    /// A kernel or tensor operation failed (a bug: shapes are checked at load).
    #[error(transparent)]
    Tensors(#[from] core_tensor::TensorError),
}

pub(crate) fn format_error(path: &std::path::Path, message: impl Into<String>) -> QuantError {
    QuantError::Format {
        path: path.to_path_buf(),
        message: message.into(),
    }
}
