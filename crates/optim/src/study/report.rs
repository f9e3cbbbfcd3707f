//! The `quadratic` study as `lab` runs it ([`QuadraticStudy`]): the runs of this module's
//! parent recorded as metrics and drawn with the theory's predictions next to the
//! measurements.

use std::collections::BTreeMap;

use super::{run_quadratic, QuadraticRun, QuadraticRunConfig};
use crate::theory;
use lab::report::{header, Heatmap, Line, LinePlot, Plot, Section, TableData};
use lab::study::{Progress, Record, Run, Study};

/// The ill-conditioning study.
pub struct QuadraticStudy;

const METHODS: &[&str] = &["gd", "heavy-ball", "nesterov", "adam"];

impl Study for QuadraticStudy {
    type Config = QuadraticRunConfig;
    type Output = QuadraticRun;
    const KIND: &'static str = "quadratic";
    const DESCRIPTION: &'static str =
        "GD, heavy ball, Nesterov and Adam on ill-conditioned quadratics, against theory";
    const METRICS: &'static [&'static str] = &[
        "iterations_to_tol",
        "reached_tol",
        "predicted_iterations",
        "measured_rate",
        "predicted_rate",
        "rate_log_error",
        "final_rel_subopt",
        "iterations",
        "lr",
        "momentum",
        "kappa",
        "diverged",
        "diverged_at",
        "top_overshoot_predicted",
        "top_overshoot_observed",
        "bottom_overshoot_predicted",
        "bottom_overshoot_observed",
        "overshoot_match",
        "hessian_lambda_max",
        "hessian_lambda_min",
        "hessian_kappa",
    ];

    fn check(&self, cfg: &QuadraticRunConfig) -> Result<(), lab::params::ParamError> {
        match cfg.validate() {
            Err(crate::OptimError::InvalidParameter(e)) => Err(e.into()),
            Err(other) => Err(lab::params::ParamError {
                field: None,
                message: other.to_string(),
            }),
            Ok(()) => Ok(()),
        }
    }

    fn run(
        &self,
        cfg: &QuadraticRunConfig,
        seed: u64,
        progress: &mut Progress<'_>,
    ) -> Result<QuadraticRun, lab::study::RunError> {
        let total = cfg.max_iters;
        run_quadratic(cfg, seed, &mut |step, loss| {
            progress.update(step, total, loss)
        })
        .map_err(Into::into)
    }

    fn record(&self, cfg: &QuadraticRunConfig, r: &QuadraticRun) -> Record {
        let count = |v: Option<u64>| v.map(|x| x as f64);
        let matched = match (r.predicted_top_overshoot, r.predicted_bottom_overshoot) {
            (Some(t), Some(b)) => {
                Some(t == r.observed_top_overshoot && b == r.observed_bottom_overshoot)
            }
            _ => None,
        };
        let (hmax, hmin) = r.hessian_extremes;
        Record::new()
            .maybe("iterations_to_tol", count(r.iterations_to_tol))
            .flag("reached_tol", Some(r.iterations_to_tol.is_some()))
            .maybe("predicted_iterations", count(r.predicted_iterations))
            .maybe("measured_rate", r.measured_rate)
            .maybe("predicted_rate", r.predicted_rate)
            .maybe("rate_log_error", r.rate_log_error())
            .metric("final_rel_subopt", r.final_rel_subopt)
            .metric("iterations", r.iterations as f64)
            .metric("lr", r.lr)
            .metric("momentum", r.momentum)
            .metric("kappa", cfg.kappa)
            .flag("diverged", Some(r.diverged_at.is_some()))
            .maybe("diverged_at", count(r.diverged_at))
            .flag("top_overshoot_predicted", r.predicted_top_overshoot)
            .flag("top_overshoot_observed", Some(r.observed_top_overshoot))
            .flag("bottom_overshoot_predicted", r.predicted_bottom_overshoot)
            .flag(
                "bottom_overshoot_observed",
                Some(r.observed_bottom_overshoot),
            )
            .flag("overshoot_match", matched)
            .metric("hessian_lambda_max", hmax)
            .metric("hessian_lambda_min", hmin)
            .metric("hessian_kappa", hmax / hmin)
            .series(
                &["iter", "rel_subopt", "rel_error", "grad_norm"],
                r.curve
                    .iter()
                    .map(|p| vec![p.iter as f64, p.rel_subopt, p.rel_error, p.grad_norm])
                    .collect(),
            )
            .diverged_at(r.diverged_at)
    }

    fn report(&self, runs: &[Run<Self>]) -> Vec<Section> {
        report(runs)
    }
}

