//! The `diagnose` study: a diagnosis of one (model, optimizer, learning rate), its verdict
//! and its checks by running, as claims `lab` can test.
//!
//! Two problems: the Fashion-MNIST MLP of the classifier study (784-256-128-10, PyTorch's
//! initialisation, seeded) on a fixed set of training examples, and a quadratic
//! `1/2 x^T A x` with a known spectrum (`mu = top / kappa` to `top`, rotated), where the
//! sharpness, the limits and the regimes have analytic values to check against.

use std::time::Instant;

use core_tensor::Rng;
use lab::report::{header, Line, LinePlot, Plot, Section, TableData};
use lab::study::{Progress, Record, Run, Study};
use optim::diagnose::{
    DiagnoseOptions, Diagnosis, Expect, OptimizerSpec, QuadraticObjective, Regime,
};
use optim::problems::{Quadratic, Spectrum};
use optim::{Adam, Method, RmsProp, Sgd};
use serde::{Deserialize, Serialize};

use crate::data::{find_dataset, load_mnist_like, Split};
use crate::loss::cross_entropy;
use crate::study::{build_model, InitKind, ModelKind};

/// What is diagnosed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Problem {
    /// The classifier study's 784-256-128-10 MLP on Fashion-MNIST training examples.
    FashionMlp,
    /// `1/2 x^T A x` with eigenvalues uniform from `top / kappa` to `top`, rotated.
    Quadratic,
}
lab::choice!(Problem);

lab::params! {
    /// One diagnosis (mirrors the experiment's `[params]`).
    #[derive(Debug, Clone, PartialEq, Serialize)]
    pub struct DiagnoseConfig as "diagnose" {
        /// What to diagnose.
        pub problem: Problem = Problem::FashionMlp,
        /// The optimizer (sgd, heavy-ball, nesterov, adam, adamw, rmsprop).
        pub optimizer: Method,
        /// Learning rate.
        pub lr: f64; bounds(gt = 0, max = 1e3),
        /// Momentum of heavy ball and Nesterov.
        pub momentum: f64 = 0.9; bounds(min = 0, lt = 1),
        /// Fashion-MNIST training examples in the fixed set.
        pub examples: usize = 512; bounds(min = 2, max = 60_000),
        /// Batches the fixed set is split into (the noise scale needs 2 or more).
        pub batches: usize = 4; bounds(min = 1, max = 1024),
        /// Quadratic: dimension.
        pub dim: usize = 16; bounds(min = 2, max = 4096),
        /// Quadratic: condition number.
        pub kappa: f64 = 100.0; bounds(min = 1, max = 1e8),
        /// Quadratic: the largest eigenvalue.
        pub top: f64 = 50.0; bounds(gt = 0, max = 1e8),
        /// Steps of the probe run.
        pub probe_steps: usize = 200; bounds(min = 1, max = 1_000_000),
        /// Sharpness measured every this many probe steps.
        pub probe_every: usize = 20; bounds(min = 1, max = 1_000_000),
        /// Steps of the checks at the suggested and the predicted-unstable rate (0: none).
        pub check_steps: usize = 200; bounds(max = 1_000_000),
        /// Steps of the check at the user's own rate.
        pub long_steps: usize = 2000; bounds(max = 10_000_000),
        /// Lanczos steps.
        pub lanczos_steps: usize = 30; bounds(min = 2, max = 10_000),
        /// Eigenvalues reported; kappa_eff = lambda_1 / lambda_k with this k.
        pub top_k: usize = 5; bounds(min = 1, max = 100),
    }
}

impl DiagnoseConfig {
    /// The optimizer as optim's diagnosis takes it.
    ///
    /// # Errors
    /// AdaGrad, whose ever-growing preconditioner has no fixed stability limit.
    pub fn spec(&self) -> Result<OptimizerSpec, String> {
        let lr = self.lr as f32;
        let mu = self.momentum as f32;
        Ok(match self.optimizer {
            Method::Sgd => OptimizerSpec::Sgd(Sgd::new(lr)),
            Method::HeavyBall => OptimizerSpec::Sgd(Sgd::new(lr).momentum(mu)),
            Method::Nesterov => OptimizerSpec::Sgd(Sgd::new(lr).nesterov(mu)),
            Method::Adam => OptimizerSpec::Adam(Adam::new(lr)),
            Method::AdamW => OptimizerSpec::Adam(Adam::adamw(lr)),
            Method::RmsProp => OptimizerSpec::RmsProp(RmsProp::new(lr)),
            Method::AdaGrad => {
                return Err(
                    "adagrad: its preconditioner only grows, so it has no fixed stability limit to diagnose against; use adam, rmsprop or the sgd family".into(),
                )
            }
        })
    }

    fn options(&self, seed: u64) -> DiagnoseOptions {
        DiagnoseOptions {
            lanczos_steps: self.lanczos_steps,
            top_k: self.top_k,
            probe_steps: self.probe_steps,
            probe_every: self.probe_every,
            check_steps: self.check_steps,
            long_steps: self.long_steps,
            seed,
            ..DiagnoseOptions::default()
        }
    }
}

