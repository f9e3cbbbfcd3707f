//! Shared workloads for groundwork's benchmarks: the criterion benches beside this file and
//! `cargo xtask bench` time the same code.

use core_tensor::{no_grad, Result, Rng, Tensor};
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
/// softmax cross-entropy and Adam — written on core-tensor and optim directly.
pub struct MlpStep {
    x: Tensor,
    onehot: Tensor,
    params: Vec<Tensor>,
    opt: Optim<Adam>,
}

impl MlpStep {
    /// Random inputs and labels of `batch` samples, Kaiming-uniform weights, Adam(1e-3).
    ///
    /// # Panics
    /// Never for the fixed shapes used here.
    pub fn new(batch: usize, seed: u64) -> MlpStep {
        let mut rng = Rng::seed(seed);
        let x = rng.uniform(&[batch, 784], 0.0, 1.0);
        let mut onehot = vec![0.0f32; batch * 10];
        for i in 0..batch {
            onehot[i * 10 + rng.below(10)] = 1.0;
        }
        let onehot = Tensor::from_vec(onehot, &[batch, 10]).expect("shape");
        let mut params = Vec::new();
        for (fan_in, fan_out) in [(784, 256), (256, 128), (128, 10)] {
            let bound = (6.0f32 / fan_in as f32).sqrt();
            params.push(rng.uniform(&[fan_in, fan_out], -bound, bound).with_grad());
            params.push(Tensor::zeros(&[fan_out]).with_grad());
        }
        MlpStep {
            x,
            onehot,
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
        let p = &self.params;
        let h1 = self.x.matmul(&p[0])?.add(&p[1])?.relu()?;
        let h2 = h1.matmul(&p[2])?.add(&p[3])?.relu()?;
        let logits = h2.matmul(&p[4])?.add(&p[5])?;
        let loss = logits
            .log_softmax(-1)?
            .mul(&self.onehot)?
            .sum_all()?
            .mul_scalar(-1.0 / self.x.shape()[0] as f32)?;
        loss.backward()?;
        self.opt
            .step(&self.params)
            .map_err(|e| core_tensor::TensorError::invalid("adam", e.to_string()))?;
        for q in &self.params {
            q.zero_grad();
        }
        loss.item()
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
            y.mul_scalar(1.0001)?
        } else {
            y.add_scalar(1e-4)?
        };
    }
    y.sum_all()?.backward()?;
    let g = x.grad().map(|g| g.to_vec()[0]).unwrap_or(0.0);
    no_grad(|| Ok(g))
}
