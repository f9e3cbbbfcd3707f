//! Shared workloads for groundwork's benchmarks: the criterion benches beside this file and
//! `cargo xtask bench` time the same code.

#![deny(unsafe_code)]

use core_tensor::{no_grad, with_flush_denormals, Result, Rng, Tensor};
use nn::loss::cross_entropy;
use nn::parameter_tensors;
use nn::study::{build_model, InitKind, ModelKind};
use nn::{Module, Sequential};
use optim::{Adam, Optim, Optimizer};

/// A rayon pool with exactly `threads` threads, for measuring 1- and 2-thread scaling.
///
/// # Panics
/// When the operating system refuses to start the threads.
pub fn pool(threads: usize) -> rayon::ThreadPool {
    rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .unwrap_or_else(|e| panic!("cannot start a rayon pool of {threads} threads: {e}"))
}

/// One training step of the Fashion-MNIST MLP 784-256-128-10 (ReLU) at a fixed batch, with
/// softmax cross-entropy and Adam — the product code path: `nn`'s layers and loss, `optim`'s
/// Adam, under flush-to-zero as the study trains.
pub struct MlpStep {
    x: Tensor,
    y: Vec<usize>,
    net: Sequential,
    params: Vec<Tensor>,
    opt: Optim<Adam>,
}

impl MlpStep {
    /// Random inputs and labels of `batch` samples, PyTorch-default weights, Adam(1e-3).
    ///
    /// # Panics
    /// Never for the fixed shapes used here.
    pub fn new(batch: usize, seed: u64) -> MlpStep {
        Self::with_model(ModelKind::Mlp, batch, seed)
    }

    /// The same step for the study's CNN (two stride-2 3x3 convolutions, 32 and 64 channels,
    /// then 3136-128-10), on 28x28 inputs.
    pub fn cnn(batch: usize, seed: u64) -> MlpStep {
        Self::with_model(ModelKind::Cnn, batch, seed)
    }

    fn with_model(model: ModelKind, batch: usize, seed: u64) -> MlpStep {
        let mut rng = Rng::seed(seed);
        let x = rng.uniform(&[batch, 784], 0.0, 1.0);
        let y = (0..batch).map(|_| rng.below(10)).collect();
        let net = build_model(model, InitKind::Default, &mut rng).expect("fixed architecture");
        let params = parameter_tensors(&net);
        MlpStep {
            x,
            y,
            net,
            params,
            opt: Adam::new(1e-3).build().expect("valid Adam"),
        }
    }

    /// FLOPs of one step's matrix products: forward 2 B (784*256 + 256*128 + 128*10), backward
    /// twice that (input and weight gradients; the first layer's input gradient is skipped).
    pub fn flop(batch: usize) -> f64 {
        let f = 2.0 * batch as f64 * (784.0 * 256.0 + 256.0 * 128.0 + 128.0 * 10.0);
        let back = 2.0 * f - 2.0 * batch as f64 * 784.0 * 256.0;
        f + back
    }

    /// Forward, backward and the Adam update; returns the loss.
    ///
    /// # Errors
    /// Tensor errors (none for the fixed shapes).
    pub fn step(&mut self) -> Result<f32> {
        with_flush_denormals(|| {
            let loss = cross_entropy(&self.net.forward(&self.x)?, &self.y)?;
            loss.backward()?;
            self.opt
                .step(&self.params)
                .map_err(|e| core_tensor::TensorError::invalid("adam", e.to_string()))?;
            self.params.iter().for_each(Tensor::zero_grad);
            loss.item()
        })
    }
}

/// A training step that can be timed.
pub trait Step: Send {
    /// Samples per step.
    fn batch(&self) -> usize;
    /// One step; returns the loss.
    ///
    /// # Errors
    /// Tensor errors (none for the fixed shapes used here).
    fn step(&mut self) -> Result<f32>;
}

impl Step for MlpStep {
    fn batch(&self) -> usize {
        self.x.shape()[0]
    }
    fn step(&mut self) -> Result<f32> {
        MlpStep::step(self)
    }
}

/// One training step of a VAE, as the PyTorch peer (`shared/peers/vae_torch.py`) times it:
/// forward, reparameterised sample, Bernoulli reconstruction + β KL, backward, Adam(5e-4), at
/// batch 64 on random images (timing only), under flush-to-zero.
pub struct VaeStep {
    vae: vae::model::Vae,
    x: Tensor,
    rng: Rng,
    beta: f32,
    opt: optim::BoundOptim<Adam>,
}

impl VaeStep {
    /// The Higgins et al. dSprites MLP (14.2 M parameters), β = 4, binary images of density
    /// 0.25.
    pub fn dsprites_mlp(batch: usize, seed: u64) -> VaeStep {
        let mut rng = Rng::seed(seed);
        let x = rng.bernoulli(&[batch, 4096], 0.25);
        Self::new(vae::model::MlpSpec::higgins(), x, 4.0, rng)
    }

    /// The Fashion-MNIST MLP VAE (784-512-256-2x10), β = 1, uniform images.
    pub fn fashion_mnist_mlp(batch: usize, seed: u64) -> VaeStep {
        let mut rng = Rng::seed(seed);
        let x = rng.uniform(&[batch, 784], 0.0, 1.0);
        Self::new(vae::model::MlpSpec::fashion_mnist(), x, 1.0, rng)
    }

    fn new(spec: vae::model::MlpSpec, x: Tensor, beta: f32, mut rng: Rng) -> VaeStep {
        let model = vae::model::Vae::mlp(&spec, vae::model::Likelihood::Bernoulli, &mut rng)
            .expect("fixed architecture");
        let opt = Adam::new(5e-4)
            .bind(model.params())
            .expect("leaf parameters");
        VaeStep {
            vae: model,
            x,
            rng,
            beta,
            opt,
        }
    }
}

impl Step for VaeStep {
    fn batch(&self) -> usize {
        self.x.shape()[0]
    }
    fn step(&mut self) -> Result<f32> {
        with_flush_denormals(|| {
            self.opt.zero_grad();
            // The graph is dropped before the update, as PyTorch frees it at backward: while
            // it lives, its `W.t()` views share the weights' storage and Adam would copy every
            // weight before updating it.
            let l = {
                let t = self.vae.terms(&self.x, &mut self.rng)?;
                let loss = t.loss(vae::model::Objective::Beta(self.beta), 0)?;
                loss.backward()?;
                loss.item()?
            };
            self.opt
                .step()
                .map_err(|e| core_tensor::TensorError::invalid("adam", e.to_string()))?;
            Ok(l)
        })
    }
}

/// Forward and backward through a chain of `n` small elementwise ops on a 16-element tensor:
/// the per-op cost of recording and walking the graph.
///
/// # Errors
/// Tensor errors (none).
pub fn autodiff_chain(n: usize) -> Result<f32> {
    let x = Tensor::ones(&[16]).with_grad();
    let mut y = x.clone();
    for i in 0..n {
        y = if i % 2 == 0 {
            y.mul_scalar(1.0001)
        } else {
            y.add_scalar(1e-4)
        };
    }
    y.sum_all()?.backward()?;
    let g = x.grad().map(|g| g.to_vec()[0]).unwrap_or(0.0);
    no_grad(|| Ok(g))
}
