//! The BF16 GEMM: `C = A_bf16 . B_bf16`, products exact, sums in f32.
//!
//! **Numbers.** bfloat16 is f32 with the low 16 bits of the mantissa dropped: the same 8-bit
//! exponent (so no overflow or scaling to manage, unlike fp16 or int8) and 8 significant
//! bits, a relative rounding error of at most `2^-9` per operand. Weights are rounded to
//! bf16 once, at load; activations per call. Rounding is to nearest, ties to even (what
//! `vcvtneps2bf16` does). The product of two bf16 numbers has at most 16 significant bits, so
//! it is **exact** in f32, and each accumulation rounds once in f32: the only errors are the
//! two operand roundings, `|x w (d_x + d_w)| <= 2^-8 |x w|` per term, unbiased, so a dot
//! product of `k` terms is off by about `2^-9 sqrt(k)` of its terms' magnitude — a cosine of
//! 1 - 1e-5 or better at the encoder's output, where int8's coarser steps give ~1 - 1e-3.
//!
//! **The instruction.** `vdpbf16ps acc, a, b` (AVX512-BF16: Cooper Lake, Sapphire Rapids,
//! Zen 4+) takes pairs: each f32 lane `i` becomes `(acc + a[2i+1] b[2i+1]) + a[2i] b[2i]`,
//! each addition rounded to nearest even, bf16 denormals read as zero and denormal results
//! flushed. Since the products are exact, `fma(a0, b0, fma(a1, b1, acc))` computes the same
//! bits for normal numbers, which is how the AVX2 family runs it on CPUs without BF16, and how
//! the scalar reference states it.
//!
//! **Layout.** Weights are packed once into panels of `NR` columns; within a panel the k axis
//! goes in pairs, and each pair holds, column after column, `B[2g, j], B[2g + 1, j]` — four
//! bytes per column, the operand layout of `vdpbf16ps` and of AMX's B tiles. `k` is padded with
//! zeros to the family's `kalign` (a pair; 32 for AMX), and activation rows are converted to
//! bf16 with the same padding, plus zero rows to a whole number of row tiles.
//!
//! | family | instruction | tile | runs where |
//! | --- | --- | --- | --- |
//! | `AMX` | `tdpbf16ps` on tiles (`kernels/amx.rs`) | 32 x 32 | AMX-BF16 (Sapphire Rapids+), OS permitting |
//! | `AVX512BF16` | `vdpbf16ps zmm` | 12 x 32 | AVX512-BF16 (Sapphire Rapids, Zen 4/5) |
//! | `AVX2` | bf16 widened by shifts, two `vfmadd` | 4 x 16 | AVX2 + FMA |
//! | `SCALAR` | plain Rust | 4 x 16 | anywhere |
//!
//! The scalar family is the specification. The AVX2 family and the emulated twin of the
//! AVX-512 one (the same macro body on arrays) must match it **bit for bit** on operands whose
//! products and partial sums are normal or zero, and the AMX twin matches Intel's stated order
//! for `tdpbf16ps` (even product first) bit for bit; the native instructions are held to the
//! rounding bound of any summation order, `k 2^-23 sum |a_p b_p|`, since how a CPU orders its
//! additions is its own (the tests report whether they were bit-exact: on Sapphire Rapids
//! `vdpbf16ps` was, `tdpbf16ps` was not).

use std::cell::RefCell;

/// A kernel: `out[r][j] = sum_g (a[r][2g+1] b[g][j][1]) + a[r][2g] b[g][j][0]` accumulated in
/// f32 for `kg` pairs, `MR` rows of A at `a` (row stride `lda` elements; `rows` of them are
/// wanted, and the tile's other rows are readable padding, see [`Bf16Rows`]), one packed panel
/// at `b`, the `MR x NR` tile written to `out` (row stride NR).
pub type Bf16Kernel = super::TileKernel<u16, u16, f32>;

/// A kernel family (tile, edge tiles, `k` alignment, tier, detection): the workspace's one
/// family type, over this module's kernel.
pub type Bf16Family = core_tensor::cpu::Family<Bf16Kernel>;

/// The family for this CPU: AMX-BF16, else AVX512-BF16, else AVX2 + FMA, else scalar — the
/// widest within `GROUNDWORK_ISA` ([`core_tensor::cpu::cap`]).
pub fn default_bf16_family() -> Bf16Family {
    static CHOICE: std::sync::OnceLock<Bf16Family> = std::sync::OnceLock::new();
    *CHOICE.get_or_init(|| core_tensor::cpu::choose(&simd_families(), SCALAR))
}

