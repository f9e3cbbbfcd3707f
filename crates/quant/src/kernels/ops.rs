//! The encoder's element-wise and attention loops, each compiled per instruction set by
//! `multiversion!` (see [the module above](super)) and written so the compiler can vectorise them
//! without changing a result: sums that must vectorise are split into eight explicit partial
//! sums in a fixed order.

use core_tensor::multiversion;

use crate::math::{exp, gelu};

multiversion! {
    /// `row[j] += bias[j]`.
    pub fn add_bias(row: &mut [f32], bias: &[f32]) {
        for (v, b) in row.iter_mut().zip(bias) {
            *v += b;
        }
    }
}

multiversion! {
    /// `row[j] = GELU(row[j] + bias[j])`: the feed-forward's first epilogue.
    pub fn bias_gelu(row: &mut [f32], bias: &[f32]) {
        for (v, b) in row.iter_mut().zip(bias) {
            *v = gelu(*v + b);
        }
    }
}

multiversion! {
    /// `row[j] = GELU(row[j])` (after a GEMM that added the bias itself).
    pub fn gelu_in_place(row: &mut [f32]) {
        for v in row.iter_mut() {
            *v = gelu(*v);
        }
    }
}

multiversion! {
    /// `row[j] += bias[j] + residual[j]`: the epilogue before each LayerNorm.
    pub fn bias_residual(row: &mut [f32], bias: &[f32], residual: &[f32]) {
        for ((v, b), r) in row.iter_mut().zip(bias).zip(residual) {
            *v += b + r;
        }
    }
}

multiversion! {
    /// LayerNorm of one row in place: `(x - mean) / sqrt(var + eps) * gamma + beta`, mean
    /// and (biased, as PyTorch's) variance accumulated in f64 over eight partial sums.
    pub fn layer_norm(row: &mut [f32], gamma: &[f32], beta: &[f32], eps: f64) {
        let n = row.len() as f64;
        let mut acc = [0.0f64; 8];
        let chunks = row.chunks_exact(8);
        let tail: f64 = chunks.remainder().iter().map(|&v| v as f64).sum();
        for c in chunks {
            for l in 0..8 {
                acc[l] += c[l] as f64;
            }
        }
        let mean = (acc.iter().sum::<f64>() + tail) / n;
        let mut acc = [0.0f64; 8];
        let chunks = row.chunks_exact(8);
        let tail: f64 = chunks.remainder().iter().map(|&v| (v as f64 - mean).powi(2)).sum();
        for c in chunks {
            for l in 0..8 {
                let d = c[l] as f64 - mean;
                acc[l] += d * d;
            }
        }
        let var = (acc.iter().sum::<f64>() + tail) / n;
        let inv = (1.0 / (var + eps).sqrt()) as f32;
        let mean = mean as f32;
        for ((v, &g), &b) in row.iter_mut().zip(gamma).zip(beta) {
            *v = (*v - mean) * inv * g + b;
        }
    }
}

