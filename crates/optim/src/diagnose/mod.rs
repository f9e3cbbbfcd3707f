//! Diagnosis of a training setup from its curvature — "why does my loss oscillate, is this
//! learning rate reasonable?" — answered for the user's own objective, and checked by
//! running.
//!
//! Everything is measured on a fixed set of batches (the [`Objective`]), whose
//! example-weighted mean loss `L(theta)` has Hessian `H`; products `H v` are exact (double
//! backward, [`crate::hessian`]).
//!
//! 1. **Curvature at the start** ([`curvature`]): the top eigenvalues of `H + wd I` by Lanczos
//!    with full reorthogonalisation, each with its residual bound (an eigenvalue of `H` lies
//!    within `beta_k |s_k|` of the Ritz value; "converged" means the top one's bound is under
//!    `tol` of it, else the steps double once); the most negative Ritz value (a saddle when
//!    below zero); Hutchinson's trace; the stochastic-Lanczos density's mass below zero; and
//!    `kappa_eff = lambda_1 / lambda_k` with `k` stated.
//! 2. **Stability limit** of the user's rule from its characteristic roots
//!    ([`OptimizerSpec::sharpness_limit`]): a sharpness `S` is stable at learning rate `eta`
//!    for GD while `S < 2/eta`, heavy ball `2(1+mu)/eta`, Nesterov `(2+2mu)/((1+2mu) eta)`,
//!    Adam `(2+2 beta1)/((1-beta1) eta)` on the *preconditioned* curvature
//!    `P^-1/2 H P^-1/2`, `P = diag(sqrt(v_hat) + eps)`.
//! 3. **Per-direction behaviour** at the top and the bottom of the spectrum: monotone,
//!    oscillating or divergent, the contraction per step `r` and `ln 10 / -ln r` steps per 10x.
//! 4. **Probe run**: the user's rule on `L` (full batch over the fixed set) for a few hundred
//!    steps from the user's weights, the sharpness measured every few steps (Lanczos
//!    warm-started from the last top Ritz vector; preconditioned with the rule's own `v` for
//!    Adam and RMSProp) — networks
//!    sharpen until they reach the limit (Cohen et al. 2021, 2022), so a verdict at the
//!    start alone is wrong for them. The regime, read over the run's second half: **stable**
//!    (sharpness below 90% of the limit, no period-2 oscillation), **edge** (sharpness at
//!    the limit, or the loss oscillating, while it still falls),
//!    **divergent** (the loss blows up, or collapses back to where it started).
//! 5. **Gradient noise scale** `B_simple = tr(Sigma) / |G|^2` (McCandlish et al. 2018) from
//!    the per-batch gradients `g_i` of batches of `B` examples: `tr(Sigma) = B * sum |g_i -
//!    g_bar|^2 / (n - 1)`, `|G|^2 = |g_bar|^2 - tr(Sigma) / (B n)` (unbiased).
//! 6. **Suggested learning rate**: `safety x` the largest rate stable at the sharpest point of
//!    the probe. A learning-rate **range test** (Smith 2017, fastai's `lr_find`: the rate
//!    grown exponentially, the suggestion a tenth of the rate at the lowest loss) is run
//!    beside it.
//! 7. **Checks by running**, from the same start: the suggested rate must fall without
//!    period-2 oscillation; `unstable_factor x` the limit must run into it — oscillate,
//!    spike, diverge, or (Adam, RMSProp) have its sharpness reach 90% of the limit, where the
//!    growing `v` holds it; the user's own rate, run `long_steps`, must show
//!    the regime the probe showed. Each check says PASS or FAIL; a verdict its own run
//!    contradicts says so.
//!
//! The user's weights are never changed: every run trains copies.

mod history;
mod spec;

pub use history::{analyse_history, HistoryReport, Trend};
pub use spec::OptimizerSpec;

use core_tensor::{Tensor, TensorError};
use serde::{Deserialize, Serialize};

use crate::error::{check, OptimError, Result};
use crate::hessian::{
    dot, hutchinson_trace, lanczos, lanczos_from, slq_density, HessianOperator, LinearOperator,
};
use crate::optimizer::Optimizer;
use crate::theory::Approach;

/// What a diagnosis needs of the user's problem: parameters and a loss per batch, as a
/// function of parameter values (so copies can be trained and Hessians taken).
pub trait Objective {
    /// The parameters at which to diagnose (read, never changed).
    fn parameters(&self) -> Vec<Tensor>;
    /// Number of fixed batches.
    fn batches(&self) -> usize;
    /// Examples in batch `i` (the batch losses are averaged with these weights).
    fn batch_size(&self, i: usize) -> usize;
    /// The mean loss over batch `i` with `params` in place of the parameters.
    ///
    /// # Errors
    /// The model's or the loss's error.
    fn batch_loss(&self, params: &[Tensor], i: usize) -> core_tensor::Result<Tensor>;
}

/// `1/2 x^T A x` of a [`Quadratic`](crate::problems::Quadratic) from `start` (`[dim, 1]`) as
/// a one-batch objective: the case whose sharpness, limits and regimes are known exactly.
pub struct QuadraticObjective {
    /// The quadratic.
    pub problem: crate::problems::Quadratic,
    /// The point to diagnose at.
    pub start: Tensor,
}

impl Objective for QuadraticObjective {
    fn parameters(&self) -> Vec<Tensor> {
        vec![self.start.clone()]
    }

    fn batches(&self) -> usize {
        1
    }

    fn batch_size(&self, _: usize) -> usize {
        1
    }

    fn batch_loss(&self, params: &[Tensor], _: usize) -> core_tensor::Result<Tensor> {
        self.problem.loss(&params[0])
    }
}

