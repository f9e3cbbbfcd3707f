//! The `classifier` study (nn::study): a network trained from scratch on Fashion-MNIST, with
//! loss and accuracy curves, the sharpness against the edge of stability, the loss landscape,
//! a confusion matrix and initialisation scales.

use std::collections::BTreeMap;
use std::sync::OnceLock;

use nn::data::{find_dataset, load_mnist_like, Dataset, Split};
use nn::study::{run_classifier, ClassifierConfig};
use serde_json::json;
use toml::{Table, Value};

use crate::registry::{
    field_error_from_serde, FieldError, FieldSpec, FieldType, Progress, RunOutput, RunRecord, Study,
};
use crate::report::{Heatmap, Line, LinePlot, Plot, Section, TableData};

/// The registry entry.
pub const STUDY: Study = Study {
    kind: "classifier",
    description: "a network trained from scratch on Fashion-MNIST: curves, sharpness, landscape, initialisation",
    fields: &[
        FieldSpec { name: "model", ty: FieldType::Choice(&["mlp", "cnn"]), doc: "784-256-128-10 MLP or a two-conv CNN" },
        FieldSpec { name: "optimizer", ty: FieldType::Choice(&["sgd", "momentum", "adam"]), doc: "the optimizer" },
        FieldSpec { name: "lr", ty: FieldType::Float, doc: "learning rate (> 0)" },
        FieldSpec { name: "momentum", ty: FieldType::Float, doc: "momentum for `momentum` (default 0.9)" },
        FieldSpec { name: "batch", ty: FieldType::Int, doc: "batch size (> 0, default 128)" },
        FieldSpec { name: "epochs", ty: FieldType::Int, doc: "epochs (> 0, default 10)" },
        FieldSpec { name: "init", ty: FieldType::Choice(&["default", "normal", "small-uniform", "xavier", "he"]), doc: "weight initialisation" },
        FieldSpec { name: "train_limit", ty: FieldType::Int, doc: "use the first N training examples (0 = all)" },
        FieldSpec { name: "test_limit", ty: FieldType::Int, doc: "use the first N test examples (0 = all)" },
        FieldSpec { name: "sharpness_every", ty: FieldType::Int, doc: "steps between sharpness estimates (0 = never)" },
        FieldSpec { name: "landscape", ty: FieldType::Bool, doc: "compute the 2-D loss landscape after training" },
        FieldSpec { name: "label_smoothing", ty: FieldType::Float, doc: "label smoothing in [0, 1)" },
        FieldSpec { name: "cosine", ty: FieldType::Bool, doc: "cosine learning-rate decay to 0 over the run" },
    ],
    metrics: &[
        "test_accuracy", "best_test_accuracy", "test_loss", "final_train_loss", "epoch_seconds", "samples_per_second",
        "max_sharpness", "final_sharpness", "edge_of_stability", "diverged", "parameters", "lr",
    ],
    validate_fn: validate,
    run_fn: run,
    report_fn: report,
};

fn config(params: &Table, seed: u64) -> Result<ClassifierConfig, FieldError> {
    let mut t = params.clone();
    t.insert("seed".into(), Value::Integer(seed as i64));
    let cfg: ClassifierConfig = Value::Table(t)
        .try_into()
        .map_err(|e: toml::de::Error| field_error_from_serde(e.message()))?;
    cfg.validate().map_err(|e| FieldError {
        field: match &e {
            nn::NnError::InvalidParameter { field, .. } => Some(field.to_string()),
            _ => None,
        },
        message: format!("params: {e}"),
    })?;
    Ok(cfg)
}

fn validate(params: &Table) -> Result<(), FieldError> {
    config(params, 0).map(|_| ())
}

/// Fashion-MNIST, loaded once per process and shared by every run.
fn data() -> Result<&'static (Dataset, Dataset), String> {
    static DATA: OnceLock<Result<(Dataset, Dataset), String>> = OnceLock::new();
    DATA.get_or_init(|| {
        let dir = find_dataset("fashion-mnist").map_err(|e| e.to_string())?;
        let train = load_mnist_like(&dir, Split::Train).map_err(|e| e.to_string())?;
        let test = load_mnist_like(&dir, Split::Test).map_err(|e| e.to_string())?;
        Ok((train, test))
    })
    .as_ref()
    .map_err(Clone::clone)
}

