//! Data: the IDX reader, the MNIST-family loaders and a seeded batch iterator.

mod batches;
mod idx;
mod mnist;

use std::path::PathBuf;

pub use batches::Batches;
pub use idx::{
    encode_idx, parse_idx, parse_idx_gz, read_idx, read_idx_header, IdxArray, IdxHeader,
    MAX_IDX_BYTES,
};
pub use mnist::{
    fashion_mnist, find_dataset, load_mnist_like, load_splits, search_dirs, Dataset, FashionMnist,
    Split,
};

/// Errors loading data: every variant names the file (or the places searched).
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum DataError {
    /// The file could not be opened or read.
    #[error("{path}: {message}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The operating system's message.
        message: String,
    },
    /// The content is not what the format requires.
    #[error("{path}: {message}")]
    Corrupt {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// The file ends before the data its header announces.
    #[error("{path}: truncated {what}: expected {expected} bytes, found {actual}")]
    Truncated {
        /// The file.
        path: PathBuf,
        /// Which part.
        what: String,
        /// Bytes the header implies.
        expected: u64,
        /// Bytes present.
        actual: u64,
    },
    /// The file is longer than its header announces.
    #[error("{path}: {actual} bytes where the IDX header implies {expected}: trailing data")]
    TrailingBytes {
        /// The file.
        path: PathBuf,
        /// Bytes the header implies.
        expected: u64,
        /// Bytes present.
        actual: u64,
    },
    /// Images and labels disagree, or values are out of range.
    #[error("{name}: {message}")]
    Inconsistent {
        /// The dataset.
        name: String,
        /// What disagrees.
        message: String,
    },
    /// The dataset is not in any of the searched places.
    #[error("dataset `{name}` not found; searched {searched:?}. {hint}")]
    NotFound {
        /// The dataset.
        name: String,
        /// The folders searched.
        searched: Vec<PathBuf>,
        /// How to get it.
        hint: String,
    },
}
