//! f32 matrix multiplication, on one of two engines chosen once at run time:
//!
//! - our packed kernels (`gemm_packed/`): AVX-512F (14x32 tile) or AVX2 + FMA (6x16), the
//!   default wherever the CPU has them. A parallel product shares each packed block of B
//!   among the rayon pool's threads, which take blocks of C rows (and groups of columns) as
//!   they become free.
//! - `matrixmultiply`'s sgemm — the portable path, for every other CPU (and on request:
//!   `GROUNDWORK_ISA=scalar`). A parallel product is cut into one slab per thread
//!   (row slabs when `m >= n`, column slabs otherwise), each running the single-threaded
//!   sgemm; `matrixmultiply`'s own threading is not enabled, so thread pools never nest.
//!
//! Both pack operands of any stride, so transposed views (`a.t()`) multiply without a copy.
//! Products smaller than [`PAR_MIN_MNK`] never wake a thread.
//!
//! Determinism: every element `C[i, j]` is accumulated over `k` in the same order (the
//! engine's fixed `kc` blocking) whichever thread computes it, so results are bit-identical
//! for any thread count (tested below).

use ndarray::{Array2, ArrayView2, ArrayViewMut2, ShapeBuilder};
use rayon::prelude::*;

use super::gemm_packed::{Packed, PackedB, Strided};
use super::par::{Epilogue, SendPtr};

/// Products smaller than this (in `m * n * k`) run on the calling thread.
pub(crate) const PAR_MIN_MNK: usize = 64 * 64 * 64;

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
    check_dims(a, b, c.dim());
    let (rsc, csc) = (c.strides()[0], c.strides()[1]);
    // SAFETY: `c` is a unique view of m x n floats with these strides; `a` and `b` are shared
    // borrows, so they cannot alias it.
    unsafe { gemm_raw(default_kernel(), a, b, c.as_mut_ptr(), rsc, csc, parallel) };
}

/// Single-threaded `c = a @ b` with the default kernel.
pub(crate) fn gemm_serial(
    a: ArrayView2<'_, f32>,
    b: ArrayView2<'_, f32>,
    c: ArrayViewMut2<'_, f32>,
) {
    gemm(a, b, c, false)
}

/// A new row-major `a @ b`, written straight into fresh memory (no zero-fill first).
pub(crate) fn product(
    a: ArrayView2<'_, f32>,
    b: ArrayView2<'_, f32>,
    parallel: bool,
) -> Array2<f32> {
    let (m, n) = (a.dim().0, b.dim().1);
    check_dims(a, b, (m, n));
    let mut c = Array2::<f32>::uninit((m, n));
    // SAFETY: `c` is a fresh row-major m x n array (row stride n, unit column stride), not
    // aliased by `a` or `b`; both engines write every element of C without reading it.
    unsafe {
        gemm_raw(
            default_kernel(),
            a,
            b,
            c.as_mut_ptr().cast::<f32>(),
            n as isize,
            1,
            parallel,
        );
        c.assume_init()
    }
}

fn check_dims(a: ArrayView2<'_, f32>, b: ArrayView2<'_, f32>, c: (usize, usize)) {
    assert!(
        a.dim().1 == b.dim().0 && c == (a.dim().0, b.dim().1),
        "gemm: a {:?} @ b {:?} into c {:?} do not chain",
        a.shape(),
        b.shape(),
        [c.0, c.1]
    );
}

/// Which engine runs.
#[derive(Clone, Copy)]
pub(crate) enum Kernel {
    /// `matrixmultiply::sgemm` (portable; AVX-512/AVX2/SSE dispatch inside).
    MatrixMultiply,
    /// One of our packed kernels (`gemm_packed/`), only ever holding an available one.
    Packed(Packed),
}

impl Kernel {
    /// A short name for reports (`avx2-6x16`, `matrixmultiply`).
    pub(crate) fn name(&self) -> &'static str {
        match self {
            Kernel::MatrixMultiply => "matrixmultiply",
            Kernel::Packed(p) => p.name,
        }
    }
}

