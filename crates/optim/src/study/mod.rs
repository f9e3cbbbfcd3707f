//! The ill-conditioning study: one optimizer on one quadratic, measured against theory.
//!
//! A run minimises `f(x) = 1/2 x^T A x` (minimiser `x* = 0`, so the error is `x` itself) from
//! a seeded Gaussian start and records, per iteration, the relative suboptimality
//! `f(x_k) / f(x_0)`, the relative error `|x_k| / |x_0|` and the gradient norm. From those it
//! measures what theory predicts:
//!
//! * **iterations to tolerance** — the first `k` with `f(x_k) / f(x_0) <= tol`;
//! * **linear rate** — `rho = exp(slope)` of a least-squares line through `ln(|x_k| / |x_0|)`
//!   over the tail of the run: from the first iterate below `1e-2` to the end (the transient
//!   is left out); compared with the spectral radius predicted by [`crate::theory`] for the
//!   method's hyper-parameters over the problem's eigenvalues;
//! * **overshoot** — along the top and bottom eigenvectors, whether the error component
//!   changes sign while it is still above `1e-4` of its largest value (below that, f32
//!   rounding can flip signs), next to the prediction from the roots of the direction's
//!   characteristic polynomial;
//! * **divergence** — a non-finite loss, or a suboptimality above `1e6`, stops the run and
//!   records the iteration.
//!
//! Hyper-parameters default to theory's choices for the problem: GD `eta = 2/(L+mu)`, heavy
//! ball Polyak's optimum, Nesterov `(1/L, (sqrt kappa - 1)/(sqrt kappa + 1))`; `lr_rule`
//! selects other theory-derived steps and `lr_scale` multiplies them (`lr_scale = 1.05` with
//! `lr_rule = "stability-limit"` is 5% beyond GD's limit `2/L`). Adam uses `lr` (default 0.01)
//! and PyTorch's betas.

use core_tensor::{Rng, Tensor};
use serde::{Deserialize, Serialize};

use lab::params::Params;

use crate::error::Result;
use crate::hessian::{lanczos, slq_density, HessianOperator, SpectralDensity};
use crate::method::Method;
use crate::problems::{Quadratic, Spectrum};
use crate::theory::{self, Approach};

mod report;
pub use report::QuadraticStudy;

/// Which theory-derived step a momentum-free or momentum method uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum LrRule {
    /// The method's optimal tuning for `[mu, L]`.
    Optimal,
    /// GD's stability limit `2/L` (times `lr_scale`).
    StabilityLimit,
    /// `1/L` (with theory's momentum unless `momentum` is given).
    InverseL,
}

lab::choice!(LrRule);

lab::params! {
    /// One run of the study: the problem, the method and how long to run.
    #[derive(Debug, Clone, PartialEq, Serialize)]
    pub struct QuadraticRunConfig as "quadratic study" {
        /// Dimension of x.
        pub dim: usize; bounds(min = 2, max = 4096),
        /// Condition number kappa = L / mu, with mu = 1.
        pub kappa: f64; bounds(min = 1, max = 1e12),
        /// How the eigenvalues fill [1, kappa] (both ends are always eigenvalues).
        pub spectrum: Spectrum = Spectrum::Uniform,
        /// Rotate the eigenbasis by a random orthogonal matrix instead of the axes.
        pub rotated: bool = false,
        /// The optimizer.
        pub method: Method,
        /// Theory's step: the method's tuned optimum, GD's stability limit 2/L, or 1/L
        /// (ignored by adaptive methods and when `lr` is given).
        pub lr_rule: LrRule = LrRule::Optimal,
        /// Multiplier on the theory step.
        pub lr_scale: f64 = 1.0; bounds(gt = 0, max = 1e6),
        /// Explicit learning rate (adaptive methods default to 0.01).
        pub lr: Option<f64> = None; bounds(gt = 0),
        /// Explicit momentum for heavy ball and Nesterov (theory's otherwise).
        pub momentum: Option<f64> = None; bounds(min = 0, lt = 1),
        /// Suboptimality target f/f0 for iterations_to_tol.
        pub tol: f64 = 1e-6; bounds(gt = 0, lt = 1),
        /// Stop once |x|/|x0| falls below this (deep enough into the tail for the rate fit,
        /// whose window starts at 1e-2).
        pub stop_error: f64 = 1e-10; bounds(gt = 0, lt = 1e-2),
        /// Iteration budget.
        pub max_iters: u64 = 200_000; bounds(min = 1, max = 100_000_000),
        /// Refuse a step outside the stable range before running.
        pub require_stable: bool = false,
    }
}

