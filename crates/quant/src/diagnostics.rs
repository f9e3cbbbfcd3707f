//! Per-layer INT8 diagnostics: for every linear layer, how much quantisation costs it and
//! what its input looked like — the data behind "dynamic quantisation preserves accuracy
//! because activation distributions are well-behaved".
//!
//! For each `(layer, kind)` site the FP32 encoder runs the sentences; the input `x` that
//! reaches the site is fed to the site's FP32 and INT8 versions alone, so the error measured
//! is that layer's own (not the accumulated error of the layers before it):
//!
//! - `SQNR = 10 log10( sum y^2 / sum (y - y_int8)^2 )` in dB over every output value, with
//!   `y = x W^T + b` in FP32 and `y_int8` the same product through
//!   [`crate::kernels::int8`] (each 6 dB is about one bit);
//! - input statistics over every value of `x` at the site: `max|x| / mean|x|` (how far the
//!   largest value sits above the typical one, which is what a per-row scale must cover),
//!   the kurtosis `E[(x - mu)^4] / sigma^4` (3 for a Gaussian, larger for heavy tails) and
//!   the fraction of values beyond `6 sigma` from the mean (about 2e-9 for a Gaussian).
//!
//! Activations are quantised per row (token) with the row's own range, so what hurts is
//! outliers *within* a row: a row whose range is set by one large value leaves few levels
//! for the rest.

use serde::{Deserialize, Serialize};

use crate::encoder::{Encoder, LinearKind, Scratch, Workspace};
use crate::error::Result;

/// One linear layer's diagnostics.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SiteStats {
    /// Transformer layer (from 0).
    pub layer: usize,
    /// Which linear layer.
    pub kind: LinearKind,
    /// Signal-to-quantisation-noise ratio of its output, dB.
    pub sqnr_db: f64,
    /// `max|x| / mean|x|` over its inputs.
    pub max_over_mean_abs: f64,
    /// Kurtosis of its inputs (Gaussian: 3).
    pub kurtosis: f64,
    /// Fraction of its inputs beyond 6 standard deviations from their mean.
    pub beyond_6_sigma: f64,
    /// Largest `|x|`.
    pub max_abs: f64,
}

impl SiteStats {
    /// `L3 ffn-down`-style label.
    pub fn label(&self) -> String {
        format!("L{} {}", self.layer, self.kind.name())
    }
}

#[derive(Debug, Clone, Default)]
struct Acc {
    n: f64,
    s1: f64,
    s2: f64,
    s3: f64,
    s4: f64,
    abs: f64,
    max_abs: f64,
    signal: f64,
    noise: f64,
    beyond: f64,
}

/// Diagnoses every linear layer of `fp32` (an all-FP32 encoder) against `int8` (the same
/// weights, the linear layers in INT8) over `batches` of token sequences.
///
/// # Errors
/// A sequence the encoder refuses (see [`Encoder::forward`]).
pub fn diagnose(fp32: &Encoder, int8: &Encoder, batches: &[Vec<&[u32]>]) -> Result<Vec<SiteStats>> {
    let layers = fp32.config().num_hidden_layers;
    let sites = layers * LinearKind::ALL.len();
    let index = |layer: usize, kind: LinearKind| {
        layer * LinearKind::ALL.len() + LinearKind::ALL.iter().position(|&k| k == kind).unwrap_or(0)
    };
    let mut acc = vec![Acc::default(); sites];
    let mut ws = Workspace::default();
    let (mut y32, mut y8) = (Vec::new(), Vec::new());
    let (mut q32, mut q8) = (Scratch::default(), Scratch::default());
    // Pass 1: moments, range and SQNR.
    for batch in batches {
        let mut failure = None;
        let mut probe = |layer: usize, kind: LinearKind, x: &[f32], rows: usize| {
            let a = &mut acc[index(layer, kind)];
            for &v in x {
                let v = v as f64;
                let v2 = v * v;
                a.n += 1.0;
                a.s1 += v;
                a.s2 += v2;
                a.s3 += v2 * v;
                a.s4 += v2 * v2;
                a.abs += v.abs();
                a.max_abs = a.max_abs.max(v.abs());
            }
            let run = fp32
                .linear(layer, kind, x, rows, &mut y32, &mut q32)
                .and_then(|_| int8.linear(layer, kind, x, rows, &mut y8, &mut q8));
            if let Err(e) = run {
                failure.get_or_insert(e);
                return;
            }
            for (&a32, &a8) in y32.iter().zip(&y8) {
                a.signal += (a32 as f64).powi(2);
                a.noise += (a32 as f64 - a8 as f64).powi(2);
            }
        };
        fp32.forward_probed(batch, &mut ws, &mut probe)?;
        if let Some(e) = failure {
            return Err(e);
        }
    }
    let moments: Vec<(f64, f64)> = acc
        .iter()
        .map(|a| {
            let mu = a.s1 / a.n.max(1.0);
            let var = (a.s2 / a.n.max(1.0) - mu * mu).max(0.0);
            (mu, var.sqrt())
        })
        .collect();
    // Pass 2: values beyond 6 sigma (needs the mean and sigma of pass 1).
    for batch in batches {
        let mut probe = |layer: usize, kind: LinearKind, x: &[f32], _rows: usize| {
            let i = index(layer, kind);
            let (mu, sigma) = moments[i];
            acc[i].beyond += x
                .iter()
                .filter(|&&v| (v as f64 - mu).abs() > 6.0 * sigma)
                .count() as f64;
        };
        fp32.forward_probed(batch, &mut ws, &mut probe)?;
    }
    Ok(acc
        .iter()
        .zip(&moments)
        .enumerate()
        .map(|(i, (a, &(mu, sigma)))| {
            let n = a.n.max(1.0);
            let (m2, m3, m4) = (a.s2 / n, a.s3 / n, a.s4 / n);
            let central4 = m4 - 4.0 * mu * m3 + 6.0 * mu * mu * m2 - 3.0 * mu.powi(4);
            SiteStats {
                layer: i / LinearKind::ALL.len(),
                kind: LinearKind::ALL[i % LinearKind::ALL.len()],
                sqnr_db: 10.0 * (a.signal / a.noise).log10(),
                max_over_mean_abs: a.max_abs / (a.abs / n),
                kurtosis: central4 / sigma.powi(4),
                beyond_6_sigma: a.beyond / n,
                max_abs: a.max_abs,
            }
        })
        .collect())
}
