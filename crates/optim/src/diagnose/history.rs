//! Reading a loss history: diverging, oscillating with period 2, on a plateau, wandering in
//! noise, or falling — each word with the statistic behind it.
//!
//! On the last half of the history (the early transient says little about the regime), with
//! `L_t` the losses of that window:
//!
//! * **diverging**: a non-finite loss, or the history ends above `2 x` where it started, or
//!   above `10 x` its minimum by more than 1% of the start (near a zero minimum rounding
//!   noise is not a blow-up);
//! * a straight line `a + b t` is fitted to the window by least squares; its residuals `e_t`
//!   give the *noise* `sigma = std(e)` and the lag-1 autocorrelation
//!   `r1 = sum e_t e_{t+1} / sum e_t^2` — a loss that alternates up and down every step has
//!   `r1 -> -1`; independent noise has `r1 ~ 0` (a smooth curve the line misses, `r1 -> +1`);
//! * **oscillating** (period 2): `r1 < -0.5` and `sigma` above `1e-4` of the loss level;
//! * the *drop* is the fitted line's fall over the window, `-b (n - 1)`:
//!   **noise-dominated** when `|drop| < 2 sigma` and `sigma > 1e-3` of the level (the trend
//!   is lost in the noise), **plateau** when `|drop|` and `sigma` are both under `1e-3` of
//!   the level, **rising** when the drop is negative beyond the noise, else **falling**.

use serde::{Deserialize, Serialize};

/// What a loss history does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Trend {
    /// Falls faster than its noise.
    Falling,
    /// Alternates up and down every step (the signature of a step beyond the stability limit
    /// along the top eigenvector).
    Oscillating,
    /// Neither falls nor moves.
    Plateau,
    /// The trend is smaller than the step-to-step noise.
    NoiseDominated,
    /// Rises, but not past the divergence thresholds.
    Rising,
    /// Blows up (non-finite, or far above where it started).
    Diverging,
    /// Too short to tell (fewer than 8 points).
    TooShort,
}

impl Trend {
    /// The word for a sentence.
    pub fn word(self) -> &'static str {
        match self {
            Trend::Falling => "falling",
            Trend::Oscillating => "oscillating with period 2",
            Trend::Plateau => "on a plateau",
            Trend::NoiseDominated => "wandering in noise",
            Trend::Rising => "rising",
            Trend::Diverging => "diverging",
            Trend::TooShort => "too short to read",
        }
    }
}

/// A loss history read: the verdict and the statistics behind it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HistoryReport {
    /// The verdict.
    pub trend: Trend,
    /// Points read.
    pub points: usize,
    /// First index of the window the statistics come from (the last half).
    pub window_start: usize,
    /// Mean loss over the window.
    pub level: f64,
    /// Fall of the fitted line over the window (negative: it rose).
    pub drop: f64,
    /// Standard deviation of the residuals around the line.
    pub noise: f64,
    /// Lag-1 autocorrelation of the residuals.
    pub r1: f64,
    /// Fraction of steps (whole history) at which the loss rose.
    pub rises: f64,
    /// The first loss, the smallest and the last.
    pub first: f64,
    /// Smallest loss seen.
    pub min: f64,
    /// Last loss.
    pub last: f64,
}

impl HistoryReport {
    /// One line: the word and its statistics.
    pub fn summary(&self) -> String {
        format!(
            "{} (last half: drop {:.3e}, noise {:.3e}, lag-1 autocorrelation {:.2}; loss {:.4} -> {:.4}, min {:.4}; rose at {:.0}% of steps)",
            self.trend.word(),
            self.drop,
            self.noise,
            self.r1,
            self.first,
            self.last,
            self.min,
            100.0 * self.rises
        )
    }
}