/// One diagnosis and what it was checked against.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DiagnoseRun {
    /// The diagnosis.
    pub diagnosis: Diagnosis,
    /// Quadratic: the exact top and bottom eigenvalues.
    pub analytic: Option<(f64, f64)>,
    /// Seconds for the whole diagnosis, checks included.
    pub seconds: f64,
}

/// Runs one diagnosis.
///
/// # Errors
/// AdaGrad; Fashion-MNIST missing (the message says where it was looked for); the
/// diagnosis's own errors.
pub fn run_diagnose(cfg: &DiagnoseConfig, seed: u64) -> Result<DiagnoseRun, lab::study::RunError> {
    let spec = cfg.spec()?;
    let opts = cfg.options(seed);
    let t0 = Instant::now();
    let (diagnosis, analytic) = match cfg.problem {
        Problem::Quadratic => {
            let q = Quadratic::new(
                cfg.dim,
                cfg.kappa,
                cfg.top / cfg.kappa,
                Spectrum::Uniform,
                true,
                seed,
            )?;
            let x0 = Rng::with_stream(seed, 11).normal(&[cfg.dim, 1], 0.0, 1.0);
            let obj = QuadraticObjective {
                problem: q,
                start: x0,
            };
            let d = optim::diagnose::diagnose(&obj, &spec, &opts)?;
            (d, Some((cfg.top, cfg.top / cfg.kappa)))
        }
        Problem::FashionMlp => {
            let dir = find_dataset("fashion-mnist")?;
            let train = load_mnist_like(&dir, Split::Train)?;
            let n = cfg.examples.min(train.len());
            let per = n.div_ceil(cfg.batches);
            let mut xs = Vec::new();
            let mut ys = Vec::new();
            for start in (0..n).step_by(per.max(1)) {
                let idx: Vec<usize> = (start..(start + per).min(n)).collect();
                let (x, y) = train.batch(&idx)?;
                xs.push(x);
                ys.push(y);
            }
            let mut rng = Rng::with_stream(seed, 7);
            let net = build_model(ModelKind::Mlp, InitKind::Default, &mut rng)?;
            let d = super::diagnose(&net, &xs, |out, i| cross_entropy(out, &ys[i]), &spec, &opts)?;
            (d, None)
        }
    };
    Ok(DiagnoseRun {
        diagnosis,
        analytic,
        seconds: t0.elapsed().as_secs_f64(),
    })
}

fn regime_code(r: Regime) -> f64 {
    match r {
        Regime::Stable => 0.0,
        Regime::Edge => 1.0,
        Regime::Divergent => 2.0,
    }
}

/// The `diagnose` study.
pub struct DiagnoseStudy;

