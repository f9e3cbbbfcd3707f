//! What can go wrong in an export.

use std::path::PathBuf;

/// An export that could not be made. Nothing is written when one is returned.
#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    /// A layer, or a setting of one, that has no ONNX translation here.
    #[error("layer {layer} ({kind}): {what}")]
    Unsupported {
        /// Where it is: its index path in the network (`3`, `1.0`).
        layer: String,
        /// Its kind (a type name for a module of the user's own).
        kind: String,
        /// What is missing.
        what: String,
    },
    /// The network does not accept the declared input shape (checked by running it once).
    #[error("the network rejects inputs of shape {shape:?}: {source}")]
    Shape {
        /// `[batch, ...]` as tried (batch 2).
        shape: Vec<usize>,
        /// The network's own error.
        #[source]
        source: nn::NnError,
    },
    /// A model directory that could not be read.
    #[error(transparent)]
    Model(#[from] quant::QuantError),
    /// A checkpoint that could not be read or does not fit its architecture.
    #[error(transparent)]
    Checkpoint(#[from] nn::NnError),
    /// A checkpoint without the metadata that says what it holds, or with a configuration
    /// that does not parse.
    #[error("{path}: {message}")]
    Metadata {
        /// The checkpoint.
        path: PathBuf,
        /// What is missing or wrong.
        message: String,
    },
    /// Bytes that are not an ONNX model.
    #[error("not an ONNX model: {0}")]
    Decode(String),
    /// Writing the file failed.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The operating system's error.
        #[source]
        source: std::io::Error,
    },
}

/// `Result` with [`ExportError`].
pub type Result<T> = std::result::Result<T, ExportError>;