/// The engine chosen for this CPU (detected once): our packed kernel for the widest vector
/// ISA present (AVX-512F, else AVX2 + FMA), else `matrixmultiply`. `GROUNDWORK_ISA`
/// ([`cpu::cap`](super::cpu::cap)) narrows it: `avx2` or `avx-vnni` keep the AVX2 kernel,
/// `scalar` gives `matrixmultiply`.
pub(crate) fn default_kernel() -> Kernel {
    static CHOICE: std::sync::OnceLock<Kernel> = std::sync::OnceLock::new();
    *CHOICE.get_or_init(|| {
        #[cfg(target_arch = "x86_64")]
        {
            use super::gemm_packed::{AVX2, AVX512};
            if let Some(p) = [AVX512, AVX2].into_iter().find(Packed::allowed) {
                return Kernel::Packed(p);
            }
        }
        Kernel::MatrixMultiply
    })
}

/// Name of the GEMM engine matrix products use on this CPU: `avx512-14x32`, `avx2-6x16` or
/// `matrixmultiply` (for benchmark reports; `GROUNDWORK_ISA` narrows the detected choice).
pub fn kernel_name() -> &'static str {
    default_kernel().name()
}

/// A matrix `B` (`k x n`) packed once, in the layout the GEMM kernel reads, for many products
/// `C = A B` with [`gemm_into`] — the inference case, where B is a weight matrix that never
/// changes and packing it on every call would be wasted work.
///
/// Built from a row-major `k x n` matrix ([`PackedMatrix::new`]) or from its transpose, a
/// row-major `n x k` matrix ([`PackedMatrix::from_transposed`]: PyTorch's `Linear.weight`
/// `[out, in]` is the transpose of the `B` in `y = x W^T`).
pub struct PackedMatrix {
    k: usize,
    n: usize,
    form: Form,
}

enum Form {
    /// Our packed kernel's panels.
    Packed(Packed, PackedB),
    /// Row-major `k x n`, for `matrixmultiply` (CPUs without AVX2/AVX-512).
    Plain(Vec<f32>),
}

impl std::fmt::Debug for PackedMatrix {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let kernel = match &self.form {
            Form::Packed(p, _) => p.name,
            Form::Plain(_) => "matrixmultiply",
        };
        write!(f, "PackedMatrix({} x {}, {kernel})", self.k, self.n)
    }
}

impl PackedMatrix {
    /// Packs the row-major `k x n` matrix `b`.
    ///
    /// # Errors
    /// [`TensorError::DataLength`](crate::TensorError::DataLength) when `b.len() != k * n`
    /// or a dimension is 0.
    pub fn new(b: &[f32], k: usize, n: usize) -> crate::Result<PackedMatrix> {
        Self::build(default_kernel(), b, k, n, false)
    }

    /// Packs `B = bt^T` from the row-major `n x k` matrix `bt` (a `Linear` weight
    /// `[out = n, in = k]`).
    ///
    /// # Errors
    /// As [`PackedMatrix::new`].
    pub fn from_transposed(bt: &[f32], n: usize, k: usize) -> crate::Result<PackedMatrix> {
        Self::build(default_kernel(), bt, k, n, true)
    }