impl Study for DiagnoseStudy {
    type Config = DiagnoseConfig;
    type Output = DiagnoseRun;
    const KIND: &'static str = "diagnose";
    const DESCRIPTION: &'static str =
        "is this learning rate reasonable? the curvature, the optimizer's stability limit, a probe run, a verdict and its checks by running";
    const METRICS: &'static [&'static str] = &[
        "sharpness_start",
        "lambda_min",
        "kappa_eff",
        "converged",
        "limit",
        "max_sharpness",
        "sharpness_ratio",
        "lr_ratio",
        "suggested_lr",
        "range_test_lr",
        "regime",
        "long_run_regime",
        "verdict_confirmed",
        "suggested_stable",
        "unstable_confirmed",
        "checks_failed",
        "b_simple",
        "analytic_sharpness",
        "analytic_lambda_min",
        "analytic_lr_limit",
        "lr_limit",
        "seconds",
    ];

    fn run(
        &self,
        cfg: &DiagnoseConfig,
        seed: u64,
        _progress: &mut Progress<'_>,
    ) -> Result<DiagnoseRun, lab::study::RunError> {
        run_diagnose(cfg, seed)
    }

    fn record(&self, cfg: &DiagnoseConfig, r: &DiagnoseRun) -> Record {
        let d = &r.diagnosis;
        let check = |want: fn(&Expect) -> bool| {
            d.checks
                .iter()
                .find(|c| want(&c.expect))
                .and_then(|c| c.pass)
        };
        let long = d
            .checks
            .iter()
            .find(|c| matches!(c.expect, Expect::Regime(_)));
        let spec = cfg.spec().ok();
        Record::new()
            .metric("sharpness_start", d.curvature.top[0])
            .metric("lambda_min", d.curvature.bottom)
            .metric("kappa_eff", d.curvature.kappa_eff)
            .flag("converged", Some(d.curvature.converged))
            .metric("limit", d.limit)
            .metric("max_sharpness", d.probe.max_sharpness.0)
            .metric("sharpness_ratio", d.probe.max_sharpness.0 / d.limit)
            .metric("lr_ratio", d.lr_ratio)
            .metric("suggested_lr", d.suggested_lr)
            .maybe("range_test_lr", d.range_test.as_ref().map(|t| t.suggestion))
            .metric("regime", regime_code(d.probe.regime))
            .maybe("long_run_regime", long.map(|c| regime_code(c.observed)))
            .flag(
                "verdict_confirmed",
                check(|e| matches!(e, Expect::Regime(_))),
            )
            .flag("suggested_stable", check(|e| *e == Expect::Stable))
            .flag("unstable_confirmed", check(|e| *e == Expect::Unstable))
            .metric(
                "checks_failed",
                d.checks.iter().filter(|c| c.pass == Some(false)).count() as f64,
            )
            .maybe("b_simple", d.noise.map(|n| n.b_simple))
            .maybe("analytic_sharpness", r.analytic.map(|a| a.0))
            .maybe("analytic_lambda_min", r.analytic.map(|a| a.1))
            .maybe(
                "analytic_lr_limit",
                r.analytic
                    .and_then(|a| spec.map(|s| s.lr_limit(a.0 + s.l2()))),
            )
            .metric("lr_limit", d.lr_limit)
            .metric("seconds", r.seconds)
    }

    fn report(&self, runs: &[Run<Self>]) -> Vec<Section> {
        let mut sections = Vec::new();
        for run in runs {
            let Some(r) = &run.output else { continue };
            let d = &r.diagnosis;
            let label = format!("{}: {}", run.param("problem"), d.spec.describe());
            let sharp: Vec<(f64, f64)> = d
                .probe
                .steps
                .iter()
                .zip(&d.probe.sharpness)
                .map(|(&t, &s)| (t as f64, s))
                .collect();
            let n = d.probe.losses.len() as f64;
            let sharp_plot = Plot::Lines(LinePlot {
                title: format!("{label}: sharpness along the probe"),
                x_label: "step".into(),
                y_label: if d.spec.is_adaptive() {
                    "preconditioned sharpness".into()
                } else {
                    "sharpness (top Hessian eigenvalue)".into()
                },
                lines: vec![
                    Line::new("measured", sharp, 0).markers(),
                    Line::new("stability limit", vec![(0.0, d.limit), (n, d.limit)], 3).dashed(),
                ],
                ..LinePlot::default()
            });
            let mut loss_lines = vec![Line::new(
                "probe (your lr)",
                d.probe
                    .losses
                    .iter()
                    .enumerate()
                    .map(|(t, &l)| (t as f64 + 1.0, l))
                    .collect(),
                0,
            )];
            for (i, c) in d.checks.iter().enumerate() {
                loss_lines.push(Line::new(
                    format!("{} ({:.3e})", c.label, c.lr),
                    c.losses
                        .iter()
                        .enumerate()
                        .filter(|(_, l)| l.is_finite())
                        .map(|(t, &l)| (t as f64 + 1.0, l))
                        .collect(),
                    i + 1,
                ));
            }
            let loss_plot = Plot::Lines(LinePlot {
                title: format!("{label}: loss of the probe and the checks"),
                x_label: "step".into(),
                y_label: "loss on the fixed set".into(),
                log_x: true,
                log_y: true,
                lines: loss_lines,
            });
            let rows = d
                .checks
                .iter()
                .map(|c| {
                    vec![
                        c.label.clone(),
                        format!("{:.4e}", c.lr),
                        format!("{:?}", c.expect),
                        c.observed.phrase().to_string(),
                        c.history.summary(),
                        match c.pass {
                            Some(true) => "PASS".into(),
                            Some(false) => "FAIL".into(),
                            None => "-".into(),
                        },
                    ]
                })
                .collect();
            let spectrum = spectrum_plot(&label, d);
            sections.push(Section {
                title: label,
                text: d.verdict_text(),
                table: Some(TableData {
                    header: header(&["check", "lr", "expected", "observed", "loss", "result"]),
                    rows,
                }),
                plots: vec![spectrum, sharp_plot, loss_plot],
            });
        }
        sections
    }
}

/// The Hessian's eigenvalue density at the start (stochastic Lanczos quadrature), with the
/// top Ritz values as markers: the spectrum the verdict's numbers come from.
fn spectrum_plot(label: &str, d: &Diagnosis) -> Plot {
    let c = &d.curvature;
    let peak = c.density.iter().map(|p| p.1).fold(0.0, f64::max);
    let floor = 1e-6 * peak.max(1e-300);
    let mut lines = vec![Line::new(
        "SLQ density",
        c.density.iter().map(|&(x, y)| (x, y.max(floor))).collect(),
        0,
    )];
    let marks: Vec<(f64, f64)> = c
        .top
        .iter()
        .chain(std::iter::once(&c.bottom))
        .map(|&x| (x, peak.max(floor)))
        .collect();
    lines.push(Line::new("Lanczos extremes (top k, bottom)", marks, 3).markers());
    Plot::Lines(LinePlot {
        title: format!("{label}: Hessian spectrum at the start"),
        x_label: "eigenvalue".into(),
        y_label: "density".into(),
        log_y: true,
        lines,
        ..LinePlot::default()
    })
}
