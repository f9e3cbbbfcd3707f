//! The INT8 GEMM: `C = dequant(A_u8 . B_s8)` with u8 activations (one scale and zero point
//! per row) and s8 weights (one scale per output column), accumulated exactly in i32.
//!
//! **Error analysis.** `y = x W^T` becomes `sa * sw_j * (sum_p qa_p qw_pj - za sum_p qw_pj)`:
//! weights `qw = round(w / sw)` symmetric per output channel (`sw = max|w_j| / 127`, once at
//! load), activations `qa = round(x / sa) + za` asymmetric per row in `[0, 255]`
//! (`sa = (max(0, hi) - min(0, lo)) / 255`, computed per token at run time; `[0, 127]` on
//! AVX2). The rounding error of one activation is at most `sa / 2`, uniform in practice, so
//! the noise a row adds to an output is about `sa * |w_j| / sqrt(12)` per term: a row's
//! noise scales with its own range, which is why a per-token scale tolerates tokens with
//! large values that a per-tensor scale would let dominate everyone's resolution. The
//! asymmetric zero point spends all 256 levels on `[lo, hi]` (GELU outputs are almost all
//! `>= -0.17`), where symmetric s8 would waste half the codes; its cost is the correction
//! `za * colsum_j`, exact in i32 and precomputed per column.
//!
//! **Layout.** Weights are packed once at load into panels of `NR` columns; within a panel
//! the k axis goes in groups of four, and each group holds, column after column, the four
//! bytes `B[4g .. 4g + 4, j]`. That is the operand layout of `vpdpbusd` (each i32 lane gets
//! the sum of four u8 x s8 products) on 512- and 256-bit registers, and of `vpmaddubsw` +
//! `vpmaddwd` on AVX2, so one packing serves every kernel. `k` is padded to a multiple of 4
//! with zero weights (so padded activations contribute nothing).
//!
//! **Kernels** (one macro body, tile `MR x NR`, accumulators in registers, A read in place —
//! four bytes of a row broadcast per step):
//!
//! | family | instruction | tile | runs where |
//! | --- | --- | --- | --- |
//! | `VNNI512` | `vpdpbusd zmm` | 12 x 32 | AVX-512 VNNI (Ice Lake+, Zen 4/5) |
//! | `AVXVNNI` | `vpdpbusd ymm` (VEX) | 6 x 16 | AVX-VNNI (Alder Lake+, Zen 5) |
//! | `AVX2` | `vpmaddubsw` + `vpmaddwd` | 6 x 16 | AVX2 (Haswell+, Zen 1-3) |
//! | `SCALAR` | plain Rust | 4 x 16 | anywhere |
//!
//! Each SIMD family has an emulated twin (the same macro body on arrays) so its blocking and
//! edges are tested on any CPU, and every family's edge tiles (fewer rows) run the last,
//! partial row tile. All must equal the scalar reference **bit for bit**: integer sums are
//! exact.
//!
//! **Saturation.** `vpmaddubsw` adds its two u8 x s8 products in a *saturating* i16:
//! `255 * -128 * 2 = -65280` does not fit. The AVX2 family therefore declares
//! `max_activation = 127` and the quantizer gives it 7-bit activations (PyTorch's
//! `reduce_range`): `127 * 128 * 2 = 32512` fits, and the family is exact on its whole input
//! range (tested with -128/127 extremes; the tests also show the saturation 255 would hit).
//! The VNNI families sum in i32 directly and take the full u8 range.

use std::cell::RefCell;

use rayon::prelude::*;

/// A kernel: `out[r][j] = sum_g sum_t a[row r][4g + t] * b[g][j][t]` for `kg` groups, `MR`
/// rows of A at `a` (row stride `lda` bytes; rows at and past `rows` are read as row
/// `rows - 1`), one packed panel at `b`, the `MR x NR` i32 tile written to `out` (row stride
/// NR).
pub type I8Kernel = super::TileKernel<u8, i8, i32>;