/// Reads a loss history (one value per step).
pub fn analyse_history(losses: &[f64]) -> HistoryReport {
    let n = losses.len();
    let first = losses.first().copied().unwrap_or(f64::NAN);
    let last = losses.last().copied().unwrap_or(f64::NAN);
    let min = losses.iter().copied().fold(f64::INFINITY, f64::min);
    let rises = if n > 1 {
        losses.windows(2).filter(|w| w[1] > w[0]).count() as f64 / (n - 1) as f64
    } else {
        0.0
    };
    let mut report = HistoryReport {
        trend: Trend::TooShort,
        points: n,
        window_start: n / 2,
        level: f64::NAN,
        drop: f64::NAN,
        noise: f64::NAN,
        r1: f64::NAN,
        rises,
        first,
        min,
        last,
    };
    if losses.iter().any(|l| !l.is_finite()) {
        report.trend = Trend::Diverging;
        return report;
    }
    if n < 8 {
        return report;
    }
    let w = &losses[n / 2..];
    let m = w.len() as f64;
    let tbar = (m - 1.0) / 2.0;
    let level = w.iter().sum::<f64>() / m;
    let (mut sxy, mut sxx) = (0.0, 0.0);
    for (t, y) in w.iter().enumerate() {
        sxy += (t as f64 - tbar) * (y - level);
        sxx += (t as f64 - tbar).powi(2);
    }
    let slope = sxy / sxx;
    let e: Vec<f64> = w
        .iter()
        .enumerate()
        .map(|(t, y)| y - (level + slope * (t as f64 - tbar)))
        .collect();
    let ss = e.iter().map(|x| x * x).sum::<f64>();
    let noise = (ss / m).sqrt();
    let r1 = if ss > 0.0 {
        e.windows(2).map(|p| p[0] * p[1]).sum::<f64>() / ss
    } else {
        0.0
    };
    let drop = -slope * (m - 1.0);
    let scale = level.abs().max(1e-12);
    report.level = level;
    report.drop = drop;
    report.noise = noise;
    report.r1 = r1;
    let rebound = last - min;
    report.trend = if last - first > first.abs().max(1e-12)
        || (rebound > 9.0 * min.abs() && rebound > 0.01 * first.abs())
    {
        Trend::Diverging
    } else if r1 < -0.5 && noise > 1e-4 * scale {
        Trend::Oscillating
    } else if drop.abs() < 1e-3 * scale && noise < 1e-3 * scale {
        Trend::Plateau
    } else if drop.abs() < 2.0 * noise && noise > 1e-3 * scale {
        Trend::NoiseDominated
    } else if drop < 0.0 {
        Trend::Rising
    } else {
        Trend::Falling
    };
    report
}

#[cfg(test)]
mod tests {
    use super::*;
    use core_tensor::Rng;

    #[test]
    fn each_shape_gets_its_word() {
        let falling: Vec<f64> = (0..200).map(|t| 2.0 * (-0.02 * t as f64).exp()).collect();
        assert_eq!(analyse_history(&falling).trend, Trend::Falling);
        // GD beyond 2/lambda on the top direction: the error flips sign and grows slowly,
        // on top of a falling loss from the other directions.
        let osc: Vec<f64> = (0..200)
            .map(|t| 1.0 + (-0.01 * t as f64).exp() + 0.05 * if t % 2 == 0 { 1.0 } else { -1.0 })
            .collect();
        let r = analyse_history(&osc);
        assert_eq!(r.trend, Trend::Oscillating, "{}", r.summary());
        assert!(r.r1 < -0.9);
        let plateau = vec![std::f64::consts::LN_2; 100]; // a 2-class model that learned nothing
        assert_eq!(analyse_history(&plateau).trend, Trend::Plateau);
        let mut rng = Rng::seed(3);
        let noisy: Vec<f64> = (0..400).map(|_| 1.0 + 0.05 * rng.next_normal()).collect();
        let r = analyse_history(&noisy);
        assert_eq!(r.trend, Trend::NoiseDominated, "{}", r.summary());
        assert!(r.r1.abs() < 0.2);
        let blowup: Vec<f64> = (0..50).map(|t| 1.1f64.powi(t)).collect();
        assert_eq!(analyse_history(&blowup).trend, Trend::Diverging);
        let nan = [1.0, 0.9, f64::NAN, 0.8, 0.7, 0.6, 0.5, 0.4];
        assert_eq!(analyse_history(&nan).trend, Trend::Diverging);
        assert_eq!(analyse_history(&[1.0, 0.5]).trend, Trend::TooShort);
    }
}
