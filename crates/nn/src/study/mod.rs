//! The classifier study: a network trained from scratch on Fashion-MNIST (or any
//! [`Dataset`]), with what a user wants to *see* recorded along the way.
//!
//! Per run: the training loss every step; test loss and accuracy and training seconds per
//! epoch; the **sharpness** (largest Hessian eigenvalue of the training loss on a fixed batch,
//! by power iteration on exact Hessian-vector products) every `sharpness_every` steps, to set
//! against the edge-of-stability line `2/lr` (Cohen et al. 2021); the confusion matrix; per-layer
//! activation and gradient scales at initialisation; and optionally the loss landscape around
//! the trained weights along two random **filter-normalised** directions (Li et al. 2018: each
//! row of a direction is rescaled to the norm of the matching weight row; bias directions are
//! zero).
//!
//! Training runs with flush-to-zero on (see `core_tensor::with_flush_denormals`).

use std::time::Instant;

use core_tensor::{no_grad, with_flush_denormals, Rng, Tensor};
use lab::params::Params;
use optim::hessian::power_iteration;
use optim::Method;
use serde::{Deserialize, Serialize};

use crate::checkpoint::Snapshot;
use crate::data::{Batches, Dataset};
use crate::error::Result;
use crate::init::{self, Gain};
use crate::loss::cross_entropy_smoothed;
use crate::metrics::{confusion_matrix, predictions};
use crate::module::{parameter_tensors, Activation, Flatten, Linear, Module, Reshape, Sequential};
use crate::Conv2d;

mod report;
pub use report::ClassifierStudy;

/// The network.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ModelKind {
    /// 784-256-128-10 with ReLU.
    Mlp,
    /// Conv(1->32, 3, stride 2) ReLU Conv(32->64, 3, stride 2) ReLU Linear(3136->128) ReLU
    /// Linear(128->10).
    Cnn,
}

/// The image size the classifier's networks take (Fashion-MNIST's).
pub const IMAGE_SHAPE: (usize, usize) = (28, 28);

/// How weights start.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum InitKind {
    /// PyTorch's default `U(-1/sqrt(fan_in), 1/sqrt(fan_in))`.
    Default,
    /// `N(0, 1)` (too large: activations blow up with depth).
    Normal,
    /// `U(-0.01, 0.01)` (too small: signals and gradients vanish).
    SmallUniform,
    /// Xavier/Glorot uniform.
    Xavier,
    /// Kaiming/He uniform with the ReLU gain.
    He,
}

lab::choice!(ModelKind, InitKind);

lab::params! {
    /// One run's configuration (mirrors the experiment's `[params]`).
    #[derive(Debug, Clone, PartialEq, Serialize)]
    pub struct ClassifierConfig as "classifier" {
        /// The network: 784-256-128-10 MLP or a two-conv CNN.
        pub model: ModelKind,
        /// The optimizer.
        pub optimizer: Method,
        /// Learning rate.
        pub lr: f64; bounds(gt = 0, max = 1e3),
        /// Momentum of the momentum methods.
        pub momentum: f64 = 0.9; bounds(min = 0, lt = 1),
        /// Batch size.
        pub batch: usize = 128; bounds(min = 1, max = 65_536),
        /// Epochs.
        pub epochs: usize = 10; bounds(min = 1, max = 10_000),
        /// Weight initialisation (biases always take PyTorch's default).
        pub init: InitKind = InitKind::Default,
        /// Use only the first this-many training examples (0 = all).
        pub train_limit: usize = 0; bounds(max = 100_000_000),
        /// Use only the first this-many test examples (0 = all).
        pub test_limit: usize = 0; bounds(max = 100_000_000),
        /// Steps between sharpness estimates (0 = never).
        pub sharpness_every: u64 = 500; bounds(max = 100_000_000),
        /// Compute the 2-D loss landscape after training.
        pub landscape: bool = false,
        /// Label smoothing.
        pub label_smoothing: f32 = 0.0; bounds(min = 0, lt = 1),
        /// Decay the learning rate along half a cosine to 0 over the run (no warm-up).
        pub cosine: bool = false,
    }
}

impl ClassifierConfig {
    /// A configuration with the defaults for everything but the model, optimizer and rate.
    pub fn new(model: ModelKind, optimizer: Method, lr: f64) -> ClassifierConfig {
        ClassifierConfig {
            model,
            optimizer,
            lr,
            momentum: 0.9,
            batch: 128,
            epochs: 10,
            init: InitKind::Default,
            train_limit: 0,
            test_limit: 0,
            sharpness_every: 500,
            landscape: false,
            label_smoothing: 0.0,
            cosine: false,
        }
    }