    pub(crate) fn build(
        kernel: Kernel,
        data: &[f32],
        k: usize,
        n: usize,
        transposed: bool,
    ) -> crate::Result<PackedMatrix> {
        if data.len() != k * n || k == 0 || n == 0 {
            return Err(crate::TensorError::DataLength {
                op: "PackedMatrix",
                shape: if transposed { vec![n, k] } else { vec![k, n] },
                expected: k * n,
                len: data.len(),
            });
        }
        // B[p, j] is at p * rs + j * cs.
        let (rs, cs) = if transposed {
            (1, k as isize)
        } else {
            (n as isize, 1)
        };
        let form = match kernel {
            // SAFETY: `data` holds k x n floats addressed by (rs, cs); k, n >= 1; a
            // `Kernel::Packed` only holds an available instance.
            Kernel::Packed(p) => Form::Packed(p, unsafe {
                p.pack_b(
                    k,
                    n,
                    Strided {
                        ptr: data.as_ptr(),
                        rs,
                        cs,
                    },
                )
            }),
            Kernel::MatrixMultiply => Form::Plain(if transposed {
                (0..k)
                    .flat_map(|p| (0..n).map(move |j| data[j * k + p]))
                    .collect()
            } else {
                data.to_vec()
            }),
        };
        Ok(PackedMatrix { k, n, form })
    }

    /// Rows of `B` (the inner dimension of the product).
    pub fn k(&self) -> usize {
        self.k
    }

    /// Columns of `B`.
    pub fn n(&self) -> usize {
        self.n
    }

    /// Bytes the packed matrix holds.
    pub fn bytes(&self) -> usize {
        match &self.form {
            Form::Packed(_, b) => b.bytes(),
            Form::Plain(v) => v.len() * 4,
        }
    }
}

/// `C = A B`, then `epilogue` on C's elements: `a` is row-major `m x k` with row stride
/// `lda`, `c` row-major `m x n` with row stride `ldc`, `B` packed once ([`PackedMatrix`]).
/// Runs on the current rayon pool when the product is large enough.
///
/// Every element of C is computed by the same floating-point operations whatever `m`, the
/// other rows of `A`, or the thread count: a row's result does not depend on the batch it is
/// computed in.
///
/// # Errors
/// [`TensorError::ShapeMismatch`](crate::TensorError::ShapeMismatch) when the slices are too
/// short for the dimensions or a row stride is below its row length.
pub fn gemm_into(
    a: &[f32],
    m: usize,
    lda: usize,
    b: &PackedMatrix,
    c: &mut [f32],
    ldc: usize,
    epilogue: Option<&Epilogue<'_>>,
) -> crate::Result<()> {
    let (k, n) = (b.k, b.n);
    let need = |rows: usize, stride: usize, cols: usize| {
        if rows == 0 {
            0
        } else {
            (rows - 1) * stride + cols
        }
    };
    if lda < k || ldc < n || a.len() < need(m, lda, k) || c.len() < need(m, ldc, n) {
        return Err(crate::TensorError::shape_detail(
            "gemm_into",
            &[m, k, lda, a.len()],
            &[m, n, ldc, c.len()],
            format!(
                "A is {m} x {k} with row stride {lda} ({} floats needed), C is {m} x {n} with \
                 row stride {ldc} ({} floats needed)",
                need(m, lda, k),
                need(m, ldc, n)
            ),
        ));
    }
    if m == 0 {
        return Ok(());
    }
    let parallel =
        rayon::current_num_threads() > 1 && m.saturating_mul(n).saturating_mul(k) >= PAR_MIN_MNK;
    match &b.form {
        // SAFETY: A is m x k row-major within `a` (checked), C m x n within `c` (checked,
        // unique borrow, so not aliasing A or B); B was packed by this same instance.
        Form::Packed(p, packed) => unsafe {
            p.gemm_prepacked(
                m,
                Strided {
                    ptr: a.as_ptr(),
                    rs: lda as isize,
                    cs: 1,
                },
                packed,
                c.as_mut_ptr(),
                ldc,
                parallel,
                epilogue,
            )
        },
        Form::Plain(bv) => {
            let av = ndarray::ArrayView2::from_shape((m, k).strides((lda, 1)), a)
                .expect("checked above");
            let bv = ndarray::ArrayView2::from_shape((k, n), bv.as_slice()).expect("k x n");
            // SAFETY: C is m x n within `c` with row stride ldc (checked).
            unsafe {
                gemm_raw(
                    Kernel::MatrixMultiply,
                    av,
                    bv,
                    c.as_mut_ptr(),
                    ldc as isize,
                    1,
                    parallel,
                )
            };
            if let Some(f) = epilogue {
                for i in 0..m {
                    f(i, 0, &mut c[i * ldc..i * ldc + n]);
                }
            }
        }
    }
    Ok(())
}

