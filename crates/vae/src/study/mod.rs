//! The β-VAE study: one training run, and everything measured after it.
//!
//! A run trains a [`Vae`] with Adam on dSprites (generated on demand) or Fashion-MNIST, logging
//! the ELBO's pieces every step — loss, reconstruction `E_q[−ln p(x|z)]`, `KL(q(z|x) ‖ p(z))`
//! — and the KL of every latent dimension every `kl_every` steps. Runs that share a seed share
//! everything but their objective: the initial weights (stream 1 of the seed), the noise `ε`
//! (stream 2) and the order of the data (dSprites: the batch of step `t` is a function of
//! `(seed, t)`; Fashion-MNIST: the epoch's shuffle), so a β sweep differs only in β.
//!
//! After training, on a fixed evaluation set (`eval_examples` images drawn by the seed):
//! reconstruction NLL and KL per example (the rate–distortion point), KL per dimension, active
//! units, the KL decomposition over the aggregate posterior ([`crate::kl::decompose`]), and on
//! dSprites the factor metrics ([`crate::metrics`]) with the representation "render the
//! factors' image, take the posterior mean". Pictures: originals over reconstructions, and a
//! latent traversal — from the first evaluation image's posterior mean, each latent set in
//! turn to evenly spaced values in `[−r, r]` (prior standard deviations; `r` = 3), one row per
//! latent, rows sorted by the latent's KL, largest first. With two latents, the posterior
//! means of `scatter_points` evaluation images and their ground-truth labels (for the scatter
//! coloured by a factor).

use std::time::Instant;

use core_tensor::{no_grad, with_flush_denormals, Rng, Tensor};
use lab::image::GrayImage;
use lab::params::ParamError;
use nn::data::{Batches, Dataset};
use optim::Adam;
use serde::{Deserialize, Serialize};

use crate::dsprites::{DSprites, FACTOR_SIZES};
use crate::kl::{decompose, kl_per_dimension, KlDecomposition};
use crate::metrics::{active_units, beta_vae_score, factor_vae_score, mig, Score};
use crate::model::{Likelihood, MlpSpec, Objective, Vae};

mod report;
pub use report::BetaVaeStudy;

/// The data a run trains on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum DataKind {
    /// Procedural dSprites, 64×64 binary, five known factors.
    Dsprites,
    /// Fashion-MNIST, 28×28 grey (no factor metrics; labels colour the 2-latent scatter).
    FashionMnist,
}

/// The architecture.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Arch {
    /// dSprites: [`MlpSpec::higgins`]; Fashion-MNIST: [`MlpSpec::fashion_mnist`].
    Mlp,
    /// [`Vae::conv`] (64×64 images only).
    Conv,
}

/// The objective (see [`Objective`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ObjectiveKind {
    /// `recon + β KL`.
    Beta,
    /// `recon + γ |KL − C(t)|`.
    Capacity,
}

lab::choice!(DataKind, Arch, Likelihood, ObjectiveKind);

lab::params! {
    /// One run's configuration (mirrors the experiment's `[params]`).
    #[derive(Debug, Clone, PartialEq, Serialize)]
    pub struct VaeConfig as "vae" {
        /// The data.
        pub dataset: DataKind = DataKind::Dsprites,
        /// The architecture (conv: dSprites only).
        pub model: Arch = Arch::Mlp,
        /// Latent dimensions.
        pub latent: usize = 10; bounds(min = 1, max = 512),
        /// The decoder's likelihood.
        pub likelihood: Likelihood = Likelihood::Bernoulli,
        /// The objective.
        pub objective: ObjectiveKind = ObjectiveKind::Beta,
        /// β of the β objective.
        pub beta: f64 = 4.0; bounds(min = 0, max = 10_000),
        /// γ of the capacity objective.
        pub gamma: f64 = 1000.0; bounds(min = 0, max = 1_000_000),
        /// Final capacity C_max (nats) of the capacity objective.
        pub c_max: f64 = 25.0; bounds(min = 0, max = 10_000),
        /// Steps over which the capacity rises from 0 to C_max.
        pub capacity_steps: u64 = 100_000; bounds(min = 1, max = 1_000_000_000),
        /// Adam's learning rate.
        pub lr: f64 = 5e-4; bounds(gt = 0, max = 1),
        /// Batch size.
        pub batch: usize = 64; bounds(min = 1, max = 4096),
        /// Training steps.
        pub steps: u64 = 2000; bounds(min = 1, max = 100_000_000),
        /// Steps between records of the per-dimension KL.
        pub kl_every: u64 = 20; bounds(min = 1, max = 100_000_000),
        /// Evaluation images (reconstruction, KL, active units, KL decomposition).
        pub eval_examples: usize = 2000; bounds(min = 16, max = 100_000),
        /// Factor tuples for MIG (disentanglement_lib: 10,000; 0 = skip).
        pub mig_points: usize = 10_000; bounds(max = 1_000_000),
        /// Training points of the beta-VAE and FactorVAE scores (disentanglement_lib: 10,000; 0 = skip both).
        pub score_train: usize = 500; bounds(max = 1_000_000),
        /// Evaluation points of the two scores (disentanglement_lib: 5,000).
        pub score_eval: usize = 250; bounds(min = 1, max = 1_000_000),
        /// Images per score point (disentanglement_lib: 64).
        pub score_batch: usize = 64; bounds(min = 2, max = 4096),
        /// Images for FactorVAE's global variances (disentanglement_lib: 10,000).
        pub variance_points: usize = 10_000; bounds(min = 2, max = 1_000_000),
        /// Images per latent in the traversal.
        pub traversal_steps: usize = 9; bounds(min = 2, max = 25),
        /// The traversal spans [-r, r] prior standard deviations.
        pub traversal_range: f64 = 3.0; bounds(gt = 0, max = 10),
        /// Posterior means kept for the scatter when latent = 2.
        pub scatter_points: usize = 1500; bounds(max = 100_000),
    }
}