fn simd_families() -> Vec<Bf16Family> {
    #[cfg(target_arch = "x86_64")]
    {
        vec![AMX, AVX512BF16, AVX2]
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        vec![]
    }
}

/// `x` rounded to bfloat16, to nearest with ties to even; NaN stays NaN (quiet), and
/// denormals become zero of the same sign (what the BF16 instructions read them as).
#[inline(always)]
pub fn to_bf16(x: f32) -> u16 {
    let b = x.to_bits();
    // Adding 0x7fff plus the lowest kept bit rounds half to even; a carry into the exponent
    // is right (it rounds up to the next binade, or to infinity past bf16's largest).
    let rounded = b.wrapping_add(0x7fff + ((b >> 16) & 1)) >> 16;
    // Selects, not early returns, so that a loop of these vectorises.
    let r = if (b & 0x7fff_ffff) > 0x7f80_0000 {
        (b >> 16) | 0x0040
    } else if b & 0x7f80_0000 == 0 {
        (b >> 16) & 0x8000
    } else {
        rounded
    };
    r as u16
}

/// The f32 a bfloat16 stands for (exact).
#[inline(always)]
pub fn from_bf16(h: u16) -> f32 {
    f32::from_bits((h as u32) << 16)
}

/// Weights rounded to bf16 and packed once: `B = W^T` for a `Linear` weight `W: [n, k]`.
#[derive(Debug, Clone)]
pub struct PackedBf16 {
    family: Bf16Family,
    n: usize,
    k: usize,
    /// `k` rounded up to even.
    kp: usize,
    data: Vec<u16>,
}

impl PackedBf16 {
    /// Rounds `w` (`[n, k]` row-major, one output channel per row) to bf16 and packs it for
    /// `family`.
    ///
    /// # Panics
    /// When `w` does not hold `n x k` floats, or this CPU does not run `family` (its kernels
    /// would fault).
    pub fn new(w: &[f32], n: usize, k: usize, family: Bf16Family) -> PackedBf16 {
        assert!(
            family.available(),
            "{} does not run on this CPU",
            family.name
        );
        assert_eq!(
            w.len(),
            n * k,
            "PackedBf16: {n} x {k} weight from {} floats",
            w.len()
        );
        let kp = k.next_multiple_of(family.kalign);
        let nr = family.nr;
        let mut data = vec![0u16; n.div_ceil(nr) * nr * kp];
        for (j, row) in w.chunks_exact(k.max(1)).take(n).enumerate() {
            for (p, &v) in row.iter().enumerate() {
                data[slot(nr, kp, j, p)] = to_bf16(v);
            }
        }
        PackedBf16 {
            family,
            n,
            k,
            kp,
            data,
        }
    }

    /// `(n, k)`.
    pub fn dims(&self) -> (usize, usize) {
        (self.n, self.k)
    }

    /// The family it was packed for.
    pub fn family(&self) -> Bf16Family {
        self.family
    }

    /// Bytes held.
    pub fn bytes(&self) -> usize {
        2 * self.data.len()
    }

    /// The rounded weight `w[j][p]` as bf16 bits (for tests and diagnostics).
    pub fn weight(&self, j: usize, p: usize) -> u16 {
        self.data[slot(self.family.nr, self.kp, j, p)]
    }
}

/// Where `W[j][p]` goes in panels of `nr` columns over `kp` values of k: panel `j / nr`, pair
/// `p / 2`, column `j % nr`, then the pair's element.
fn slot(nr: usize, kp: usize, j: usize, p: usize) -> usize {
    ((j / nr) * kp / 2 + p / 2) * nr * 2 + (j % nr) * 2 + p % 2
}

/// Activation rows rounded to bf16, each padded with zeros to the length a kernel family
/// takes, and followed by zero rows up to a whole number of its row tiles (so a kernel may
/// read whole tiles).
#[derive(Debug, Default, Clone)]
pub struct Bf16Rows {
    /// Rows of `kp` values.
    data: Vec<u16>,
    /// Row stride.
    kp: usize,
}

impl Bf16Rows {
    /// Rounds `m` rows of `k` floats (row stride `ldx`) to bf16 ([`to_bf16`]), each padded
    /// with zeros to the row length `family` takes, plus zero rows to a multiple of its tile
    /// height. Reuses its buffer.
    pub fn convert(&mut self, x: &[f32], m: usize, k: usize, ldx: usize, family: Bf16Family) {
        let kp = k.next_multiple_of(family.kalign);
        self.kp = kp;
        self.data.resize(m.next_multiple_of(family.mr) * kp, 0);
        self.data[m * kp..].fill(0);
        if kp == 0 {
            return;
        }
        core_tensor::par::for_rows(&mut self.data[..m * kp], kp, |i, row| {
            super::ops::round_bf16(&x[i * ldx..i * ldx + k], &mut row[..k]);
            row[k..].fill(0);
        });
    }
}

