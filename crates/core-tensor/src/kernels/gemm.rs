//! f32 matrix multiplication, split over rayon for large products.
//!
//! Kernel choice, made once at run time: `matrixmultiply`'s sgemm (whose AVX-512 kernel is
//! compiled in through the `avx512` feature) by default — the portable path. Our own packed
//! AVX2+FMA 6x16 kernel (`gemm_avx2.rs`) is selected with `GROUNDWORK_GEMM=avx2` on a CPU that
//! has AVX2 and FMA; it is tested against matrixmultiply, but on the 2-core AMD EPYC measured
//! on 2026-11-25 it was not faster (1024^3: 58-63 vs 65-72 GFLOP/s on 1 thread, 110-118 vs
//! 107-131 on 2, noisy machine), so it is not the default. Both pack operands of any stride, so
//! transposed views (`a.t()`) multiply without a copy. Parallelism: a product with `m * n * k >= PAR_MIN_MNK` (and more than one
//! rayon thread available) is cut into one slab per thread — row slabs of `A`/`C` when
//! `m >= n`, column slabs of `B`/`C` otherwise — and each slab runs the single-threaded sgemm.
//! `matrixmultiply`'s own threading is not enabled, so two thread pools are never nested, and
//! small products (a 4x4) never wake a thread.
//!
//! Determinism: every element `C[i, j]` is accumulated over `k` in the same order (the
//! kernel's fixed `kc` blocking) whichever slab holds it, so results are bit-identical for any
//! thread count (tested below).

use ndarray::{ArrayView2, ArrayViewMut2, Axis};
use rayon::prelude::*;

/// Products smaller than this (in `m * n * k`) run on the calling thread.
pub(crate) const PAR_MIN_MNK: usize = 64 * 64 * 64;

/// Slabs are a multiple of this many rows/columns (the sgemm micro-tile sizes divide it).
const SLAB_ALIGN: usize = 16;

/// `c = a @ b`, overwriting `c` (which must be `m x n`; any layout).
///
/// # Panics
/// When the shapes do not chain (`a: m x k`, `b: k x n`, `c: m x n`); callers check shapes and
/// return errors first, so a panic here is a bug in core-tensor.
pub(crate) fn gemm(
    a: ArrayView2<'_, f32>,
    b: ArrayView2<'_, f32>,
    mut c: ArrayViewMut2<'_, f32>,
    parallel: bool,
) {
    let (m, k) = a.dim();
    let (k2, n) = b.dim();
    assert!(
        k == k2 && c.dim() == (m, n),
        "gemm: a {:?} @ b {:?} into c {:?} do not chain",
        a.shape(),
        b.shape(),
        c.shape()
    );
    let threads = rayon::current_num_threads();
    if !parallel || threads < 2 || m.saturating_mul(n).saturating_mul(k) < PAR_MIN_MNK {
        return gemm_serial(a, b, c);
    }
    if m >= n {
        let rows = slab(m, threads);
        let jobs: Vec<_> = a
            .axis_chunks_iter(Axis(0), rows)
            .zip(c.axis_chunks_iter_mut(Axis(0), rows))
            .collect();
        jobs.into_par_iter().for_each(|(a, c)| gemm_serial(a, b, c));
    } else {
        let cols = slab(n, threads);
        let jobs: Vec<_> = b
            .axis_chunks_iter(Axis(1), cols)
            .zip(c.axis_chunks_iter_mut(Axis(1), cols))
            .collect();
        jobs.into_par_iter().for_each(|(b, c)| gemm_serial(a, b, c));
    }
}

/// Slab size giving about one slab per thread, rounded up to [`SLAB_ALIGN`].
fn slab(len: usize, threads: usize) -> usize {
    let per = len.div_ceil(threads);
    per.div_ceil(SLAB_ALIGN) * SLAB_ALIGN
}

/// Which single-threaded kernel runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kernel {
    /// `matrixmultiply::sgemm` (portable; AVX-512/AVX2/SSE dispatch inside).
    MatrixMultiply,
    /// Our AVX2+FMA 6x16 kernel (opt-in: `GROUNDWORK_GEMM=avx2`).
    #[cfg(target_arch = "x86_64")]
    Avx2,
}

