//! The `optimizer-paths` study (optim::paths): every optimizer's trajectory on 2-D test
//! functions, drawn over the loss landscape, with loss and gradient-norm curves.

use std::collections::BTreeMap;

use optim::paths::{run_path, PathConfig, Problem2d};
use toml::{Table, Value};

use crate::registry::{
    field_error_from_optim, field_error_from_serde, FieldError, FieldSpec, FieldType, Progress,
    RunOutput, RunRecord, Study,
};
use crate::report::{Heatmap, Line, LinePlot, Plot, Section, TableData};

const METHODS: &[&str] = &["gd", "heavy-ball", "nesterov", "adam", "rmsprop", "adagrad"];
const PROBLEMS: &[&str] = &["quadratic", "rosenbrock", "beale"];

/// The registry entry.
pub const STUDY: Study = Study {
    kind: "optimizer-paths",
    description: "optimizer trajectories over the loss contours of 2-D test functions",
    fields: &[
        FieldSpec {
            name: "problem",
            ty: FieldType::Choice(PROBLEMS),
            doc: "the 2-D function",
        },
        FieldSpec {
            name: "method",
            ty: FieldType::Choice(METHODS),
            doc: "the optimizer (momentum methods use 0.9)",
        },
        FieldSpec {
            name: "lr",
            ty: FieldType::Float,
            doc: "learning rate (default: a per-problem table in optim::paths)",
        },
        FieldSpec {
            name: "steps",
            ty: FieldType::Int,
            doc: "steps to take (default 1000)",
        },
        FieldSpec {
            name: "kappa",
            ty: FieldType::Float,
            doc: "condition number of the quadratic (default 10)",
        },
    ],
    metrics: &[
        "initial_loss",
        "final_loss",
        "final_distance",
        "diverged",
        "lr",
        "steps_taken",
    ],
    validate_fn: validate,
    run_fn: run,
    report_fn: report,
};

fn config(params: &Table) -> Result<PathConfig, FieldError> {
    let cfg: PathConfig = Value::Table(params.clone())
        .try_into()
        .map_err(|e: toml::de::Error| field_error_from_serde(e.message()))?;
    cfg.validate().map_err(|e| field_error_from_optim(&e))?;
    Ok(cfg)
}

fn validate(params: &Table) -> Result<(), FieldError> {
    config(params).map(|_| ())
}

fn run(
    params: &Table,
    _seed: u64,
    progress: &mut dyn FnMut(Progress),
) -> Result<RunOutput, String> {
    let cfg = config(params).map_err(|e| e.message)?;
    let r = run_path(&cfg).map_err(|e| e.to_string())?;
    progress(Progress {
        step: cfg.steps,
        total: cfg.steps,
        loss: *r.losses.last().unwrap_or(&f64::NAN),
    });
    let mut m = BTreeMap::new();
    m.insert("initial_loss".into(), r.losses[0]);
    m.insert("final_loss".into(), *r.losses.last().unwrap_or(&f64::NAN));
    m.insert("final_distance".into(), r.final_distance);
    m.insert(
        "diverged".into(),
        if r.diverged_at.is_some() { 1.0 } else { 0.0 },
    );
    m.insert("lr".into(), r.lr);
    m.insert("steps_taken".into(), (r.points.len() - 1) as f64);
    Ok(RunOutput {
        metrics: m,
        columns: vec![
            "step".into(),
            "x".into(),
            "y".into(),
            "loss".into(),
            "grad_norm".into(),
        ],
        rows: r
            .points
            .iter()
            .zip(&r.losses)
            .zip(&r.grad_norms)
            .enumerate()
            .map(|(k, ((p, l), g))| vec![k as f64, p.0, p.1, *l, *g])
            .collect(),
        extra: serde_json::Value::Null,
        diverged_at: r.diverged_at,
    })
}

fn problem(name: &str) -> Problem2d {
    match name {
        "rosenbrock" => Problem2d::Rosenbrock,
        "beale" => Problem2d::Beale,
        _ => Problem2d::Quadratic,
    }
}

fn color(method: &str) -> usize {
    METHODS.iter().position(|m| *m == method).unwrap_or(0)
}

fn report(runs: &[RunRecord]) -> Vec<Section> {
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
                r.status.clone(),
            ]
        })
        .collect();
    rows.sort();
    sections.push(Section {
        title: "Where each optimizer ends".into(),
        text: "Distance is to the minimiser: (0, 0) for the quadratic, (1, 1) for Rosenbrock, (3, 0.5) for Beale.".into(),
        table: Some(TableData { header: ["problem", "method", "lr", "initial loss", "final loss", "distance to minimum", "status"].iter().map(|s| s.to_string()).collect(), rows }),
        plots: vec![],
    });
    for name in PROBLEMS {
        let these: Vec<&RunRecord> = runs
            .iter()
            .filter(|r| r.param("problem") == *name)
            .collect();
        if these.is_empty() {
            continue;
        }
        let p = problem(name);
        let kappa = these[0]
            .params
            .get("kappa")
            .and_then(|v| v.as_float())
            .unwrap_or(10.0);
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
                let (xs, ys) = (r.column("x"), r.column("y"));
                Line::new(
                    r.param("method"),
                    xs.into_iter().zip(ys).map(clip).collect(),
                    color(&r.param("method")),
                )
            })
            .collect();
        let curve = |col: &str| {
            these
                .iter()
                .map(|r| {
                    let (s, v) = (r.column("step"), r.column(col));
                    Line::new(
                        r.param("method"),
                        s.into_iter().zip(v).map(|(a, b)| (a + 1.0, b)).collect(),
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
                Plot::Lines(LinePlot { title: format!("{name}: loss"), x_label: "step + 1 (log)".into(), y_label: "loss (log)".into(), log_x: true, log_y: true, lines: curve("loss") }),
                Plot::Lines(LinePlot { title: format!("{name}: gradient norm"), x_label: "step + 1 (log)".into(), y_label: "|grad f| (log)".into(), log_x: true, log_y: true, lines: curve("grad_norm") }),
            ],
        });
    }
    sections
}