    /// The number of training examples a run uses out of `available`.
    pub fn train_examples(&self, available: usize) -> usize {
        limit(self.train_limit, available)
    }
}

fn limit(limit: usize, available: usize) -> usize {
    if limit == 0 {
        available
    } else {
        limit.min(available)
    }
}

/// One epoch's record.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct EpochRecord {
    /// Epoch (1-based).
    pub epoch: usize,
    /// Step count at its end.
    pub step: u64,
    /// Mean test loss.
    pub test_loss: f64,
    /// Test accuracy.
    pub test_accuracy: f64,
    /// Mean training loss over the epoch.
    pub train_loss: f64,
    /// Seconds spent training (not evaluating) in the epoch.
    pub seconds: f64,
}

/// Per-layer scale at initialisation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LayerScale {
    /// Layer index in the `Sequential`.
    pub layer: usize,
    /// Standard deviation of the layer's output on a batch.
    pub activation_std: f64,
    /// Standard deviation of the gradient of its weight (NaN for parameter-free layers).
    pub grad_std: f64,
}

/// What a run produced.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ClassifierRun {
    /// Training examples used per epoch.
    pub train_examples: usize,
    /// `(step, loss)` for every training step.
    pub train_loss: Vec<(u64, f64)>,
    /// Per-epoch records.
    pub epochs: Vec<EpochRecord>,
    /// `(step, lambda_max)` sharpness estimates.
    pub sharpness: Vec<(u64, f64)>,
    /// Confusion matrix on the test set after training.
    pub confusion: Vec<Vec<usize>>,
    /// Scales at initialisation.
    pub init_scales: Vec<LayerScale>,
    /// Loss landscape: `(alphas, betas, losses row-major [beta][alpha])`.
    pub landscape: Option<(Vec<f64>, Vec<f64>, Vec<f64>)>,
    /// Step at which the loss became non-finite.
    pub diverged_at: Option<u64>,
    /// Number of parameters.
    pub parameters: usize,
    /// The trained network and the configuration that rebuilds it ([`model_metadata`]): the
    /// run's `model.safetensors`, not part of `data.json`.
    #[serde(skip)]
    pub model: Snapshot,
}

/// The checkpoint metadata of a study's trained model: `groundwork.study` (the study's
/// kind) and `groundwork.config` (its configuration as TOML, every parameter), from which
/// the architecture is rebuilt to load the weights (`onnx::checkpoint` does).
pub fn model_metadata<P: lab::params::Params>(
    study: &str,
    config: &P,
) -> Vec<(&'static str, String)> {
    vec![
        ("groundwork.study", study.to_string()),
        ("groundwork.config", config.to_table().to_string()),
    ]
}

impl ClassifierRun {
    /// Median training seconds per epoch (evaluation and sharpness estimates excluded); NaN
    /// before the first epoch ends.
    pub fn epoch_seconds(&self) -> f64 {
        let mut secs: Vec<f64> = self.epochs.iter().map(|e| e.seconds).collect();
        secs.sort_by(f64::total_cmp);
        secs.get(secs.len() / 2).copied().unwrap_or(f64::NAN)
    }

    /// Training throughput: examples per second of training time.
    pub fn samples_per_second(&self) -> f64 {
        self.train_examples as f64 / self.epoch_seconds()
    }

    /// Test accuracy after the last epoch.
    pub fn test_accuracy(&self) -> f64 {
        self.epochs.last().map_or(f64::NAN, |e| e.test_accuracy)
    }
}

fn std_of(v: &[f32]) -> f64 {
    let n = v.len().max(1) as f64;
    let m = v.iter().map(|&x| x as f64).sum::<f64>() / n;
    (v.iter().map(|&x| (x as f64 - m).powi(2)).sum::<f64>() / n).sqrt()
}

fn init_weight(kind: InitKind, shape: &[usize], rng: &mut Rng) -> Result<Tensor> {
    Ok(match kind {
        InitKind::Default => init::torch_default(shape, shape, rng)?,
        InitKind::Normal => rng.normal(shape, 0.0, 1.0),
        InitKind::SmallUniform => rng.uniform(shape, -0.01, 0.01),
        InitKind::Xavier => init::xavier_uniform(shape, Gain::Linear, rng)?,
        InitKind::He => init::kaiming_uniform(shape, Gain::Relu, rng)?,
    })
}

