//! The IDX format (LeCun's MNIST files), raw or gzip-compressed, with header validation.
//!
//! Layout: two zero bytes, an element-type code, the number of dimensions `d`, then `d`
//! big-endian `u32` sizes, then the elements in row-major order. Only unsigned bytes (`0x08`,
//! what MNIST and Fashion-MNIST use) are supported. A file shorter than its header promises is
//! an error naming the file and both sizes — never a silently short dataset.

use std::io::Read;
use std::path::{Path, PathBuf};

use crate::data::DataError;

/// An IDX array of unsigned bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdxArray {
    /// Sizes of each dimension.
    pub dims: Vec<usize>,
    /// The elements, row-major.
    pub data: Vec<u8>,
}

/// Reads and validates an IDX file (`.gz` is decompressed).
///
/// # Errors
/// [`DataError::Io`] when the file cannot be read, [`DataError::Corrupt`] for a broken gzip
/// stream, a bad magic number or an unsupported element type, [`DataError::Truncated`] when
/// the data is shorter than the header says and [`DataError::TrailingBytes`] when longer.
pub fn read_idx(path: &Path) -> Result<IdxArray, DataError> {
    let io = |e: std::io::Error| DataError::Io {
        path: path.to_path_buf(),
        message: e.to_string(),
    };
    let file = std::fs::File::open(path).map_err(io)?;
    let mut bytes = Vec::new();
    if path.extension().is_some_and(|e| e == "gz") {
        flate2::read::GzDecoder::new(file)
            .read_to_end(&mut bytes)
            .map_err(|e| DataError::Corrupt {
                path: path.to_path_buf(),
                message: format!("gzip stream: {e}"),
            })?;
    } else {
        std::io::BufReader::new(file)
            .read_to_end(&mut bytes)
            .map_err(io)?;
    }
    parse_idx(path, &bytes)
}

/// Parses IDX bytes (`path` is only used in messages).
///
/// # Errors
/// As [`read_idx`].
pub fn parse_idx(path: &Path, bytes: &[u8]) -> Result<IdxArray, DataError> {
    let p = || PathBuf::from(path);
    if bytes.len() < 4 {
        return Err(DataError::Truncated {
            path: p(),
            what: "IDX header".into(),
            expected: 4,
            actual: bytes.len() as u64,
        });
    }
    if bytes[0] != 0 || bytes[1] != 0 {
        return Err(DataError::Corrupt {
            path: p(),
            message: format!(
                "bad magic number {:02x}{:02x}: not an IDX file",
                bytes[0], bytes[1]
            ),
        });
    }
    if bytes[2] != 0x08 {
        return Err(DataError::Corrupt {
            path: p(),
            message: format!(
                "unsupported IDX element type 0x{:02x} (only unsigned bytes, 0x08)",
                bytes[2]
            ),
        });
    }
    let ndim = bytes[3] as usize;
    let header = 4 + 4 * ndim;
    if bytes.len() < header {
        return Err(DataError::Truncated {
            path: p(),
            what: format!("IDX header with {ndim} dimensions"),
            expected: header as u64,
            actual: bytes.len() as u64,
        });
    }
    let dims: Vec<usize> = (0..ndim)
        .map(|i| {
            u32::from_be_bytes(bytes[4 + 4 * i..8 + 4 * i].try_into().expect("4 bytes")) as usize
        })
        .collect();
    let count: usize = dims.iter().product();
    let expected = (header + count) as u64;
    let actual = bytes.len() as u64;
    if actual < expected {
        return Err(DataError::Truncated {
            path: p(),
            what: format!("IDX data of shape {dims:?}"),
            expected,
            actual,
        });
    }
    if actual > expected {
        return Err(DataError::TrailingBytes {
            path: p(),
            expected,
            actual,
        });
    }
    Ok(IdxArray {
        dims,
        data: bytes[header..].to_vec(),
    })
}

/// Encodes bytes as an IDX file body (for tests and tools).
pub fn encode_idx(dims: &[usize], data: &[u8]) -> Vec<u8> {
    let mut out = vec![0, 0, 0x08, dims.len() as u8];
    for &d in dims {
        out.extend((d as u32).to_be_bytes());
    }
    out.extend_from_slice(data);
    out
}
