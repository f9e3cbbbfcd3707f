//! The IDX format (LeCun's MNIST files), raw or gzip-compressed, with header validation.
//!
//! Layout: two zero bytes, an element-type code, the number of dimensions `d`, then `d`
//! big-endian `u32` sizes, then the elements in row-major order. Only unsigned bytes (`0x08`,
//! what MNIST and Fashion-MNIST use) are supported.
//!
//! The header is read and checked before any of the body is: the element count is a checked
//! product, at most [`MAX_IDX_BYTES`] (a header cannot make the reader allocate or
//! decompress without bound), a raw file's length must match it before the body is read,
//! and a gzip stream is decompressed only up to the size the header promises — a
//! decompression bomb stops there and is reported as trailing data. A file shorter than its
//! header promises is an error naming the file and both sizes — never a silently short
//! dataset.

use std::io::Read;
use std::path::{Path, PathBuf};

use crate::data::DataError;

/// The largest IDX body accepted: 1 GiB, twenty times the largest MNIST-family file
/// (Fashion-MNIST's 47 MB of training images).
pub const MAX_IDX_BYTES: u64 = 1 << 30;

/// An IDX array of unsigned bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdxArray {
    /// Sizes of each dimension.
    pub dims: Vec<usize>,
    /// The elements, row-major.
    pub data: Vec<u8>,
}

/// A checked IDX header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdxHeader {
    /// Sizes of each dimension.
    pub dims: Vec<usize>,
    /// Bytes of the header (`4 + 4 d`).
    pub header_bytes: u64,
    /// Bytes of the body: the product of the dimensions (at most [`MAX_IDX_BYTES`]).
    pub body_bytes: u64,
}

/// An opened IDX file: its checked header, and a reader positioned at the body.
pub(crate) struct Opened {
    pub(crate) header: IdxHeader,
    reader: Box<dyn Read>,
    /// Whether the bytes come through gzip (errors are then stream errors).
    gzip: bool,
}

impl Opened {
    /// Reads the body the header promises.
    pub(crate) fn read(mut self, path: &Path) -> Result<IdxArray, DataError> {
        read_body(path, &self.header, &mut self.reader, self.gzip)
    }
}

/// Opens an IDX file and reads and checks its header, nothing more.
pub(crate) fn open(path: &Path) -> Result<Opened, DataError> {
    let io = |e: std::io::Error| DataError::Io {
        path: path.to_path_buf(),
        message: e.to_string(),
    };
    let len = lab::files::check_regular(path, None).map_err(|e| DataError::Io {
        path: path.to_path_buf(),
        message: e.to_string(),
    })?;
    let file = std::io::BufReader::new(std::fs::File::open(path).map_err(io)?);
    let gzip = path.extension().is_some_and(|e| e == "gz");
    let mut reader: Box<dyn Read> = if gzip {
        Box::new(flate2::read::GzDecoder::new(file))
    } else {
        Box::new(file)
    };
    let header = read_header(path, &mut reader, gzip)?;
    if !gzip {
        // A raw file's size is known: check it against the header before reading the body.
        check_length(path, &header, len)?;
    }
    Ok(Opened {
        header,
        reader,
        gzip,
    })
}

fn check_length(path: &Path, h: &IdxHeader, actual: u64) -> Result<(), DataError> {
    let expected = h.header_bytes + h.body_bytes;
    if actual < expected {
        return Err(DataError::Truncated {
            path: path.to_path_buf(),
            what: format!("IDX data of shape {:?}", h.dims),
            expected,
            actual,
        });
    }
    if actual > expected {
        return Err(DataError::TrailingBytes {
            path: path.to_path_buf(),
            expected,
            actual,
        });
    }
    Ok(())
}

/// Reads up to `want` bytes; a read error is a stream error for gzip, an I/O error otherwise.
fn read_up_to(
    path: &Path,
    r: &mut dyn Read,
    want: u64,
    gzip: bool,
    out: &mut Vec<u8>,
) -> Result<(), DataError> {
    r.take(want).read_to_end(out).map(|_| ()).map_err(|e| {
        if gzip {
            DataError::Corrupt {
                path: path.to_path_buf(),
                message: format!("gzip stream: {e}"),
            }
        } else {
            DataError::Io {
                path: path.to_path_buf(),
                message: e.to_string(),
            }
        }
    })
}