/// Where [`architecture`] gets each layer's `(weight, bias)` for a weight shape.
type ParamSource<'a> = dyn FnMut(&[usize]) -> Result<(Tensor, Tensor)> + 'a;

/// The network of `model`, its parameters drawn in order from `param`, which is asked for
/// each weight shape (`[out, in]` or `[out, in, k, k]`) and returns `(weight, bias)`. The one
/// definition of each architecture.
fn architecture(model: ModelKind, param: &mut ParamSource<'_>) -> Result<Sequential> {
    let mut linear = |i: usize, o: usize| -> Result<Linear> {
        let (w, b) = param(&[o, i])?;
        Linear::from_tensors(w, Some(b))
    };
    Ok(match model {
        ModelKind::Mlp => Sequential::new()
            .push(linear(784, 256)?)
            .push(Activation::Relu)
            .push(linear(256, 128)?)
            .push(Activation::Relu)
            .push(linear(128, 10)?),
        ModelKind::Cnn => {
            let c1 = param(&[32, 1, 3, 3])?;
            let c2 = param(&[64, 32, 3, 3])?;
            let mut linear = |i: usize, o: usize| -> Result<Linear> {
                let (w, b) = param(&[o, i])?;
                Linear::from_tensors(w, Some(b))
            };
            Sequential::new()
                .push(Reshape(vec![1, 28, 28]))
                .push(Conv2d::from_tensors(c1.0, Some(c1.1), 2, 1)?)
                .push(Activation::Relu)
                .push(Conv2d::from_tensors(c2.0, Some(c2.1), 2, 1)?)
                .push(Activation::Relu)
                .push(Flatten)
                .push(linear(64 * 7 * 7, 128)?)
                .push(Activation::Relu)
                .push(linear(128, 10)?)
        }
    })
}

/// Builds the network with the chosen initialisation of weights (biases: PyTorch default).
///
/// # Errors
/// Never for the fixed architectures.
pub fn build_model(model: ModelKind, init: InitKind, rng: &mut Rng) -> Result<Sequential> {
    architecture(model, &mut |shape| {
        let w = init_weight(init, shape, rng)?.with_grad();
        let b = init::torch_default(shape, &shape[..1], rng)?.with_grad();
        Ok((w, b))
    })
}

/// Mean loss and accuracy on a dataset, in chunks, without recording a graph.
fn evaluate(
    net: &Sequential,
    data: &Dataset,
    limit: usize,
    smoothing: f32,
) -> Result<(f64, f64, Vec<usize>)> {
    let n = self::limit(limit, data.len());
    no_grad(|| {
        let (mut loss, mut preds) = (0.0, Vec::with_capacity(n));
        for start in (0..n).step_by(1000) {
            let idx: Vec<usize> = (start..(start + 1000).min(n)).collect();
            let (x, y) = data.batch(&idx)?;
            let logits = net.forward(&x)?;
            loss +=
                cross_entropy_smoothed(&logits, &y, smoothing)?.item()? as f64 * idx.len() as f64;
            preds.extend(predictions(&logits)?);
        }
        let correct = preds
            .iter()
            .zip(&data.labels[..n])
            .filter(|(a, b)| a == b)
            .count();
        Ok((loss / n as f64, correct as f64 / n as f64, preds))
    })
}

/// Trains and measures one configuration. `progress(step, total_steps, loss)` is called every
/// 50 steps.
///
/// # Errors
/// Invalid configuration; tensor errors.
pub fn run_classifier(
    cfg: &ClassifierConfig,
    seed: u64,
    train: &Dataset,
    test: &Dataset,
    progress: &mut dyn FnMut(u64, u64, f64),
) -> Result<ClassifierRun> {
    cfg.check()?;
    for (what, d) in [("training", train), ("test", test)] {
        if d.image_shape != IMAGE_SHAPE || d.images.shape().get(1) != Some(&784) {
            return Err(crate::error::invalid(
                "classifier",
                format!(
                    "the models take 28x28 images; the {what} set's are {}x{}",
                    d.image_shape.0, d.image_shape.1
                ),
            ));
        }
    }
    if train.is_empty() || test.is_empty() {
        return Err(crate::error::invalid(
            "classifier",
            format!(
                "the training set has {} and the test set {} examples: both need some",
                train.len(),
                test.len()
            ),
        ));
    }
    with_flush_denormals(|| train_inner(cfg, seed, train, test, progress))
}