/// A kernel family (tile, edge tiles, `k` alignment, tier, detection): the workspace's one
/// family type, over this module's kernel.
pub type Family = core_tensor::cpu::Family<I8Kernel>;

/// The largest activation code `f` is exact for: 127 for the AVX2 tier (no VNNI: the
/// saturating `vpmaddubsw` pairs, see the module docs), 255 for every other family.
pub fn max_activation(f: &Family) -> u8 {
    if f.isa == core_tensor::cpu::Isa::Avx2 {
        127
    } else {
        255
    }
}

/// The family for this CPU: AMX-INT8, else AVX-512 VNNI, else AVX-VNNI, else AVX2, else
/// scalar — the widest within `GROUNDWORK_ISA` ([`core_tensor::cpu::cap`]).
pub fn default_family() -> Family {
    static CHOICE: std::sync::OnceLock<Family> = std::sync::OnceLock::new();
    *CHOICE.get_or_init(|| core_tensor::cpu::choose(&simd_families(), SCALAR))
}

fn simd_families() -> Vec<Family> {
    #[cfg(target_arch = "x86_64")]
    {
        vec![AMX, VNNI512, AVXVNNI, AVX2]
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        vec![]
    }
}

/// Quantizes one output channel (a row of a `Linear` weight) symmetrically into `out`:
/// scale `s = max |w| / 127` (1 for an all-zero row), `q = clamp(round(w / s), -127, 127)`
/// with ties to even. Returns `s`. Every INT8 weight of this crate — the GEMM's packed
/// panels, the int8 word-embedding table, the ONNX exporter's initialisers — comes from
/// here, so all hold the same integers.
///
/// # Panics
/// `out` shorter than `row`.
pub fn quantize_weight_row(row: &[f32], out: &mut [i8]) -> f32 {
    let max = row.iter().fold(0.0f32, |m, v| m.max(v.abs()));
    let s = if max > 0.0 { max / 127.0 } else { 1.0 };
    // Ties to even by adding and subtracting 1.5 * 2^23 (|v / s| <= 127): the value of
    // `round_ties_even` without a library call.
    for (d, &v) in out[..row.len()].iter_mut().zip(row) {
        *d = ((v / s + 12_582_912.0) - 12_582_912.0).clamp(-127.0, 127.0) as i8;
    }
    s
}

/// A weight `W: [n, k]` quantized per output channel ([`quantize_weight_row`] on each row),
/// unpacked: what a format that stores the integers needs.
#[derive(Debug, Clone, PartialEq)]
pub struct QuantizedWeights {
    /// `[n, k]` row-major codes.
    pub codes: Vec<i8>,
    /// One scale per output channel.
    pub scales: Vec<f32>,
    /// `sum_p q[j][p]` per output channel: the zero-point correction's factor.
    pub colsums: Vec<i32>,
}

/// Quantizes every row of `w: [n, k]` (see [`QuantizedWeights`]).
///
/// # Panics
/// `w.len() != n * k`.
pub fn quantize_weights(w: &[f32], n: usize, k: usize) -> QuantizedWeights {
    assert_eq!(
        w.len(),
        n * k,
        "quantize_weights: {n} x {k} from {}",
        w.len()
    );
    let mut codes = vec![0i8; n * k];
    let mut scales = Vec::with_capacity(n);
    for (row, out) in w.chunks(k.max(1)).zip(codes.chunks_mut(k.max(1))) {
        scales.push(quantize_weight_row(row, out));
    }
    let colsums = codes
        .chunks(k.max(1))
        .map(|r| r.iter().map(|&q| q as i32).sum())
        .collect();
    scales.resize(n, 1.0);
    QuantizedWeights {
        codes,
        scales,
        colsums,
    }
}

/// Weights quantized and packed once: `B = W^T` for a `Linear` weight `W: [n, k]`.
#[derive(Debug, Clone)]
pub struct PackedI8 {
    family: Family,
    n: usize,
    k: usize,
    /// `k` rounded up to a multiple of 4.
    kp: usize,
    data: Vec<i8>,
    /// Per output column: the weight scale.
    pub scale: Vec<f32>,
    /// Per output column: the sum of its quantized weights (for the zero-point correction).
    pub colsum: Vec<i32>,
}

