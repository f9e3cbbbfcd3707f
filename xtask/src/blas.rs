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

use bench_harness::stats::Stats;
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
    /// Our GFLOP/s, median over the rounds.
    pub ours: f64,
    /// The library's GFLOP/s, median over the rounds.
    pub blas: f64,
    /// Each round's (our GFLOP/s / the library's), summarised: `median` is the comparison,
    /// `min` and `max` its spread, `n` the number of rounds.
    pub ratio: Stats,
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

/// Times `a.matmul(b)` (`a`: m x k, `b`: k x n, contiguous) on the current rayon pool (which
/// should have `threads` threads) against `blas` on as many threads, as measurement `name`.
///
/// # Errors
/// Our matmul failed (it cannot for matrices).
///
/// # Panics
/// If `a` or `b` is not a matrix, or their inner dimensions differ.
pub fn ab_gemm(
    blas: &Cblas,
    name: &str,
    a: &Tensor,
    b: &Tensor,
    threads: usize,
    cfg: &AbConfig,
) -> std::io::Result<AbRow> {
    let (&[m, k], &[k2, n]) = (a.shape(), b.shape()) else {
        panic!(
            "ab_gemm: matrices expected, got {:?} and {:?}",
            a.shape(),
            b.shape()
        );
    };
    assert_eq!(k, k2, "ab_gemm: {m}x{k} times {k2}x{n}");
    let (av, bv) = (a.to_vec(), b.to_vec());
    blas.set_threads(threads);
    let ours = || -> std::io::Result<()> {
        let c = no_grad(|| a.matmul(b))
            .map_err(|e| std::io::Error::other(format!("our matmul: {e}")))?;
        std::hint::black_box(c);
        Ok(())
    };
    let theirs = || -> std::io::Result<()> {
        std::hint::black_box(blas.matmul(&av, &bv, m, k, n));
        Ok(())
    };
    // Seconds per call over `calls` calls.
    let per_call = |side: &dyn Fn() -> std::io::Result<()>, calls: usize| {
        let t = Instant::now();
        for _ in 0..calls {
            side()?;
        }
        Ok::<f64, std::io::Error>(t.elapsed().as_secs_f64() / calls as f64)
    };
    // Warm both up (packing buffers, thread pools) and size the groups from two calls each.
    let group = |side: &dyn Fn() -> std::io::Result<()>| {
        let one = per_call(side, 2)?;
        Ok::<usize, std::io::Error>(((cfg.group_seconds / one.max(1e-9)).ceil() as usize).max(1))
    };
    let (n_ours, n_theirs) = (group(&ours)?, group(&theirs)?);
    let flop = 2.0 * (m * k * n) as f64;
    // One side's GFLOP/s over a group of calls, after the pause.
    let gflops = |side: &dyn Fn() -> std::io::Result<()>, calls: usize| {
        std::thread::sleep(cfg.pause);
        Ok::<f64, std::io::Error>(flop / per_call(side, calls)? / 1e9)
    };
    let (mut g_ours, mut g_theirs, mut ratios) = (Vec::new(), Vec::new(), Vec::new());
    for round in 0..cfg.rounds {
        let (o, t) = if round % 2 == 0 {
            let o = gflops(&ours, n_ours)?;
            (o, gflops(&theirs, n_theirs)?)
        } else {
            let t = gflops(&theirs, n_theirs)?;
            (gflops(&ours, n_ours)?, t)
        };
        g_ours.push(o);
        g_theirs.push(t);
        ratios.push(o / t);
    }
    let median = |v: &[f64]| Stats::from_samples(v).map_or(f64::NAN, |s| s.median);
    Ok(AbRow {
        name: name.to_string(),
        threads,
        ours: median(&g_ours),
        blas: median(&g_theirs),
        ratio: Stats::from_samples(&ratios)
            .ok_or_else(|| std::io::Error::other(format!("{name}: no rounds, or a NaN timing")))?,
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

    /// The round summary is `bench_harness`'s median (the mean of the middle two for an even
    /// count of rounds).
    #[test]
    fn median_of_even_and_odd_counts() {
        let median = |v: &[f64]| Stats::from_samples(v).unwrap().median;
        assert_eq!(median(&[3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(&[4.0, 1.0, 2.0, 3.0]), 2.5);
    }
}
