//! RMSProp and AdaGrad: per-coordinate step sizes from accumulated squared gradients, in
//! PyTorch's formulation (non-centred RMSProp without momentum; AdaGrad without lr decay).
//!
//! ```text
//! RMSProp:  v_t = alpha * v_{t-1} + (1 - alpha) * g^2,   p -= lr * g / (sqrt(v_t) + eps)
//! AdaGrad:  s_t = s_{t-1} + g^2,                         p -= lr * g / (sqrt(s_t) + eps)
//! ```
//!
//! with `g = g_t + wd * p` (L2 weight decay). Defaults match PyTorch: RMSProp lr 1e-2,
//! alpha 0.99, eps 1e-8; AdaGrad lr 1e-2, eps 1e-10. Tieleman & Hinton (2012), lecture 6.5;
//! Duchi, Hazan & Singer (2011), "Adaptive subgradient methods".

use serde::{Deserialize, Serialize};

use crate::error::{check, Result};
use crate::optimizer::{Optim, UpdateRule};

fn default_alpha() -> f32 {
    0.99
}

fn default_rms_eps() -> f32 {
    1e-8
}

fn default_adagrad_eps() -> f32 {
    1e-10
}

/// Hyper-parameters of RMSProp.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RmsProp {
    /// Learning rate (> 0; PyTorch default 1e-2).
    pub lr: f32,
    /// Smoothing constant `alpha` in `[0, 1)`.
    #[serde(default = "default_alpha")]
    pub alpha: f32,
    /// Denominator term (> 0).
    #[serde(default = "default_rms_eps")]
    pub eps: f32,
    /// L2 weight decay (>= 0).
    #[serde(default)]
    pub weight_decay: f32,
}

impl RmsProp {
    /// RMSProp with learning rate `lr` and PyTorch's other defaults.
    pub fn new(lr: f32) -> RmsProp {
        RmsProp {
            lr,
            alpha: default_alpha(),
            eps: default_rms_eps(),
            weight_decay: 0.0,
        }
    }

    /// The optimizer.
    ///
    /// # Errors
    /// [`OptimError::InvalidParameter`](crate::OptimError::InvalidParameter).
    pub fn build(self) -> Result<Optim<RmsProp>> {
        Optim::new(self.lr, self)
    }
}

impl UpdateRule for RmsProp {
    fn name(&self) -> &'static str {
        "rmsprop"
    }

    fn buffers(&self) -> &'static [&'static str] {
        &["square_avg"]
    }

    fn validate(&self) -> Result<()> {
        check(
            (0.0..1.0).contains(&self.alpha),
            "rmsprop",
            "alpha",
            self.alpha as f64,
            "must be in [0, 1)",
        )?;
        check(
            self.eps > 0.0,
            "rmsprop",
            "eps",
            self.eps as f64,
            "must be > 0",
        )?;
        check(
            self.weight_decay >= 0.0,
            "rmsprop",
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
        rmsprop_update(self, lr, step, param, grad, buffers);
    }
}

core_tensor::multiversion! {
    /// RMSProp's pass over one slice, compiled per instruction set.
    fn rmsprop_update(
        rule: &RmsProp,
        lr: f32,
        _step: u64,
        param: &mut [f32],
        grad: &[f32],
        buffers: &mut [&mut [f32]],
    ) {
        let [v] = buffers else {
            unreachable!("rmsprop keeps one buffer")
        };
        let (a, eps, wd) = (rule.alpha, rule.eps, rule.weight_decay);
        for ((p, &g), v) in param.iter_mut().zip(grad).zip(v.iter_mut()) {
            let g = g + wd * *p;
            *v = a * *v + (1.0 - a) * g * g;
            *p -= lr * g / (v.sqrt() + eps);
        }
    }
}

/// Hyper-parameters of AdaGrad.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AdaGrad {
    /// Learning rate (> 0; PyTorch default 1e-2).
    pub lr: f32,
    /// Denominator term (> 0).
    #[serde(default = "default_adagrad_eps")]
    pub eps: f32,
    /// L2 weight decay (>= 0).
    #[serde(default)]
    pub weight_decay: f32,
}

impl AdaGrad {
    /// AdaGrad with learning rate `lr` and PyTorch's other defaults.
    pub fn new(lr: f32) -> AdaGrad {
        AdaGrad {
            lr,
            eps: default_adagrad_eps(),
            weight_decay: 0.0,
        }
    }

    /// The optimizer.
    ///
    /// # Errors
    /// [`OptimError::InvalidParameter`](crate::OptimError::InvalidParameter).
    pub fn build(self) -> Result<Optim<AdaGrad>> {
        Optim::new(self.lr, self)
    }
}

impl UpdateRule for AdaGrad {
    fn name(&self) -> &'static str {
        "adagrad"
    }

    fn buffers(&self) -> &'static [&'static str] {
        &["sum"]
    }

    fn validate(&self) -> Result<()> {
        check(
            self.eps > 0.0,
            "adagrad",
            "eps",
            self.eps as f64,
            "must be > 0",
        )?;
        check(
            self.weight_decay >= 0.0,
            "adagrad",
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
        adagrad_update(self, lr, step, param, grad, buffers);
    }
}

core_tensor::multiversion! {
    /// AdaGrad's pass over one slice, compiled per instruction set.
    fn adagrad_update(
        rule: &AdaGrad,
        lr: f32,
        _step: u64,
        param: &mut [f32],
        grad: &[f32],
        buffers: &mut [&mut [f32]],
    ) {
        let [s] = buffers else {
            unreachable!("adagrad keeps one buffer")
        };
        let (eps, wd) = (rule.eps, rule.weight_decay);
        for ((p, &g), s) in param.iter_mut().zip(grad).zip(s.iter_mut()) {
            let g = g + wd * *p;
            *s += g * g;
            *p -= lr * g / (s.sqrt() + eps);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::optimizer::tests::same_bits_at_every_level;

    #[test]
    fn every_simd_level_gives_the_same_bits() {
        let rms = RmsProp {
            weight_decay: 0.01,
            ..RmsProp::new(1e-2)
        };
        same_bits_at_every_level("rmsprop", 1, |level, step, p, g, b| {
            rmsprop_update::at(level, &rms, 1e-2, step, p, g, b)
        });
        let ada = AdaGrad::new(1e-2);
        same_bits_at_every_level("adagrad", 1, |level, step, p, g, b| {
            adagrad_update::at(level, &ada, 1e-2, step, p, g, b)
        });
    }
}