/// How much to measure.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct DiagnoseOptions {
    /// Lanczos steps for the spectrum (doubled once when the top eigenvalue has not
    /// converged).
    pub lanczos_steps: usize,
    /// Eigenvalues reported; `kappa_eff = lambda_1 / lambda_k` with this `k`.
    pub top_k: usize,
    /// Relative residual under which the top eigenvalue counts as converged.
    pub tol: f64,
    /// Hutchinson probes for the trace.
    pub trace_probes: usize,
    /// SLQ probes for the negative mass of the density (0 skips it).
    pub density_probes: usize,
    /// Steps of the probe run.
    pub probe_steps: usize,
    /// Sharpness measured every this many probe steps.
    pub probe_every: usize,
    /// Lanczos steps per sharpness measurement along a run (warm-started from the previous
    /// measurement's top Ritz vector).
    pub tracking_steps: usize,
    /// Steps of each check run (0: no checks).
    pub check_steps: usize,
    /// Steps of the check at the user's own rate, run longer than the probe to see whether
    /// the regime the probe predicted holds.
    pub long_steps: usize,
    /// The predicted-unstable check runs at this multiple of the limit.
    pub unstable_factor: f64,
    /// The suggested rate is this fraction of the limit at the probe's sharpest point.
    pub safety: f64,
    /// Steps of the learning-rate range test (0 skips it).
    pub range_steps: usize,
    /// Seed of every random start.
    pub seed: u64,
}

impl Default for DiagnoseOptions {
    fn default() -> Self {
        DiagnoseOptions {
            lanczos_steps: 30,
            top_k: 5,
            tol: 1e-3,
            trace_probes: 10,
            density_probes: 2,
            probe_steps: 200,
            probe_every: 20,
            tracking_steps: 20,
            check_steps: 200,
            long_steps: 2000,
            unstable_factor: 1.5,
            safety: 0.8,
            range_steps: 100,
            seed: 0,
        }
    }
}

/// The spectrum of an operator, as far as Lanczos saw it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Curvature {
    /// The largest eigenvalues (Ritz values), largest first.
    pub top: Vec<f64>,
    /// Their residual bounds.
    pub top_residuals: Vec<f64>,
    /// Whether the largest one's residual is under `tol` of it.
    pub converged: bool,
    /// The smallest Ritz value (negative: a saddle direction).
    pub bottom: f64,
    /// Its residual bound.
    pub bottom_residual: f64,
    /// The `k` of `kappa_eff`.
    pub kappa_k: usize,
    /// `top[0] / top[k-1]` (NaN when `top[k-1] <= 0` or fewer than `k` values).
    pub kappa_eff: f64,
    /// Hutchinson's trace estimate and its standard error.
    pub trace: (f64, f64),
    /// SLQ quadrature weight on negative eigenvalues (NaN when not measured).
    pub negative_mass: f64,
    /// The SLQ eigenvalue density `(eigenvalue, density)` on a grid (empty when not
    /// measured).
    pub density: Vec<(f64, f64)>,
    /// Lanczos steps used.
    pub lanczos_steps: usize,
}

/// The spectrum of `op`: Lanczos (steps doubled once if the top has not converged), trace,
/// negative mass.
///
/// # Errors
/// The operator's errors; invalid options.
pub fn curvature(op: &dyn LinearOperator, opts: &DiagnoseOptions) -> Result<Curvature> {
    check(opts.top_k > 0, "diagnose", "top_k", 0.0, "must be > 0")?;
    let mut steps = opts.lanczos_steps.max(opts.top_k + 1);
    let mut run = lanczos(op, steps, opts.seed)?;
    let ok = |r: &crate::hessian::Lanczos| {
        let (t, res) = (r.top(1)[0], r.top_residuals(1)[0]);
        res <= opts.tol * t.abs().max(1e-30)
    };
    if !ok(&run) && steps < op.dim() {
        steps = (2 * steps).min(op.dim());
        run = lanczos(op, steps, opts.seed)?;
    }
    let top = run.top(opts.top_k);
    let k = opts.top_k;
    let kappa_eff = if top.len() == k && top[k - 1] > 0.0 {
        top[0] / top[k - 1]
    } else {
        f64::NAN
    };
    let trace = hutchinson_trace(op, opts.trace_probes.max(2), opts.seed + 1)?;
    // The SLQ density, smoothed by a Gaussian of 1% of the spectrum's width.
    let (negative_mass, density) = if opts.density_probes > 0 {
        let width = (run.ritz_values[run.ritz_values.len() - 1] - run.ritz_values[0]).abs();
        let d = slq_density(
            op,
            opts.lanczos_steps,
            opts.density_probes,
            (0.01 * width).max(1e-12),
            200,
            opts.seed + 2,
        )?;
        let negative = d
            .nodes
            .iter()
            .zip(&d.weights)
            .filter(|(x, _)| **x < 0.0)
            .map(|(_, w)| w)
            .sum();
        (negative, d.grid.into_iter().zip(d.density).collect())
    } else {
        (f64::NAN, Vec::new())
    };
    Ok(Curvature {
        converged: ok(&run),
        top_residuals: run.top_residuals(k),
        top,
        bottom: run.ritz_values[0],
        bottom_residual: run.residuals[0],
        kappa_k: k,
        kappa_eff,
        trace: (trace.trace, trace.std_error),
        negative_mass,
        density,
        lanczos_steps: run.alphas.len(),
    })
}

/// The behaviour of one eigen-direction under the user's rule.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Direction {
    /// The eigenvalue of the curvature.
    pub lambda: f64,
    /// Monotone, oscillating or divergent.
    pub approach: Approach,
    /// Contraction of the error per step (`> 1`: it grows).
    pub contraction: f64,
    /// Steps to shrink the error 10x (`None` when it does not shrink).
    pub steps_per_10x: Option<f64>,
}