impl Default for VaeConfig {
    /// Every parameter at its default: the Higgins MLP on dSprites, β = 4, 2,000 steps.
    fn default() -> VaeConfig {
        use lab::params::Params;
        VaeConfig::from_table(&lab::params::Table::new()).expect("every parameter has a default")
    }
}

/// Checks that need several parameters at once.
///
/// # Errors
/// The conv model on 28×28 data.
pub fn check(cfg: &VaeConfig) -> Result<(), ParamError> {
    if cfg.model == Arch::Conv && cfg.dataset != DataKind::Dsprites {
        return Err(ParamError::field(
            "model",
            "the conv VAE takes 64x64 images: dataset = \"dsprites\" only",
        ));
    }
    Ok(())
}

/// The ELBO's pieces at one step (batch means).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct StepLog {
    /// Step (0-based).
    pub step: u64,
    /// The objective.
    pub loss: f32,
    /// Reconstruction `−ln p(x|z)` per example.
    pub recon: f32,
    /// `KL(q(z|x) ‖ p(z))` per example.
    pub kl: f32,
}

/// The factor metrics of a dSprites run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FactorScores {
    /// MIG (`None` when skipped).
    pub mig: Option<f64>,
    /// MIG's gap per factor (shape, scale, orientation, x, y); empty when skipped.
    pub mig_per_factor: Vec<f64>,
    /// `I(z_j; v_k)` in nats, a row per latent; empty when skipped.
    pub mutual_information: Vec<Vec<f64>>,
    /// The β-VAE score (`None` when skipped).
    pub beta_vae: Option<Score>,
    /// The FactorVAE score (`None` when skipped).
    pub factor_vae: Option<Score>,
}

/// What is measured after training.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Evaluation {
    /// Reconstruction NLL per example (one `z` sample each): the distortion.
    pub recon: f64,
    /// KL per dimension (their sum is the rate: [`Evaluation::kl`]).
    pub kl_per_dim: Vec<f64>,
    /// Active units (variance of the posterior mean > 0.01).
    pub active_units: usize,
    /// The variance of each dimension's posterior mean over the evaluation set.
    pub mean_variance: Vec<f64>,
    /// The KL decomposition over the aggregate posterior of the evaluation set.
    pub decomposition: KlDecomposition,
    /// dSprites only.
    pub factors: Option<FactorScores>,
    /// Originals (top row) and reconstructions (posterior-mean code, decoder mean).
    pub reconstructions: GrayImage,
    /// The latent traversal: a row per latent, largest KL first.
    pub traversal: GrayImage,
    /// With two latents: `(μ₁, μ₂, labels)` per image (dSprites: factor indices; Fashion-MNIST:
    /// the class).
    pub scatter: Vec<(f32, f32, Vec<usize>)>,
}

impl Evaluation {
    /// KL per example, summed over dimensions: the rate.
    pub fn kl(&self) -> f64 {
        self.kl_per_dim.iter().sum()
    }

    /// Dimensions by KL, largest first (the traversal's row order).
    pub fn order(&self) -> Vec<usize> {
        by_kl(&self.kl_per_dim)
    }
}

fn by_kl(kl_per_dim: &[f64]) -> Vec<usize> {
    let mut order: Vec<usize> = (0..kl_per_dim.len()).collect();
    order.sort_by(|&a, &b| kl_per_dim[b].total_cmp(&kl_per_dim[a]));
    order
}