impl PackedI8 {
    /// Quantizes `w` (`[n, k]` row-major, one output channel per row) symmetrically per
    /// channel — `q = round(w / s)`, `s = max|w| / 127`, `q` in `[-127, 127]` — and packs it
    /// for `family`.
    ///
    /// # Panics
    /// When `w` does not hold `n x k` floats, or this CPU does not run `family` (its kernels
    /// would fault).
    pub fn new(w: &[f32], n: usize, k: usize, family: Family) -> PackedI8 {
        assert!(
            family.available(),
            "{} does not run on this CPU",
            family.name
        );
        let mut p = PackedI8 {
            family,
            n: 0,
            k: 0,
            kp: 0,
            data: Vec::new(),
            scale: Vec::new(),
            colsum: Vec::new(),
        };
        p.repack(w, n, k);
        p
    }

    /// [`PackedI8::new`] into this packing's buffers (for operands quantized per call, such
    /// as attention's keys and values): allocates nothing once they are large enough.
    pub fn repack(&mut self, w: &[f32], n: usize, k: usize) {
        assert_eq!(
            w.len(),
            n * k,
            "PackedI8: {n} x {k} weight from {} floats",
            w.len()
        );
        let kp = k.next_multiple_of(self.family.kalign);
        let nr = self.family.nr;
        let panels = n.div_ceil(nr);
        (self.n, self.k, self.kp) = (n, k, kp);
        self.scale.clear();
        self.colsum.clear();
        self.data.clear();
        self.data.resize(panels * nr * kp, 0);
        let mut codes = vec![0i8; k];
        for (j, row) in w.chunks_exact(k.max(1)).take(n).enumerate() {
            let s = quantize_weight_row(row, &mut codes);
            let (panel, c) = (j / nr, j % nr);
            // Four weights at a time into the panel (group g of column c); the padding past
            // k stays zero from the fill above.
            for (g, four) in codes.chunks(4).enumerate() {
                let at = (panel * kp / 4 + g) * nr * 4 + c * 4;
                self.data[at..at + four.len()].copy_from_slice(four);
            }
            self.scale.push(s);
            self.colsum.push(codes.iter().map(|&q| q as i32).sum());
        }
        // k = 0: no rows to read, every column sums to zero.
        self.scale.resize(n, 1.0);
        self.colsum.resize(n, 0);
    }

    /// `(n, k)`.
    pub fn dims(&self) -> (usize, usize) {
        (self.n, self.k)
    }

    /// The family it was packed for.
    pub fn family(&self) -> Family {
        self.family
    }

    /// Bytes held (weights, scales, column sums).
    pub fn bytes(&self) -> usize {
        self.data.len() + 8 * self.n
    }

    /// The quantized weight `q[j][p]` (for tests and diagnostics).
    pub fn weight(&self, j: usize, p: usize) -> i8 {
        let nr = self.family.nr;
        let (panel, c) = (j / nr, j % nr);
        self.data[(panel * self.kp / 4 + p / 4) * nr * 4 + c * 4 + p % 4]
    }
}

/// Activations quantized per row: `x ~ scale (q - zero_point)`, `q` u8 in `[0, max]`.
#[derive(Debug, Default, Clone)]
pub struct QuantizedRows {
    /// Rows of `kp` bytes (padding bytes are the zero point).
    pub data: Vec<u8>,
    /// Row stride.
    pub kp: usize,
    /// Per row.
    pub scale: Vec<f32>,
    /// Per row.
    pub zero_point: Vec<i32>,
}