fn train_inner(
    cfg: &ClassifierConfig,
    seed: u64,
    train: &Dataset,
    test: &Dataset,
    progress: &mut dyn FnMut(u64, u64, f64),
) -> Result<ClassifierRun> {
    let mut rng = Rng::with_stream(seed, 7);
    let net = build_model(cfg.model, cfg.init, &mut rng)?;
    let params = parameter_tensors(&net);
    let n_train = cfg.train_examples(train.len());
    let mut opt = cfg.optimizer.build(cfg.lr as f32, cfg.momentum as f32)?;
    // Fixed batch for the sharpness and the init statistics: the first `batch` examples.
    let fixed: Vec<usize> = (0..cfg.batch.min(n_train)).collect();
    let (fx, fy) = train.batch(&fixed)?;

    // Scales at initialisation.
    let outs = net.forward_all(&fx)?;
    let l0 = cross_entropy_smoothed(outs.last().expect("layers"), &fy, cfg.label_smoothing)?;
    let mut init_scales = Vec::new();
    if l0.requires_grad() && l0.item()?.is_finite() {
        l0.backward()?;
    }
    let names: Vec<(String, Tensor)> = net.parameters();
    for (i, o) in outs.iter().enumerate() {
        let g = names
            .iter()
            .find(|(n, _)| *n == format!("{i}.weight"))
            .and_then(|(_, t)| t.grad());
        init_scales.push(LayerScale {
            layer: i,
            activation_std: std_of(&o.to_vec()),
            grad_std: g.map(|g| std_of(&g.to_vec())).unwrap_or(f64::NAN),
        });
    }
    params.iter().for_each(Tensor::zero_grad);

    let steps_per_epoch = n_train.div_ceil(cfg.batch) as u64;
    let total = steps_per_epoch * cfg.epochs as u64;
    let (mut train_loss, mut epochs, mut sharpness) = (Vec::new(), Vec::new(), Vec::new());
    let mut diverged_at = None;
    let mut step = 0u64;
    // The sharpness: the top eigenvalue of the loss Hessian on the fixed batch.
    let sharp = || -> Result<f64> {
        let op = crate::hessian::hessian_operator(&net, &fx, |out| {
            cross_entropy_smoothed(out, &fy, cfg.label_smoothing)
        });
        Ok(power_iteration(&op, 20, 1e-3, seed ^ 0x5a)?.eigenvalue)
    };
    'epochs: for epoch in 0..cfg.epochs {
        let started = Instant::now();
        let mut sum = 0.0;
        let mut count = 0usize;
        let batches = Batches::new(n_train, cfg.batch, true, seed, epoch as u64, false);
        let mut paused = 0.0f64;
        for idx in batches {
            if cfg.sharpness_every > 0 && step.is_multiple_of(cfg.sharpness_every) {
                let t = Instant::now();
                sharpness.push((step, sharp()?));
                paused += t.elapsed().as_secs_f64();
            }
            if cfg.cosine {
                let schedule = optim::Schedule::Cosine {
                    warmup: 0,
                    total,
                    min_lr: 0.0,
                };
                opt.set_lr(schedule.lr_at(cfg.lr, step) as f32);
            }
            let (x, y) = train.batch(&idx)?;
            let loss = cross_entropy_smoothed(&net.forward(&x)?, &y, cfg.label_smoothing)?;
            let l = loss.item()? as f64;
            if !l.is_finite() {
                diverged_at = Some(step);
                break 'epochs;
            }
            loss.backward()?;
            opt.step(&params)?;
            params.iter().for_each(Tensor::zero_grad);
            train_loss.push((step, l));
            sum += l;
            count += 1;
            step += 1;
            if step.is_multiple_of(50) {
                progress(step, total, l);
            }
        }
        let seconds = started.elapsed().as_secs_f64() - paused;
        let (test_loss, test_accuracy, _) =
            evaluate(&net, test, cfg.test_limit, cfg.label_smoothing)?;
        epochs.push(EpochRecord {
            epoch: epoch + 1,
            step,
            test_loss,
            test_accuracy,
            train_loss: sum / count.max(1) as f64,
            seconds,
        });
    }
    let (_, _, preds) = evaluate(&net, test, cfg.test_limit, cfg.label_smoothing)?;
    let n_test = preds.len();
    let confusion = confusion_matrix(&preds, &test.labels[..n_test], 10)?;
    let landscape = if cfg.landscape && diverged_at.is_none() {
        Some(landscape(cfg, seed, &net, train, n_train)?)
    } else {
        None
    };
    Ok(ClassifierRun {
        train_examples: n_train,
        train_loss,
        epochs,
        sharpness,
        confusion,
        init_scales,
        landscape,
        diverged_at,
        parameters: params.iter().map(Tensor::numel).sum(),
        model: Snapshot::of(&net.parameters(), &model_metadata("classifier", cfg)),
    })
}