thread_local! {
    /// One f32 tile per thread.
    static TILE: RefCell<Vec<f32>> = const { RefCell::new(Vec::new()) };
}

/// `C = A B` for `m` rows of `a` and the packed `b`, then `epilogue` on each finished row
/// piece `(row, first column, values)`; C row-major with row stride `ldc`. Runs on the current
/// rayon pool when the product is large enough; the result does not depend on the thread count
/// or on the other rows (each element is one kernel's sum in one order).
///
/// # Panics
/// When `a` was converted for another `k`, or `c` is too short.
pub fn gemm_bf16(
    a: &Bf16Rows,
    m: usize,
    b: &PackedBf16,
    c: &mut [f32],
    ldc: usize,
    epilogue: Option<&core_tensor::Epilogue<'_>>,
) {
    let f = b.family;
    let (n, kp, nr) = (b.n, b.kp, f.nr);
    assert!(
        a.kp == kp,
        "gemm_bf16: A rows of {} values, B k = {kp} (convert A for B's family)",
        a.kp
    );
    super::drive_tiles(
        &f,
        (&a.data, &b.data, 2),
        (m, n, kp),
        c,
        ldc,
        epilogue,
        &TILE,
        |tile, _, _, outs| {
            for (r, out) in outs.iter_mut().enumerate() {
                let cols = out.len();
                out.copy_from_slice(&tile[r * nr..r * nr + cols]);
            }
        },
    );
}

/// Defines a bf16 micro-kernel (see [`Bf16Kernel`]) from vector operations: `load` the pairs
/// of `W` columns of B, `bcast` one row's pair of A to every lane, `dot` the pair's two
/// products into each f32 lane, `store` a vector of f32.
macro_rules! bf16_kernel {
    (
        #[$attr:meta]
        fns [$($name:ident = $mr:expr),+ $(,)?], W = $w:expr, NV = $nv:expr,
        acc = $acc:ty, operand = $op:ty, zero = $zero:expr, load = $load:expr,
        bcast = $bcast:expr, dot = $dot:expr, store = $store:expr $(,)?
    ) => {$(
        #[$attr]
        #[allow(clippy::needless_range_loop)]
        pub(super) unsafe fn $name(
            kg: usize,
            a: *const u16,
            lda: usize,
            rows: usize,
            b: *const u16,
            out: *mut f32,
        ) {
            const MR: usize = $mr;
            const W: usize = $w;
            const NV: usize = $nv;
            const NR: usize = W * NV;
            let rowp: [*const u16; MR] =
                std::array::from_fn(|r| a.wrapping_add(r.min(rows - 1) * lda));
            let mut acc: [[$acc; NV]; MR] = [[$zero; NV]; MR];
            for g in 0..kg {
                // SAFETY: the panel holds kg pairs of NR x 2 values.
                let bv: [$op; NV] = std::array::from_fn(|v| unsafe { $load(b.add(g * NR * 2 + v * W * 2)) });
                for r in 0..MR {
                    // SAFETY: rows below `rows` hold kg pairs (the caller's contract); other
                    // rows alias row `rows - 1`.
                    let av: $op = unsafe { $bcast(rowp[r].add(g * 2)) };
                    for v in 0..NV {
                        acc[r][v] = $dot(acc[r][v], av, bv[v]);
                    }
                }
            }
            for r in 0..MR {
                if r < rows {
                    for v in 0..NV {
                        // SAFETY: the tile holds MR x NR f32.
                        unsafe { $store(out.add(r * NR + v * W), acc[r][v]) };
                    }
                }
            }
        }
    )+};
}

/// Lane operations on arrays: the scalar reference's and the emulated twins'.
mod lanes {
    use super::from_bf16;

