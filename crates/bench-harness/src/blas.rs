//! A C BLAS library's `sgemm`, loaded at run time, to time against ours in the same process
//! (see [`crate::ab`]).
//!
//! Any CBLAS library with OpenBLAS's or MKL's thread-count call works: a system
//! `libopenblas.so`, or NumPy's own OpenBLAS (`numpy.libs/libscipy_openblas64_-*.so`, with
//! 64-bit integers and prefixed names). This file is the one place outside `kernels/` modules
//! with `unsafe` code: the calls into the library.

use std::ffi::c_int;
use std::path::Path;

/// CBLAS enum values (cblas.h): row-major storage, no transpose.
const ROW_MAJOR: c_int = 101;
const NO_TRANS: c_int = 111;

/// `cblas_sgemm` with 32-bit (LP64) integers.
type Sgemm32 = unsafe extern "C" fn(
    c_int,
    c_int,
    c_int,
    i32,
    i32,
    i32,
    f32,
    *const f32,
    i32,
    *const f32,
    i32,
    f32,
    *mut f32,
    i32,
);
/// `cblas_sgemm` with 64-bit (ILP64) integers; the enums stay C ints.
type Sgemm64 = unsafe extern "C" fn(
    c_int,
    c_int,
    c_int,
    i64,
    i64,
    i64,
    f32,
    *const f32,
    i64,
    *const f32,
    i64,
    f32,
    *mut f32,
    i64,
);
/// `openblas_set_num_threads` and its kin.
type SetThreads = unsafe extern "C" fn(c_int);

/// The sgemm entry points tried, in order: (symbol, 64-bit integers, thread-count symbols).
const ENTRY_POINTS: &[(&str, bool, &[&str])] = &[
    (
        "cblas_sgemm",
        false,
        &["openblas_set_num_threads", "MKL_Set_Num_Threads"],
    ),
    (
        "scipy_cblas_sgemm64_",
        true,
        &["scipy_openblas_set_num_threads64_"],
    ),
    ("cblas_sgemm64_", true, &["openblas_set_num_threads64_"]),
];

enum SgemmFn {
    Lp64(Sgemm32),
    Ilp64(Sgemm64),
}

/// A loaded CBLAS library: its `sgemm` and its thread-count setter.
pub struct Cblas {
    /// Keeps the library mapped while the function pointers are in use.
    _lib: libloading::Library,
    sgemm: SgemmFn,
    set_threads: SetThreads,
    /// The file, for reports.
    pub path: String,
    /// The sgemm symbol found.
    pub symbol: &'static str,
}

fn invalid(path: &Path, what: String) -> std::io::Error {
    std::io::Error::new(
        std::io::ErrorKind::InvalidData,
        format!("{}: {what}", path.display()),
    )
}

impl Cblas {
    /// Loads the library at `path` and finds its sgemm and thread-count entry points.
    ///
    /// # Errors
    /// The library cannot be loaded, or lacks every entry point tried (the message lists
    /// them).
    pub fn open(path: &Path) -> std::io::Result<Cblas> {
        // SAFETY: loading runs the library's initialisers; a BLAS library's only set up its
        // thread pool and read its environment variables.
        let lib = unsafe { libloading::Library::new(path) }
            .map_err(|e| invalid(path, format!("cannot load as a shared library: {e}")))?;
        for &(name, ilp64, setters) in ENTRY_POINTS {
            // SAFETY: the symbol, if present, is CBLAS's sgemm with the integer width this
            // table gives it (cblas.h; NumPy's scipy-openblas64 build uses 64-bit integers).
            let sgemm = unsafe {
                if ilp64 {
                    lib.get::<Sgemm64>(name.as_bytes())
                        .map(|f| SgemmFn::Ilp64(*f))
                } else {
                    lib.get::<Sgemm32>(name.as_bytes())
                        .map(|f| SgemmFn::Lp64(*f))
                }
            };
            let Ok(sgemm) = sgemm else { continue };
            // SAFETY: each setter takes the thread count as a C int.
            let set_threads = setters
                .iter()
                .find_map(|s| unsafe { lib.get::<SetThreads>(s.as_bytes()).ok().map(|f| *f) });
            let Some(set_threads) = set_threads else {
                return Err(invalid(
                    path,
                    format!(
                        "has {name} but none of {} to set its thread count",
                        setters.join(", ")
                    ),
                ));
            };
            return Ok(Cblas {
                _lib: lib,
                sgemm,
                set_threads,
                path: path.display().to_string(),
                symbol: name,
            });
        }
        Err(invalid(
            path,
            format!(
                "no CBLAS sgemm in it (looked for {})",
                ENTRY_POINTS
                    .iter()
                    .map(|e| e.0)
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        ))
    }

    /// Sets the library's thread count.
    pub fn set_threads(&self, threads: usize) {
        // SAFETY: the setter takes any positive count.
        unsafe { (self.set_threads)(threads.max(1) as c_int) }
    }

    /// `C = A B` for row-major `a` (m x k) and `b` (k x n), into a fresh vector.
    ///
    /// # Panics
    /// If the slices do not hold m x k and k x n floats.
    pub fn matmul(&self, a: &[f32], b: &[f32], m: usize, k: usize, n: usize) -> Vec<f32> {
        assert!(
            a.len() == m * k && b.len() == k * n,
            "Cblas::matmul: {} and {} floats for {m}x{k} times {k}x{n}",
            a.len(),
            b.len()
        );
        let mut c: Vec<f32> = Vec::with_capacity(m * n);
        // SAFETY: a, b and c hold m x k, k x n and m x n floats, row-major with leading
        // dimensions k, n and n; with beta = 0 sgemm writes every element of C without
        // reading it, so the length can be set after the call.
        unsafe {
            match self.sgemm {
                SgemmFn::Lp64(f) => f(
                    ROW_MAJOR,
                    NO_TRANS,
                    NO_TRANS,
                    m as i32,
                    n as i32,
                    k as i32,
                    1.0,
                    a.as_ptr(),
                    k as i32,
                    b.as_ptr(),
                    n as i32,
                    0.0,
                    c.as_mut_ptr(),
                    n as i32,
                ),
                SgemmFn::Ilp64(f) => f(
                    ROW_MAJOR,
                    NO_TRANS,
                    NO_TRANS,
                    m as i64,
                    n as i64,
                    k as i64,
                    1.0,
                    a.as_ptr(),
                    k as i64,
                    b.as_ptr(),
                    n as i64,
                    0.0,
                    c.as_mut_ptr(),
                    n as i64,
                ),
            }
            c.set_len(m * n);
        }
        c
    }
}

impl std::fmt::Debug for Cblas {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Cblas({}, {})", self.path, self.symbol)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_library_names_the_file() {
        let err = Cblas::open(Path::new("/nonexistent/libnoblas.so")).unwrap_err();
        let msg = err.to_string();
        assert!(
            msg.contains("/nonexistent/libnoblas.so") && msg.contains("cannot load"),
            "{msg}"
        );
    }

    #[test]
    fn a_library_without_sgemm_lists_the_symbols_tried() {
        // The C maths library is on every glibc system and has no BLAS in it.
        let err = Cblas::open(Path::new("libm.so.6")).unwrap_err();
        let msg = err.to_string();
        assert!(
            msg.contains("no CBLAS sgemm")
                && msg.contains("cblas_sgemm,")
                && msg.contains("scipy_cblas_sgemm64_"),
            "{msg}"
        );
    }
}
