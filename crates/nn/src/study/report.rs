//! The `classifier` study as `lab` runs it ([`ClassifierStudy`]): the parent module's
//! training runs on Fashion-MNIST recorded as metrics and drawn as loss and accuracy curves (mean over seeds with a min-max band),
//! sharpness against the edge of stability, the loss landscape, a confusion matrix and the
//! initialisation scales.

use std::collections::BTreeMap;

use super::{run_classifier, ClassifierConfig, ClassifierRun};
use crate::data::{fashion_mnist, Dataset};
use lab::report::{header, smooth, Heatmap, Line, LinePlot, Plot, Section, TableData};
use lab::study::{Progress, Record, Run, Study};

/// The Fashion-MNIST classifier study.
pub struct ClassifierStudy;

impl Study for ClassifierStudy {
    type Config = ClassifierConfig;
    type Output = ClassifierRun;
    const KIND: &'static str = "classifier";
    const DESCRIPTION: &'static str =
        "a network trained from scratch on Fashion-MNIST: curves, sharpness, landscape, initialisation";
    const METRICS: &'static [&'static str] = &[
        "test_accuracy",
        "best_test_accuracy",
        "test_loss",
        "final_train_loss",
        "epoch_seconds",
        "samples_per_second",
        "max_sharpness",
        "final_sharpness",
        "edge_of_stability",
        "diverged",
        "parameters",
        "lr",
    ];

    fn run(
        &self,
        cfg: &ClassifierConfig,
        seed: u64,
        progress: &mut Progress<'_>,
    ) -> Result<ClassifierRun, lab::study::RunError> {
        let (train, test) = data()?;
        run_classifier(cfg, seed, train, test, &mut progress.as_fn()).map_err(Into::into)
    }

    fn record(&self, cfg: &ClassifierConfig, r: &ClassifierRun) -> Record {
        let last = r.epochs.last();
        let sharp = r.sharpness.iter().map(|s| s.1);
        Record {
            files: r.model.run_file(),
            ..Record::new()
        }
        .metric("test_accuracy", r.test_accuracy())
        .metric(
            "best_test_accuracy",
            r.epochs
                .iter()
                .map(|e| e.test_accuracy)
                .fold(f64::NAN, f64::max),
        )
        .maybe("test_loss", last.map(|e| e.test_loss))
        .maybe("final_train_loss", last.map(|e| e.train_loss))
        .metric("epoch_seconds", r.epoch_seconds())
        .metric("samples_per_second", r.samples_per_second())
        .metric("max_sharpness", sharp.fold(f64::NAN, f64::max))
        .maybe("final_sharpness", r.sharpness.last().map(|s| s.1))
        .metric("edge_of_stability", 2.0 / cfg.lr)
        .flag("diverged", Some(r.diverged_at.is_some()))
        .metric("parameters", r.parameters as f64)
        .metric("lr", cfg.lr)
        .series(
            &["step", "train_loss"],
            r.train_loss
                .iter()
                .map(|&(s, l)| vec![s as f64, l])
                .collect(),
        )
        .diverged_at(r.diverged_at)
    }

    fn report(&self, runs: &[Run<Self>]) -> Vec<Section> {
        report(runs)
    }
}

/// Fashion-MNIST, refused by name when its images are not the size the models take.
fn data() -> Result<(&'static Dataset, &'static Dataset), lab::study::RunError> {
    let f = fashion_mnist()?;
    if f.train.image_shape != super::IMAGE_SHAPE {
        return Err(format!(
            "{}: the classifier's models take {}x{} images; this dataset's are {}x{}",
            f.dir.display(),
            super::IMAGE_SHAPE.0,
            super::IMAGE_SHAPE.1,
            f.train.image_shape.0,
            f.train.image_shape.1
        )
        .into());
    }
    Ok((&f.train, &f.test))
}

type R = Run<ClassifierStudy>;

