//! Robust summary statistics of repeated timings.
//!
//! Timings on a shared machine have a long right tail (interrupts, other processes), so the
//! centre is the **median** and the spread the **median absolute deviation** (MAD), both
//! insensitive to a few slow outliers. `rel_spread = MAD / median` is the figure to check before
//! trusting a comparison: two kernels whose medians differ by less than a few spreads are not
//! distinguishable.

use serde::{Deserialize, Serialize};

/// Summary of a sample of measurements (seconds, or any unit).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Stats {
    /// Number of samples.
    pub n: usize,
    /// Median.
    pub median: f64,
    /// Median absolute deviation from the median.
    pub mad: f64,
    /// Smallest sample.
    pub min: f64,
    /// Largest sample.
    pub max: f64,
    /// Arithmetic mean.
    pub mean: f64,
    /// `mad / median` (0 when the median is 0).
    pub rel_spread: f64,
}

fn median_of_sorted(v: &[f64]) -> f64 {
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        0.5 * (v[n / 2 - 1] + v[n / 2])
    }
}

impl Stats {
    /// Statistics of `samples`; `None` for an empty sample or one containing NaN.
    pub fn from_samples(samples: &[f64]) -> Option<Stats> {
        if samples.is_empty() || samples.iter().any(|s| s.is_nan()) {
            return None;
        }
        let mut v = samples.to_vec();
        v.sort_by(f64::total_cmp);
        let median = median_of_sorted(&v);
        let mut dev: Vec<f64> = v.iter().map(|x| (x - median).abs()).collect();
        dev.sort_by(f64::total_cmp);
        let mad = median_of_sorted(&dev);
        Some(Stats {
            n: v.len(),
            median,
            mad,
            min: v[0],
            max: v[v.len() - 1],
            mean: v.iter().sum::<f64>() / v.len() as f64,
            rel_spread: if median != 0.0 { mad / median } else { 0.0 },
        })
    }
}

/// The `p`-th percentile of `v` by linear interpolation between order statistics (NaN when
/// empty): `p = 50` is the median (the mean of the middle two for an even count).
pub fn percentile(v: &[f64], p: f64) -> f64 {
    if v.is_empty() {
        return f64::NAN;
    }
    let mut s = v.to_vec();
    s.sort_by(f64::total_cmp);
    let pos = p.clamp(0.0, 100.0) / 100.0 * (s.len() - 1) as f64;
    let (lo, hi) = (pos.floor() as usize, pos.ceil() as usize);
    s[lo] + (s[hi] - s[lo]) * (pos - lo as f64)
}

/// The median of `v` (NaN when empty).
pub fn median(v: &[f64]) -> f64 {
    percentile(v, 50.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hand_computed_statistics() {
        // Sorted: 1 2 3 4 100 -> median 3; deviations 2 1 0 1 97 -> sorted 0 1 1 2 97 -> MAD 1.
        let s = Stats::from_samples(&[3.0, 1.0, 100.0, 2.0, 4.0]).unwrap();
        assert_eq!(
            (s.n, s.median, s.mad, s.min, s.max),
            (5, 3.0, 1.0, 1.0, 100.0)
        );
        assert_eq!(s.mean, 22.0);
        assert!((s.rel_spread - 1.0 / 3.0).abs() < 1e-15);
        // Even count: median of 1 2 3 4 is 2.5; deviations 1.5 .5 .5 1.5 -> MAD 1.0.
        let s = Stats::from_samples(&[4.0, 1.0, 3.0, 2.0]).unwrap();
        assert_eq!((s.median, s.mad), (2.5, 1.0));
        assert!(Stats::from_samples(&[]).is_none());
        assert!(Stats::from_samples(&[1.0, f64::NAN]).is_none());
    }

    #[test]
    fn percentiles_interpolate_and_the_median_agrees_with_stats() {
        let v = [4.0, 1.0, 3.0, 2.0];
        assert_eq!(percentile(&v, 0.0), 1.0);
        assert_eq!(percentile(&v, 100.0), 4.0);
        assert_eq!(percentile(&v, 50.0), 2.5);
        assert!((percentile(&v, 95.0) - 3.85).abs() < 1e-12);
        for s in [&v[..], &[3.0, 1.0, 100.0, 2.0, 4.0][..]] {
            assert_eq!(median(s), Stats::from_samples(s).unwrap().median);
        }
        assert!(median(&[]).is_nan());
    }
}