    /// `W` lanes of (odd, even) operands, widened to f32.
    pub(super) fn load<const W: usize>(p: *const u16) -> [[f32; 2]; W] {
        // SAFETY: the kernel body passes pointers to W * 2 readable values.
        std::array::from_fn(|l| {
            std::array::from_fn(|t| from_bf16(unsafe { *p.add(2 * l + 1 - t) }))
        })
    }
    pub(super) fn bcast<const W: usize>(p: *const u16) -> [[f32; 2]; W] {
        // SAFETY: the kernel body passes pointers to 2 readable values.
        let a: [f32; 2] = std::array::from_fn(|t| from_bf16(unsafe { *p.add(1 - t) }));
        [a; W]
    }
    /// The pair's odd product, then its even one, each addition rounded (products are exact).
    pub(super) fn dot<const W: usize>(
        acc: [f32; W],
        a: [[f32; 2]; W],
        b: [[f32; 2]; W],
    ) -> [f32; W] {
        std::array::from_fn(|l| (acc[l] + a[l][0] * b[l][0]) + a[l][1] * b[l][1])
    }
    pub(super) fn store<const W: usize>(p: *mut f32, v: [f32; W]) {
        for (l, x) in v.into_iter().enumerate() {
            // SAFETY: the kernel body passes pointers to W writable f32.
            unsafe { *p.add(l) = x };
        }
    }
}

mod amx;
#[cfg(target_arch = "x86_64")]
mod avx2;
#[cfg(target_arch = "x86_64")]
mod avx512;
#[cfg(test)]
pub(crate) mod emulated;
mod scalar;

pub use amx::AMX;
#[cfg(target_arch = "x86_64")]
pub use avx2::AVX2;
#[cfg(target_arch = "x86_64")]
pub use avx512::AVX512BF16;
pub use scalar::SCALAR;

#[cfg(test)]
mod tests {
    use super::*;

    fn values(n: usize, seed: u32) -> Vec<f32> {
        let mut v = crate::kernels::hashed_values(n, seed);
        v.iter_mut().for_each(|x| *x *= 4.0);
        v
    }

    #[test]
    fn rounding_is_to_nearest_even() {
        // 1 + 2^-8 is halfway between 1 and 1 + 2^-7: ties to even gives 1.
        assert_eq!(to_bf16(1.0 + 1.0 / 256.0), to_bf16(1.0));
        // 1 + 3 * 2^-8 is halfway between 1 + 2^-7 (odd) and 1 + 2^-6: up.
        assert_eq!(from_bf16(to_bf16(1.0 + 3.0 / 256.0)), 1.0 + 1.0 / 64.0);
        assert_eq!(from_bf16(to_bf16(-2.5)), -2.5);
        assert!(from_bf16(to_bf16(f32::NAN)).is_nan());
        assert_eq!(from_bf16(to_bf16(f32::MAX)), f32::INFINITY);
        assert_eq!(to_bf16(1e-40), 0);
        assert_eq!(to_bf16(-1e-40), 0x8000);
        // Against the half crate on many values: the same rounding (normal numbers).
        for v in values(10_000, 5) {
            assert_eq!(to_bf16(v), half::bf16::from_f32(v).to_bits(), "{v}");
        }
    }

    /// The reference: per pair, the odd product then the even one (`vdpbf16ps`, the scalar
    /// family's specification), or the even then the odd (`tdpbf16ps` as Intel states it),
    /// each addition rounded.
    fn reference(a: &Bf16Rows, m: usize, b: &PackedBf16, even_first: bool) -> Vec<f32> {
        let (n, k) = b.dims();
        let mut c = vec![0.0f32; m * n];
        for i in 0..m {
            for j in 0..n {
                let w = |p: usize| {
                    if p < k {
                        from_bf16(b.weight(j, p))
                    } else {
                        0.0
                    }
                };
                let x = |p: usize| from_bf16(a.data[i * a.kp + p]);
                let mut acc = 0.0f32;
                for g in 0..k.div_ceil(2) {
                    let (first, second) = if even_first {
                        (2 * g, 2 * g + 1)
                    } else {
                        (2 * g + 1, 2 * g)
                    };
                    acc = (acc + x(first) * w(first)) + x(second) * w(second);
                }
                c[i * n + j] = acc;
            }
        }
        c
    }

    fn product(x: &[f32], m: usize, k: usize, b: &PackedBf16) -> (Bf16Rows, Vec<f32>) {
        let n = b.dims().0;
        let mut a = Bf16Rows::default();
        a.convert(x, m, k, k, b.family());
        let mut c = vec![f32::NAN; m * n];
        gemm_bf16(&a, m, b, &mut c, n, None);
        (a, c)
    }

    const SHAPES: [(usize, usize, usize); 8] = [
        (1, 1, 1),
        (5, 3, 17),
        (13, 37, 40),
        (29, 384, 96),
        (12, 5, 33),
        (30, 130, 70),
        (70, 384, 200),
        (33, 1536, 40),
    ];