impl QuantizedRows {
    /// Quantizes `m` rows of `k` floats (row stride `ldx`) asymmetrically into `[0, max]`,
    /// `max` the family's `max_activation`: the range `[min(0, lo), max(0, hi)]` of each row
    /// (zero exactly representable), scale `(hi - lo) / max`, zero point `round(-lo / scale)`,
    /// `q = clamp(round(x / s) + zp)` with ties to even. Rows are padded with the zero point to
    /// the family's `kalign`, and zero rows follow up to a whole number of its row tiles (so a
    /// kernel may read whole tiles). Reuses its buffers.
    pub fn quantize(&mut self, x: &[f32], m: usize, k: usize, ldx: usize, family: Family) {
        let (max, kp) = (max_activation(&family), k.next_multiple_of(family.kalign));
        self.kp = kp;
        self.data.resize(m.next_multiple_of(family.mr) * kp, 0);
        self.data[m * kp..].fill(0);
        self.scale.resize(m, 0.0);
        self.zero_point.resize(m, 0);
        let top = max as f32;
        let one = |(i, (row, (s, zp))): (usize, (&mut [u8], (&mut f32, &mut i32)))| {
            let src = &x[i * ldx..i * ldx + k];
            let (lo, hi) = super::ops::min_max(src);
            let scale = if hi > lo { (hi - lo) / top } else { 1.0 };
            let z = (-lo / scale).round_ties_even().clamp(0.0, top);
            let inv = 1.0 / scale;
            super::ops::quantize_row(src, inv, z, top, &mut row[..k]);
            row[k..].fill(z as u8);
            *s = scale;
            *zp = z as i32;
        };
        if m >= core_tensor::par::PAR_MIN_ROWS {
            self.data
                .par_chunks_mut(kp)
                .zip(
                    self.scale
                        .par_iter_mut()
                        .zip(self.zero_point.par_iter_mut()),
                )
                .enumerate()
                .for_each(one);
        } else {
            self.data
                .chunks_mut(kp)
                .zip(self.scale.iter_mut().zip(self.zero_point.iter_mut()))
                .enumerate()
                .for_each(one);
        }
    }
}

thread_local! {
    /// One i32 tile per thread.
    static TILE: RefCell<Vec<i32>> = const { RefCell::new(Vec::new()) };
}

/// What runs on each finished row piece of C: `(row, first column, values)`.
pub type Epilogue<'a> = core_tensor::Epilogue<'a>;

/// `C[i, j] = a.scale[i] * b.scale[j] * (sum_p q_a[i, p] q_b[p, j] - zp[i] colsum[j])`, plus
/// `bias[j]` when given (fused into the conversion), then `epilogue` on each row piece, for `m` quantized rows; C row-major with row stride `ldc`.
/// Runs on the current rayon pool when the product is large enough; the result does not
/// depend on the thread count or on the other rows.
///
/// # Panics
/// When `a` was quantized for another `k`, `c` is too short, or `a` holds codes above the
/// family's `max_activation` (a bug in the caller).
pub fn gemm_i8(
    a: &QuantizedRows,
    m: usize,
    b: &PackedI8,
    c: &mut [f32],
    ldc: usize,
    bias: Option<&[f32]>,
    epilogue: Option<&Epilogue<'_>>,
) {
    let f = b.family;
    assert!(
        bias.is_none_or(|v| v.len() >= b.n),
        "gemm_i8: bias shorter than n"
    );
    let (n, kp, nr) = (b.n, b.kp, f.nr);
    assert!(
        a.kp == kp,
        "gemm_i8: A rows of {} bytes, B k = {kp} (quantize A for B's family)",
        a.kp
    );
    debug_assert!(
        a.data[..m * kp].iter().all(|&q| q <= max_activation(&f)),
        "{} takes activations up to {}",
        f.name,
        max_activation(&f)
    );
    super::drive_tiles(
        &f,
        (&a.data, &b.data, 4),
        (m, n, kp),
        c,
        ldc,
        epilogue,
        &TILE,
        |tile, i0, j0, outs| {
            let (rows, cols) = (outs.len(), outs.first().map_or(0, |o| o.len()));
            super::ops::dequantize(
                tile,
                nr,
                &b.colsum[j0..j0 + cols],
                &b.scale[j0..j0 + cols],
                bias.map_or(&[][..], |b| &b[j0..j0 + cols]),
                &a.scale[i0..i0 + rows],
                &a.zero_point[i0..i0 + rows],
                outs,
            );
        },
    );
}