impl Direction {
    /// The prediction of `spec` along eigenvalue `lambda`.
    pub fn of(spec: &OptimizerSpec, lambda: f64) -> Direction {
        let p = spec.direction(lambda);
        let r = p.spectral_radius;
        Direction {
            lambda,
            approach: p.approach,
            contraction: r,
            steps_per_10x: (r < 1.0 && r > 0.0).then(|| 10f64.ln() / -r.ln()),
        }
    }

    /// A phrase: "oscillating, contraction 0.87/step (17 steps per 10x)".
    pub fn phrase(&self) -> String {
        let how = match self.approach {
            Approach::Monotone => "monotone",
            Approach::Oscillating => "oscillating",
            Approach::Divergent => "divergent",
        };
        match self.steps_per_10x {
            Some(s) => format!(
                "{how}, contraction {:.4}/step ({} steps per 10x)",
                self.contraction,
                fmt_count(s)
            ),
            None if self.lambda < 0.0 => format!(
                "negative curvature: the error grows {:.4}x/step (an escape direction)",
                self.contraction
            ),
            None => format!("{how}, the error grows {:.4}x/step", self.contraction),
        }
    }
}

/// Stable, at the edge of stability, or divergent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Regime {
    /// Sharpness below the limit; the loss falls without oscillating.
    Stable,
    /// Sharpness at the limit (or the loss oscillating) while the loss still falls:
    /// self-stabilising, non-monotone.
    Edge,
    /// Beyond the limit: the loss blows up or collapses, or the run survives by catapults
    /// (loss spikes of 2x and more) and loses ground it had won.
    Divergent,
}

impl Regime {
    /// The phrase for a sentence.
    pub fn phrase(self) -> &'static str {
        match self {
            Regime::Stable => "below the stability limit",
            Regime::Edge => "at the edge of stability (self-stabilising, loss non-monotone)",
            Regime::Divergent => {
                "beyond the limit (diverging, collapsing, or spiking and losing ground)"
            }
        }
    }
}

/// Why a run is beyond its limit (see [`Regime::Divergent`]), the first that applies.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Beyond {
    /// The loss blew up (not finite, or a million times its start).
    BlewUp,
    /// The history reader calls the loss diverging.
    Diverging,
    /// It ended above its start.
    EndsAboveStart,
    /// It gave back more than half of its gain and ended within 10% of its start.
    Collapsed,
    /// It ended at 1.5x its best loss or more, having given back at least 10% of its gain.
    Damaged,
    /// Its sharpness exceeded the limit while its loss spiked to twice its best.
    Catapults,
}

/// The probe run: the user's rule for a few hundred steps, sharpness tracked.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Probe {
    /// Steps at which the sharpness was measured.
    pub steps: Vec<u64>,
    /// The sharpness of the curvature the rule feels (preconditioned for Adam and RMSProp).
    pub sharpness: Vec<f64>,
    /// The rule's limit at the user's rate.
    pub limit: f64,
    /// Loss over the fixed set before each step (and after the last).
    pub losses: Vec<f64>,
    /// The losses read.
    pub history: HistoryReport,
    /// Largest sharpness measured and its step.
    pub max_sharpness: (f64, u64),
    /// The regime.
    pub regime: Regime,
    /// Why the regime is beyond the limit (`None` below it or at the edge).
    pub beyond: Option<Beyond>,
}

/// The gradient noise scale.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct NoiseScale {
    /// `B_simple = tr(Sigma) / |G|^2` (per-example covariance).
    pub b_simple: f64,
    /// Mean batch size `B`.
    pub batch_size: f64,
    /// Batches the estimate came from.
    pub batches: usize,
    /// `tr(Sigma)` per example.
    pub trace_cov: f64,
    /// `|G|^2`, unbiased.
    pub grad_norm_sq: f64,
}

/// A learning-rate range test.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RangeTest {
    /// The rates tried, one per step.
    pub lrs: Vec<f64>,
    /// The loss before each step.
    pub losses: Vec<f64>,
    /// A tenth of the rate at the lowest loss.
    pub suggestion: f64,
}

/// What a check run expects.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Expect {
    /// Falls without period-2 oscillation and without diverging or collapsing (it may
    /// still sharpen to the edge of stability: networks do at any rate).
    Stable,
    /// Runs into the limit: oscillates, spikes above its start, diverges, or its sharpness
    /// reaches 90% of the limit — how instability shows under Adam and RMSProp, whose
    /// growing `v` then holds the sharpness there (the adaptive edge of stability, Cohen et
    /// al. 2022).
    Unstable,
    /// Shows this regime.
    Regime(Regime),
    /// Nothing predicted (the range test's suggestion, run for comparison).
    Nothing,
}

/// One check run from the diagnosed start.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Check {
    /// What it is ("suggested lr").
    pub label: String,
    /// The rate run.
    pub lr: f64,
    /// The prediction.
    pub expect: Expect,
    /// The losses read.
    pub history: HistoryReport,
    /// The regime its run shows over its second half (sharpness and losses, as the probe's).
    pub observed: Regime,
    /// Whether the loss ever went above where it started.
    pub spiked: bool,
    /// Whether the prediction held (`None` when nothing was predicted).
    pub pass: Option<bool>,
    /// The losses.
    pub losses: Vec<f64>,
    /// Largest sharpness measured over the run's second half.
    pub max_sharpness: f64,
    /// Largest sharpness measured over the whole run.
    pub peak_sharpness: f64,
}