/// `c = a @ b` with a chosen engine (tests compare engines with it).
#[cfg(test)]
pub(crate) fn gemm_with(
    kernel: Kernel,
    a: ArrayView2<'_, f32>,
    b: ArrayView2<'_, f32>,
    mut c: ArrayViewMut2<'_, f32>,
    parallel: bool,
) {
    check_dims(a, b, c.dim());
    let (rsc, csc) = (c.strides()[0], c.strides()[1]);
    // SAFETY: as in `gemm`.
    unsafe { gemm_raw(kernel, a, b, c.as_mut_ptr(), rsc, csc, parallel) };
}

/// `C = a @ b` into `m x n` floats at `c` with strides `(rsc, csc)`, written without being
/// read (C may be uninitialised).
///
/// # Safety
/// `c` must be valid for writes at every `i * rsc + j * csc` (`i < m`, `j < n`), those
/// addresses distinct, and not overlap `a` or `b`; `a` and `b` chain (`m x k`, `k x n`).
unsafe fn gemm_raw(
    kernel: Kernel,
    a: ArrayView2<'_, f32>,
    b: ArrayView2<'_, f32>,
    c: *mut f32,
    rsc: isize,
    csc: isize,
    parallel: bool,
) {
    let (m, k) = a.dim();
    let n = b.dim().1;
    if m == 0 || n == 0 {
        return;
    }
    if k == 0 {
        for i in 0..m {
            for j in 0..n {
                // SAFETY: (i, j) is inside C (caller's contract).
                unsafe { c.offset(i as isize * rsc + j as isize * csc).write(0.0) };
            }
        }
        return;
    }
    let parallel = parallel
        && rayon::current_num_threads() > 1
        && m.saturating_mul(n).saturating_mul(k) >= PAR_MIN_MNK;
    // Our packed engine needs C's rows contiguous; any other C goes to matrixmultiply.
    let packed = match kernel {
        Kernel::Packed(p) if csc == 1 && rsc >= n as isize => Some(p),
        _ => None,
    };
    // One engine on the calling thread, for C's block at `c` (same strides).
    let serial = |a: ArrayView2<'_, f32>, b: ArrayView2<'_, f32>, c: *mut f32, parallel: bool| {
        let (m, k, n) = (a.dim().0, a.dim().1, b.dim().1);
        match packed {
            // SAFETY: m, k, n >= 1 (checked above; slabs are non-empty); a `Kernel::Packed`
            // only ever holds an instance whose `available()` held (default_kernel checks;
            // tests check before building one); the strided descriptions come from live views
            // of m x k and k x n; C is m rows of n floats with unit column stride and row
            // stride >= n (caller's contract).
            Some(p) => unsafe {
                let strided = |v: &ArrayView2<'_, f32>| Strided {
                    ptr: v.as_ptr(),
                    rs: v.strides()[0],
                    cs: v.strides()[1],
                };
                p.gemm(m, k, n, strided(&a), strided(&b), c, rsc as usize, parallel)
            },
            // SAFETY: the caller's contract, for this block.
            None => unsafe { sgemm(a, b, c, rsc, csc) },
        }
    };
    if !parallel {
        serial(a, b, c, false);
        return;
    }
    // A large B is packed once and shared by the pool's threads (our engine). A small one is
    // not worth a separate packing phase: one slab of rows (or columns) per thread, each
    // packing its own copy of B — also how matrixmultiply, which has no threading of its
    // own here, runs in parallel.
    if packed.is_some() && k * n >= SHARED_B_MIN_FLOATS {
        serial(a, b, c, true);
        return;
    }
    let (mr, nr) = packed.map_or((16, 16), |p| p.tile());
    let threads = rayon::current_num_threads();
    let c = SendPtr::new(c);
    if m >= n {
        let rows = m.div_ceil(threads).div_ceil(mr) * mr;
        (0..m.div_ceil(rows)).into_par_iter().for_each(|s| {
            let r = s * rows..m.min((s + 1) * rows);
            // Slab s covers rows r of A and C; slabs are disjoint.
            let c = c.get().wrapping_offset(r.start as isize * rsc);
            serial(a.slice(ndarray::s![r, ..]), b, c, false);
        });
    } else {
        let cols = n.div_ceil(threads).div_ceil(nr) * nr;
        (0..n.div_ceil(cols)).into_par_iter().for_each(|s| {
            let r = s * cols..n.min((s + 1) * cols);
            // Slab s covers columns r of B and C; slabs are disjoint.
            let c = c.get().wrapping_offset(r.start as isize * csc);
            serial(a, b.slice(ndarray::s![.., r]), c, false);
        });
    }
}