multiversion! {
    /// Scaled dot-product attention of one head over one sequence. `qkv` holds the
    /// sequence's `len` rows (row stride `stride`), each with Q, K and V for this head at
    /// columns `q`, `k` and `v` (`d` wide); `out` gets `len` rows of `d` (the softmax-weighted
    /// sum of V); `scratch` needs [`attend_scratch()`]`(len, d)` floats.
    ///
    /// K is first transposed into `scratch` (`d` rows of `lp`, `len` rounded up to 16 and
    /// zero-padded), so that a query's scores `s_j = sum_c q_c K[j, c]` accumulate over `c`
    /// as whole vectors across the keys `j`, with no scalar tail; padded scores are zeroed
    /// after the exponential, so only the sequence's own keys count. The weighted sum of V
    /// accumulates over `j` as vectors across `c`.
    pub fn attend(
        qkv: &[f32],
        stride: usize,
        len: usize,
        cols: (usize, usize, usize),
        d: usize,
        scale: f32,
        scratch: &mut [f32],
        out: &mut [f32],
    ) {
        let (q, k, v) = cols;
        let lp = len.next_multiple_of(16);
        let (kt, scores) = scratch[..lp * (d + ATTEND_ROWS)].split_at_mut(lp * d);
        kt.fill(0.0);
        for j in 0..len {
            for (c, &x) in qkv[j * stride + k..][..d].iter().enumerate() {
                kt[c * lp + j] = x;
            }
        }
        const R: usize = ATTEND_ROWS;
        for i0 in (0..len).step_by(R) {
            let rb = R.min(len - i0);
            // R query rows at once (rows past the sequence repeat its last row): R
            // independent accumulators per step instead of one dependency chain. Each row's
            // sums run in the same order whatever the grouping.
            let qr: [&[f32]; R] =
                std::array::from_fn(|r| &qkv[(i0 + r.min(rb - 1)) * stride + q..][..d]);
            let mut jb = 0;
            while jb < lp {
                // 32 keys (two vectors per row) where there are, else 16.
                if jb + 32 <= lp {
                    score_block::<32>(kt, lp, jb, &qr, scores);
                    jb += 32;
                } else {
                    score_block::<16>(kt, lp, jb, &qr, scores);
                    jb += 16;
                }
            }
            let mut inv = [0.0f32; R];
            for r in 0..R {
                let row = &mut scores[r * lp..(r + 1) * lp];
                // Scale, max and sum in sixteen lanes (padded keys: -inf, then 0).
                let mut lanes = [f32::NEG_INFINITY; 16];
                for (i, s) in row.iter_mut().enumerate() {
                    *s = if i < len { *s * scale } else { f32::NEG_INFINITY };
                }
                for c in row.chunks_exact(16) {
                    for l in 0..16 {
                        lanes[l] = if c[l] > lanes[l] { c[l] } else { lanes[l] };
                    }
                }
                let max = lanes.iter().fold(f32::NEG_INFINITY, |m, &x| m.max(x));
                let mut lanes = [0.0f32; 16];
                for c in row.chunks_exact_mut(16) {
                    for l in 0..16 {
                        c[l] = if c[l] == f32::NEG_INFINITY { 0.0 } else { exp(c[l] - max) };
                        lanes[l] += c[l];
                    }
                }
                inv[r] = 1.0 / lanes.iter().sum::<f32>();
            }
            // The weighted sum of V, 16 columns at a time, R rows in R accumulators, over
            // all keys.
            let mut cb = 0;
            while cb < d {
                let w = match d - cb {
                    32.. => 32,
                    left => left.min(16),
                };
                let rows = (&mut out[i0 * d..], d, rb, &inv);
                match w {
                    32 => weighted_sum::<32>(qkv, stride, (v, cb), len, scores, lp, 32, rows),
                    16 => weighted_sum::<16>(qkv, stride, (v, cb), len, scores, lp, 16, rows),
                    _ => weighted_sum::<16>(qkv, stride, (v, cb), len, scores, lp, w, rows),
                }
                cb += w;
            }
        }
    }
}

/// The scores of [`ATTEND_ROWS`] query rows `qr` against keys `jb .. jb + W` of the
/// transposed keys `kt` (`d` rows of `lp`), into `scores` (rows of `lp`): one accumulator per
/// row and vector, summed over `c` in order. Inlined into each compiled version of
/// [`attend()`].
#[inline(always)]
fn score_block<const W: usize>(
    kt: &[f32],
    lp: usize,
    jb: usize,
    qr: &[&[f32]; ATTEND_ROWS],
    scores: &mut [f32],
) {
    let mut acc = [[0.0f32; W]; ATTEND_ROWS];
    for (c, kr) in kt.chunks_exact(lp).enumerate() {
        let kr = &kr[jb..jb + W];
        for r in 0..ATTEND_ROWS {
            let qc = qr[r][c];
            for l in 0..W {
                acc[r][l] += qc * kr[l];
            }
        }
    }
    for (r, a) in acc.iter().enumerate() {
        scores[r * lp + jb..][..W].copy_from_slice(a);
    }
}

