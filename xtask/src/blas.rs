//! `cargo xtask bench --blas LIB`: our GEMM against a C BLAS library's `sgemm`, timed in this
//! process, the two taking turns.
//!
//! On a shared machine the speed available to a process changes from one second to the next
//! (another tenant on the same physical core, turbo, cache contention), so two programs timed
//! one after the other can differ by more than the kernels do. Here each round times a group of
//! our products and a group of the library's, in alternating order, after the same pause, and
//! the ratio is taken round by round: a slow phase slows both sides of a round alike. Both
//! sides allocate a fresh output per product, as `a.matmul(&b)` and NumPy's `a @ b` do.
//!
//! Any CBLAS library with OpenBLAS's or MKL's thread-count call works: a system
//! `libopenblas.so`, or NumPy's own OpenBLAS (`numpy.libs/libscipy_openblas64_-*.so`, with
//! 64-bit integers and prefixed names). This file is the one place outside `kernels/` modules
//! with `unsafe` code: the calls into the library.

use std::ffi::c_int;
use std::path::Path;
use std::time::{Duration, Instant};

use core_tensor::{no_grad, Rng, Tensor};

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

/// Checks that the library computes our product (an odd shape, so that the calling
/// convention — row-major, integer width — would show if it were wrong).
///
/// # Errors
/// The results differ by more than rounding: the message gives the largest difference.
pub fn check_agrees(blas: &Cblas) -> std::io::Result<()> {
    let (m, k, n) = (67, 45, 33);
    let mut rng = Rng::seed(7);
    let a = rng.normal(&[m, k], 0.0, 1.0);
    let b = rng.normal(&[k, n], 0.0, 1.0);
    let ours = no_grad(|| a.matmul(&b))
        .map_err(|e| std::io::Error::other(format!("our matmul: {e}")))?
        .to_vec();
    blas.set_threads(1);
    let theirs = blas.matmul(&a.to_vec(), &b.to_vec(), m, k, n);
    let worst = ours
        .iter()
        .zip(&theirs)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0f32, f32::max);
    // Sums of 45 products of N(0, 1) values: a few units; rounding differs at ~1e-6.
    if worst.is_finite() && worst < 1e-3 {
        Ok(())
    } else {
        Err(std::io::Error::other(format!(
            "{}: its {} disagrees with our matmul on a {m}x{k}x{n} product (largest \
             difference {worst}); the library's calling convention is not the one expected",
            blas.path, blas.symbol
        )))
    }
}

/// One shape and thread count, ours against the library in alternating rounds.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct AbRow {
    /// Our measurement's name (`gemm/square-1024/2t`).
    pub name: String,
    /// Threads on both sides.
    pub threads: usize,
    /// Rounds taken (one group of calls per side per round).
    pub rounds: usize,
    /// Our GFLOP/s, median over the rounds.
    pub ours: f64,
    /// The library's GFLOP/s, median over the rounds.
    pub blas: f64,
    /// Median over the rounds of (our GFLOP/s / the library's) within the round.
    pub ratio: f64,
    /// Smallest round ratio.
    pub ratio_min: f64,
    /// Largest round ratio.
    pub ratio_max: f64,
}

/// How long each side's group of calls lasts, and how many rounds.
#[derive(Debug, Clone, Copy)]
pub struct AbConfig {
    /// Rounds (each: one group of ours, one of theirs, in alternating order).
    pub rounds: usize,
    /// Seconds a group of calls should last (at least one call).
    pub group_seconds: f64,
    /// Pause before each group, so that the other side's threads have gone to sleep: OpenBLAS's
    /// wait for the next call spinning, 2^28 cycles (about 0.1 s at 2.5 GHz) by default, on
    /// the cores our next group needs; rayon's threads spin far less.
    pub pause: Duration,
}

impl AbConfig {
    /// For `--quick`: 5 rounds of 0.1 s groups.
    pub fn quick() -> AbConfig {
        AbConfig {
            rounds: 5,
            group_seconds: 0.1,
            pause: Duration::from_millis(300),
        }
    }