impl QuadraticRunConfig {
    /// A config with the defaults for everything but the problem and method.
    pub fn new(dim: usize, kappa: f64, rotated: bool, method: Method) -> Self {
        QuadraticRunConfig {
            dim,
            kappa,
            spectrum: Spectrum::Uniform,
            rotated,
            method,
            lr_rule: LrRule::Optimal,
            lr_scale: 1.0,
            lr: None,
            momentum: None,
            tol: 1e-6,
            stop_error: 1e-10,
            max_iters: 200_000,
            require_stable: false,
        }
    }

    /// Checks every value's range and, with `require_stable`, that the step is stable.
    ///
    /// # Errors
    /// [`OptimError::InvalidParameter`](crate::OptimError::InvalidParameter) naming the field.
    pub fn validate(&self) -> Result<()> {
        self.check()?;
        if self.require_stable && !self.is_stable() {
            let (lr, beta) = self.hyper_parameters();
            let field = if self.lr.is_some() { "lr" } else { "lr_scale" };
            let reason = format!(
                "learning rate {lr:.6} (momentum {beta}) is outside the stable range for \
                 kappa = {} (GD needs lr < 2/L = {:.6}) and require_stable = true",
                self.kappa,
                theory::gd_stability_limit(self.kappa)
            );
            crate::error::check(false, "quadratic study", field, lr, reason)?;
        }
        Ok(())
    }

    /// The `(lr, momentum)` the run will use, from theory unless given explicitly.
    pub fn hyper_parameters(&self) -> (f64, f64) {
        let (mu, l) = (1.0, self.kappa);
        let (theory_lr, theory_beta) = match (self.method, self.lr_rule) {
            (Method::Adam | Method::AdamW | Method::RmsProp | Method::AdaGrad, _) => (0.01, 0.0),
            (Method::Sgd, LrRule::Optimal) => (theory::gd_optimal_step(mu, l), 0.0),
            (Method::HeavyBall, LrRule::Optimal) => theory::heavy_ball_optimal(mu, l),
            (Method::Nesterov, LrRule::Optimal) | (Method::Nesterov, LrRule::InverseL) => {
                theory::nesterov_params(mu, l)
            }
            (Method::HeavyBall, LrRule::InverseL) => (1.0 / l, theory::heavy_ball_optimal(mu, l).1),
            (Method::Sgd, LrRule::InverseL) => (1.0 / l, 0.0),
            (_, LrRule::StabilityLimit) => (
                theory::gd_stability_limit(l),
                theory::heavy_ball_optimal(mu, l).1,
            ),
        };
        let scale = if self.method.is_adaptive() {
            1.0
        } else {
            self.lr_scale
        };
        let lr = self.lr.unwrap_or(theory_lr * scale);
        let beta = if self.method.uses_momentum() {
            self.momentum.unwrap_or(theory_beta)
        } else {
            0.0
        };
        (lr, beta)
    }

    /// Whether the chosen step is inside GD's stability limit `eta < 2/L` (for a
    /// `require_stable` check before running). Momentum methods are stable while every
    /// direction's spectral radius is below 1.
    pub fn is_stable(&self) -> bool {
        let (lr, beta) = self.hyper_parameters();
        match self.method {
            m if m.is_adaptive() => true,
            Method::Sgd => lr < theory::gd_stability_limit(self.kappa),
            m => {
                let nesterov = m == Method::Nesterov;
                theory::rate_over_spectrum(lr, beta, &[1.0, self.kappa], nesterov) < 1.0
            }
        }
    }
}

/// One recorded iteration.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct CurvePoint {
    /// Iteration (0 = start).
    pub iter: u64,
    /// `f(x_k) / f(x_0)`.
    pub rel_subopt: f64,
    /// `|x_k - x*| / |x_0 - x*|`.
    pub rel_error: f64,
    /// `|grad f(x_k)|`.
    pub grad_norm: f64,
}