/// `out[r][cb + l] = inv[r] sum_j p[r][j] V[j, cb + l]` for the first `rb` of
/// [`ATTEND_ROWS`] rows of probabilities (`scores`, rows of `lp`) and `w <= W` columns from
/// `cb` (V's columns start at `v`), summed over the `len` keys in order. `rows` is `(out
/// from the block's first row, its row width d, rb, inv)`. Inlined into each compiled version
/// of [`attend()`].
#[inline(always)]
#[allow(clippy::too_many_arguments)]
fn weighted_sum<const W: usize>(
    qkv: &[f32],
    stride: usize,
    (v, cb): (usize, usize),
    len: usize,
    scores: &[f32],
    lp: usize,
    w: usize,
    (out, d, rb, inv): (&mut [f32], usize, usize, &[f32; ATTEND_ROWS]),
) {
    let mut acc = [[0.0f32; W]; ATTEND_ROWS];
    let c0 = v + cb;
    if w == W {
        // A constant bound keeps the accumulators in registers.
        for j in 0..len {
            let vr = &qkv[j * stride + c0..][..W];
            for r in 0..ATTEND_ROWS {
                let p = scores[r * lp + j];
                for l in 0..W {
                    acc[r][l] += p * vr[l];
                }
            }
        }
    } else {
        for j in 0..len {
            let vr = &qkv[j * stride + c0..][..w];
            for r in 0..ATTEND_ROWS {
                let p = scores[r * lp + j];
                for l in 0..w {
                    acc[r][l] += p * vr[l];
                }
            }
        }
    }
    for r in 0..rb {
        let o = &mut out[r * d + cb..][..w];
        for l in 0..w {
            o[l] = acc[r][l] * inv[r];
        }
    }
}

multiversion! {
    /// `row = softmax(scale * row)`: the maximum and the sum of exponentials each in sixteen
    /// lanes combined in a fixed order (the tail after them, in order), then one multiply by
    /// the inverse sum. The INT8 attention's softmax (the FP32 one is fused into
    /// [`attend()`]).
    pub fn softmax(row: &mut [f32], scale: f32) {
        for v in row.iter_mut() {
            *v *= scale;
        }
        let mut lanes = [f32::NEG_INFINITY; 16];
        let chunks = row.chunks_exact(16);
        let tail = chunks.remainder();
        for c in chunks {
            for l in 0..16 {
                lanes[l] = if c[l] > lanes[l] { c[l] } else { lanes[l] };
            }
        }
        let max = lanes
            .iter()
            .chain(tail)
            .fold(f32::NEG_INFINITY, |m, &x| m.max(x));
        let mut sums = [0.0f32; 16];
        let mut chunks = row.chunks_exact_mut(16);
        for c in &mut chunks {
            for l in 0..16 {
                c[l] = exp(c[l] - max);
                sums[l] += c[l];
            }
        }
        let mut sum: f32 = sums.iter().sum();
        for v in chunks.into_remainder() {
            *v = exp(*v - max);
            sum += *v;
        }
        let inv = 1.0 / sum;
        for v in row.iter_mut() {
            *v *= inv;
        }
    }
}

/// Query rows [`attend()`] handles together.
const ATTEND_ROWS: usize = 4;

/// `1.5 * 2^23`: adding and subtracting it rounds an f32 of magnitude below 2^22 to the
/// nearest integer, ties to even (the default rounding of the addition does the work).
const ROUND: f32 = 12_582_912.0;

multiversion! {
    /// `out[p] = clamp(round(x[p] * inv) + zero_point, 0, top)`, rounding ties to even (by
    /// adding and subtracting `1.5 * 2^23`; `x * inv` is at most `top` in magnitude here): one row of activations to u8
    /// codes.
    pub fn quantize_row(x: &[f32], inv: f32, zero_point: f32, top: f32, out: &mut [u8]) {
        for (o, &v) in out.iter_mut().zip(x) {
            let r = ((v * inv + ROUND) - ROUND + zero_point).clamp(0.0, top);
            // `r` is an integer in [0, 255]: `r + ROUND` holds it in its low mantissa bits
            // (ulp 1), which an integer narrowing extracts in vector registers (`r as u8`
            // would convert one lane at a time).
            *o = (r + ROUND).to_bits() as u8;
        }
    }
}

multiversion! {
    /// `(min(0, min x), max(0, max x))` over a row, in sixteen lanes.
    pub fn min_max(x: &[f32]) -> (f32, f32) {
        let (mut lo, mut hi) = ([0.0f32; 16], [0.0f32; 16]);
        let chunks = x.chunks_exact(16);
        let tail = chunks.remainder();
        for c in chunks {
            for l in 0..16 {
                lo[l] = if c[l] < lo[l] { c[l] } else { lo[l] };
                hi[l] = if c[l] > hi[l] { c[l] } else { hi[l] };
            }
        }
        let (mut a, mut b) = (0.0f32, 0.0f32);
        for (&l, &h) in lo.iter().zip(&hi).chain(tail.iter().zip(tail)) {
            a = a.min(l);
            b = b.max(h);
        }
        (a, b)
    }
}

