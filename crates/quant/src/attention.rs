//! Attention with its two products in INT8 (the optional `Precision::int8_attention`).
//!
//! For one head of one sequence (`L` tokens, head width `d`), with `Q, K, V: [L, d]`:
//!
//! ```text
//! S = Q K^T          Q: u8 per query row (asymmetric)   K: s8 per key (symmetric)   k = d
//! P = softmax(S / sqrt(d)) per row, in f32
//! O = P V            P: u8 per query row                V: s8 per feature column    k = L
//! ```
//!
//! Both products are [`gemm_i8`]: the right-hand operand plays the weight, quantized and
//! packed per call (it is an activation too), the left-hand one is quantized per row like
//! any activation. Where the Linear layers quantize a weight once at load, here every
//! operand is quantized at run time — the "fully dynamic" scheme of ONNX Runtime's
//! `MatMulInteger` on two activations.
//!
//! **Error analysis.** Rounding `q_c` and `k_c` to steps `sa` (the query row's) and `sk`
//! (the key's) adds to each term of `s_ij = sum_c q_c k_c` an error of about
//! `e_q k_c + q_c e_k`, `e` uniform within half a step; over `d` terms of random sign the
//! score's error has standard deviation about `sqrt(d / 12) (sa |k|_rms + sk |q|_rms)`,
//! which the `1 / sqrt(d)` scale turns into `(sa |k|_rms + sk |q|_rms) / sqrt(12)`,
//! independent of `d`. A score error `delta` multiplies its probability by
//! `exp(delta) ~ 1 + delta` before renormalisation. The
//! probabilities, all in `[0, 1]`, get zero point 0 and step `max_j p_ij / 255` (`/ 127` with AVX2's 7-bit codes): any
//! probability below half a step becomes exactly 0, so a query row that spreads
//! its attention over hundreds of keys loses its small weights' mass. That is the error
//! `P V` in INT8 adds on long sequences, and why the option is off by default; the
//! `minilm-int8` study measures it.

use crate::kernels::int8::{gemm_i8, Family, PackedI8, QuantizedRows};
use crate::kernels::ops;

/// Buffers of [`attend_i8`], one per thread, reused between calls.
#[derive(Debug)]
pub(crate) struct Scratch {
    q: QuantizedRows,
    p: QuantizedRows,
    keys: PackedI8,
    values: PackedI8,
    gather: Vec<f32>,
    scores: Vec<f32>,
}

impl Scratch {
    pub(crate) fn new(family: Family) -> Scratch {
        Scratch {
            q: QuantizedRows::default(),
            p: QuantizedRows::default(),
            keys: PackedI8::new(&[], 0, 0, family),
            values: PackedI8::new(&[], 0, 0, family),
            gather: Vec::new(),
            scores: Vec::new(),
        }
    }

    /// The kernel family the buffers pack for.
    pub(crate) fn family(&self) -> Family {
        self.keys.family()
    }
}