/// What a run measured, and what theory predicted for it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct QuadraticRun {
    /// The learning rate used.
    pub lr: f64,
    /// The momentum used (0 for GD and Adam).
    pub momentum: f64,
    /// The curve, thinned to at most about 2,000 points (every iteration early, then
    /// geometrically spaced).
    pub curve: Vec<CurvePoint>,
    /// Iterations taken.
    pub iterations: u64,
    /// First iteration with `f/f0 <= tol`, if reached.
    pub iterations_to_tol: Option<u64>,
    /// Final `f/f0`.
    pub final_rel_subopt: f64,
    /// Measured linear rate of `|x_k|` (see the module docs), if enough tail was recorded.
    pub measured_rate: Option<f64>,
    /// Theory's spectral radius over the eigenvalues (not for Adam).
    pub predicted_rate: Option<f64>,
    /// Theory's iteration count for `tol` from the predicted rate (suboptimality contracts by
    /// `rate^2`).
    pub predicted_iterations: Option<u64>,
    /// Theory's approach along the top eigenvector (not for Adam).
    pub predicted_top: Option<Approach>,
    /// Whether theory predicts an overshoot *visible* in the run along the top eigenvector
    /// ([`theory::DirectionPrediction::observable_overshoot`] with floor `1e-4`).
    pub predicted_top_overshoot: Option<bool>,
    /// Sign change observed along the top eigenvector.
    pub observed_top_overshoot: bool,
    /// Theory's approach along the bottom eigenvector.
    pub predicted_bottom: Option<Approach>,
    /// Whether a visible overshoot is predicted along the bottom eigenvector.
    pub predicted_bottom_overshoot: Option<bool>,
    /// Sign change observed along the bottom eigenvector.
    pub observed_bottom_overshoot: bool,
    /// The first 200 error components along the top eigenvector (for the overshoot plot).
    pub top_component: Vec<f64>,
    /// Iteration at which the run diverged, if it did.
    pub diverged_at: Option<u64>,
    /// Largest and smallest Hessian eigenvalue found by Lanczos through autodiff HVPs.
    pub hessian_extremes: (f64, f64),
    /// The Hessian's spectral density by stochastic Lanczos quadrature.
    pub spectral_density: SpectralDensity,
}

impl QuadraticRun {
    /// How far the measured rate is from theory's, in the exponent:
    /// `|ln(measured) / ln(predicted) - 1|` (the relative error in the number of iterations
    /// per decade). `None` without both rates or when the prediction is not a contraction.
    pub fn rate_log_error(&self) -> Option<f64> {
        match (self.measured_rate, self.predicted_rate) {
            (Some(a), Some(b)) if b > 0.0 && b < 1.0 && a > 0.0 => {
                Some((a.ln() / b.ln() - 1.0).abs())
            }
            _ => None,
        }
    }
}

fn predict(method: Method, lr: f64, beta: f64, lambda: f64) -> Option<theory::DirectionPrediction> {
    match method {
        m if m.is_adaptive() => None,
        Method::Nesterov => Some(theory::nesterov_direction(lr, beta, lambda)),
        _ => Some(theory::momentum_direction(lr, beta, lambda)),
    }
}

/// Components below this fraction of their peak are f32 noise for the overshoot test.
const OVERSHOOT_FLOOR: f64 = 1e-4;

/// Whether a component sequence changes sign while above [`OVERSHOOT_FLOOR`] of its peak.
fn overshoots(c: &[f64]) -> bool {
    let peak = c.iter().fold(0.0f64, |m, v| m.max(v.abs()));
    let floor = OVERSHOOT_FLOOR * peak;
    let mut last = 0.0f64;
    for &v in c {
        if v.abs() <= floor {
            continue;
        }
        if last != 0.0 && v.signum() != last.signum() {
            return true;
        }
        last = v;
    }
    false
}

