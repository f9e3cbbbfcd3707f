//! The `optimizer-paths` study as `lab` runs it ([`PathsStudy`]): every optimizer's
//! trajectory on the 2-D test functions, drawn over the loss landscape, with loss and
//! gradient-norm curves.

use super::{run_path, PathConfig, PathRun, Problem2d};
use lab::report::{header, Heatmap, Line, LinePlot, Plot, Section, TableData};
use lab::study::{Progress, Record, Run, Study};

/// The optimizer-paths study.
pub struct PathsStudy;

const METHODS: &[&str] = &["gd", "heavy-ball", "nesterov", "adam", "rmsprop", "adagrad"];

impl Study for PathsStudy {
    type Config = PathConfig;
    type Output = PathRun;
    const KIND: &'static str = "optimizer-paths";
    const DESCRIPTION: &'static str =
        "optimizer trajectories over the loss contours of 2-D test functions";
    const METRICS: &'static [&'static str] = &[
        "initial_loss",
        "final_loss",
        "final_distance",
        "diverged",
        "lr",
        "steps_taken",
    ];

    fn run(
        &self,
        cfg: &PathConfig,
        _seed: u64,
        progress: &mut Progress<'_>,
    ) -> Result<PathRun, lab::study::RunError> {
        let r = run_path(cfg)?;
        progress.update(cfg.steps, cfg.steps, *r.losses.last().unwrap_or(&f64::NAN));
        Ok(r)
    }

    fn record(&self, _cfg: &PathConfig, r: &PathRun) -> Record {
        Record::new()
            .metric("initial_loss", r.losses[0])
            .metric("final_loss", *r.losses.last().unwrap_or(&f64::NAN))
            .metric("final_distance", r.final_distance)
            .flag("diverged", Some(r.diverged_at.is_some()))
            .metric("lr", r.lr)
            .metric("steps_taken", (r.points.len() - 1) as f64)
            .series(
                &["step", "x", "y", "loss", "grad_norm"],
                r.points
                    .iter()
                    .zip(&r.losses)
                    .zip(&r.grad_norms)
                    .enumerate()
                    .map(|(k, ((p, l), g))| vec![k as f64, p.0, p.1, *l, *g])
                    .collect(),
            )
            .diverged_at(r.diverged_at)
    }

    fn report(&self, runs: &[Run<Self>]) -> Vec<Section> {
        report(runs)
    }
}

fn color(method: &str) -> usize {
    METHODS.iter().position(|m| *m == method).unwrap_or(0)
}

fn report(runs: &[Run<PathsStudy>]) -> Vec<Section> {
    let mut sections = Vec::new();
    let mut rows: Vec<Vec<String>> = runs
        .iter()
        .map(|r| {
            vec![
                r.param("problem"),
                r.param("method"),
                format!("{}", r.metric("lr")),
                format!("{:.3e}", r.metric("initial_loss")),
                format!("{:.3e}", r.metric("final_loss")),
                format!("{:.4}", r.metric("final_distance")),
                r.status.kind().to_string(),
            ]
        })
        .collect();
    rows.sort();
    sections.push(Section {
        title: "Where each optimizer ends".into(),
        text: "Distance is to the minimiser: (0, 0) for the quadratic, (1, 1) for Rosenbrock, (3, 0.5) for Beale.".into(),
        table: Some(TableData { header: header(&["problem", "method", "lr", "initial loss", "final loss", "distance to minimum", "status"]), rows }),
        plots: vec![],
    });
    for p in Problem2d::ALL {
        let these: Vec<&Run<PathsStudy>> = runs.iter().filter(|r| r.config.problem == p).collect();
        if these.is_empty() {
            continue;
        }
        let name = these[0].param("problem");
        let kappa = these[0].config.kappa;
        let (x0, x1, y0, y1) = p.geometry().window;
        let (nx, ny) = (110, 80);
        let mut values = Vec::with_capacity(nx * ny);
        for r in 0..ny {
            for c in 0..nx {
                let x = x0 + (x1 - x0) * (c as f64 + 0.5) / nx as f64;
                let y = y0 + (y1 - y0) * (r as f64 + 0.5) / ny as f64;
                values.push((p.value(x, y, kappa) + 1e-3).log10());
            }
        }
        let clip = |(x, y): (f64, f64)| (x.clamp(x0, x1), y.clamp(y0, y1));
        let overlay = these
            .iter()
            .map(|r| {
                let pts = r
                    .output
                    .as_ref()
                    .map(|o| o.points.clone())
                    .unwrap_or_default();
                Line::new(
                    r.param("method"),
                    pts.into_iter().map(clip).collect(),
                    color(&r.param("method")),
                )
            })
            .collect();
        let curve = |values: fn(&PathRun) -> &Vec<f64>| {
            these
                .iter()
                .map(|r| {
                    let v = r.output.as_ref().map(values).cloned().unwrap_or_default();
                    Line::new(
                        r.param("method"),
                        v.into_iter()
                            .enumerate()
                            .map(|(k, y)| (k as f64 + 1.0, y))
                            .collect(),
                        color(&r.param("method")),
                    )
                })
                .collect()
        };
        sections.push(Section {
            title: format!("Trajectories on {name}"),
            text: "Background: log10(loss + 1e-3), dark low, light high. Each path starts at the circle and ends at the cross (clipped to the window).".into(),
            table: None,
            plots: vec![
                Plot::Heatmap(Heatmap { title: format!("{name}: paths over log10 loss"), x_label: "x".into(), y_label: "y".into(), x_range: (x0, x1), y_range: (y0, y1), nx, ny, values, categories: vec![], overlay }),
                Plot::Lines(LinePlot { title: format!("{name}: loss"), x_label: "step + 1 (log)".into(), y_label: "loss (log)".into(), log_x: true, log_y: true, lines: curve(|o| &o.losses) }),
                Plot::Lines(LinePlot { title: format!("{name}: gradient norm"), x_label: "step + 1 (log)".into(), y_label: "|grad f| (log)".into(), log_x: true, log_y: true, lines: curve(|o| &o.grad_norms) }),
            ],
        });
    }
    sections
}