multiversion! {
    /// `out[p] = bf16(x[p])`: [`super::bf16::to_bf16`] on a row (integer operations only,
    /// so every level gives the same bits).
    pub fn round_bf16(x: &[f32], out: &mut [u16]) {
        for (o, &v) in out.iter_mut().zip(x) {
            *o = crate::kernels::bf16::to_bf16(v);
        }
    }
}

multiversion! {
    /// `out_r[j] = sa[r] * sw[j] * (tile[r][j] - zp[r] * colsum[j]) (+ bias[j])` for each
    /// row `r` of an int8 tile (row stride `nr`), `out_r` its row piece of C: the tile back
    /// to floats, the subtraction exact in i32, then one rounding per product and for the
    /// bias (none when `bias` is empty).
    pub fn dequantize(
        tile: &[i32],
        nr: usize,
        colsum: &[i32],
        sw: &[f32],
        bias: &[f32],
        sa: &[f32],
        zp: &[i32],
        outs: &mut [&mut [f32]],
    ) {
        for (r, out) in outs.iter_mut().enumerate() {
            let acc = &tile[r * nr..][..out.len()];
            let (sa, zp) = (sa[r], zp[r]);
            if bias.is_empty() {
                for (((o, &a), &c), &s) in out.iter_mut().zip(acc).zip(colsum).zip(sw) {
                    *o = sa * s * (a - zp * c) as f32;
                }
            } else {
                for ((((o, &a), &c), &s), &b) in
                    out.iter_mut().zip(acc).zip(colsum).zip(sw).zip(bias)
                {
                    *o = sa * s * (a - zp * c) as f32 + b;
                }
            }
        }
    }
}

/// Floats of scratch [`attend()`] needs for a sequence of `len` tokens and heads of width `d`.
pub fn attend_scratch(len: usize, d: usize) -> usize {
    len.next_multiple_of(16) * (d + ATTEND_ROWS)
}

#[cfg(test)]
mod tests {
    use super::*;
    use core_tensor::cpu::{detected_level as detected, Level};

    fn data(n: usize, seed: u32) -> Vec<f32> {
        (0..n)
            .map(|i| {
                let h = (i as u32)
                    .wrapping_mul(2_654_435_761)
                    .wrapping_add(seed.wrapping_mul(97));
                ((h >> 8) as f32 / (1u32 << 24) as f32 - 0.5) * 6.0
            })
            .collect()
    }