fn run(params: &Table, seed: u64, progress: &mut dyn FnMut(Progress)) -> Result<RunOutput, String> {
    let cfg = config(params, seed).map_err(|e| e.message)?;
    let (train, test) = data()?;
    let r = run_classifier(&cfg, train, test, &mut |step, total, loss| {
        progress(Progress { step, total, loss })
    })
    .map_err(|e| e.to_string())?;
    let last = r.epochs.last();
    let mut secs: Vec<f64> = r.epochs.iter().map(|e| e.seconds).collect();
    secs.sort_by(f64::total_cmp);
    let median = secs.get(secs.len() / 2).copied().unwrap_or(f64::NAN);
    let n_train = if cfg.train_limit == 0 {
        train.len()
    } else {
        cfg.train_limit.min(train.len())
    };
    let mut m = BTreeMap::new();
    m.insert(
        "test_accuracy".into(),
        last.map(|e| e.test_accuracy).unwrap_or(f64::NAN),
    );
    m.insert(
        "best_test_accuracy".into(),
        r.epochs
            .iter()
            .map(|e| e.test_accuracy)
            .fold(f64::NAN, f64::max),
    );
    m.insert(
        "test_loss".into(),
        last.map(|e| e.test_loss).unwrap_or(f64::NAN),
    );
    m.insert(
        "final_train_loss".into(),
        last.map(|e| e.train_loss).unwrap_or(f64::NAN),
    );
    m.insert("epoch_seconds".into(), median);
    m.insert("samples_per_second".into(), n_train as f64 / median);
    m.insert(
        "max_sharpness".into(),
        r.sharpness.iter().map(|s| s.1).fold(f64::NAN, f64::max),
    );
    m.insert(
        "final_sharpness".into(),
        r.sharpness.last().map(|s| s.1).unwrap_or(f64::NAN),
    );
    m.insert("edge_of_stability".into(), 2.0 / cfg.lr);
    m.insert(
        "diverged".into(),
        if r.diverged_at.is_some() { 1.0 } else { 0.0 },
    );
    m.insert("parameters".into(), r.parameters as f64);
    m.insert("lr".into(), cfg.lr);
    Ok(RunOutput {
        metrics: m,
        columns: vec!["step".into(), "train_loss".into()],
        rows: r
            .train_loss
            .iter()
            .map(|&(s, l)| vec![s as f64, l])
            .collect(),
        extra: json!({ "epochs": r.epochs, "sharpness": r.sharpness, "confusion": r.confusion, "init_scales": r.init_scales, "landscape": r.landscape }),
        diverged_at: r.diverged_at,
    })
}

fn label(r: &RunRecord) -> String {
    let init = r.param("init");
    format!(
        "{} {} lr={}{}",
        r.param("model"),
        r.param("optimizer"),
        r.param("lr"),
        if init.is_empty() || init == "default" {
            String::new()
        } else {
            format!(" init={init}")
        }
    )
}

fn color(r: &RunRecord) -> usize {
    match (r.param("optimizer").as_str(), r.param("init").as_str()) {
        (_, "normal") => 3,
        (_, "small-uniform") => 4,
        (_, "xavier") => 5,
        (_, "he") => 6,
        ("sgd", _) => 0,
        ("momentum", _) => 1,
        _ => 2,
    }
}

fn smooth(pts: &[(f64, f64)], window: usize) -> Vec<(f64, f64)> {
    pts.chunks(window.max(1))
        .map(|c| {
            (
                c[c.len() / 2].0 + 1.0,
                c.iter().map(|p| p.1).sum::<f64>() / c.len() as f64,
            )
        })
        .collect()
}