/// One head of one sequence: `out[i][c] = sum_j softmax_j(scale Q_i . K_j) V_j[c]` with both
/// products in INT8. `qkv` holds the sequence's `len` rows (row stride `stride`), with this
/// head's Q, K and V starting at the columns `cols`; `out` is `[len, d]`.
#[allow(clippy::too_many_arguments)]
pub(crate) fn attend_i8(
    qkv: &[f32],
    stride: usize,
    len: usize,
    (qc, kc, vc): (usize, usize, usize),
    d: usize,
    scale: f32,
    s: &mut Scratch,
    out: &mut [f32],
) {
    let family = s.family();
    s.q.quantize(&qkv[qc..], len, d, stride, family);
    s.gather.clear();
    for j in 0..len {
        s.gather.extend_from_slice(&qkv[j * stride + kc..][..d]);
    }
    s.keys.repack(&s.gather, len, d);
    s.scores.resize(len * len, 0.0);
    gemm_i8(&s.q, len, &s.keys, &mut s.scores, len, None, None);
    for row in s.scores.chunks_exact_mut(len) {
        ops::softmax(row, scale);
    }
    s.p.quantize(&s.scores, len, len, len, family);
    // V^T: one "output channel" per feature column, its `len` values contiguous.
    s.gather.resize(d * len, 0.0);
    for j in 0..len {
        for (c, &v) in qkv[j * stride + vc..][..d].iter().enumerate() {
            s.gather[c * len + j] = v;
        }
    }
    s.values.repack(&s.gather, d, len);
    gemm_i8(&s.p, len, &s.values, out, d, None, None);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kernels::int8::{default_family, Family};

    fn values(n: usize, seed: u32, amp: f32) -> Vec<f32> {
        (0..n)
            .map(|i| {
                let h = (i as u32)
                    .wrapping_mul(2_654_435_761)
                    .wrapping_add(seed.wrapping_mul(40_503));
                ((h >> 8) as f32 / (1u32 << 24) as f32 - 0.5) * amp
            })
            .collect()
    }

    /// The definition in f64: softmax(Q K^T scale) V.
    fn reference(qkv: &[f32], stride: usize, len: usize, d: usize, scale: f64) -> Vec<f64> {
        let at = |j: usize, c: usize| qkv[j * stride + c] as f64;
        let mut out = vec![0.0; len * d];
        for i in 0..len {
            let s: Vec<f64> = (0..len)
                .map(|j| (0..d).map(|c| at(i, c) * at(j, d + c)).sum::<f64>() * scale)
                .collect();
            let max = s.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
            let e: Vec<f64> = s.iter().map(|x| (x - max).exp()).collect();
            let z: f64 = e.iter().sum();
            for c in 0..d {
                out[i * d + c] = (0..len).map(|j| e[j] / z * at(j, 2 * d + c)).sum::<f64>();
            }
        }
        out
    }

    fn run(family: Family, len: usize, d: usize, qkv: &[f32]) -> Vec<f32> {
        let mut s = Scratch::new(family);
        let mut out = vec![0.0; len * d];
        let scale = 1.0 / (d as f32).sqrt();
        attend_i8(qkv, 3 * d, len, (0, d, 2 * d), d, scale, &mut s, &mut out);
        out
    }

    /// Close to the exact attention, within what the error analysis predicts: outputs are
    /// averages of V (|V| <= 1 here), and the INT8 error is a few quantization steps.
    #[test]
    fn int8_attention_stays_near_the_exact_one() {
        for (len, d) in [(1, 8), (7, 13), (29, 32), (70, 32)] {
            let qkv = values(len * 3 * d, len as u32, 2.0);
            let want = reference(&qkv, 3 * d, len, d, 1.0 / (d as f64).sqrt());
            let got = run(default_family(), len, d, &qkv);
            let err = got
                .iter()
                .zip(&want)
                .map(|(&g, &w)| (g as f64 - w).abs())
                .fold(0.0, f64::max);
            assert!(err < 0.02, "len {len} d {d}: max error {err}");
            // And not exact: the products really ran in INT8.
            if len > 1 {
                assert!(err > 1e-6, "len {len}: suspiciously exact ({err})");
            }
        }
    }

    /// A single key gets all the attention: the output is V's row, up to V's rounding.
    #[test]
    fn one_token_attends_to_itself() {
        let d = 16;
        let qkv = values(3 * d, 3, 2.0);
        let got = run(default_family(), 1, d, &qkv);
        let step = qkv[2 * d..].iter().fold(0.0f32, |m, v| m.max(v.abs())) / 127.0;
        for (g, v) in got.iter().zip(&qkv[2 * d..]) {
            assert!((g - v).abs() <= step / 2.0 + 1e-6, "{g} vs {v}");
        }
    }

    /// Buffers left by a longer or shorter call change no bit of the next result.
    #[test]
    fn reusing_the_scratch_changes_nothing() {
        let (len, d) = (23, 32);
        let a = values(len * 3 * d, 11, 2.0);
        let b = values(5 * 3 * d, 12, 2.0);
        let mut s = Scratch::new(default_family());
        let scale = 1.0 / (d as f32).sqrt();
        let mut first = vec![0.0; len * d];
        attend_i8(&a, 3 * d, len, (0, d, 2 * d), d, scale, &mut s, &mut first);
        let mut other = vec![0.0; 5 * d];
        attend_i8(&b, 3 * d, 5, (0, d, 2 * d), d, scale, &mut s, &mut other);
        let mut again = vec![0.0; len * d];
        attend_i8(&a, 3 * d, len, (0, d, 2 * d), d, scale, &mut s, &mut again);
        assert_eq!(first, again);
        assert_eq!(other, run(default_family(), 5, d, &b));
    }
}