    /// The full run: 15 rounds of 0.25 s groups.
    pub fn standard() -> AbConfig {
        AbConfig {
            rounds: 15,
            group_seconds: 0.25,
            pause: Duration::from_millis(300),
        }
    }
}

fn median(v: &[f64]) -> f64 {
    let mut v = v.to_vec();
    v.sort_by(f64::total_cmp);
    let mid = v.len() / 2;
    if v.len() % 2 == 1 {
        v[mid]
    } else {
        0.5 * (v[mid - 1] + v[mid])
    }
}

/// Times `name`'s product (m x k times k x n, N(0, 1) values) on the current rayon pool
/// (which should have `threads` threads) against `blas` on as many threads.
///
/// # Errors
/// Our matmul failed (it cannot for these shapes).
pub fn ab_gemm(
    blas: &Cblas,
    name: &str,
    (m, k, n): (usize, usize, usize),
    threads: usize,
    cfg: &AbConfig,
) -> std::io::Result<AbRow> {
    let mut rng = Rng::seed(0);
    let a = rng.normal(&[m, k], 0.0, 1.0);
    let b = rng.normal(&[k, n], 0.0, 1.0);
    let (av, bv) = (a.to_vec(), b.to_vec());
    blas.set_threads(threads);
    let ours = |a: &Tensor, b: &Tensor| -> std::io::Result<()> {
        let c = no_grad(|| a.matmul(b))
            .map_err(|e| std::io::Error::other(format!("our matmul: {e}")))?;
        std::hint::black_box(c);
        Ok(())
    };
    let theirs = || {
        std::hint::black_box(blas.matmul(&av, &bv, m, k, n));
    };
    // Warm up both (packing buffers, thread pools) and size the groups from one call each.
    let t = Instant::now();
    ours(&a, &b)?;
    ours(&a, &b)?;
    let one_ours = t.elapsed().as_secs_f64() / 2.0;
    let t = Instant::now();
    theirs();
    theirs();
    let one_theirs = t.elapsed().as_secs_f64() / 2.0;
    let calls = |one: f64| ((cfg.group_seconds / one.max(1e-9)).ceil() as usize).max(1);
    let (n_ours, n_theirs) = (calls(one_ours), calls(one_theirs));
    let flop = 2.0 * (m * k * n) as f64;
    let (mut g_ours, mut g_theirs, mut ratios) = (Vec::new(), Vec::new(), Vec::new());
    for round in 0..cfg.rounds {
        let time_ours = || -> std::io::Result<f64> {
            std::thread::sleep(cfg.pause);
            let t = Instant::now();
            for _ in 0..n_ours {
                ours(&a, &b)?;
            }
            Ok(flop * n_ours as f64 / t.elapsed().as_secs_f64() / 1e9)
        };
        let time_theirs = || {
            std::thread::sleep(cfg.pause);
            let t = Instant::now();
            for _ in 0..n_theirs {
                theirs();
            }
            flop * n_theirs as f64 / t.elapsed().as_secs_f64() / 1e9
        };
        let (o, t) = if round % 2 == 0 {
            let o = time_ours()?;
            (o, time_theirs())
        } else {
            let t = time_theirs();
            (time_ours()?, t)
        };
        g_ours.push(o);
        g_theirs.push(t);
        ratios.push(o / t);
    }
    Ok(AbRow {
        name: name.to_string(),
        threads,
        rounds: cfg.rounds,
        ours: median(&g_ours),
        blas: median(&g_theirs),
        ratio: median(&ratios),
        ratio_min: ratios.iter().copied().fold(f64::INFINITY, f64::min),
        ratio_max: ratios.iter().copied().fold(0.0, f64::max),
    })
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

    #[test]
    fn median_of_even_and_odd_counts() {
        assert_eq!(median(&[3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(&[4.0, 1.0, 2.0, 3.0]), 2.5);
    }
}