/// Defines an int8 micro-kernel (see [`I8Kernel`]) from vector operations: `load` a 4-byte
/// group of `W` columns of B, `bcast` four bytes of a row of A to every lane, `dot` the four
/// u8 x s8 products into each i32 lane, `store` a vector of i32.
macro_rules! i8_kernel {
    (
        #[$attr:meta]
        fns [$($name:ident = $mr:expr),+ $(,)?], W = $w:expr, NV = $nv:expr, vector = $v:ty,
        zero = $zero:expr, load = $load:expr, bcast = $bcast:expr, dot = $dot:expr,
        store = $store:expr $(,)?
    ) => {$(
        #[$attr]
        #[allow(clippy::needless_range_loop)]
        pub(super) unsafe fn $name(
            kg: usize,
            a: *const u8,
            lda: usize,
            rows: usize,
            b: *const i8,
            out: *mut i32,
        ) {
            const MR: usize = $mr;
            const W: usize = $w;
            const NV: usize = $nv;
            const NR: usize = W * NV;
            let rowp: [*const u8; MR] =
                std::array::from_fn(|r| a.wrapping_add(r.min(rows - 1) * lda));
            let mut acc: [[$v; NV]; MR] = [[$zero; NV]; MR];
            for g in 0..kg {
                let mut bv: [$v; NV] = [$zero; NV];
                for v in 0..NV {
                    // SAFETY: the panel holds kg groups of NR x 4 bytes.
                    bv[v] = unsafe { $load(b.add(g * NR * 4 + v * W * 4)) };
                }
                for r in 0..MR {
                    // SAFETY: rows below `rows` hold kg groups of 4 bytes (the caller's
                    // contract); other rows alias row `rows - 1`.
                    let av: $v = unsafe { $bcast(rowp[r].add(g * 4)) };
                    for v in 0..NV {
                        acc[r][v] = $dot(acc[r][v], av, bv[v]);
                    }
                }
            }
            // A constant trip count with a test inside (not `0..rows`): the stores stay
            // register to memory, where a variable count became a stack copy plus memcpy.
            for r in 0..MR {
                if r < rows {
                    for v in 0..NV {
                        // SAFETY: the tile holds MR x NR i32.
                        unsafe { $store(out.add(r * NR + v * W), acc[r][v]) };
                    }
                }
            }
        }
    )+};
}

mod amx;
#[cfg(target_arch = "x86_64")]
mod avx2;
#[cfg(target_arch = "x86_64")]
mod avx512;
#[cfg(target_arch = "x86_64")]
mod avxvnni;
#[cfg(test)]
pub(crate) mod emulated;
mod scalar;

pub use amx::AMX;
#[cfg(target_arch = "x86_64")]
pub use avx2::AVX2;
#[cfg(target_arch = "x86_64")]
pub use avx512::VNNI512;
#[cfg(target_arch = "x86_64")]
pub use avxvnni::AVXVNNI;
pub use scalar::SCALAR;

#[cfg(test)]
mod tests {
    use super::*;