/// Least-squares fit of `ln y_k = a + c ln(k + 1) + k ln(rho)` over the tail where
/// `y <= 1e-2`; returns `rho`. The `ln(k + 1)` term absorbs the polynomial factor `k rho^k`
/// that a double root (heavy ball's optimal tuning puts one at each end of the spectrum)
/// multiplies the geometric decay by; a plain line would read that factor as a slower rate.
fn tail_rate(errors: &[f64]) -> Option<f64> {
    let start = errors.iter().position(|&e| e <= 1e-2)?;
    let pts: Vec<(f64, f64)> = errors[start..]
        .iter()
        .enumerate()
        .filter(|(_, e)| **e > 0.0)
        .map(|(i, e)| ((start + i) as f64, e.ln()))
        .collect();
    if pts.len() < 10 {
        return None;
    }
    // Normal equations for the basis [1, ln(k+1), k], solved by Cramer's rule in f64.
    let basis = |k: f64| [1.0, (k + 1.0).ln(), k];
    let mut m = [[0.0f64; 3]; 3];
    let mut r = [0.0f64; 3];
    for &(k, y) in &pts {
        let b = basis(k);
        for i in 0..3 {
            r[i] += b[i] * y;
            for j in 0..3 {
                m[i][j] += b[i] * b[j];
            }
        }
    }
    let det3 = |a: [[f64; 3]; 3]| {
        a[0][0] * (a[1][1] * a[2][2] - a[1][2] * a[2][1])
            - a[0][1] * (a[1][0] * a[2][2] - a[1][2] * a[2][0])
            + a[0][2] * (a[1][0] * a[2][1] - a[1][1] * a[2][0])
    };
    let d = det3(m);
    if d.abs() < 1e-300 || !d.is_finite() {
        return tail_rate_linear(&pts);
    }
    let mut m2 = m;
    for i in 0..3 {
        m2[i][2] = r[i];
    }
    let slope = det3(m2) / d;
    slope.is_finite().then(|| slope.exp())
}

/// Least-squares slope of `ln y` against `k` (fallback when the 3-term fit is singular).
fn tail_rate_linear(pts: &[(f64, f64)]) -> Option<f64> {
    let n = pts.len() as f64;
    let (mx, my) = (
        pts.iter().map(|p| p.0).sum::<f64>() / n,
        pts.iter().map(|p| p.1).sum::<f64>() / n,
    );
    let sxy: f64 = pts.iter().map(|p| (p.0 - mx) * (p.1 - my)).sum();
    let sxx: f64 = pts.iter().map(|p| (p.0 - mx).powi(2)).sum();
    Some((sxy / sxx).exp())
}

