//! Reading a file a user named: only a regular file (a FIFO, a directory or `/dev/zero`
//! named by mistake is refused, not read) and at most a stated number of bytes (a file that
//! grows while it is read is cut at the limit plus one byte, and refused). Every reader of a
//! user's file in the workspace goes through here — experiment files, checkpoints, IDX data,
//! loss logs, model directories — and words its errors from [`FileError`].

use std::io::Read;
use std::path::Path;

/// Why a file was not read.
#[derive(Debug)]
pub enum FileError {
    /// It could not be inspected or read (missing, no permission, not UTF-8 where text was
    /// wanted...).
    Io(std::io::Error),
    /// It is not a regular file.
    NotRegular,
    /// It is larger than the limit.
    TooLarge {
        /// Its size in bytes.
        len: u64,
        /// The limit in bytes.
        limit: u64,
    },
}

impl std::fmt::Display for FileError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            FileError::Io(e) => write!(f, "{e}"),
            FileError::NotRegular => write!(f, "not a regular file"),
            FileError::TooLarge { len, limit } => {
                write!(f, "{len} bytes: larger than the {limit}-byte limit")
            }
        }
    }
}

impl std::error::Error for FileError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            FileError::Io(e) => Some(e),
            _ => None,
        }
    }
}

/// Checks that `path` (symbolic links followed) is a regular file of at most `limit` bytes
/// (any size with `None`); returns its size.
///
/// # Errors
/// As [`FileError`] says.
pub fn check_regular(path: &Path, limit: Option<u64>) -> Result<u64, FileError> {
    let meta = std::fs::metadata(path).map_err(FileError::Io)?;
    if !meta.is_file() {
        return Err(FileError::NotRegular);
    }
    match limit {
        Some(limit) if meta.len() > limit => Err(FileError::TooLarge {
            len: meta.len(),
            limit,
        }),
        _ => Ok(meta.len()),
    }
}

/// Reads a regular file of at most `limit` bytes.
///
/// # Errors
/// As [`FileError`] says; a file that grew past the limit after the check is refused too.
pub fn read_regular(path: &Path, limit: u64) -> Result<Vec<u8>, FileError> {
    let len = check_regular(path, Some(limit))?;
    let mut bytes = Vec::with_capacity(len as usize);
    std::fs::File::open(path)
        .and_then(|f| f.take(limit.saturating_add(1)).read_to_end(&mut bytes))
        .map_err(FileError::Io)?;
    if bytes.len() as u64 > limit {
        return Err(FileError::TooLarge {
            len: bytes.len() as u64,
            limit,
        });
    }
    Ok(bytes)
}

/// [`read_regular`] for UTF-8 text.
///
/// # Errors
/// As [`read_regular`]; text that is not UTF-8 is [`FileError::Io`] of kind `InvalidData`.
pub fn read_regular_string(path: &Path, limit: u64) -> Result<String, FileError> {
    String::from_utf8(read_regular(path, limit)?).map_err(|e| {
        FileError::Io(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            format!("not UTF-8 text: {}", e.utf8_error()),
        ))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn regular_files_within_the_limit_are_read_and_others_refused() {
        let dir = std::env::temp_dir().join(format!("lab-files-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let f = dir.join("ten.txt");
        std::fs::write(&f, "0123456789").unwrap();
        assert_eq!(read_regular(&f, 10).unwrap(), b"0123456789");
        assert_eq!(read_regular_string(&f, 100).unwrap(), "0123456789");
        let e = read_regular(&f, 9).unwrap_err();
        assert_eq!(e.to_string(), "10 bytes: larger than the 9-byte limit");
        assert!(matches!(
            read_regular(&dir, 100),
            Err(FileError::NotRegular)
        ));
        assert_eq!(
            check_regular(Path::new("/dev/zero"), None)
                .unwrap_err()
                .to_string(),
            "not a regular file"
        );
        assert!(matches!(
            read_regular(&dir.join("missing"), 1),
            Err(FileError::Io(e)) if e.kind() == std::io::ErrorKind::NotFound
        ));
        std::fs::write(&f, [0xff, 0xfe]).unwrap();
        let e = read_regular_string(&f, 10).unwrap_err();
        assert!(e.to_string().starts_with("not UTF-8 text"), "{e}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