    /// The native families this CPU runs, each with the summation order it states.
    fn native() -> Vec<(Bf16Family, bool)> {
        #[cfg(target_arch = "x86_64")]
        {
            [(AVX512BF16, false), (AMX, true)]
                .into_iter()
                .filter(|(f, _)| f.available())
                .collect()
        }
        #[cfg(not(target_arch = "x86_64"))]
        {
            Vec::new()
        }
    }

    /// The scalar family, the AVX2 family and the emulated twins equal the reference of their
    /// order bit for bit; the native BF16 instructions are within the rounding bound of any
    /// summation order (and this prints whether they were exact here).
    #[test]
    fn every_family_matches_the_reference() {
        let mut exact = vec![
            (SCALAR, false),
            (emulated::E_AVX512BF16, false),
            (emulated::E_AMX, true),
        ];
        #[cfg(target_arch = "x86_64")]
        exact.extend([(AVX2, false)].into_iter().filter(|(f, _)| f.available()));
        for &(m, k, n) in &SHAPES {
            let (w, x) = (values(n * k, 3), values(m * k, 4));
            for (f, even_first) in &exact {
                let b = PackedBf16::new(&w, n, k, *f);
                let (a, got) = product(&x, m, k, &b);
                let want = reference(&a, m, &b, *even_first);
                assert!(
                    got.iter()
                        .zip(&want)
                        .all(|(g, w)| g.to_bits() == w.to_bits()),
                    "{} {m}x{k}x{n}",
                    f.name
                );
            }
            for (f, even_first) in native() {
                let b = PackedBf16::new(&w, n, k, f);
                let (a, got) = product(&x, m, k, &b);
                let want = reference(&a, m, &b, even_first);
                let mut bit_exact = true;
                for i in 0..m {
                    for j in 0..n {
                        let mag: f32 = (0..k)
                            .map(|p| {
                                (from_bf16(a.data[i * a.kp + p]) * from_bf16(b.weight(j, p))).abs()
                            })
                            .sum();
                        let (g, r) = (got[i * n + j], want[i * n + j]);
                        assert!(
                            (g - r).abs() <= k as f32 * f32::EPSILON * mag,
                            "{} {m}x{k}x{n} ({i}, {j}): {g} vs {r}",
                            f.name
                        );
                        bit_exact &= g.to_bits() == r.to_bits();
                    }
                }
                println!(
                    "{} {m}x{k}x{n}: bit-exact with the reference: {bit_exact}",
                    f.name
                );
            }
        }
    }

    /// Against the f32 product: the error is the operands' rounding, at most `2^-8 |x w|` per
    /// term, plus the f32 sum's own.
    #[test]
    fn the_error_against_f32_is_the_operand_rounding() {
        let (m, k, n) = (9, 384, 50);
        let (w, x) = (values(n * k, 7), values(m * k, 8));
        let b = PackedBf16::new(&w, n, k, default_bf16_family());
        let (_, c) = product(&x, m, k, &b);
        for i in 0..m {
            for j in 0..n {
                let (mut exact, mut mag) = (0.0f64, 0.0f64);
                for p in 0..k {
                    let t = x[i * k + p] as f64 * w[j * k + p] as f64;
                    exact += t;
                    mag += t.abs();
                }
                let bound =
                    mag * (2.0f64.powi(-8) + 2.0f64.powi(-16) + k as f64 * 2.0f64.powi(-24));
                assert!(
                    (c[i * n + j] as f64 - exact).abs() <= bound,
                    "({i}, {j}): {} vs {exact}, bound {bound}",
                    c[i * n + j]
                );
            }
        }
    }

    /// Every row's result is the same alone, in a batch, and on any thread count.
    #[test]
    fn rows_do_not_depend_on_the_batch_or_the_threads() {
        let (m, k, n) = (61, 96, 130);
        let (w, x) = (values(n * k, 1), values(m * k, 2));
        for f in [default_bf16_family(), SCALAR, emulated::E_AMX] {
            let b = PackedBf16::new(&w, n, k, f);
            let (_, all) = product(&x, m, k, &b);
            for threads in [1, 3] {
                let pool = rayon::ThreadPoolBuilder::new()
                    .num_threads(threads)
                    .build()
                    .unwrap();
                assert_eq!(pool.install(|| product(&x, m, k, &b).1), all, "{}", f.name);
            }
            let (_, one) = product(&x[17 * k..18 * k], 1, k, &b);
            assert_eq!(one, all[17 * n..18 * n], "{}", f.name);
        }
    }
}