/// A full diagnosis.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Diagnosis {
    /// The optimizer diagnosed.
    pub spec: OptimizerSpec,
    /// Number of parameter values.
    pub params: usize,
    /// Examples in the fixed set, and batches.
    pub examples: usize,
    /// Batches in the fixed set.
    pub batches: usize,
    /// Seed.
    pub seed: u64,
    /// Loss at the start.
    pub initial_loss: f64,
    /// Spectrum of `H + wd I` at the start.
    pub curvature: Curvature,
    /// For Adam and RMSProp: the spectrum of the preconditioned curvature at the end of the
    /// probe (with the rule's `v` there).
    pub preconditioned: Option<Curvature>,
    /// The sharpness limit at the user's rate.
    pub limit: f64,
    /// The top direction at the sharpest point seen, and the bottom of the spectrum (both of
    /// the preconditioned curvature for adaptive rules).
    pub directions: (Direction, Direction),
    /// The probe run.
    pub probe: Probe,
    /// The gradient noise scale (needs two batches or more).
    pub noise: Option<NoiseScale>,
    /// The largest stable rate at the sharpest point the probe saw.
    pub lr_limit: f64,
    /// The suggested rate (`safety x lr_limit`).
    pub suggested_lr: f64,
    /// The user's rate over the largest stable one at the probe's sharpest point.
    pub lr_ratio: f64,
    /// The range test.
    pub range_test: Option<RangeTest>,
    /// The checks by running.
    pub checks: Vec<Check>,
    /// The verdict, a line per statement, every number with its source.
    pub verdict: Vec<String>,
}

impl Diagnosis {
    /// Whether every check with a prediction passed.
    pub fn checks_pass(&self) -> bool {
        self.checks.iter().all(|c| c.pass != Some(false))
    }

    /// The verdict as text.
    pub fn verdict_text(&self) -> String {
        self.verdict.join("\n")
    }
}

/// The example-weighted mean loss over the fixed batches.
fn full_loss(obj: &dyn Objective, params: &[Tensor]) -> core_tensor::Result<Tensor> {
    let total: usize = (0..obj.batches()).map(|i| obj.batch_size(i)).sum();
    let mut acc: Option<Tensor> = None;
    for i in 0..obj.batches() {
        let w = obj.batch_size(i) as f32 / total as f32;
        let term = obj.batch_loss(params, i)?.mul_scalar(w);
        acc = Some(match acc {
            None => term,
            Some(a) => a.add(&term)?,
        });
    }
    acc.ok_or_else(|| TensorError::Autodiff("no batches".into()))
}

fn leaves(params: &[Tensor]) -> Result<Vec<Tensor>> {
    params
        .iter()
        .map(|p| Ok(Tensor::from_vec(p.to_vec(), p.shape())?.with_grad()))
        .collect()
}

/// `D (A + c I) D` for a diagonal `D` (`None`: the identity): the preconditioned, shifted
/// curvature.
struct Scaled<'a> {
    op: &'a dyn LinearOperator,
    d: Option<Vec<f64>>,
    shift: f64,
}

impl LinearOperator for Scaled<'_> {
    fn dim(&self) -> usize {
        self.op.dim()
    }

    fn apply(&self, v: &[f64]) -> Result<Vec<f64>> {
        let Some(d) = &self.d else {
            let a = self.op.apply(v)?;
            return Ok(a.iter().zip(v).map(|(av, x)| av + self.shift * x).collect());
        };
        let dv: Vec<f64> = v.iter().zip(d).map(|(a, b)| a * b).collect();
        let a = self.op.apply(&dv)?;
        Ok(a.iter()
            .zip(&dv)
            .zip(d)
            .map(|((av, x), d)| d * (av + self.shift * x))
            .collect())
    }
}

/// `P^-1/2` from the rule's second-moment buffers at its current step (`None` for SGD or
/// before the first step).
fn inverse_sqrt_preconditioner(
    spec: &OptimizerSpec,
    opt: &dyn Optimizer,
    dim: usize,
) -> Option<Vec<f64>> {
    let (name, beta2, eps) = spec.second_moment()?;
    let state = opt.state();
    let idx = state.buffer_names.iter().position(|b| b == name)?;
    let t = state.step;
    if t == 0 {
        return None;
    }
    let correction = beta2.map_or(1.0, |b2| 1.0 - b2.powf(t as f64));
    let mut d = Vec::with_capacity(dim);
    for bufs in &state.buffers {
        let v = bufs.get(idx)?;
        d.extend(
            v.iter()
                .map(|&v| 1.0 / ((f64::from(v) / correction).sqrt() + eps).sqrt()),
        );
    }
    (d.len() == dim).then_some(d)
}

/// One full-batch step on the leaves: gradients of the mean loss, the rule's update.
/// Returns the loss before the step.
fn step(obj: &dyn Objective, p: &[Tensor], opt: &mut dyn Optimizer) -> Result<f64> {
    for t in p {
        t.zero_grad();
    }
    let loss = full_loss(obj, p)?;
    let value = f64::from(loss.item()?);
    if !value.is_finite() {
        return Ok(value);
    }
    loss.backward()?;
    opt.step(p)?;
    Ok(value)
}

fn blown_up(loss: f64, start: f64) -> bool {
    !loss.is_finite() || loss.abs() > 1e6 * start.abs().max(1.0)
}

/// A training run from the diagnosed start, with the sharpness tracked.
struct Trace {
    losses: Vec<f64>,
    steps: Vec<u64>,
    sharpness: Vec<f64>,
    blew_up: bool,
    params: Vec<Tensor>,
    /// `P^-1/2` at the last measurement (adaptive rules).
    precond: Option<Vec<f64>>,
}