fn read_header(path: &Path, r: &mut dyn Read, gzip: bool) -> Result<IdxHeader, DataError> {
    let p = || PathBuf::from(path);
    let mut head = Vec::with_capacity(4);
    read_up_to(path, r, 4, gzip, &mut head)?;
    if head.len() < 4 {
        return Err(DataError::Truncated {
            path: p(),
            what: "IDX header".into(),
            expected: 4,
            actual: head.len() as u64,
        });
    }
    if head[0] != 0 || head[1] != 0 {
        return Err(DataError::Corrupt {
            path: p(),
            message: format!(
                "bad magic number {:02x}{:02x}: not an IDX file",
                head[0], head[1]
            ),
        });
    }
    if head[2] != 0x08 {
        return Err(DataError::Corrupt {
            path: p(),
            message: format!(
                "unsupported IDX element type 0x{:02x} (only unsigned bytes, 0x08)",
                head[2]
            ),
        });
    }
    let ndim = head[3] as usize;
    if ndim == 0 {
        return Err(DataError::Corrupt {
            path: p(),
            message: "IDX header with 0 dimensions".into(),
        });
    }
    let header_bytes = 4 + 4 * ndim as u64;
    let mut sizes = Vec::with_capacity(4 * ndim);
    read_up_to(path, r, 4 * ndim as u64, gzip, &mut sizes)?;
    if sizes.len() < 4 * ndim {
        return Err(DataError::Truncated {
            path: p(),
            what: format!("IDX header with {ndim} dimensions"),
            expected: header_bytes,
            actual: 4 + sizes.len() as u64,
        });
    }
    let dims: Vec<usize> = sizes
        .chunks_exact(4)
        .map(|c| u32::from_be_bytes([c[0], c[1], c[2], c[3]]) as usize)
        .collect();
    // Checked products: the element count, and the size of the shape with empty axes
    // counted as 1 (a tensor of shape [0, 2^32-1, 2^32-1] is as impossible as a full one).
    let product = |f: fn(u64) -> u64| {
        dims.iter()
            .try_fold(1u64, |n, &d| n.checked_mul(f(d as u64)))
            .filter(|&n| n <= MAX_IDX_BYTES)
    };
    match (product(|d| d), product(|d| d.max(1))) {
        (Some(body_bytes), Some(_)) => Ok(IdxHeader {
            dims,
            header_bytes,
            body_bytes,
        }),
        _ => Err(DataError::Corrupt {
            path: p(),
            message: format!(
                "the IDX header promises shape {dims:?}, more than the {MAX_IDX_BYTES}-byte \
                 limit for an IDX file"
            ),
        }),
    }
}

/// Reads and checks only the header of an IDX file (`.gz`: only the header is decompressed).
///
/// # Errors
/// As [`read_idx`], for the header.
pub fn read_idx_header(path: &Path) -> Result<IdxHeader, DataError> {
    open(path).map(|o| o.header)
}

/// Reads and validates an IDX file (`.gz` is decompressed, at most as far as the header
/// promises). Only a regular file is read.
///
/// # Errors
/// [`DataError::Io`] when the file cannot be read or is not a regular file,
/// [`DataError::Corrupt`] for a broken gzip stream, a bad magic number, an unsupported
/// element type, a header promising more than [`MAX_IDX_BYTES`] or a gzip stream longer than
/// promised, [`DataError::Truncated`] when the data is shorter than the header says and
/// [`DataError::TrailingBytes`] when a raw file is longer.
pub fn read_idx(path: &Path) -> Result<IdxArray, DataError> {
    open(path)?.read(path)
}

fn read_body(
    path: &Path,
    h: &IdxHeader,
    r: &mut dyn Read,
    gzip: bool,
) -> Result<IdxArray, DataError> {
    // Grows with the data actually present, not with what the header claims.
    let mut data = Vec::with_capacity(h.body_bytes.min(1 << 24) as usize);
    read_up_to(path, r, h.body_bytes, gzip, &mut data)?;
    if (data.len() as u64) < h.body_bytes {
        return Err(DataError::Truncated {
            path: path.to_path_buf(),
            what: format!("IDX data of shape {:?}", h.dims),
            expected: h.header_bytes + h.body_bytes,
            actual: h.header_bytes + data.len() as u64,
        });
    }
    let mut more = Vec::new();
    read_up_to(path, r, 1, gzip, &mut more)?;
    if !more.is_empty() {
        return Err(DataError::Corrupt {
            path: path.to_path_buf(),
            message: format!(
                "the data runs past the {} bytes the IDX header implies (shape {:?}): \
                 trailing data, not decompressed further",
                h.header_bytes + h.body_bytes,
                h.dims
            ),
        });
    }
    Ok(IdxArray {
        dims: h.dims.clone(),
        data,
    })
}

/// Parses IDX bytes (`path` is only used in messages).
///
/// # Errors
/// As [`read_idx`].
pub fn parse_idx(path: &Path, bytes: &[u8]) -> Result<IdxArray, DataError> {
    let mut r: &[u8] = bytes;
    let h = read_header(path, &mut r, false)?;
    check_length(path, &h, bytes.len() as u64)?;
    read_body(path, &h, &mut r, false)
}

/// Parses the bytes of a gzip-compressed IDX file, decompressing at most what the header
/// promises (`path` is only used in messages).
///
/// # Errors
/// As [`read_idx`].
pub fn parse_idx_gz(path: &Path, bytes: &[u8]) -> Result<IdxArray, DataError> {
    let mut r = flate2::read::GzDecoder::new(bytes);
    let h = read_header(path, &mut r, true)?;
    read_body(path, &h, &mut r, true)
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