/// A random direction with each weight row scaled to the norm of the matching row of `p`
/// (filter normalisation); bias directions are zero.
fn filter_normalised(p: &[Tensor], rng: &mut Rng) -> Result<Vec<Tensor>> {
    p.iter()
        .map(|w| {
            if w.ndim() < 2 {
                return Ok(w.zeros_like());
            }
            let rows = w.shape()[0];
            let cols = w.numel() / rows;
            let d = rng.normal(w.shape(), 0.0, 1.0).to_vec();
            let wv = w.to_vec();
            let mut out = vec![0.0f32; d.len()];
            for r in 0..rows {
                let (dr, wr) = (&d[r * cols..(r + 1) * cols], &wv[r * cols..(r + 1) * cols]);
                let (dn, wn) = (
                    dr.iter().map(|v| v * v).sum::<f32>().sqrt(),
                    wr.iter().map(|v| v * v).sum::<f32>().sqrt(),
                );
                for c in 0..cols {
                    out[r * cols + c] = dr[c] / dn.max(1e-12) * wn;
                }
            }
            Ok(Tensor::from_vec(out, w.shape())?)
        })
        .collect()
}

fn landscape(
    cfg: &ClassifierConfig,
    seed: u64,
    net: &Sequential,
    train: &Dataset,
    n_train: usize,
) -> Result<(Vec<f64>, Vec<f64>, Vec<f64>)> {
    let params = &parameter_tensors(net);
    let mut rng = Rng::with_stream(seed, 99);
    let (d1, d2) = (
        filter_normalised(params, &mut rng)?,
        filter_normalised(params, &mut rng)?,
    );
    let idx: Vec<usize> = (0..2048.min(n_train)).collect();
    let (x, y) = train.batch(&idx)?;
    let grid: Vec<f64> = (0..21).map(|i| -1.0 + 0.1 * i as f64).collect();
    let mut losses = Vec::with_capacity(grid.len() * grid.len());
    no_grad(|| -> Result<()> {
        for &b in &grid {
            for &a in &grid {
                let moved: Vec<Tensor> = params
                    .iter()
                    .zip(d1.iter().zip(&d2))
                    .map(|(p, (u, v))| p.add(&u.mul_scalar(a as f32))?.add(&v.mul_scalar(b as f32)))
                    .collect::<core_tensor::Result<_>>()?;
                losses.push(
                    cross_entropy_smoothed(&net.forward_with(&moved, &x)?, &y, cfg.label_smoothing)?
                        .item()? as f64,
                );
            }
        }
        Ok(())
    })?;
    Ok((grid.clone(), grid, losses))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forward_with_substitutes_parameters_in_both_architectures() {
        for model in [ModelKind::Mlp, ModelKind::Cnn] {
            let net = build_model(model, InitKind::He, &mut Rng::seed(3)).unwrap();
            let other = build_model(model, InitKind::He, &mut Rng::seed(5)).unwrap();
            let params = parameter_tensors(&other);
            let x = Rng::seed(4).uniform(&[2, 784], 0.0, 1.0);
            assert_eq!(
                net.forward_with(&params, &x).unwrap().to_vec(),
                other.forward(&x).unwrap().to_vec()
            );
            // Too few tensors, or tensors of another architecture, are refused.
            assert!(net.forward_with(&params[..params.len() - 2], &x).is_err());
        }
        let mlp = parameter_tensors(
            &build_model(ModelKind::Mlp, InitKind::Default, &mut Rng::seed(0)).unwrap(),
        );
        let cnn = build_model(ModelKind::Cnn, InitKind::Default, &mut Rng::seed(0)).unwrap();
        let err = cnn
            .forward_with(&mlp, &Tensor::zeros(&[1, 784]))
            .unwrap_err()
            .to_string();
        assert!(err.contains("forward_with"), "{err}");
    }
}