impl Trace {
    /// Largest sharpness over the second half of the run (NaN when none measured there).
    fn late_max(&self) -> f64 {
        let half = (self.losses.len() / 2) as u64;
        self.steps
            .iter()
            .zip(&self.sharpness)
            .filter(|(t, _)| **t >= half)
            .map(|(_, s)| *s)
            .fold(f64::NAN, f64::max)
    }
}

/// Runs `spec` from `start` for `steps` full-batch steps: the loss before each step and
/// after the last, and the sharpness of the curvature the rule feels every `every` steps
/// (Lanczos warm-started from the last top Ritz vector); stops early on a blow-up.
fn train(
    obj: &dyn Objective,
    start: &[Tensor],
    spec: &OptimizerSpec,
    steps: usize,
    every: usize,
    opts: &DiagnoseOptions,
) -> Result<Trace> {
    let p = leaves(start)?;
    let dim: usize = p.iter().map(Tensor::numel).sum();
    let mut opt = spec.build()?;
    let mut tr = Trace {
        losses: Vec::with_capacity(steps + 1),
        steps: Vec::new(),
        sharpness: Vec::new(),
        blew_up: false,
        params: Vec::new(),
        precond: None,
    };
    let mut warm: Option<Vec<f64>> = None;
    for t in 0..=steps {
        if t % every.max(1) == 0 || t == steps {
            // The diagonal to scale by: none for SGD; for Adam and RMSProp the rule's own
            // `P^-1/2`, which does not exist before its first step (then no measurement).
            let scale = if spec.is_adaptive() {
                inverse_sqrt_preconditioner(spec, opt.as_ref(), dim).map(Some)
            } else {
                Some(None)
            };
            if let Some(d) = scale {
                let at = HessianOperator::new(|q: &[Tensor]| full_loss(obj, q), &p);
                let op = Scaled {
                    op: &at,
                    d,
                    shift: spec.l2(),
                };
                let v0 = warm.take().unwrap_or_else(|| {
                    let mut rng = core_tensor::Rng::seed(opts.seed + 3);
                    (0..dim).map(|_| rng.next_normal()).collect()
                });
                let run = lanczos_from(&op, &v0, opts.tracking_steps.max(2))?;
                tr.steps.push(t as u64);
                tr.sharpness.push(run.top(1)[0]);
                warm = Some(run.top_vector);
                if op.d.is_some() {
                    tr.precond = op.d;
                }
            }
        }
        if t == steps {
            tr.losses.push(f64::from(full_loss(obj, &p)?.item()?));
            break;
        }
        let l = step(obj, &p, opt.as_mut())?;
        tr.losses.push(l);
        if blown_up(l, tr.losses[0]) {
            tr.blew_up = true;
            break;
        }
    }
    tr.params = p;
    Ok(tr)
}

/// The regime a run shows, over its second half (the early transient aside):
///
/// * **divergent** (beyond the limit) when its loss blew up, the history reader says
///   diverging, it ends above its start, or it
///   * *collapsed*: gave back more than half of what it had gained and ended within 10% of
///     its start (a network killed by a too-large step: its loss sits at the
///     no-information level and its sharpness near zero);
///   * is *damaged*: ended at 1.5x its best loss or more, having given back at least 10% of
///     what it had gained (steps that killed units leave the loss on a plateau above
///     its best, where the sharpness is low: measured for Adam at 1.6x its limit);
///   * *catapults*: over the second half the sharpness exceeded the limit and the loss
///     spiked to twice its best so far, by at least 10% of what it had gained (see
///     [`late_spike`]) — a run that holds itself at the edge rises by less;
/// * **edge** when the sharpness measured over the second half reached 90% of the limit, or
///   the loss oscillates with period 2 (a loss that merely rises now and then is no sign:
///   momentum overshoots below its limit too);
/// * else **stable**.
fn regime_of(tr: &Trace, history: &HistoryReport, limit: f64) -> Regime {
    classify(tr, history, limit).0
}

/// [`regime_of`] with the reason when the run is beyond the limit.
fn classify(tr: &Trace, history: &HistoryReport, limit: f64) -> (Regime, Option<Beyond>) {
    let (first, min, last) = (history.first, history.min, history.last);
    let gained = first - min;
    let late_max = tr.late_max();
    let beyond = if tr.blew_up {
        Some(Beyond::BlewUp)
    } else if history.trend == Trend::Diverging {
        Some(Beyond::Diverging)
    } else if last > first {
        Some(Beyond::EndsAboveStart)
    } else if last - min > 0.5 * gained && last > 0.9 * first && first > min {
        Some(Beyond::Collapsed)
    } else if gained > 0.0 && last >= 1.5 * min && last - min >= 0.1 * gained {
        Some(Beyond::Damaged)
    } else if late_max > limit && late_spike(&tr.losses).is_some() {
        Some(Beyond::Catapults)
    } else {
        None
    };
    let regime = if beyond.is_some() {
        Regime::Divergent
    } else if late_max >= 0.9 * limit || history.trend == Trend::Oscillating {
        Regime::Edge
    } else {
        Regime::Stable
    };
    (regime, beyond)
}

/// The largest spike of the loss over its best so far in the second half of `losses`, when
/// it reaches twice that best and at least 10% of what the run had gained by then (so that
/// rounding noise near a zero loss is no spike): `(loss / best, step)`.
fn late_spike(losses: &[f64]) -> Option<(f64, usize)> {
    let first = *losses.first()?;
    let mut best = f64::INFINITY;
    let mut worst: Option<(f64, usize)> = None;
    for (t, &l) in losses.iter().enumerate() {
        if t >= losses.len() / 2
            && best > 0.0
            && l >= 2.0 * best
            && l - best >= 0.1 * (first - best)
            && worst.is_none_or(|(r, _)| l / best > r)
        {
            worst = Some((l / best, t));
        }
        best = best.min(l);
    }
    worst
}

