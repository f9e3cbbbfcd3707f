//! Stochastic gradient descent with optional heavy-ball or Nesterov momentum and L2 weight
//! decay, in PyTorch's formulation (`torch.optim.SGD`, dampening 0).
//!
//! With gradient `g_t` at the current parameters `p_t`, weight decay `wd`, momentum `mu`:
//!
//! ```text
//! g   = g_t + wd * p_t
//! b_t = g                      (t = 1)
//! b_t = mu * b_{t-1} + g       (t > 1)
//! p_{t+1} = p_t - lr * b_t                 (heavy ball)
//! p_{t+1} = p_t - lr * (g + mu * b_t)      (Nesterov)
//! ```
//!
//! The heavy-ball form equals Polyak's `x_{k+1} = x_k - lr grad f(x_k) + mu (x_k - x_{k-1})`;
//! the Nesterov form has, on a quadratic, the same characteristic polynomial
//! `z^2 - (1+mu)(1-lr*lambda) z + mu (1-lr*lambda)` as Nesterov's accelerated gradient
//! (see `theory`). Polyak (1964); Sutskever et al. (2013), "On the importance of
//! initialization and momentum in deep learning".

use serde::{Deserialize, Serialize};

use crate::error::{check, Result};
use crate::optimizer::{Optim, UpdateRule};

/// Hyper-parameters of SGD (PyTorch defaults: no momentum, no weight decay).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Sgd {
    /// Learning rate `lr` (> 0).
    pub lr: f32,
    /// Momentum `mu` in `[0, 1)`; 0 is plain SGD.
    #[serde(default)]
    pub momentum: f32,
    /// Use Nesterov momentum (needs `momentum > 0`).
    #[serde(default)]
    pub nesterov: bool,
    /// L2 weight decay `wd` (>= 0), added to the gradient.
    #[serde(default)]
    pub weight_decay: f32,
}

impl Sgd {
    /// Plain SGD with learning rate `lr`.
    pub fn new(lr: f32) -> Sgd {
        Sgd {
            lr,
            momentum: 0.0,
            nesterov: false,
            weight_decay: 0.0,
        }
    }

    /// Sets heavy-ball momentum.
    pub fn momentum(mut self, mu: f32) -> Sgd {
        self.momentum = mu;
        self
    }

    /// Switches to Nesterov momentum `mu`.
    pub fn nesterov(mut self, mu: f32) -> Sgd {
        self.momentum = mu;
        self.nesterov = true;
        self
    }

    /// Sets L2 weight decay.
    pub fn weight_decay(mut self, wd: f32) -> Sgd {
        self.weight_decay = wd;
        self
    }

    /// The optimizer.
    ///
    /// # Errors
    /// [`OptimError::InvalidParameter`](crate::OptimError::InvalidParameter) for an invalid
    /// hyper-parameter.
    pub fn build(self) -> Result<Optim<Sgd>> {
        Optim::new(self.lr, self)
    }
}

impl UpdateRule for Sgd {
    fn name(&self) -> &'static str {
        match (self.momentum > 0.0, self.nesterov) {
            (false, _) => "sgd",
            (true, false) => "momentum",
            (true, true) => "nesterov",
        }
    }

    fn buffers(&self) -> &'static [&'static str] {
        if self.momentum > 0.0 {
            &["momentum_buffer"]
        } else {
            &[]
        }
    }

    fn validate(&self) -> Result<()> {
        check(
            (0.0..1.0).contains(&self.momentum),
            "sgd",
            "momentum",
            self.momentum as f64,
            "must be in [0, 1)",
        )?;
        check(
            !self.nesterov || self.momentum > 0.0,
            "sgd",
            "momentum",
            self.momentum as f64,
            "Nesterov needs momentum > 0",
        )?;
        check(
            self.weight_decay >= 0.0,
            "sgd",
            "weight_decay",
            self.weight_decay as f64,
            "must be >= 0",
        )
    }

    #[inline]
    fn update(
        &self,
        lr: f32,
        step: u64,
        param: &mut [f32],
        grad: &[f32],
        buffers: &mut [&mut [f32]],
    ) {
        sgd_update(self, lr, step, param, grad, buffers);
    }
}

core_tensor::multiversion! {
    /// SGD's pass over one slice, compiled per instruction set.
    fn sgd_update(
        rule: &Sgd,
        lr: f32,
        step: u64,
        param: &mut [f32],
        grad: &[f32],
        buffers: &mut [&mut [f32]],
    ) {
        let (mu, wd) = (rule.momentum, rule.weight_decay);
        match buffers {
            [] => {
                for (p, &g) in param.iter_mut().zip(grad) {
                    *p -= lr * (g + wd * *p);
                }
            }
            [buf] => {
                let first = step == 1;
                let nesterov = rule.nesterov;
                for ((p, &g), b) in param.iter_mut().zip(grad).zip(buf.iter_mut()) {
                    let g = g + wd * *p;
                    *b = if first { g } else { mu * *b + g };
                    let d = if nesterov { g + mu * *b } else { *b };
                    *p -= lr * d;
                }
            }
            _ => unreachable!("sgd keeps at most one buffer"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::optimizer::tests::same_bits_at_every_level;

    #[test]
    fn every_simd_level_gives_the_same_bits() {
        let plain = Sgd::new(0.1).weight_decay(0.01);
        let heavy = Sgd::new(0.1).momentum(0.9);
        let nesterov = Sgd::new(0.1).nesterov(0.9);
        for (name, rule, buffers) in [
            ("sgd", plain, 0),
            ("momentum", heavy, 1),
            ("nesterov", nesterov, 1),
        ] {
            same_bits_at_every_level(name, buffers, |level, step, p, g, b| {
                sgd_update::at(level, &rule, 0.1, step, p, g, b)
            });
        }
    }
}