fn report(runs: &[RunRecord]) -> Vec<Section> {
    let mut sorted: Vec<&RunRecord> = runs.iter().collect();
    sorted.sort_by_key(|r| (label(r), r.seed));
    let f = |v: f64, d: usize| {
        if v.is_nan() {
            "-".to_string()
        } else {
            format!("{v:.d$}")
        }
    };
    let rows = sorted
        .iter()
        .map(|r| {
            vec![
                label(r),
                r.seed.to_string(),
                r.status.clone(),
                f(r.metric("test_accuracy"), 4),
                f(r.metric("test_loss"), 4),
                f(r.metric("final_train_loss"), 4),
                f(r.metric("epoch_seconds"), 3),
                f(r.metric("max_sharpness"), 1),
                f(r.metric("edge_of_stability"), 0),
            ]
        })
        .collect();
    let main: Vec<&&RunRecord> = sorted
        .iter()
        .filter(|r| r.param("init").is_empty() || r.param("init") == "default")
        .collect();
    let mut seen = std::collections::BTreeSet::new();
    let firsts: Vec<&&RunRecord> = main
        .iter()
        .copied()
        .filter(|r| seen.insert(label(r)))
        .collect();
    let curve = |r: &RunRecord| {
        smooth(
            &r.column("step")
                .into_iter()
                .zip(r.column("train_loss"))
                .collect::<Vec<_>>(),
            50,
        )
    };
    let loss_lines = firsts
        .iter()
        .map(|r| Line::new(label(r), curve(r), color(r)))
        .collect();
    let acc_lines = firsts
        .iter()
        .map(|r| {
            let pts = r.extra["epochs"]
                .as_array()
                .map(|a| {
                    a.iter()
                        .filter_map(|e| Some((e["epoch"].as_f64()?, e["test_accuracy"].as_f64()?)))
                        .collect()
                })
                .unwrap_or_default();
            Line::new(label(r), pts, color(r)).markers()
        })
        .collect();
    let mut sections = vec![
        Section {
            title: "Runs".into(),
            text: "Test accuracy and loss after the last epoch; training loss is the mean over the last epoch; seconds per epoch exclude evaluation and sharpness estimates (median over epochs). Sharpness is the top Hessian eigenvalue of the training loss on a fixed batch; 2/lr is the edge-of-stability value for plain gradient descent.".into(),
            table: Some(TableData { header: ["run", "seed", "status", "test acc", "test loss", "train loss", "s/epoch", "max sharpness", "2/lr"].iter().map(|s| s.to_string()).collect(), rows }),
            plots: vec![
                Plot::Lines(LinePlot { title: "training loss (mean of 50 steps), seed of the first run".into(), x_label: "step (log)".into(), y_label: "cross-entropy (log)".into(), log_x: true, log_y: true, lines: loss_lines }),
                Plot::Lines(LinePlot { title: "test accuracy".into(), x_label: "epoch".into(), y_label: "accuracy".into(), log_x: false, log_y: false, lines: acc_lines }),
            ],
        },
    ];
    // Sharpness against 2/lr.
    let mut sharp = Vec::new();
    for r in &firsts {
        let pts: Vec<(f64, f64)> = r.extra["sharpness"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|p| Some((p[0].as_f64()? + 1.0, p[1].as_f64()?)))
                    .collect()
            })
            .unwrap_or_default();
        if pts.len() > 1 {
            let (lo, hi) = (pts[0].0, pts[pts.len() - 1].0);
            sharp.push(Line::new(label(r), pts, color(r)).markers());
            sharp.push(
                Line::new(
                    format!("2/lr = {}", 2.0 / r.metric("lr")),
                    vec![(lo, 2.0 / r.metric("lr")), (hi, 2.0 / r.metric("lr"))],
                    color(r),
                )
                .dashed(),
            );
        }
    }
    if !sharp.is_empty() {
        sections.push(Section {
            title: "Sharpness and the edge of stability".into(),
            text: "Top Hessian eigenvalue of the training loss on a fixed batch (power iteration on exact Hessian-vector products), with each run's 2/lr line. Plain GD cannot stay stable above 2/lr; with full-batch GD the sharpness rises to it and hovers there (Cohen et al. 2021). Minibatch SGD and adaptive methods need not reach it.".into(),
            table: None,
            plots: vec![Plot::Lines(LinePlot { title: "sharpness vs step".into(), x_label: "step (log)".into(), y_label: "lambda_max (log)".into(), log_x: true, log_y: true, lines: sharp })],
        });
    }
    // Confusion matrix of the best run.
    if let Some(best) = main.iter().max_by(|a, b| {
        a.metric("test_accuracy")
            .total_cmp(&b.metric("test_accuracy"))
    }) {
        if let Some(cm) = best.extra["confusion"].as_array() {
            let rows: Vec<Vec<f64>> = cm
                .iter()
                .map(|r| {
                    r.as_array()
                        .map(|v| v.iter().filter_map(|x| x.as_f64()).collect())
                        .unwrap_or_default()
                })
                .collect();
            let classes = [
                "T-shirt", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker",
                "Bag", "Boot",
            ];
            let table = TableData {
                header: std::iter::once("true \\ predicted".to_string())
                    .chain(classes.iter().map(|c| c.to_string()))
                    .collect(),
                rows: rows
                    .iter()
                    .enumerate()
                    .map(|(i, r)| {
                        std::iter::once(classes.get(i).unwrap_or(&"?").to_string())
                            .chain(r.iter().map(|v| format!("{v}")))
                            .collect()
                    })
                    .collect(),
            };
            let n = rows.len();
            let values: Vec<f64> = (0..n)
                .rev()
                .flat_map(|i| {
                    rows[i]
                        .iter()
                        .map(|v| (v + 1.0).log10())
                        .collect::<Vec<_>>()
                })
                .collect();
            sections.push(Section {
                title: format!("Confusion matrix ({})", label(best)),
                text: "Rows are true classes, columns predictions; the map shows log10(count + 1) with the first class at the top.".into(),
                table: Some(table),
                plots: vec![Plot::Heatmap(Heatmap { title: "confusion (log10 count + 1)".into(), x_label: "predicted class".into(), y_label: "true class (0 at top)".into(), x_range: (0.0, n as f64), y_range: (0.0, n as f64), nx: n, ny: n, values, categories: vec![], overlay: vec![] })],
            });
        }
    }
    // Loss landscape.
    for r in &main {
        let l = &r.extra["landscape"];
        if let (Some(a), Some(b), Some(v)) = (l[0].as_array(), l[1].as_array(), l[2].as_array()) {
            let (a0, a1) = (
                a[0].as_f64().unwrap_or(-1.0),
                a[a.len() - 1].as_f64().unwrap_or(1.0),
            );
            let (b0, b1) = (
                b[0].as_f64().unwrap_or(-1.0),
                b[b.len() - 1].as_f64().unwrap_or(1.0),
            );
            let step = (a1 - a0) / (a.len() - 1) as f64;
            sections.push(Section {
                title: format!("Loss landscape ({}, seed {})", label(r), r.seed),
                text: "Training loss on 2,048 examples at theta + a d1 + b d2 for two random filter-normalised directions (Li et al. 2018): each row of a direction has the norm of the matching weight row; bias directions are zero. Colour: log10 loss.".into(),
                table: None,
                plots: vec![Plot::Heatmap(Heatmap {
                    title: "log10 loss around the trained weights".into(),
                    x_label: "a (direction 1)".into(),
                    y_label: "b (direction 2)".into(),
                    x_range: (a0 - step / 2.0, a1 + step / 2.0),
                    y_range: (b0 - step / 2.0, b1 + step / 2.0),
                    nx: a.len(),
                    ny: b.len(),
                    values: v.iter().map(|x| x.as_f64().unwrap_or(f64::NAN).max(1e-6).log10()).collect(),
                    categories: vec![],
                    overlay: vec![Line { label: "trained weights".into(), points: vec![(0.0, 0.0)], dashed: false, markers: true, color: 3 }],
                })],
            });
            break;
        }
    }
    // Initialisation comparison.
    let inits: Vec<&&RunRecord> = sorted
        .iter()
        .filter(|r| !r.param("init").is_empty())
        .collect();
    let mut seen = std::collections::BTreeSet::new();
    let inits: Vec<&&RunRecord> = inits
        .into_iter()
        .filter(|r| seen.insert(r.param("init")))
        .collect();
    if inits.len() > 1 {
        let curves = inits
            .iter()
            .map(|r| Line::new(r.param("init"), curve(r), color(r)))
            .collect();
        let scales = |key: &str| -> Vec<Line> {
            inits
                .iter()
                .map(|r| {
                    let pts = r.extra["init_scales"]
                        .as_array()
                        .map(|a| {
                            a.iter()
                                .filter_map(|s| Some((s["layer"].as_f64()?, s[key].as_f64()?)))
                                .filter(|(_, v)| v.is_finite() && *v > 0.0)
                                .collect()
                        })
                        .unwrap_or_default();
                    Line::new(r.param("init"), pts, color(r)).markers()
                })
                .collect()
        };
        sections.push(Section {
            title: "Initialisation".into(),
            text: "The same network and optimizer from five initialisations: training loss, and at initialisation the standard deviation of each layer's output and of each weight's gradient on one batch. N(0, 1) multiplies the activation scale by about sqrt(fan_in) per layer; U(-0.01, 0.01) shrinks it; Xavier and He keep it near constant.".into(),
            table: None,
            plots: vec![
                Plot::Lines(LinePlot { title: "training loss by initialisation".into(), x_label: "step (log)".into(), y_label: "cross-entropy (log)".into(), log_x: true, log_y: true, lines: curves }),
                Plot::Lines(LinePlot { title: "activation std at initialisation".into(), x_label: "layer".into(), y_label: "std (log)".into(), log_x: false, log_y: true, lines: scales("activation_std") }),
                Plot::Lines(LinePlot { title: "weight-gradient std at initialisation".into(), x_label: "layer".into(), y_label: "std (log)".into(), log_x: false, log_y: true, lines: scales("grad_std") }),
            ],
        });
    }
    sections
}