fn check_run(
    obj: &dyn Objective,
    start: &[Tensor],
    spec: &OptimizerSpec,
    opts: &DiagnoseOptions,
    steps: usize,
    label: &str,
    expect: Expect,
) -> Result<Check> {
    // Ten samples per run at least as far apart as the probe's (sampling the 2,000-step run
    // as densely as the probe doubled the diagnosis's time and changed no verdict measured).
    let tr = train(
        obj,
        start,
        spec,
        steps,
        (steps / 10).max(opts.probe_every),
        opts,
    )?;
    let history = analyse_history(&tr.losses);
    let observed = regime_of(&tr, &history, spec.sharpness_limit());
    let spiked = tr
        .losses
        .iter()
        .any(|l| !l.is_finite() || *l > tr.losses[0]);
    let peak = tr.sharpness.iter().copied().fold(f64::NAN, f64::max);
    let reached = peak >= 0.9 * spec.sharpness_limit();
    let pass = match expect {
        Expect::Stable => Some(
            observed != Regime::Divergent
                && history.trend != Trend::Oscillating
                && history.last < history.first,
        ),
        Expect::Unstable => Some(observed != Regime::Stable || spiked || reached),
        Expect::Regime(r) => Some(observed == r),
        Expect::Nothing => None,
    };
    Ok(Check {
        label: label.into(),
        lr: spec.lr(),
        expect,
        history,
        observed,
        spiked,
        pass,
        max_sharpness: tr.late_max(),
        peak_sharpness: peak,
        losses: tr.losses,
    })
}

fn noise_scale(obj: &dyn Objective, start: &[Tensor]) -> Result<Option<NoiseScale>> {
    let n = obj.batches();
    if n < 2 {
        return Ok(None);
    }
    let p = leaves(start)?;
    let mut grads = Vec::with_capacity(n);
    for i in 0..n {
        for t in &p {
            t.zero_grad();
        }
        obj.batch_loss(&p, i)?.backward()?;
        grads.push(
            p.iter()
                .flat_map(|t| {
                    t.grad()
                        .map_or_else(|| vec![0.0; t.numel()], |g| g.to_vec())
                })
                .map(f64::from)
                .collect::<Vec<f64>>(),
        );
    }
    let dim = grads[0].len();
    let mut mean = vec![0.0; dim];
    for g in &grads {
        mean.iter_mut().zip(g).for_each(|(m, x)| *m += x / n as f64);
    }
    let spread: f64 = grads
        .iter()
        .map(|g| {
            g.iter()
                .zip(&mean)
                .map(|(a, b)| (a - b).powi(2))
                .sum::<f64>()
        })
        .sum::<f64>()
        / (n - 1) as f64;
    let b = (0..n).map(|i| obj.batch_size(i)).sum::<usize>() as f64 / n as f64;
    let trace_cov = b * spread;
    let grad_norm_sq = dot(&mean, &mean) - spread / n as f64;
    Ok(Some(NoiseScale {
        b_simple: trace_cov / grad_norm_sq,
        batch_size: b,
        batches: n,
        trace_cov,
        grad_norm_sq,
    }))
}

fn range_test(
    obj: &dyn Objective,
    start: &[Tensor],
    spec: &OptimizerSpec,
    steps: usize,
) -> Result<RangeTest> {
    let (lo, hi) = (1e-6f64, 10.0f64);
    let p = leaves(start)?;
    let mut opt = spec.with_lr(lo).build()?;
    let (mut lrs, mut losses) = (Vec::new(), Vec::new());
    let mut best = (f64::INFINITY, lo);
    for k in 0..steps {
        let lr = lo * (hi / lo).powf(k as f64 / (steps - 1).max(1) as f64);
        opt.set_lr(lr as f32);
        let l = step(obj, &p, opt.as_mut())?;
        lrs.push(lr);
        losses.push(l);
        if l < best.0 {
            best = (l, lr);
        }
        if !l.is_finite() || l > 4.0 * best.0.max(1e-12) {
            break;
        }
    }
    Ok(RangeTest {
        lrs,
        losses,
        suggestion: best.1 / 10.0,
    })
}

/// Four significant digits.
fn sig(x: f64) -> String {
    if !x.is_finite() {
        return format!("{x}");
    }
    let a = x.abs();
    if a != 0.0 && !(1e-3..1e5).contains(&a) {
        return format!("{x:.3e}");
    }
    let digits = if a == 0.0 {
        0
    } else {
        (3 - a.log10().floor() as i32).max(0) as usize
    };
    format!("{x:.digits$}")
}

fn fmt_count(x: f64) -> String {
    if x >= 1e4 {
        format!("{x:.1e}")
    } else {
        format!("{x:.0}")
    }
}