/// Runs one configuration from seed `seed` (the rotation, the start and the Lanczos probes).
/// `progress(iter, rel_subopt)` is called about every 1% of the budget.
///
/// # Errors
/// Invalid configuration values; tensor errors (none expected for valid configs).
pub fn run_quadratic(
    cfg: &QuadraticRunConfig,
    seed: u64,
    progress: &mut dyn FnMut(u64, f64),
) -> Result<QuadraticRun> {
    cfg.validate()?;
    let q = Quadratic::new(cfg.dim, cfg.kappa, 1.0, cfg.spectrum, cfg.rotated, seed)?;
    let (lr, beta) = cfg.hyper_parameters();
    // With beta = 0 (kappa = 1) Nesterov is plain GD: `build` makes it so.
    let mut opt = cfg.method.build(lr as f32, beta as f32)?;
    let eig = q.eigenvalues();
    let predicted_rate = (!cfg.method.is_adaptive())
        .then(|| theory::rate_over_spectrum(lr, beta, eig, cfg.method == Method::Nesterov));
    let predicted_iterations = match predicted_rate {
        // A zero rate (GD at eta = 1/L on kappa = 1) converges in one step.
        Some(r) if r < 1e-12 => Some(1),
        Some(r) if r < 1.0 => Some(theory::iterations_to_tolerance(r, cfg.tol.sqrt())?),
        _ => None,
    };

    let hess = HessianOperator::new(
        |p: &[Tensor]| q.loss(&p[0]),
        &[Tensor::zeros(&[cfg.dim, 1])],
    );
    let lz = lanczos(&hess, cfg.dim.min(30), seed ^ 0x1a2c)?;
    let hessian_extremes = (lz.top(1)[0], lz.bottom(1)[0]);
    // The spectral density by stochastic Lanczos quadrature: 4 probes, a Gaussian kernel of
    // width kappa / 50 (at least 0.02), on 200 points.
    let density = slq_density(
        &hess,
        cfg.dim.min(20),
        4,
        (cfg.kappa / 50.0).max(0.02),
        200,
        seed,
    )?;

    let (top, bottom) = (q.eigenvector(cfg.dim - 1), q.eigenvector(0));
    let x = Rng::with_stream(seed, 1)
        .normal(&[cfg.dim, 1], 0.0, 1.0)
        .with_grad();
    let params = [x.clone()];
    let norm0 = x
        .to_vec()
        .iter()
        .map(|&v| (v as f64).powi(2))
        .sum::<f64>()
        .sqrt();
    let (mut errors, mut top_c, mut bottom_c) = (Vec::new(), Vec::new(), Vec::new());
    let mut curve = Vec::new();
    let (mut f0, mut iterations_to_tol, mut diverged_at) = (f64::NAN, None, None);
    let mut last;
    let report_every = (cfg.max_iters / 100).max(1);
    let mut next_record = 0u64;
    let mut k = 0u64;
    loop {
        let loss = q.loss(&x)?;
        let f = loss.item()? as f64;
        if k == 0 {
            f0 = f;
        }
        let rel = f / f0;
        let xv = x.to_vec();
        let err = xv.iter().map(|&v| (v as f64).powi(2)).sum::<f64>().sqrt() / norm0;
        let proj = |d: &[f64]| xv.iter().zip(d).map(|(&a, b)| a as f64 * b).sum::<f64>();
        errors.push(err);
        top_c.push(proj(&top));
        bottom_c.push(proj(&bottom));
        last = rel;
        if !rel.is_finite() || rel > 1e6 {
            diverged_at = Some(k);
            break;
        }
        if iterations_to_tol.is_none() && rel <= cfg.tol {
            iterations_to_tol = Some(k);
        }
        loss.backward()?;
        let gn = x
            .grad()
            .map(|g| {
                g.to_vec()
                    .iter()
                    .map(|&v| (v as f64).powi(2))
                    .sum::<f64>()
                    .sqrt()
            })
            .unwrap_or(0.0);
        if k == next_record {
            curve.push(CurvePoint {
                iter: k,
                rel_subopt: rel,
                rel_error: err,
                grad_norm: gn,
            });
            next_record = if k < 500 {
                k + 1
            } else {
                (k as f64 * 1.005).ceil() as u64
            };
        }
        if (err <= cfg.stop_error && iterations_to_tol.is_some()) || k >= cfg.max_iters {
            break;
        }
        if k.is_multiple_of(report_every) {
            progress(k, rel);
        }
        opt.step(&params)?;
        x.zero_grad();
        k += 1;
    }
    if curve.last().map(|p| p.iter) != Some(k) {
        curve.push(CurvePoint {
            iter: k,
            rel_subopt: last,
            rel_error: *errors.last().unwrap_or(&f64::NAN),
            grad_norm: f64::NAN,
        });
    }
    let (pt, pb) = (
        predict(cfg.method, lr, beta, q.l()),
        predict(cfg.method, lr, beta, q.mu()),
    );
    Ok(QuadraticRun {
        lr,
        momentum: beta,
        curve,
        iterations: k,
        iterations_to_tol,
        final_rel_subopt: last,
        measured_rate: if diverged_at.is_some() {
            None
        } else {
            tail_rate(&errors)
        },
        predicted_rate,
        predicted_iterations,
        predicted_top: pt.map(|p| p.approach),
        predicted_top_overshoot: pt.map(|p| p.observable_overshoot(OVERSHOOT_FLOOR)),
        observed_top_overshoot: overshoots(&top_c),
        predicted_bottom: pb.map(|p| p.approach),
        predicted_bottom_overshoot: pb.map(|p| p.observable_overshoot(OVERSHOOT_FLOOR)),
        observed_bottom_overshoot: overshoots(&bottom_c),
        top_component: top_c.iter().take(200).copied().collect(),
        diverged_at,
        hessian_extremes,
        spectral_density: density,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gd_rate_matches_theory_and_diverges_past_the_limit() {
        let cfg = QuadraticRunConfig::new(16, 100.0, true, Method::Sgd);
        let run = run_quadratic(&cfg, 0, &mut |_, _| {}).unwrap();
        let (m, p) = (run.measured_rate.unwrap(), run.predicted_rate.unwrap());
        assert!(
            (m.ln() / p.ln() - 1.0).abs() < 0.05,
            "measured {m} predicted {p}"
        );
        assert!(run.iterations_to_tol.is_some() && run.diverged_at.is_none());
        assert!(
            (run.hessian_extremes.0 - 100.0).abs() < 1e-3
                && (run.hessian_extremes.1 - 1.0).abs() < 1e-3
        );
        let bad = QuadraticRunConfig {
            lr_rule: LrRule::StabilityLimit,
            lr_scale: 1.05,
            ..cfg
        };
        assert!(!bad.is_stable());
        let run = run_quadratic(&bad, 0, &mut |_, _| {}).unwrap();
        assert!(run.diverged_at.is_some());
    }

    #[test]
    fn overshoot_detection() {
        assert!(overshoots(&[1.0, -0.5, 0.25]));
        assert!(!overshoots(&[1.0, 0.5, 0.25, 1e-6, -1e-6]));
    }
}