    /// Packing is the definition — `q = round_ties_even(w / s)`, `s = max|w_j| / 127`, the
    /// column sums of `q` — and a repack into buffers left by another shape changes nothing.
    #[test]
    fn packing_follows_the_quantization_rule_and_repacking_reuses_nothing_stale() {
        let f = default_family();
        let mut reused = PackedI8::new(&weights(40, 70, 9), 40, 70, f);
        for (n, k) in [(33, 13), (5, 4), (17, 1)] {
            let w = weights(n, k, (n * k) as u32);
            reused.repack(&w, n, k);
            let fresh = PackedI8::new(&w, n, k, f);
            assert_eq!(reused.data, fresh.data, "{n} x {k}");
            for j in 0..n {
                let row = &w[j * k..(j + 1) * k];
                let s = row.iter().fold(0.0f32, |m, v| m.max(v.abs())) / 127.0;
                assert_eq!(fresh.scale[j], s);
                let q: Vec<i8> = row
                    .iter()
                    .map(|v| (v / s).round_ties_even() as i8)
                    .collect();
                assert!(
                    (0..k).all(|p| fresh.weight(j, p) == q[p]),
                    "{n} x {k}, column {j}"
                );
                assert_eq!(fresh.colsum[j], q.iter().map(|&v| v as i32).sum::<i32>());
            }
        }
    }

    fn weights(n: usize, k: usize, seed: u32) -> Vec<f32> {
        crate::kernels::hashed_values(n * k, seed)
    }

    /// Every family to test here: the scalar reference, the emulated twins, and the SIMD
    /// families this CPU runs.
    fn families() -> Vec<Family> {
        let mut v = vec![
            SCALAR,
            emulated::E_VNNI512,
            emulated::E_AVXVNNI,
            emulated::E_AVX2,
            emulated::E_AMX,
        ];
        v.extend(simd_families().into_iter().filter(Family::available));
        v
    }

    /// The exact i32 products, in i64.
    fn exact(a: &QuantizedRows, m: usize, b: &PackedI8) -> Vec<i64> {
        let (n, k) = b.dims();
        let mut c = vec![0i64; m * n];
        for i in 0..m {
            for j in 0..n {
                c[i * n + j] = (0..k)
                    .map(|p| a.data[i * a.kp + p] as i64 * b.weight(j, p) as i64)
                    .sum();
            }
        }
        c
    }

    /// Raw i32 results through the public path: dequantizing with unit scales and no zero
    /// point gives the accumulator as a float (exact below 2^24).
    fn raw(a: &QuantizedRows, m: usize, b: &PackedI8) -> Vec<f32> {
        let mut b = b.clone();
        b.scale.iter_mut().for_each(|s| *s = 1.0);
        let mut a = a.clone();
        a.scale.iter_mut().for_each(|s| *s = 1.0);
        a.zero_point.iter_mut().for_each(|z| *z = 0);
        let n = b.dims().0;
        let mut c = vec![f32::NAN; m * n];
        gemm_i8(&a, m, &b, &mut c, n, None, None);
        c
    }

    fn codes(m: usize, k: usize, f: Family, fill: impl Fn(usize) -> u8) -> QuantizedRows {
        let kp = k.next_multiple_of(f.kalign);
        let mut data = vec![0u8; m.next_multiple_of(f.mr) * kp];
        for i in 0..m {
            for p in 0..k {
                data[i * kp + p] = fill(i * k + p);
            }
        }
        QuantizedRows {
            data,
            kp,
            scale: vec![1.0; m],
            zero_point: vec![0; m],
        }
    }

    /// Every family equals the exact sum on random codes, on shapes that are not multiples of
    /// any tile (m, n) nor of 4 (k), and on the extreme codes its contract allows.
    #[test]
    fn every_kernel_family_is_exact() {
        for f in families() {
            let top = max_activation(&f) as u32;
            for &(m, k, n) in &[
                (1, 1, 1),
                (5, 3, 17),
                (13, 37, 40),
                (29, 384, 96),
                (12, 5, 33),
                (30, 130, 70),
            ] {
                let b = PackedI8::new(&weights(n, k, 3), n, k, f);
                let random = codes(m, k, f, |i| {
                    (((i as u32).wrapping_mul(2_246_822_519) >> 13) % (top + 1)) as u8
                });
                let top_codes = codes(m, k, f, |_| top as u8);
                for a in [&random, &top_codes] {
                    let want = exact(a, m, &b);
                    let got = raw(a, m, &b);
                    for (g, w) in got.iter().zip(&want) {
                        assert_eq!(*g as i64, *w, "{} {m}x{k}x{n}", f.name);
                    }
                }
            }
            // The extremes: every weight -127 or 127 (the quantizer's range), codes at the top.
            let (m, k, n) = (7, 64, 32);
            let mut w = vec![1.0f32; n * k];
            for (i, v) in w.iter_mut().enumerate() {
                if (i / k) % 2 == 0 {
                    *v = -1.0;
                }
            }
            let b = PackedI8::new(&w, n, k, f);
            assert!((0..n).all(|j| b.weight(j, 0).abs() == 127));
            let a = codes(m, k, f, |_| top as u8);
            let want = exact(&a, m, &b);
            let got = raw(&a, m, &b);
            assert!(
                got.iter().zip(&want).all(|(g, w)| *g as i64 == *w),
                "{} extremes",
                f.name
            );
        }
    }