/// Diagnoses `spec` on `obj` (see the module docs for every step).
///
/// # Errors
/// [`OptimError::Undetermined`] for an objective with no parameters or no batches, or a
/// loss that is not finite at the start; [`OptimError::InvalidParameter`] for invalid
/// options or hyper-parameters (a learning rate ≤ 0); the objective's errors.
pub fn diagnose(
    obj: &dyn Objective,
    spec: &OptimizerSpec,
    opts: &DiagnoseOptions,
) -> Result<Diagnosis> {
    spec.build()?; // validates the hyper-parameters (lr > 0, ...)
    check(
        opts.probe_every > 0,
        "diagnose",
        "probe_every",
        0.0,
        "must be > 0",
    )?;
    check(
        opts.safety > 0.0 && opts.safety < 1.0,
        "diagnose",
        "safety",
        opts.safety,
        "must be in (0, 1)",
    )?;
    check(
        opts.unstable_factor > 1.0,
        "diagnose",
        "unstable_factor",
        opts.unstable_factor,
        "must be > 1",
    )?;
    let start: Vec<Tensor> = obj.parameters().iter().map(Tensor::detach).collect();
    let dim: usize = start.iter().map(Tensor::numel).sum();
    if dim == 0 {
        return Err(OptimError::Undetermined(
            "the model has no parameters".into(),
        ));
    }
    if obj.batches() == 0 {
        return Err(OptimError::Undetermined("no batches to measure on".into()));
    }
    let initial_loss = f64::from(full_loss(obj, &start)?.item()?);
    if !initial_loss.is_finite() {
        return Err(OptimError::Undetermined(format!(
            "the loss at the start is {initial_loss}: no curvature can be measured there"
        )));
    }
    let examples = (0..obj.batches()).map(|i| obj.batch_size(i)).sum();
    let loss_fn = |p: &[Tensor]| full_loss(obj, p);
    let hess = HessianOperator::new(loss_fn, &start);
    let l2 = spec.l2();
    let raw = Scaled {
        op: &hess,
        d: None,
        shift: l2,
    };
    let curv = curvature(&raw, opts)?;
    let limit = spec.sharpness_limit();

    // The probe run.
    let mut tr = train(obj, &start, spec, opts.probe_steps, opts.probe_every, opts)?;
    let history = analyse_history(&tr.losses);
    let max_sharpness = tr
        .steps
        .iter()
        .zip(&tr.sharpness)
        .fold((f64::NAN, 0), |acc, (&t, &s)| {
            if acc.0.is_nan() || s > acc.0 {
                (s, t)
            } else {
                acc
            }
        });
    let (regime, beyond) = classify(&tr, &history, limit);

    // The preconditioned spectrum at the end of the probe (adaptive rules).
    let preconditioned = match (tr.precond.take(), tr.blew_up) {
        (Some(d), false) => {
            let at = HessianOperator::new(|q: &[Tensor]| full_loss(obj, q), &tr.params);
            let op = Scaled {
                op: &at,
                d: Some(d),
                shift: l2,
            };
            Some(curvature(&op, opts)?)
        }
        _ => None,
    };
    let probe = Probe {
        steps: tr.steps,
        sharpness: tr.sharpness,
        limit,
        losses: tr.losses,
        history,
        max_sharpness,
        regime,
        beyond,
    };
    // The sharpest point seen: the probe's, and for SGD also the start's (Lanczos).
    let s_ref = if spec.is_adaptive() {
        max_sharpness.0
    } else {
        max_sharpness.0.max(curv.top[0])
    };
    let lr_max = spec.lr_limit(s_ref);
    let suggested_lr = opts.safety * lr_max;
    // The top direction where the run was sharpest (what limits the rate); the bottom from
    // the spectrum (at the start, or after the probe for adaptive rules).
    let seen = preconditioned.as_ref().unwrap_or(&curv);
    let top_lambda = if s_ref.is_finite() {
        s_ref
    } else {
        seen.top[0]
    };
    let directions = (
        Direction::of(spec, top_lambda),
        Direction::of(spec, seen.bottom),
    );
    let lr_ratio = spec.lr() / lr_max;
    let noise = noise_scale(obj, &start)?;
    let range = (opts.range_steps > 1)
        .then(|| range_test(obj, &start, spec, opts.range_steps))
        .transpose()?;

    let mut checks = Vec::new();
    if opts.check_steps > 0 && suggested_lr.is_finite() {
        checks.push(check_run(
            obj,
            &start,
            &spec.with_lr(suggested_lr),
            opts,
            opts.check_steps,
            "suggested lr",
            Expect::Stable,
        )?);
        let unstable = if spec.is_adaptive() {
            opts.unstable_factor * lr_max
        } else {
            opts.unstable_factor * spec.lr_limit(curv.top[0])
        };
        checks.push(check_run(
            obj,
            &start,
            &spec.with_lr(unstable),
            opts,
            opts.check_steps,
            &format!("{}x the limit", opts.unstable_factor),
            Expect::Unstable,
        )?);
        checks.push(check_run(
            obj,
            &start,
            spec,
            opts,
            opts.long_steps.max(opts.check_steps),
            "your lr, run longer",
            Expect::Regime(regime),
        )?);
        if let Some(r) = &range {
            checks.push(check_run(
                obj,
                &start,
                &spec.with_lr(r.suggestion),
                opts,
                opts.check_steps,
                "range test's suggestion",
                Expect::Nothing,
            )?);
        }
    }

    let mut d = Diagnosis {
        spec: *spec,
        params: dim,
        examples,
        batches: obj.batches(),
        seed: opts.seed,
        initial_loss,
        curvature: curv,
        preconditioned,
        limit,
        directions,
        probe,
        noise,
        suggested_lr,
        lr_limit: lr_max,
        lr_ratio,
        range_test: range,
        checks,
        verdict: Vec::new(),
    };
    d.verdict = verdict(&d, opts);
    Ok(d)
}