/// The kernel chosen for this CPU (detected once).
pub(crate) fn default_kernel() -> Kernel {
    static CHOICE: std::sync::OnceLock<Kernel> = std::sync::OnceLock::new();
    *CHOICE.get_or_init(|| {
        #[cfg(target_arch = "x86_64")]
        {
            let requested = std::env::var("GROUNDWORK_GEMM").is_ok_and(|v| v == "avx2");
            let avx2 = is_x86_feature_detected!("avx2") && is_x86_feature_detected!("fma");
            if requested && avx2 {
                return Kernel::Avx2;
            }
        }
        Kernel::MatrixMultiply
    })
}

/// Single-threaded `c = a @ b` with the default kernel.
pub(crate) fn gemm_serial(
    a: ArrayView2<'_, f32>,
    b: ArrayView2<'_, f32>,
    c: ArrayViewMut2<'_, f32>,
) {
    gemm_with(default_kernel(), a, b, c)
}

/// Single-threaded `c = a @ b` with a chosen kernel.
pub(crate) fn gemm_with(
    kernel: Kernel,
    a: ArrayView2<'_, f32>,
    b: ArrayView2<'_, f32>,
    mut c: ArrayViewMut2<'_, f32>,
) {
    let (m, k) = a.dim();
    let n = b.dim().1;
    if m == 0 || n == 0 {
        return;
    }
    if k == 0 {
        c.fill(0.0);
        return;
    }
    let (rsa, csa) = (a.strides()[0], a.strides()[1]);
    let (rsb, csb) = (b.strides()[0], b.strides()[1]);
    let (rsc, csc) = (c.strides()[0], c.strides()[1]);
    #[cfg(target_arch = "x86_64")]
    if kernel == Kernel::Avx2 && csc == 1 && rsc >= n as isize {
        use super::gemm_avx2::{gemm as avx2_gemm, Strided};
        let sa = Strided {
            ptr: a.as_ptr(),
            rs: rsa,
            cs: csa,
        };
        let sb = Strided {
            ptr: b.as_ptr(),
            rs: rsb,
            cs: csb,
        };
        // SAFETY: Kernel::Avx2 is only chosen where AVX2 and FMA are detected (tests check
        // before requesting it); the strided descriptions come from live views of m x k and k x n; C is a
        // unique row-major view of m x n rows (unit column stride, row stride >= n).
        unsafe { avx2_gemm(m, k, n, sa, sb, c.as_mut_ptr(), rsc as usize) };
        return;
    }
    let _ = kernel;
    // SAFETY: the pointers and strides come from live ndarray views of exactly the dimensions
    // passed (m x k, k x n, m x n), so every address sgemm forms is inside its view. `c` is a
    // unique mutable view and cannot alias `a` or `b` (they are shared borrows). With
    // beta = 0, sgemm writes C without reading it.
    unsafe {
        matrixmultiply::sgemm(
            m,
            k,
            n,
            1.0,
            a.as_ptr(),
            rsa,
            csa,
            b.as_ptr(),
            rsb,
            csb,
            0.0,
            c.as_mut_ptr(),
            rsc,
            csc,
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::Array2;

    fn naive(a: &Array2<f32>, b: &Array2<f32>) -> Array2<f32> {
        let (m, k) = a.dim();
        let n = b.dim().1;
        Array2::from_shape_fn((m, n), |(i, j)| {
            (0..k)
                .map(|p| a[[i, p]] as f64 * b[[p, j]] as f64)
                .sum::<f64>() as f32
        })
    }

    fn filled(m: usize, n: usize, seed: u32) -> Array2<f32> {
        Array2::from_shape_fn((m, n), |(i, j)| {
            let h = (i as u32 * 7919 + j as u32 * 104729 + seed * 31).wrapping_mul(2654435761);
            (h >> 8) as f32 / (1u32 << 24) as f32 - 0.5
        })
    }

    #[test]
    fn matches_naive_for_awkward_shapes_and_strides() {
        for &(m, k, n) in &[(1, 1, 1), (3, 5, 7), (17, 33, 9), (64, 1, 64), (130, 70, 3)] {
            let a = filled(m, k, 1);
            let b = filled(k, n, 2);
            let want = naive(&a, &b);
            let mut c = Array2::zeros((m, n));
            gemm(a.view(), b.view(), c.view_mut(), true);
            for (x, y) in c.iter().zip(want.iter()) {
                assert!(
                    (x - y).abs() <= 1e-5 * (1.0 + y.abs()),
                    "{m}x{k}x{n}: {x} vs {y}"
                );
            }
            // Transposed operands (as views) give the same product.
            let at = a.t().to_owned();
            let bt = b.t().to_owned();
            let mut c2 = Array2::zeros((m, n));
            gemm(at.t(), bt.t(), c2.view_mut(), true);
            assert_eq!(c, c2);
        }
    }

    #[test]
    #[cfg(target_arch = "x86_64")]
    fn avx2_kernel_agrees_with_matrixmultiply() {
        if !(is_x86_feature_detected!("avx2") && is_x86_feature_detected!("fma")) {
            println!("skip: the AVX2+FMA GEMM kernel needs AVX2 and FMA, absent on this CPU");
            return;
        }
        // Edge tiles in both dimensions, k across the KC = 256 block boundary, k = 1.
        for &(m, k, n) in &[
            (1, 1, 1),
            (6, 3, 16),
            (7, 1, 17),
            (13, 255, 31),
            (50, 257, 40),
            (121, 600, 33),
            (5, 513, 100),
        ] {
            let a = filled(m, k, 5);
            let b = filled(k, n, 6);
            let want = naive(&a, &b);
            for transposed in [false, true] {
                let (at, bt) = (a.t().to_owned(), b.t().to_owned());
                let (av, bv) = if transposed {
                    (at.t(), bt.t())
                } else {
                    (a.view(), b.view())
                };
                let mut ours = Array2::zeros((m, n));
                let mut theirs = Array2::zeros((m, n));
                gemm_with(Kernel::Avx2, av, bv, ours.view_mut());
                gemm_with(Kernel::MatrixMultiply, av, bv, theirs.view_mut());
                // Both are f32 sums of k products in different orders: each is within
                // k * eps * sum|a||b| of the exact value (entries here are in [-0.5, 0.5]).
                let tol = (k as f32) * f32::EPSILON * 0.25 * k as f32 + 1e-6;
                for ((x, y), z) in ours.iter().zip(theirs.iter()).zip(want.iter()) {
                    assert!(
                        (x - z).abs() <= tol && (y - z).abs() <= tol,
                        "{m}x{k}x{n} t={transposed}: ours {x}, matrixmultiply {y}, exact {z}"
                    );
                }
            }
        }
        // Writes only inside C: a row stride larger than n leaves the gap untouched.
        let a = filled(7, 9, 1);
        let b = filled(9, 5, 2);
        let mut big = Array2::from_elem((7, 8), 42.0f32);
        gemm_with(
            Kernel::Avx2,
            a.view(),
            b.view(),
            big.slice_mut(ndarray::s![.., ..5]),
        );
        assert!(big.slice(ndarray::s![.., 5..]).iter().all(|&v| v == 42.0));
    }

    #[test]
    fn bit_identical_for_any_thread_count() {
        for &(m, k, n) in &[(300, 200, 100), (40, 300, 500)] {
            let a = filled(m, k, 3);
            let b = filled(k, n, 4);
            let mut serial = Array2::zeros((m, n));
            gemm_serial(a.view(), b.view(), serial.view_mut());
            for threads in [2, 3] {
                let pool = rayon::ThreadPoolBuilder::new()
                    .num_threads(threads)
                    .build()
                    .unwrap();
                let mut par = Array2::zeros((m, n));
                pool.install(|| gemm(a.view(), b.view(), par.view_mut(), true));
                assert_eq!(serial, par, "{m}x{k}x{n} with {threads} threads");
            }
        }
    }
}
