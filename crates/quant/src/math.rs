//! The element-wise numerics of the encoder, written as branch-free f32 code that the
//! compiler vectorises inside the loops of [`crate::kernels::ops`]: `exp` (for the softmax)
//! and `erf` (for GELU).
//!
//! **exp.** Cody–Waite range reduction `x = n ln 2 + r` (n rounded to nearest, ties to even), `|r| <= ln 2 / 2` (`ln 2` split in a
//! high part exact in f32 and a low part), `e^r` by its Taylor polynomial to degree 7 (the
//! truncation error `|r|^8 / 8! < 2.4e-9`, below f32's resolution), then `2^n` by building
//! the exponent bits. Relative error below 2e-7 on `[-87, 88]` (tested against f64); inputs
//! below -87 give `e^-87` (the softmax only ever takes `exp(s - max) <= 1`).
//!
//! **erf.** For `|x| >= 1/2`, Abramowitz & Stegun 7.1.28: `erf(x) = 1 - (1 + a1 x + ... +
//! a6 x^6)^-16` (odd extension below 0), absolute error below 3e-7 — no exponential, four
//! squarings for the power. Near 0 that form cancels (`1 - p^-16` with `p` near 1 loses the
//! low bits), so below 1/2 the Maclaurin series `2/sqrt(pi) (x - x^3/3 + x^5/10 - x^7/42 +
//! x^9/216 - x^11/1320)` is used instead (truncation below 2e-8 there). Both are computed and
//! one selected, which the compiler turns into a blend. Tested: absolute error below 1e-6
//! everywhere and relative error below 1e-6 under 1/2.

/// `e^x` for f32 (see the module docs for the method and its error).
#[inline]
pub fn exp(x: f32) -> f32 {
    const LOG2E: f32 = std::f32::consts::LOG2_E;
    // ln 2 = LN2_HI + LN2_LO, LN2_HI with its low 12 bits zero so that n * LN2_HI is exact.
    const LN2_HI: f32 = 0.693_145_75;
    const LN2_LO: f32 = 1.428_606_8e-6;
    // 1.5 * 2^23: `t = y + ROUND` rounds y to an integer n (ties to even) held in the low
    // mantissa bits of t, so n and the exponent bits of 2^n come from integer arithmetic on
    // t's bits — all of it vectorises (`round()` and `as i32` would not).
    const ROUND: f32 = 12_582_912.0;
    let x = x.clamp(-87.0, 88.0);
    let t = x * LOG2E + ROUND;
    let n = t - ROUND;
    let r = (x - n * LN2_HI) - n * LN2_LO;
    // e^r = sum r^k / k!, k = 0..7, in Horner form.
    let p = 1.0
        + r * (1.0
            + r * (0.5
                + r * (1.0 / 6.0
                    + r * (1.0 / 24.0
                        + r * (1.0 / 120.0 + r * (1.0 / 720.0 + r * (1.0 / 5040.0)))))));
    // 2^n from its exponent bits (n in [-126, 127] here).
    let n_int = t.to_bits() as i32 - ROUND.to_bits() as i32;
    let scale = f32::from_bits(((n_int + 127) as u32) << 23);
    p * scale
}

/// The error function (see the module docs for the method and its error).
#[inline]
pub fn erf(x: f32) -> f32 {
    const A: [f32; 6] = [
        0.070_523_08,
        0.042_282_01,
        0.009_270_527,
        0.000_152_014_3,
        0.000_276_567_2,
        0.000_043_063_8,
    ];
    let t = x.abs();
    let p = 1.0 + t * (A[0] + t * (A[1] + t * (A[2] + t * (A[3] + t * (A[4] + t * A[5])))));
    let p2 = p * p;
    let p4 = p2 * p2;
    let p8 = p4 * p4;
    // p^16 overflows to infinity for t > ~21, where erf is 1: 1 - 1/inf = 1.
    let far = 1.0 - 1.0 / (p8 * p8);
    let t2 = t * t;
    let series = t
        * std::f32::consts::FRAC_2_SQRT_PI
        * (1.0
            + t2 * (-1.0 / 3.0
                + t2 * (1.0 / 10.0
                    + t2 * (-1.0 / 42.0 + t2 * (1.0 / 216.0 + t2 * (-1.0 / 1320.0))))));
    let near = if t < 0.5 { series } else { far };
    near.copysign(x)
}

/// BERT's GELU, `x/2 (1 + erf(x / sqrt 2))`.
#[inline]
pub fn gelu(x: f32) -> f32 {
    0.5 * x * (1.0 + erf(x * std::f32::consts::FRAC_1_SQRT_2))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exp_is_within_2e_7_relative_of_f64() {
        let mut worst = 0.0f64;
        for i in 0..=2_000_000 {
            let x = -87.0 + 175.0 * i as f32 / 2_000_000.0;
            let want = (x as f64).exp();
            let got = exp(x) as f64;
            worst = worst.max(((got - want) / want).abs());
        }
        assert!(worst < 2e-7, "worst relative error {worst:e}");
        assert_eq!(exp(0.0), 1.0);
        assert_eq!(exp(-1000.0), exp(-87.0));
        assert!(exp(-87.0) < 2e-38);
    }

    #[test]
    fn erf_is_within_its_stated_error() {
        let mut worst_abs = 0.0f64;
        let mut worst_small = 0.0f64;
        for i in -400_000..=400_000 {
            let x = i as f32 / 50_000.0; // [-8, 8]
            let want = libm::erf(x as f64);
            let got = erf(x) as f64;
            worst_abs = worst_abs.max((got - want).abs());
            if x != 0.0 && x.abs() < 0.5 {
                worst_small = worst_small.max(((got - want) / want).abs());
            }
        }
        assert!(worst_abs < 1e-6, "worst absolute error {worst_abs:e}");
        assert!(
            worst_small < 1e-6,
            "worst error near 0, relative to x: {worst_small:e}"
        );
        assert_eq!(erf(0.0), 0.0);
        assert_eq!(erf(30.0), 1.0);
        assert_eq!(erf(-30.0), -1.0);
        assert_eq!(erf(f32::INFINITY), 1.0);
    }

    #[test]
    fn gelu_matches_the_exact_erf_form() {
        for i in -2000..=2000 {
            let x = i as f32 / 100.0;
            let want = 0.5 * x as f64 * (1.0 + libm::erf(x as f64 / 2f64.sqrt()));
            let err = (gelu(x) as f64 - want).abs();
            assert!(err <= 6e-7 * (x.abs() as f64).max(1e-3), "{x}: {err:e}");
        }
    }
}