fn verdict(d: &Diagnosis, opts: &DiagnoseOptions) -> Vec<String> {
    let mut v = Vec::new();
    let spec = &d.spec;
    let c = &d.curvature;
    let what = if spec.is_adaptive() {
        "preconditioned sharpness (top eigenvalue of P^-1/2 H P^-1/2, P = diag(sqrt(v_hat)+eps))"
    } else {
        "sharpness (top Hessian eigenvalue)"
    };
    v.push(format!(
        "{} on {} parameters, {} examples in {} fixed batches (seed {}); loss at start {:.4}.",
        spec.describe(),
        d.params,
        d.examples,
        d.batches,
        d.seed,
        d.initial_loss
    ));
    v.push(format!(
        "Hessian at the start: lambda_max {:.4} (Lanczos, {} steps, residual {:.1e}{}), lambda_min {:.4}{}, trace {:.4} +- {:.2}.",
        c.top[0],
        c.lanczos_steps,
        c.top_residuals[0],
        if c.converged { "" } else { ", NOT converged: the value is a lower bound" },
        c.bottom,
        if c.bottom < -c.bottom_residual {
            format!(
                " (negative: a saddle region; {:.0}% of the SLQ density below zero)",
                100.0 * c.negative_mass
            )
        } else {
            String::new()
        },
        c.trace.0,
        c.trace.1
    ));
    let (s, at) = d.probe.max_sharpness;
    if let (Some(&s0), Some(&sl)) = (d.probe.sharpness.first(), d.probe.sharpness.last()) {
        let peak = d.probe.losses.iter().copied().fold(f64::NAN, f64::max);
        if s0 > d.probe.limit && sl < d.probe.limit && d.probe.regime != Regime::Divergent {
            v.push(format!(
                "the probe started beyond the limit (sharpness {s0:.4}, {:.0}% of it) and catapulted: the loss rose to {peak:.4}, then the sharpness fell to {sl:.4} ({:.0}% of the limit) and training went on (Lewkowycz et al. 2020).",
                100.0 * s0 / d.probe.limit,
                100.0 * sl / d.probe.limit
            ));
        }
    }
    if let (Some(Beyond::Catapults), Some((ratio, at))) =
        (d.probe.beyond, late_spike(&d.probe.losses))
    {
        v.push(format!(
            "the probe catapults: at step {at} its loss spiked to {ratio:.2}x its best so far; a run beyond its limit that survives by catapults can lose ground it had won with each one."
        ));
    }
    if s.is_finite() {
        v.push(format!(
            "{what}: {s:.4} at step {at} of a {}-step probe (stability limit {:.4} at lr {}: {:.0}% of it); over its second half the run is {}.",
            d.probe.losses.len().saturating_sub(1),
            d.probe.limit,
            sig(spec.lr()),
            100.0 * s / d.probe.limit,
            d.probe.regime.phrase()
        ));
    } else {
        v.push(format!(
            "the probe blew up before the {what} could be measured: {}.",
            d.probe.regime.phrase()
        ));
    }
    v.push(format!(
        "your lr is {:.2}x the largest stable one ({}); the probe's loss is {}.",
        d.lr_ratio,
        sig(d.lr_limit),
        d.probe.history.summary()
    ));
    let (top, bottom) = &d.directions;
    v.push(format!(
        "top direction at the sharpest point (lambda {:.4}): {}; bottom (lambda {:.4}): {}.",
        top.lambda,
        top.phrase(),
        bottom.lambda,
        bottom.phrase()
    ));
    if c.kappa_eff.is_finite() {
        let mut line = format!(
            "kappa_eff = lambda_1/lambda_{} = {}: GD needs ~kappa steps per e-fold of the slow directions, momentum ~sqrt(kappa) = {}",
            c.kappa_k,
            sig(c.kappa_eff),
            sig(c.kappa_eff.sqrt())
        );
        if let Some(p) = &d.preconditioned {
            line.push_str(&format!(
                "; measured after the probe, the diagonal preconditioner gives kappa_eff = {} ({})",
                sig(p.kappa_eff),
                if p.kappa_eff < c.kappa_eff {
                    "it helps: the curvature is partly axis-aligned"
                } else {
                    "it does not help: the curvature is not axis-aligned"
                }
            ));
        }
        v.push(line + ".");
    }
    if let Some(n) = &d.noise {
        let word = if n.b_simple <= 0.0 || !n.b_simple.is_finite() {
            "not resolved from these batches (the noise swamps the mean gradient)".to_string()
        } else if n.batch_size < n.b_simple / 10.0 {
            "your batch is far below it: gradient noise dominates, larger batches would speed up almost linearly".into()
        } else if n.batch_size > 10.0 * n.b_simple {
            "your batch is far above it: larger batches buy little".into()
        } else {
            "your batch is near it".into()
        };
        v.push(format!(
            "gradient noise scale B_simple = tr(Sigma)/|G|^2 = {} from {} batches of {:.0}: {word}.",
            sig(n.b_simple),
            n.batches,
            n.batch_size
        ));
    }
    v.push(format!(
        "Suggested: lr <= {} ({}x the limit at the sharpest point of the probe){}.",
        sig(d.suggested_lr),
        opts.safety,
        d.range_test
            .as_ref()
            .map(|r| format!("; the range test suggests {}", sig(r.suggestion)))
            .unwrap_or_default()
    ));
    for ch in &d.checks {
        let mark = match ch.pass {
            Some(true) => "PASS",
            Some(false) => "FAIL (the verdict is contradicted by its own run)",
            None => "for comparison",
        };
        let expect = match ch.expect {
            Expect::Stable => "expected stable".to_string(),
            Expect::Unstable => "expected to run into the limit".to_string(),
            Expect::Regime(r) => format!("expected {}", r.phrase()),
            Expect::Nothing => "no prediction".to_string(),
        };
        v.push(format!(
            "check: {} {} for {} steps, {expect}: observed {}; loss {:.4} -> {:.4}{} — {mark}.",
            ch.label,
            sig(ch.lr),
            ch.losses.len().saturating_sub(1),
            ch.observed.phrase(),
            ch.history.first,
            ch.history.last,
            if ch.spiked {
                ", rose above its start"
            } else {
                ""
            },
        ));
    }
    v
}

#[cfg(test)]
mod tests;