    /// Every level this CPU runs, against the baseline, bit for bit, on lengths that are
    /// not multiples of any vector width.
    #[test]
    fn each_level_matches_the_baseline_bit_for_bit() {
        let levels: Vec<Level> = [Level::Avx2, Level::Avx512]
            .into_iter()
            .filter(|&l| detected() >= l)
            .collect();
        if levels.is_empty() {
            println!("skip: this CPU has neither AVX2 nor AVX-512; only the baseline ran");
        }
        for n in [1, 7, 8, 31, 384, 1537] {
            let x = data(n, 5);
            let want = min_max::at(Level::Generic, &x);
            assert_eq!(
                want,
                x.iter()
                    .fold((0.0f32, 0.0f32), |(a, b), &v| (a.min(v), b.max(v)))
            );
            let inv = 255.0 / (want.1 - want.0);
            let z = (-want.0 * inv).round_ties_even();
            let mut codes = vec![0u8; n];
            quantize_row::at(Level::Generic, &x, inv, z, 255.0, &mut codes);
            for (c, &v) in codes.iter().zip(&x) {
                assert_eq!(
                    *c as f32,
                    ((v * inv).round_ties_even() + z).clamp(0.0, 255.0),
                    "{v}"
                );
            }
            for &level in &levels {
                assert_eq!(min_max::at(level, &x), want);
                let mut got = vec![0u8; n];
                quantize_row::at(level, &x, inv, z, 255.0, &mut got);
                assert_eq!(got, codes, "quantize_row at {level:?}");
            }
            let mut want = x.clone();
            softmax::at(Level::Generic, &mut want, 0.3);
            let sum: f64 = want.iter().map(|&p| p as f64).sum();
            assert!(
                (sum - 1.0).abs() < 1e-5 && want.iter().all(|&p| p > 0.0),
                "{sum}"
            );
            for &level in &levels {
                let mut got = x.clone();
                softmax::at(level, &mut got, 0.3);
                let same = got
                    .iter()
                    .zip(&want)
                    .all(|(a, b)| a.to_bits() == b.to_bits());
                assert!(same, "softmax at {level:?}, n = {n}");
            }
            let (x, b, r) = (data(n, 1), data(n, 2), data(n, 3));
            let g: Vec<f32> = data(n, 4).iter().map(|v| 1.0 + v / 10.0).collect();
            type Op = fn(Level, &mut Vec<f32>, &[f32], &[f32], &[f32]);
            let ops: [(&str, Op); 4] = [
                ("add_bias", |l, v, b, _, _| add_bias::at(l, v, b)),
                ("bias_gelu", |l, v, b, _, _| bias_gelu::at(l, v, b)),
                ("bias_residual", |l, v, b, r, _| {
                    bias_residual::at(l, v, b, r)
                }),
                ("layer_norm", |l, v, b, _, g| {
                    layer_norm::at(l, v, g, b, 1e-12)
                }),
            ];
            for (name, op) in ops {
                let mut want = x.clone();
                op(Level::Generic, &mut want, &b, &r, &g);
                for &level in &levels {
                    let mut got = x.clone();
                    op(level, &mut got, &b, &r, &g);
                    let same = got
                        .iter()
                        .zip(&want)
                        .all(|(a, b)| a.to_bits() == b.to_bits());
                    assert!(same, "{name} at {level:?}, n = {n}");
                }
            }
        }
        for (len, d) in [(1, 32), (29, 32), (70, 64), (5, 12)] {
            let stride = 3 * d + 5;
            let qkv = data(len * stride, 9);
            let run = |level| {
                let (mut scratch, mut out) =
                    (vec![0.0; attend_scratch(len, d)], vec![0.0; len * d]);
                attend::at(
                    level,
                    &qkv,
                    stride,
                    len,
                    (0, d, 2 * d),
                    d,
                    0.17,
                    &mut scratch,
                    &mut out,
                );
                out
            };
            let want = run(Level::Generic);
            for &level in &levels {
                let got = run(level);
                assert!(
                    got.iter()
                        .zip(&want)
                        .all(|(a, b)| a.to_bits() == b.to_bits()),
                    "attend at {level:?}, len {len}, d {d}"
                );
            }
        }
    }

    /// Attention against a plain f64 evaluation of softmax(Q K^T * scale) V.
    #[test]
    fn attention_is_softmax_weighted_values() {
        let (len, d) = (9, 16);
        let stride = 3 * d;
        let qkv = data(len * stride, 4);
        let (mut scratch, mut out) = (vec![0.0; attend_scratch(len, d)], vec![0.0; len * d]);
        attend(
            &qkv,
            stride,
            len,
            (0, d, 2 * d),
            d,
            0.25,
            &mut scratch,
            &mut out,
        );
        for i in 0..len {
            let s: Vec<f64> = (0..len)
                .map(|j| {
                    (0..d)
                        .map(|c| qkv[i * stride + c] as f64 * qkv[j * stride + d + c] as f64)
                        .sum::<f64>()
                        * 0.25
                })
                .collect();
            let m = s.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
            let e: Vec<f64> = s.iter().map(|x| (x - m).exp()).collect();
            let z: f64 = e.iter().sum();
            for c in 0..d {
                let want: f64 = (0..len)
                    .map(|j| e[j] / z * qkv[j * stride + 2 * d + c] as f64)
                    .sum();
                let got = out[i * d + c] as f64;
                assert!(
                    (got - want).abs() < 1e-5 * (1.0 + want.abs()),
                    "{i} {c}: {got} vs {want}"
                );
            }
        }
    }

    #[test]
    fn layer_norm_normalises_and_applies_the_affine() {
        let mut row = vec![1.0f32, 2.0, 3.0, 4.0];
        layer_norm(
            &mut row,
            &[1.0, 1.0, 2.0, 1.0],
            &[0.0, 0.0, 0.0, 10.0],
            1e-12,
        );
        // mean 2.5, biased var 1.25
        let s = 1.25f64.sqrt();
        let want = [-1.5 / s, -0.5 / s, 2.0 * 0.5 / s, 1.5 / s + 10.0];
        for (g, w) in row.iter().zip(want) {
            assert!((*g as f64 - w).abs() < 1e-6, "{row:?}");
        }
    }
}