/// One run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct VaeRun {
    /// Trainable parameters.
    pub parameters: usize,
    /// Every step's ELBO pieces.
    pub steps: Vec<StepLog>,
    /// `(step, KL per dimension)` every `kl_every` steps and at the last step.
    pub kl_log: Vec<(u64, Vec<f32>)>,
    /// Seconds spent training (data generation included, evaluation excluded).
    pub train_seconds: f64,
    /// Evaluation seconds.
    pub eval_seconds: f64,
    /// Training images per second.
    pub images_per_second: f64,
    /// The step whose loss was not finite, if any (training stops there).
    pub diverged_at: Option<u64>,
    /// `None` for a diverged run.
    pub eval: Option<Evaluation>,
    /// The trained VAE and the configuration that rebuilds it
    /// ([`nn::study::model_metadata`]): the run's `model.safetensors`, not part of
    /// `data.json`.
    #[serde(skip)]
    pub model: nn::checkpoint::Snapshot,
}

/// Where images come from.
enum Source<'a> {
    Sprites,
    Images(&'a Dataset),
}

/// A seed and a stream number mixed into one seed (SplitMix64's finaliser).
fn mix(seed: u64, stream: u64) -> u64 {
    let mut z = seed ^ stream.wrapping_mul(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

impl Source<'_> {
    fn side(&self) -> (usize, usize) {
        match self {
            Source::Sprites => (64, 64),
            Source::Images(d) => d.image_shape,
        }
    }

    /// `n` evaluation images and their labels (factor indices or the class).
    fn eval_set(&self, n: usize, seed: u64) -> nn::Result<(Tensor, Vec<Vec<usize>>)> {
        match self {
            Source::Sprites => {
                let picks = DSprites.sample(n, mix(seed, 0xe7a1));
                let labels = picks
                    .iter()
                    .map(|&i| DSprites.factors(i).index.to_vec())
                    .collect();
                Ok((DSprites.batch(&picks), labels))
            }
            Source::Images(d) => {
                let idx: Vec<usize> = (0..n.min(d.len())).collect();
                let (x, y) = d.batch(&idx)?;
                Ok((x, y.into_iter().map(|c| vec![c]).collect()))
            }
        }
    }
}

/// Trains and evaluates one configuration. `images` is the Fashion-MNIST training set
/// (evaluation: its first `eval_examples` images of `test`), unused for dSprites.
/// `progress(step, total, loss)` is called every 10 steps.
///
/// # Errors
/// A configuration that [`check`] refuses, Fashion-MNIST asked for without data, tensor
/// errors.
pub fn run_vae(
    cfg: &VaeConfig,
    seed: u64,
    images: Option<(&Dataset, &Dataset)>,
    progress: &mut dyn FnMut(u64, u64, f64),
) -> Result<VaeRun, lab::study::RunError> {
    check(cfg).map_err(|e| e.message)?;
    let (train, eval) = match (cfg.dataset, images) {
        (DataKind::Dsprites, _) => (Source::Sprites, Source::Sprites),
        (DataKind::FashionMnist, Some((tr, te))) => (Source::Images(tr), Source::Images(te)),
        (DataKind::FashionMnist, None) => {
            return Err("dataset = \"fashion-mnist\" needs the Fashion-MNIST images".into())
        }
    };
    let empty = |s: &Source<'_>| matches!(s, Source::Images(d) if d.is_empty());
    if empty(&train) || empty(&eval) {
        return Err("the training and evaluation sets need at least one image each".into());
    }
    with_flush_denormals(|| run_inner(cfg, seed, &train, &eval, progress)).map_err(Into::into)
}

/// The VAE a configuration trains, freshly initialised from `rng` (what a saved run's
/// weights load into).
///
/// # Errors
/// An invalid configuration (the conv model on 28×28 images).
pub fn build_vae(cfg: &VaeConfig, rng: &mut Rng) -> nn::Result<Vae> {
    check(cfg).map_err(|e| nn::NnError::Invalid {
        what: "vae",
        message: e.message,
    })?;
    let pixels = match cfg.dataset {
        DataKind::Dsprites => 64 * 64,
        DataKind::FashionMnist => 28 * 28,
    };
    build(cfg, pixels, rng)
}

fn build(cfg: &VaeConfig, pixels: usize, rng: &mut Rng) -> nn::Result<Vae> {
    let likelihood = cfg.likelihood;
    match cfg.model {
        Arch::Conv => Vae::conv(cfg.latent, likelihood, rng),
        Arch::Mlp => {
            let mut spec = if pixels == 64 * 64 {
                MlpSpec::higgins()
            } else {
                MlpSpec {
                    pixels,
                    ..MlpSpec::fashion_mnist()
                }
            };
            spec.latent = cfg.latent;
            Vae::mlp(&spec, likelihood, rng)
        }
    }
}

fn objective(cfg: &VaeConfig) -> Objective {
    match cfg.objective {
        ObjectiveKind::Beta => Objective::Beta(cfg.beta as f32),
        ObjectiveKind::Capacity => Objective::Capacity {
            gamma: cfg.gamma as f32,
            c_max: cfg.c_max as f32,
            steps: cfg.capacity_steps,
        },
    }
}

fn run_inner(
    cfg: &VaeConfig,
    seed: u64,
    train: &Source<'_>,
    eval: &Source<'_>,
    progress: &mut dyn FnMut(u64, u64, f64),
) -> nn::Result<VaeRun> {
    let (h, w) = train.side();
    let mut init = Rng::with_stream(seed, 1);
    let vae = build(cfg, h * w, &mut init)?;
    let params = vae.params();
    let parameters = params.iter().map(Tensor::numel).sum();
    let mut opt = Adam::new(cfg.lr as f32).bind(params)?;
    let mut noise = Rng::with_stream(seed, 2);
    let objective = objective(cfg);

    // A dataset is read in epochs, each shuffled by (seed, epoch); dSprites draws the batch
    // of step t from (seed, t).
    let (mut epoch, mut batches) = (0u64, None::<Batches>);
    let mut next_batch = |step: u64| -> nn::Result<Tensor> {
        match train {
            Source::Sprites => Ok(DSprites.batch(&DSprites.sample(cfg.batch, mix(seed, step)))),
            Source::Images(d) => {
                let idx = loop {
                    if let Some(idx) = batches.as_mut().and_then(Iterator::next) {
                        break idx;
                    }
                    batches = Some(Batches::over(d.len(), cfg.batch).shuffled(seed, epoch));
                    epoch += 1;
                };
                Ok(d.batch(&idx)?.0)
            }
        }
    };

    let (mut steps, mut kl_log) = (Vec::new(), Vec::new());
    let mut diverged_at = None;
    let started = Instant::now();
    for step in 0..cfg.steps {
        let x = next_batch(step)?;
        opt.zero_grad();
        // backward() frees the graph (activations, the forward's `W.t()` views), so the
        // update below runs on the weights in place.
        let t = vae.terms(&x, &mut noise)?;
        let loss = t.loss(objective, step)?;
        let l = loss.item()?;
        if !l.is_finite() {
            diverged_at = Some(step);
            break;
        }
        loss.backward()?;
        let log = StepLog {
            step,
            loss: l,
            recon: t.recon.item()?,
            kl: t.kl.item()?,
        };
        let kl_per_dim = t.kl_per_dim;
        opt.step()?;
        steps.push(log);
        if step % cfg.kl_every == 0 || step + 1 == cfg.steps {
            kl_log.push((step, kl_per_dim));
        }
        if (step + 1) % 10 == 0 {
            progress(step + 1, cfg.steps, log.loss as f64);
        }
    }
    let train_seconds = started.elapsed().as_secs_f64();
    let images_per_second = (steps.len() * cfg.batch) as f64 / train_seconds.max(1e-9);
    let started = Instant::now();
    let evaluation = if diverged_at.is_none() {
        Some(no_grad(|| evaluate(cfg, seed, &vae, eval))?)
    } else {
        None
    };
    Ok(VaeRun {
        parameters,
        steps,
        kl_log,
        train_seconds,
        eval_seconds: started.elapsed().as_secs_f64(),
        images_per_second,
        diverged_at,
        eval: evaluation,
        model: nn::checkpoint::Snapshot::of(
            &vae.named_parameters(),
            &nn::study::model_metadata("vae", cfg),
        ),
    })
}

/// Rows of a `[n, d]` tensor as f64.
fn rows(t: &Tensor) -> nn::Result<Vec<Vec<f64>>> {
    Ok(t.to_vec2()?
        .into_iter()
        .map(|r| r.into_iter().map(f64::from).collect())
        .collect())
}

/// Posterior means of images given by their factor indices (the metrics' representation).
fn encode_factors(vae: &Vae, factors: &[Vec<usize>]) -> Vec<Vec<f64>> {
    let mut out = Vec::with_capacity(factors.len());
    for chunk in factors.chunks(256) {
        let picks: Vec<usize> = chunk
            .iter()
            .map(|f| DSprites.index_of([f[0], f[1], f[2], f[3], f[4]]))
            .collect();
        let (mu, _) = vae
            .encode(&DSprites.batch(&picks))
            .expect("dSprites images fit the model");
        out.extend(rows(&mu).expect("[batch, latent] means"));
    }
    out
}

fn tiles(t: &Tensor, (h, w): (usize, usize)) -> Vec<GrayImage> {
    t.to_vec()
        .chunks(h * w)
        .map(|px| GrayImage::from_unit(w, h, px).expect("rows of h*w pixels"))
        .collect()
}

fn evaluate(cfg: &VaeConfig, seed: u64, vae: &Vae, eval: &Source<'_>) -> nn::Result<Evaluation> {
    let side = eval.side();
    let (x, labels) = eval.eval_set(cfg.eval_examples, seed)?;
    let n = x.shape()[0];
    let mut rng = Rng::with_stream(seed, 3);
    let (mut recon, mut mu, mut logvar) = (0.0, Vec::new(), Vec::new());
    // The pictures' inputs are the first images; their posterior means come from the first
    // chunk (250 >= the 10 shown).
    let shown = 10.min(n);
    let mut shown_mu = None;
    let mut start = 0;
    while start < n {
        let len = 250.min(n - start);
        let t = vae.terms(&x.narrow(0, start, len)?, &mut rng)?;
        recon += t.recon.item()? as f64 * len as f64;
        mu.extend(rows(&t.mu)?);
        logvar.extend(rows(&t.logvar)?);
        if start == 0 {
            shown_mu = Some(t.mu.narrow(0, 0, shown)?);
        }
        start += len;
    }
    let kl_per_dim = kl_per_dimension(&mu, &logvar);
    let order = by_kl(&kl_per_dim);
    let (active, mean_variance) = active_units(&mu, 0.01);
    let decomposition = decompose(&mu, &logvar, 1, mix(seed, 4));

    let factors = match eval {
        Source::Sprites => {
            let repr = |f: &[Vec<usize>]| encode_factors(vae, f);
            let (score, per_factor, mutual_information) = if cfg.mig_points > 0 {
                let m = mig(&FACTOR_SIZES, &repr, cfg.mig_points, 20, mix(seed, 5));
                (Some(m.score), m.per_factor, m.mutual_information)
            } else {
                (None, Vec::new(), Vec::new())
            };
            let scores = cfg.score_train > 0;
            Some(FactorScores {
                mig: score,
                mig_per_factor: per_factor,
                mutual_information,
                beta_vae: scores.then(|| {
                    beta_vae_score(
                        &FACTOR_SIZES,
                        &repr,
                        cfg.score_batch,
                        cfg.score_train,
                        cfg.score_eval,
                        mix(seed, 6),
                    )
                }),
                factor_vae: scores.then(|| {
                    factor_vae_score(
                        &FACTOR_SIZES,
                        &repr,
                        cfg.score_batch,
                        cfg.score_train,
                        cfg.score_eval,
                        cfg.variance_points,
                        mix(seed, 7),
                    )
                }),
            })
        }
        Source::Images(_) => None,
    };

    // Originals over reconstructions from the posterior mean.
    let originals = x.narrow(0, 0, shown)?;
    let m = shown_mu.expect("n >= 1 images were encoded");
    let rec = vae.reconstruct_mean(&m)?;
    let reconstructions = GrayImage::grid(&[tiles(&originals, side), tiles(&rec, side)], 2, 128);

    // The traversal from the first image's posterior mean.
    let base = m.narrow(0, 0, 1)?.to_vec();
    let k = cfg.traversal_steps;
    let r = cfg.traversal_range as f32;
    let mut grid = Vec::new();
    for &j in &order {
        let mut z = Vec::with_capacity(k * base.len());
        for s in 0..k {
            let mut code = base.clone();
            code[j] = -r + 2.0 * r * s as f32 / (k - 1) as f32;
            z.extend(code);
        }
        let z = Tensor::from_vec(z, &[k, base.len()])?;
        grid.push(tiles(&vae.reconstruct_mean(&z)?, side));
    }
    let traversal = GrayImage::grid(&grid, 2, 128);

    let scatter = if cfg.latent == 2 {
        mu.iter()
            .zip(&labels)
            .take(cfg.scatter_points)
            .map(|(m, l)| (m[0] as f32, m[1] as f32, l.clone()))
            .collect()
    } else {
        Vec::new()
    };
    Ok(Evaluation {
        recon: recon / n as f64,
        kl_per_dim,
        active_units: active,
        mean_variance,
        decomposition,
        factors,
        reconstructions,
        traversal,
        scatter,
    })
}