/// B smaller than this (in floats: 1 MiB) is packed by each thread for its own slab of C
/// rather than once and shared.
const SHARED_B_MIN_FLOATS: usize = 1 << 18;

/// `matrixmultiply::sgemm` with beta = 0 on the calling thread.
///
/// # Safety
/// As for [`gemm_raw`], with `k >= 1`.
unsafe fn sgemm(
    a: ArrayView2<'_, f32>,
    b: ArrayView2<'_, f32>,
    c: *mut f32,
    rsc: isize,
    csc: isize,
) {
    let (m, k) = a.dim();
    let n = b.dim().1;
    // SAFETY: the pointers and strides come from live ndarray views of exactly the dimensions
    // passed (m x k, k x n) and the caller's m x n C. With beta = 0, sgemm writes C without
    // reading it (documented: C may be uninitialised then).
    unsafe {
        matrixmultiply::sgemm(
            m,
            k,
            n,
            1.0,
            a.as_ptr(),
            a.strides()[0],
            a.strides()[1],
            b.as_ptr(),
            b.strides()[0],
            b.strides()[1],
            0.0,
            c,
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

    /// Edge tiles in both dimensions; k = 1, k across the KC block (256 or 512) boundary and
    /// in three unequal-looking blocks (1100); m across the MC block (72 or 168); n across the
    /// NC = 4096 slice boundary, and across slices cut short by a large k (k = 1100 packs
    /// 944 columns of B at a time for NR = 16, 928 for NR = 32).
    const AWKWARD: &[(usize, usize, usize)] = &[
        (1, 1, 1),
        (6, 3, 16),
        (7, 1, 17),
        (13, 255, 31),
        (14, 2, 32),
        (50, 257, 40),
        (121, 600, 33),
        (5, 513, 100),
        (170, 20, 70),
        (3, 2, 4100),
        (9, 1100, 20),
        (2, 1100, 2000),
    ];

    /// Runs `kernel` on every awkward shape with plain and transposed operands.
    fn products(kernel: Kernel) -> Vec<Array2<f32>> {
        let mut out = Vec::new();
        for &(m, k, n) in AWKWARD {
            let a = filled(m, k, 5);
            let b = filled(k, n, 6);
            let (at, bt) = (a.t().to_owned(), b.t().to_owned());
            for (av, bv) in [(a.view(), b.view()), (at.t(), bt.t()), (a.view(), bt.t())] {
                let mut c = Array2::from_elem((m, n), f32::NAN);
                gemm_with(kernel, av, bv, c.view_mut(), false);
                out.push(c);
            }
        }
        out
    }

    #[test]
    fn emulated_packed_kernels_agree_with_matrixmultiply() {
        use crate::kernels::gemm_packed::emulated::{EMULATED_14X32, EMULATED_6X16};
        let reference = products(Kernel::MatrixMultiply);
        let exact: Vec<_> = AWKWARD
            .iter()
            .map(|&(m, k, n)| naive(&filled(m, k, 5), &filled(k, n, 6)))
            .collect();
        for packed in [EMULATED_6X16, EMULATED_14X32] {
            let ours = products(Kernel::Packed(packed));
            for (i, (x, y)) in ours.iter().zip(&reference).enumerate() {
                let (m, k, n) = AWKWARD[i / 3];
                let z = &exact[i / 3];
                // Both are f32 sums of k products in different orders: each is within
                // k * eps * sum|a||b| of the exact value (entries here are in [-0.5, 0.5]).
                let tol = (k as f32) * f32::EPSILON * 0.25 * k as f32 + 1e-6;
                for ((x, y), z) in x.iter().zip(y.iter()).zip(z.iter()) {
                    assert!(
                        (x - z).abs() <= tol && (y - z).abs() <= tol,
                        "{} {m}x{k}x{n} case {i}: ours {x}, matrixmultiply {y}, exact {z}",
                        packed.name
                    );
                }
            }
        }
    }

    #[test]
    #[cfg(target_arch = "x86_64")]
    fn simd_kernels_match_their_emulated_twins_bit_for_bit() {
        use crate::kernels::gemm_packed::emulated::{EMULATED_14X32, EMULATED_6X16};
        use crate::kernels::gemm_packed::{AVX2, AVX512};
        for (simd, twin, needs) in [
            (AVX2, EMULATED_6X16, "AVX2 and FMA"),
            (AVX512, EMULATED_14X32, "AVX-512F"),
        ] {
            if !simd.available() {
                println!(
                    "skip: the {} GEMM kernel needs {needs}, absent on this CPU",
                    simd.name
                );
                continue;
            }
            let ours = products(Kernel::Packed(simd));
            let want = products(Kernel::Packed(twin));
            for (i, (x, y)) in ours.iter().zip(&want).enumerate() {
                let same = x
                    .iter()
                    .zip(y.iter())
                    .all(|(p, q)| p.to_bits() == q.to_bits());
                assert!(
                    same,
                    "{} differs from its twin on {:?}",
                    simd.name,
                    AWKWARD[i / 3]
                );
            }
        }
    }

    #[test]
    fn packed_kernels_write_only_inside_c() {
        use crate::kernels::gemm_packed::emulated::{EMULATED_14X32, EMULATED_6X16};
        // A row stride larger than n leaves the gap untouched, for full and clipped tiles.
        for packed in [EMULATED_6X16, EMULATED_14X32] {
            for (m, k, n) in [(7, 9, 5), (28, 3, 64), (6, 300, 16)] {
                let a = filled(m, k, 1);
                let b = filled(k, n, 2);
                let mut big = Array2::from_elem((m, n + 3), 42.0f32);
                gemm_with(
                    Kernel::Packed(packed),
                    a.view(),
                    b.view(),
                    big.slice_mut(ndarray::s![.., ..n]),
                    false,
                );
                assert!(big.slice(ndarray::s![.., n..]).iter().all(|&v| v == 42.0));
                assert!(big.slice(ndarray::s![.., ..n]).iter().all(|&v| v != 42.0));
            }
        }
    }

    #[test]
    fn bit_identical_for_any_thread_count() {
        use crate::kernels::gemm_packed::emulated::{EMULATED_14X32, EMULATED_6X16};
        // Slabs of rows and of columns (small B); shared B with row blocks only and with row
        // blocks x panel groups (m < n), several k blocks, the NC slice.
        let shapes = [
            (300, 200, 100),
            (40, 300, 500),
            (150, 1100, 70),
            (13, 600, 900),
            (200, 700, 400),
        ];
        for &(m, k, n) in &shapes {
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
                let fresh = pool.install(|| product(a.view(), b.view(), true));
                assert_eq!(serial, fresh, "{m}x{k}x{n} product with {threads} threads");
            }
        }
        // The packed engines' parallel partition, on any CPU (through the emulated twins).
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(3)
            .build()
            .unwrap();
        for packed in [EMULATED_6X16, EMULATED_14X32] {
            // Row and column slabs (small B), then shared B (k * n >= 2^18).
            for &(m, k, n) in &[(100, 300, 90), (20, 60, 300), (30, 600, 500)] {
                let a = filled(m, k, 3);
                let b = filled(k, n, 4);
                let mut serial = Array2::from_elem((m, n), f32::NAN);
                let mut par = Array2::from_elem((m, n), f32::NAN);
                gemm_with(
                    Kernel::Packed(packed),
                    a.view(),
                    b.view(),
                    serial.view_mut(),
                    false,
                );
                pool.install(|| {
                    gemm_with(
                        Kernel::Packed(packed),
                        a.view(),
                        b.view(),
                        par.view_mut(),
                        true,
                    )
                });
                assert!(serial.iter().all(|v| v.is_finite()));
                assert_eq!(serial, par, "{} {m}x{k}x{n} on 3 threads", packed.name);
            }
        }
    }

    /// Every engine: the default, both emulated twins, the SIMD instances this CPU runs, and
    /// matrixmultiply.
    fn engines() -> Vec<Kernel> {
        use crate::kernels::gemm_packed::emulated::{EMULATED_14X32, EMULATED_6X16};
        let mut v = vec![
            Kernel::MatrixMultiply,
            Kernel::Packed(EMULATED_6X16),
            Kernel::Packed(EMULATED_14X32),
        ];
        #[cfg(target_arch = "x86_64")]
        {
            use crate::kernels::gemm_packed::{AVX2, AVX512};
            v.extend(
                [AVX2, AVX512]
                    .into_iter()
                    .filter(|p| p.available())
                    .map(Kernel::Packed),
            );
        }
        v
    }

    #[test]
    fn prepacked_products_equal_packing_on_every_call_bit_for_bit() {
        for kernel in engines() {
            for &(m, k, n) in AWKWARD {
                let (a, b) = (filled(m, k, 5), filled(k, n, 6));
                let mut want = Array2::from_elem((m, n), f32::NAN);
                gemm_with(kernel, a.view(), b.view(), want.view_mut(), false);
                let bt = b.t().as_standard_layout().into_owned();
                let plain =
                    PackedMatrix::build(kernel, b.as_slice().unwrap(), k, n, false).unwrap();
                let trans =
                    PackedMatrix::build(kernel, bt.as_slice().unwrap(), k, n, true).unwrap();
                for packed in [&plain, &trans] {
                    let mut c = vec![f32::NAN; m * n];
                    gemm_into(a.as_slice().unwrap(), m, k, packed, &mut c, n, None).unwrap();
                    assert!(
                        c.iter()
                            .zip(want.iter())
                            .all(|(x, y)| x.to_bits() == y.to_bits()),
                        "{} {m}x{k}x{n}",
                        kernel.name()
                    );
                }
            }
        }
    }

    #[test]
    fn a_row_does_not_depend_on_its_batch_or_the_thread_count() {
        let (m, k, n) = (97, 384, 1152);
        let a = filled(m, k, 11);
        let w = filled(n, k, 12); // a Linear weight [out, in]
        for kernel in engines() {
            let b = PackedMatrix::build(kernel, w.as_slice().unwrap(), k, n, true).unwrap();
            let run = |rows: std::ops::Range<usize>, threads: usize| {
                let mut c = vec![0.0f32; rows.len() * n];
                let pool = rayon::ThreadPoolBuilder::new()
                    .num_threads(threads)
                    .build()
                    .unwrap();
                let a = &a.as_slice().unwrap()[rows.start * k..rows.end * k];
                pool.install(|| gemm_into(a, rows.len(), k, &b, &mut c, n, None))
                    .unwrap();
                c
            };
            let all = run(0..m, 3);
            assert_eq!(all, run(0..m, 1), "{}", kernel.name());
            for rows in [40..41, 0..14, 50..97] {
                let part = run(rows.clone(), 2);
                assert_eq!(
                    &all[rows.start * n..rows.end * n],
                    &part[..],
                    "{} rows {rows:?}",
                    kernel.name()
                );
            }
        }
    }

    #[test]
    fn the_epilogue_sees_every_element_once_with_its_row_and_column() {
        let (m, k, n) = (70, 33, 300);
        let (a, b) = (filled(m, k, 1), filled(k, n, 2));
        for kernel in engines() {
            let packed = PackedMatrix::build(kernel, b.as_slice().unwrap(), k, n, false).unwrap();
            let mut plain = vec![0.0f32; m * n];
            gemm_into(a.as_slice().unwrap(), m, k, &packed, &mut plain, n, None).unwrap();
            let mut with = vec![0.0f32; m * (n + 5)];
            let mark = |i: usize, j0: usize, row: &mut [f32]| {
                for (j, v) in row.iter_mut().enumerate() {
                    *v += (i * 1000 + j0 + j) as f32;
                }
            };
            // C with a wider row stride than n: the padding columns stay untouched.
            gemm_into(
                a.as_slice().unwrap(),
                m,
                k,
                &packed,
                &mut with,
                n + 5,
                Some(&mark),
            )
            .unwrap();
            for i in 0..m {
                for j in 0..n {
                    assert_eq!(
                        with[i * (n + 5) + j],
                        plain[i * n + j] + (i * 1000 + j) as f32
                    );
                }
                assert!(with[i * (n + 5) + n..(i + 1) * (n + 5)]
                    .iter()
                    .all(|&v| v == 0.0));
            }
        }
    }

    #[test]
    fn short_buffers_are_errors() {
        let b = PackedMatrix::new(&[1.0; 6], 2, 3).unwrap();
        let mut c = vec![0.0; 6];
        assert!(gemm_into(&[1.0; 3], 2, 2, &b, &mut c, 3, None).is_err());
        assert!(gemm_into(&[1.0; 4], 2, 2, &b, &mut c[..5], 3, None).is_err());
        assert!(gemm_into(&[1.0; 4], 2, 1, &b, &mut c, 3, None).is_err());
        assert!(PackedMatrix::new(&[1.0; 5], 2, 3).is_err());
        gemm_into(&[1.0; 4], 2, 2, &b, &mut c, 3, None).unwrap();
        assert_eq!(c, [2.0; 6]);
    }

    /// Every edge-tile height: m = 1..=29 rows (a last tile of every size for both tiles),
    /// each engine against an f64 product, and each SIMD instance bit for bit against its
    /// emulated twin.
    #[test]
    fn every_last_tile_height_is_right() {
        let (k, n) = (37, 70);
        let b = filled(k, n, 8);
        for m in 1..=29 {
            let a = filled(m, k, 7);
            let exact = naive(&a, &b);
            let mut results = Vec::new();
            for kernel in engines() {
                let mut c = Array2::from_elem((m, n), f32::NAN);
                gemm_with(kernel, a.view(), b.view(), c.view_mut(), false);
                for (x, z) in c.iter().zip(exact.iter()) {
                    assert!(
                        (x - z).abs() <= 1e-5,
                        "{} m = {m}: {x} vs {z}",
                        kernel.name()
                    );
                }
                results.push((kernel.name(), c));
            }
            let find = |name: &str| results.iter().find(|(n, _)| *n == name).map(|(_, c)| c);
            for (simd, twin) in [
                ("avx2-6x16", "emulated-6x16"),
                ("avx512-14x32", "emulated-14x32"),
            ] {
                if let (Some(x), Some(y)) = (find(simd), find(twin)) {
                    assert!(
                        x.iter()
                            .zip(y.iter())
                            .all(|(a, b)| a.to_bits() == b.to_bits()),
                        "{simd} vs {twin}, m = {m}"
                    );
                }
            }
        }
    }
}