fn method_index(m: &str) -> usize {
    METHODS.iter().position(|x| *x == m).unwrap_or(0)
}

fn fmt(v: f64) -> String {
    if v.is_nan() {
        "-".into()
    } else if v.fract() == 0.0 && v.abs() < 1e9 {
        format!("{v}")
    } else {
        format!("{v:.5}")
    }
}

fn yes(v: f64) -> &'static str {
    if v.is_nan() {
        "-"
    } else if v > 0.5 {
        "yes"
    } else {
        "no"
    }
}

fn report(runs: &[Run<QuadraticStudy>]) -> Vec<Section> {
    let mut sections = Vec::new();
    let mut sorted: Vec<&Run<QuadraticStudy>> = runs.iter().collect();
    sorted.sort_by(|a, b| {
        a.metric("kappa")
            .total_cmp(&b.metric("kappa"))
            .then(method_index(&a.param("method")).cmp(&method_index(&b.param("method"))))
            .then(a.id.cmp(&b.id))
    });
    let rows = sorted
        .iter()
        .map(|r| {
            vec![
                r.id.clone(),
                r.status.kind().to_string(),
                fmt(r.metric("lr")),
                fmt(r.metric("momentum")),
                fmt(r.metric("iterations_to_tol")),
                fmt(r.metric("predicted_iterations")),
                fmt(r.metric("measured_rate")),
                fmt(r.metric("predicted_rate")),
                format!(
                    "{}/{}",
                    yes(r.metric("top_overshoot_predicted")),
                    yes(r.metric("top_overshoot_observed"))
                ),
                format!(
                    "{}/{}",
                    yes(r.metric("bottom_overshoot_predicted")),
                    yes(r.metric("bottom_overshoot_observed"))
                ),
                fmt(r.metric("hessian_kappa")),
            ]
        })
        .collect();
    sections.push(Section {
        title: "Runs: measured against theory".into(),
        text: "Iterations to reach f/f0 <= tol; the predicted count assumes all error in the slowest \
               direction, so it is an upper bound. Rates are per-iteration contraction factors of |x_k - x*|, \
               fitted on the tail (|x|/|x0| from 1e-2 down) with a ln(k) term for double roots. Overshoot \
               columns read predicted/observed sign changes along the top and bottom eigenvectors. The last \
               column is lambda_max/lambda_min of the Hessian found by Lanczos through autodiff HVPs."
            .into(),
        table: Some(TableData {
            header: header(&["run", "status", "lr", "momentum", "iters to tol", "predicted (bound)", "rate", "predicted rate", "top overshoot", "bottom overshoot", "Hessian kappa"]),
            rows,
        }),
        plots: Vec::new(),
    });

    // Loss curves, one plot per (kappa, rotated).
    let mut groups: BTreeMap<(i64, String, String), Vec<&Run<QuadraticStudy>>> = BTreeMap::new();
    for r in &sorted {
        groups
            .entry((
                (r.metric("kappa") * 1000.0) as i64,
                r.param("rotated"),
                r.param("lr_rule"),
            ))
            .or_default()
            .push(r);
    }
    let mut curves = Vec::new();
    for ((k, rot, rule), rs) in &groups {
        // Colour by method, unless a method appears twice (a step-size sweep): then by run.
        let methods: Vec<String> = rs.iter().map(|r| r.param("method")).collect();
        let repeated = (1..methods.len()).any(|i| methods[..i].contains(&methods[i]));
        let lines = rs
            .iter()
            .enumerate()
            .map(|(i, r)| {
                let curve = r.output.as_ref().map(|o| o.curve.as_slice()).unwrap_or(&[]);
                let x: Vec<f64> = curve.iter().map(|p| p.iter as f64).collect();
                let y: Vec<f64> = curve.iter().map(|p| p.rel_subopt).collect();
                let label = format!(
                    "{}{}",
                    r.param("method"),
                    if r.param("lr_scale").is_empty() {
                        String::new()
                    } else {
                        format!(" x{}", r.param("lr_scale"))
                    }
                );
                let color = if repeated {
                    i
                } else {
                    method_index(&r.param("method"))
                };
                Line::new(
                    label,
                    x.iter().zip(&y).map(|(a, b)| (a + 1.0, *b)).collect(),
                    color,
                )
            })
            .collect();
        curves.push(Plot::Lines(LinePlot {
            title: format!(
                "f(x_k)/f(x_0), kappa = {}, {}{}",
                *k as f64 / 1000.0,
                if rot == "true" {
                    "rotated"
                } else {
                    "axis-aligned"
                },
                if rule == "optimal" || rule.is_empty() {
                    String::new()
                } else {
                    format!(", lr rule {rule}")
                }
            ),
            x_label: "iteration k + 1 (log)".into(),
            y_label: "relative suboptimality (log)".into(),
            log_x: true,
            log_y: true,
            lines,
        }));
    }
    sections.push(Section {
        title: "Loss curves".into(),
        text: "One plot per condition number and basis; log-log axes.".into(),
        table: None,
        plots: curves,
    });

    // Iterations vs kappa with theory.
    let mut lines = Vec::new();
    for (i, m) in METHODS.iter().enumerate() {
        for rot in ["false", "true"] {
            let mut pts: Vec<(f64, f64)> = sorted
                .iter()
                .filter(|r| {
                    r.param("method") == *m && r.param("rotated") == rot && r.status.kind() == "ok"
                })
                .map(|r| (r.metric("kappa"), r.metric("iterations_to_tol")))
                .collect();
            pts.sort_by(|a, b| a.0.total_cmp(&b.0));
            if pts.len() > 1 {
                let l = Line::new(
                    format!("{m} ({})", if rot == "true" { "rotated" } else { "axes" }),
                    pts,
                    i,
                )
                .markers();
                lines.push(if rot == "true" { l.dashed() } else { l });
            }
        }
        if *m == "adam" {
            continue;
        }
        let mut th: Vec<(f64, f64)> = sorted
            .iter()
            .filter(|r| r.param("method") == *m && r.param("rotated") == "false")
            .map(|r| (r.metric("kappa"), r.metric("predicted_iterations")))
            .collect();
        th.sort_by(|a, b| a.0.total_cmp(&b.0));
        th.dedup_by(|a, b| a.0 == b.0);
        if th.len() > 1 {
            lines.push(Line::new(format!("{m} theory bound"), th, i).dashed());
        }
    }
    sections.push(Section {
        title: "Iterations to tolerance against condition number".into(),
        text: "Log-log. Theory: GD needs about (kappa/2) ln(1/tol) iterations, heavy ball and Nesterov about (sqrt(kappa)/2) ln(1/tol): slopes 1 and 1/2. Adam's count on axis-aligned problems does not depend on kappa (its step is invariant to per-coordinate scaling); on rotated problems it does.".into(),
        table: None,
        plots: vec![Plot::Lines(LinePlot { title: "iterations to f/f0 <= tol".into(), x_label: "condition number kappa (log)".into(), y_label: "iterations (log)".into(), log_x: true, log_y: true, lines })],
    });

    // Overshoot: the theory map in (eta*lambda, beta) and the top-direction traces.
    let (nx, ny) = (120, 100);
    let mut values = Vec::with_capacity(nx * ny);
    for r in 0..ny {
        for c in 0..nx {
            let h = 4.0 * (c as f64 + 0.5) / nx as f64;
            let beta = (r as f64 + 0.5) / ny as f64;
            values.push(match theory::momentum_direction(h, beta, 1.0).approach {
                theory::Approach::Monotone => 0.0,
                theory::Approach::Oscillating => 1.0,
                theory::Approach::Divergent => 2.0,
            });
        }
    }
    let mut overlay = Vec::new();
    for (i, m) in ["gd", "heavy-ball"].iter().enumerate() {
        let pts: Vec<(f64, f64)> = sorted
            .iter()
            .filter(|r| r.param("method") == *m)
            .flat_map(|r| {
                let (lr, b, k) = (r.metric("lr"), r.metric("momentum"), r.metric("kappa"));
                [(lr * k, b), (lr, b)]
            })
            .filter(|(x, _)| *x <= 4.0)
            .collect();
        if !pts.is_empty() {
            overlay.push(Line::new(format!("{m} runs (eta*L and eta*mu)"), pts, i).markers());
        }
    }
    let mut traces = Vec::new();
    // The converged runs of the main grid (a diverging run would set the scale for all).
    let traced = sorted.iter().filter(|r| {
        r.param("rotated") != "true" && r.status.kind() == "ok" && r.param("lr_scale").is_empty()
    });
    for r in traced {
        if let Some(c) = r.output.as_ref().map(|o| &o.top_component) {
            let c0 = c.first().copied().unwrap_or(1.0).abs().max(1e-30);
            let pts: Vec<(f64, f64)> = c
                .iter()
                .take(60)
                .enumerate()
                .map(|(i, v)| (i as f64, v / c0))
                .collect();
            traces.push(Line::new(
                format!("{} kappa={}", r.param("method"), r.param("kappa")),
                pts,
                method_index(&r.param("method")),
            ));
        }
    }
    traces.truncate(8);
    sections.push(Section {
        title: "Momentum overshoot, per eigen-direction".into(),
        text: "Left: theory. For heavy ball with step eta and momentum beta, the error along an eigenvector with eigenvalue lambda follows z^2 - (1 + beta - eta*lambda) z + beta: real positive roots approach monotonically, complex or negative roots overshoot, |z| >= 1 diverges. Points mark each run's top (eta*L) and bottom (eta*mu) directions. Right: the error component along the top eigenvector, normalised by its start, for the first 60 iterations (axis-aligned runs).\n\nNesterov (PyTorch's formulation) overshoots along the top direction even where its roots are 0 (eta = 1/L): its first step is x_1 = x_0 - eta (1 + beta) g_0, (1 + beta) times the textbook step, a transient the asymptotic root analysis does not see. The shipped overshoot claim therefore covers GD and heavy ball.".into(),
        table: None,
        plots: vec![
            Plot::Heatmap(Heatmap {
                title: "heavy-ball approach by (eta*lambda, beta)".into(),
                x_label: "eta * lambda".into(),
                y_label: "momentum beta".into(),
                x_range: (0.0, 4.0),
                y_range: (0.0, 1.0),
                nx,
                ny,
                values,
                categories: vec![(0.0, "monotone".into()), (1.0, "overshoot (oscillating)".into()), (2.0, "divergent".into())],
                overlay,
            }),
            Plot::Lines(LinePlot { title: "error along the top eigenvector".into(), x_label: "iteration".into(), y_label: "component / initial component".into(), log_x: false, log_y: false, lines: traces }),
        ],
    });

    // Hessian spectra by SLQ, one line per kappa.
    let mut seen = std::collections::BTreeSet::new();
    let mut dens = Vec::new();
    for r in &sorted {
        let k = r.param("kappa");
        if !seen.insert(k.clone()) {
            continue;
        }
        if let Some(sd) = r.output.as_ref().map(|o| &o.spectral_density) {
            let kappa = r.metric("kappa").max(1.0);
            let pts = sd
                .grid
                .iter()
                .zip(&sd.density)
                .map(|(x, y)| (x / kappa, y * kappa))
                .collect();
            dens.push(Line::new(format!("kappa = {k}"), pts, dens.len()));
        }
    }
    sections.push(Section {
        title: "Hessian spectra (stochastic Lanczos quadrature)".into(),
        text: "Eigenvalue density of each problem's Hessian estimated from 4 Lanczos probes through exact autodiff Hessian-vector products, on eigenvalue/L so the problems share an axis. The run table's last column gives lambda_max/lambda_min from Lanczos.".into(),
        table: None,
        plots: vec![Plot::Lines(LinePlot { title: "spectral density".into(), x_label: "eigenvalue / L".into(), y_label: "density (per unit of eigenvalue/L)".into(), log_x: false, log_y: false, lines: dens })],
    });
    sections
}