fn label(r: &R) -> String {
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

fn color(r: &R) -> usize {
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

fn report(runs: &[R]) -> Vec<Section> {
    let mut sorted: Vec<&R> = runs.iter().collect();
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
                r.status.kind().to_string(),
                f(r.metric("test_accuracy"), 4),
                f(r.metric("test_loss"), 4),
                f(r.metric("final_train_loss"), 4),
                f(r.metric("epoch_seconds"), 3),
                f(r.metric("max_sharpness"), 1),
                f(r.metric("edge_of_stability"), 0),
            ]
        })
        .collect();
    let main: Vec<&&R> = sorted
        .iter()
        // The initialisation comparison names `init`; the main runs leave it at its default.
        .filter(|r| r.param("init").is_empty())
        .collect();
    // Runs with the same parameters differ only in their seed: one line, their mean, with a
    // band.
    let mut by_config: BTreeMap<String, Vec<&&R>> = BTreeMap::new();
    for r in &main {
        by_config.entry(r.params.to_string()).or_default().push(r);
    }
    let mut by_label: Vec<(String, Vec<&&R>)> = by_config
        .into_values()
        .map(|rs| (label(rs[0]), rs))
        .collect();
    by_label.sort_by(|a, b| a.0.cmp(&b.0));
    let firsts: Vec<&&R> = by_label.iter().map(|(_, rs)| rs[0]).collect();
    let curve = |r: &R| {
        let pts: Vec<(f64, f64)> = r
            .output
            .as_ref()
            .map(|o| o.train_loss.iter().map(|&(s, l)| (s as f64, l)).collect())
            .unwrap_or_default();
        smooth(&pts, 50)
    };
    let accuracy = |r: &R| -> Vec<(f64, f64)> {
        r.output
            .as_ref()
            .map(|o| {
                o.epochs
                    .iter()
                    .map(|e| (e.epoch as f64, e.test_accuracy))
                    .collect()
            })
            .unwrap_or_default()
    };
    let loss_lines = by_label
        .iter()
        .map(|(l, rs)| {
            let curves: Vec<_> = rs.iter().map(|r| curve(r)).collect();
            Line::mean_band(l.clone(), &curves, color(rs[0]))
        })
        .collect();
    let acc_lines = by_label
        .iter()
        .map(|(l, rs)| {
            let curves: Vec<_> = rs.iter().map(|r| accuracy(r)).collect();
            Line::mean_band(l.clone(), &curves, color(rs[0])).markers()
        })
        .collect();
    let mut sections = vec![
        Section {
            title: "Runs".into(),
            text: "Test accuracy and loss after the last epoch; training loss is the mean over the last epoch; seconds per epoch exclude evaluation and sharpness estimates (median over epochs). Sharpness is the top Hessian eigenvalue of the training loss on a fixed batch; 2/lr is the edge-of-stability value for plain gradient descent.".into(),
            table: Some(TableData { header: header(&["run", "seed", "status", "test acc", "test loss", "train loss", "s/epoch", "max sharpness", "2/lr"]), rows }),
            plots: vec![
                Plot::Lines(LinePlot { title: "training loss (mean of 50 steps; over seeds: mean, min-max band)".into(), x_label: "step (log)".into(), y_label: "cross-entropy (log)".into(), log_x: true, log_y: true, lines: loss_lines }),
                Plot::Lines(LinePlot { title: "test accuracy (over seeds: mean, min-max band)".into(), x_label: "epoch".into(), y_label: "accuracy".into(), log_x: false, log_y: false, lines: acc_lines }),
            ],
        },
    ];
    // Sharpness against 2/lr.
    let mut sharp = Vec::new();
    for r in &firsts {
        let pts: Vec<(f64, f64)> = r
            .output
            .as_ref()
            .map(|o| {
                o.sharpness
                    .iter()
                    .map(|&(s, v)| (s as f64 + 1.0, v))
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
        if let Some(cm) = best.output.as_ref().map(|o| &o.confusion) {
            let rows: Vec<Vec<f64>> = cm
                .iter()
                .map(|r| r.iter().map(|&x| x as f64).collect())
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
        if let Some((a, b, v)) = r.output.as_ref().and_then(|o| o.landscape.as_ref()) {
            let (a0, a1) = (a[0], a[a.len() - 1]);
            let (b0, b1) = (b[0], b[b.len() - 1]);
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
                    values: v.iter().map(|x| x.max(1e-6).log10()).collect(),
                    categories: vec![],
                    overlay: vec![Line::new("trained weights", vec![(0.0, 0.0)], 3).markers()],
                })],
            });
            break;
        }
    }
    // Initialisation comparison.
    let inits: Vec<&&R> = sorted
        .iter()
        .filter(|r| !r.param("init").is_empty())
        .collect();
    let mut seen = std::collections::BTreeSet::new();
    let inits: Vec<&&R> = inits
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
                    let pts = r
                        .output
                        .as_ref()
                        .map(|o| {
                            o.init_scales
                                .iter()
                                .map(|s| {
                                    let v = if key == "grad_std" {
                                        s.grad_std
                                    } else {
                                        s.activation_std
                                    };
                                    (s.layer as f64, v)
                                })
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