    /// vpmaddubsw's saturation is real: with code 255 and weights -128 a pair sums to
    /// -65280, which it clamps to -32768. The AVX2 family's 7-bit contract avoids it; the
    /// emulated twin shows what breaking it would do.
    #[test]
    fn the_avx2_saturation_is_avoided_by_its_contract() {
        let f = emulated::E_AVX2;
        assert_eq!(max_activation(&f), 127);
        let (m, k, n) = (1, 4, 16);
        // Weights -1.0 everywhere: scale 1/127, every code -127.
        let b = PackedI8::new(&vec![-1.0; n * k], n, k, f);
        let a = codes(m, k, f, |_| 255);
        let want = exact(&a, m, &b)[0];
        assert_eq!(want, 255 * -127 * 4);
        // Outside the contract the twin saturates (debug builds would refuse the input).
        let mut tile = vec![0i32; f.mr * f.nr];
        // SAFETY: one row of 4 bytes, one panel of 1 group, a full tile buffer.
        unsafe {
            (f.kernel)(
                1,
                a.data.as_ptr(),
                a.kp,
                1,
                b.data.as_ptr(),
                tile.as_mut_ptr(),
            )
        };
        assert_eq!(
            tile[0],
            2 * i16::MIN as i32,
            "the pairs saturate at -32768 each"
        );
        assert_ne!(tile[0] as i64, want);
        // Within the contract (127) it is exact.
        let a = codes(m, k, f, |_| 127);
        assert_eq!(raw(&a, m, &b)[0] as i64, exact(&a, m, &b)[0]);
    }

    #[test]
    fn dequantization_and_zero_points() {
        let (m, k, n) = (3, 20, 5);
        let w = weights(n, k, 9);
        let x: Vec<f32> = weights(m, k, 4).iter().map(|v| v * 3.0 + 0.4).collect();
        for f in [SCALAR, emulated::E_AVX2] {
            let b = PackedI8::new(&w, n, k, f);
            let mut a = QuantizedRows::default();
            a.quantize(&x, m, k, k, f);
            assert!(a.data.iter().all(|&q| q <= max_activation(&f)));
            let mut c = vec![0.0f32; m * n];
            gemm_i8(&a, m, &b, &mut c, n, None, None);
            for i in 0..m {
                for j in 0..n {
                    let want: f64 = (0..k)
                        .map(|p| x[i * k + p] as f64 * w[j * k + p] as f64)
                        .sum();
                    // Error bound: k terms, each off by at most half a step of each operand.
                    let (sa, sw) = (a.scale[i] as f64, b.scale[j] as f64);
                    let bound = (0..k)
                        .map(|p| {
                            0.5 * sa * (w[j * k + p].abs() as f64)
                                + 0.5 * sw * x[i * k + p].abs() as f64
                                + 0.25 * sa * sw
                        })
                        .sum::<f64>();
                    assert!(
                        (c[i * n + j] as f64 - want).abs() <= bound * 1.01 + 1e-6,
                        "{} {i} {j}: {} vs {want} (bound {bound})",
                        f.name,
                        c[i * n + j]
                    );
                }
            }
        }
    }
}
