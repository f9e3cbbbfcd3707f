//! Adam, AdamW and the AMSGrad variant, in PyTorch's formulation (`torch.optim.Adam`/`AdamW`).
//!
//! With gradient `g_t`, step `t` (from 1), `beta1`, `beta2`, `eps`, weight decay `wd`:
//!
//! ```text
//! Adam (L2):   g = g_t + wd * p
//! AdamW:       p = p * (1 - lr * wd)          (decoupled decay), g = g_t
//! m_t = beta1 * m_{t-1} + (1 - beta1) * g
//! v_t = beta2 * v_{t-1} + (1 - beta2) * g^2
//! AMSGrad:     vmax_t = max(vmax_{t-1}, v_t), and vmax_t replaces v_t below
//! p = p - (lr / (1 - beta1^t)) * m_t / (sqrt(v_t) / sqrt(1 - beta2^t) + eps)
//! ```
//!
//! i.e. `p -= lr * m_hat / (sqrt(v_hat) + eps)` with bias-corrected moments. The effective
//! per-coordinate step `lr * m_hat / (sqrt(v_hat) + eps)` is invariant to rescaling a
//! coordinate (g -> c g scales m_hat and sqrt(v_hat) alike) but not to rotations, which mix
//! coordinates. Defaults match PyTorch (beta = (0.9, 0.999), eps = 1e-8; AdamW wd = 0.01).
//!
//! Kingma & Ba (2015), "Adam"; Loshchilov & Hutter (2019), "Decoupled weight decay
//! regularization"; Reddi et al. (2018), "On the convergence of Adam and beyond".

use serde::{Deserialize, Serialize};

use crate::error::{check, Result};
use crate::optimizer::{Optim, UpdateRule};

fn default_betas() -> (f32, f32) {
    (0.9, 0.999)
}

fn default_eps() -> f32 {
    1e-8
}

/// Hyper-parameters of Adam / AdamW.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Adam {
    /// Learning rate (PyTorch default 1e-3).
    pub lr: f32,
    /// `(beta1, beta2)`, each in `[0, 1)`.
    #[serde(default = "default_betas")]
    pub betas: (f32, f32),
    /// Denominator term `eps` (> 0), added after the square root as in PyTorch.
    #[serde(default = "default_eps")]
    pub eps: f32,
    /// Weight decay (>= 0): L2 for Adam, decoupled for AdamW.
    #[serde(default)]
    pub weight_decay: f32,
    /// Decoupled weight decay (AdamW).
    #[serde(default)]
    pub decoupled: bool,
    /// Use the running maximum of `v` (AMSGrad).
    #[serde(default)]
    pub amsgrad: bool,
}

impl Adam {
    /// Adam with learning rate `lr` and PyTorch's other defaults.
    pub fn new(lr: f32) -> Adam {
        Adam {
            lr,
            betas: default_betas(),
            eps: default_eps(),
            weight_decay: 0.0,
            decoupled: false,
            amsgrad: false,
        }
    }

    /// AdamW with learning rate `lr` and PyTorch's default decoupled decay 0.01.
    pub fn adamw(lr: f32) -> Adam {
        Adam {
            weight_decay: 0.01,
            decoupled: true,
            ..Adam::new(lr)
        }
    }

    /// Sets `(beta1, beta2)`.
    pub fn betas(mut self, beta1: f32, beta2: f32) -> Adam {
        self.betas = (beta1, beta2);
        self
    }

    /// Sets `eps`.
    pub fn eps(mut self, eps: f32) -> Adam {
        self.eps = eps;
        self
    }

    /// Sets the weight decay.
    pub fn weight_decay(mut self, wd: f32) -> Adam {
        self.weight_decay = wd;
        self
    }

    /// Enables AMSGrad.
    pub fn amsgrad(mut self, on: bool) -> Adam {
        self.amsgrad = on;
        self
    }

    /// The optimizer.
    ///
    /// # Errors
    /// [`OptimError::InvalidParameter`](crate::OptimError::InvalidParameter) for an invalid
    /// hyper-parameter.
    pub fn build(self) -> Result<Optim<Adam>> {
        Optim::new(self.lr, self)
    }
}

impl UpdateRule for Adam {
    fn name(&self) -> &'static str {
        if self.decoupled {
            "adamw"
        } else {
            "adam"
        }
    }

    fn buffers(&self) -> &'static [&'static str] {
        if self.amsgrad {
            &["exp_avg", "exp_avg_sq", "max_exp_avg_sq"]
        } else {
            &["exp_avg", "exp_avg_sq"]
        }
    }

    fn validate(&self) -> Result<()> {
        let n = self.name();
        check(
            (0.0..1.0).contains(&self.betas.0),
            n,
            "beta1",
            self.betas.0 as f64,
            "must be in [0, 1)",
        )?;
        check(
            (0.0..1.0).contains(&self.betas.1),
            n,
            "beta2",
            self.betas.1 as f64,
            "must be in [0, 1)",
        )?;
        check(self.eps > 0.0, n, "eps", self.eps as f64, "must be > 0")?;
        check(
            self.weight_decay >= 0.0,
            n,
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
        adam_update(self, lr, step, param, grad, buffers);
    }
}

core_tensor::multiversion! {
    /// Adam's pass over one slice (the module docs' rule), compiled per instruction set.
    fn adam_update(
        rule: &Adam,
        lr: f32,
        step: u64,
        param: &mut [f32],
        grad: &[f32],
        buffers: &mut [&mut [f32]],
    ) {
        let (b1, b2) = rule.betas;
        let t = step as f64;
        let bc1 = 1.0 - (b1 as f64).powf(t);
        let bc2 = 1.0 - (b2 as f64).powf(t);
        let step_size = (lr as f64 / bc1) as f32;
        let inv_sqrt_bc2 = (1.0 / bc2.sqrt()) as f32;
        let (eps, wd) = (rule.eps, rule.weight_decay);
        let l2 = if rule.decoupled { 0.0 } else { wd };
        let shrink = if rule.decoupled { 1.0 - lr * wd } else { 1.0 };
        match buffers {
            [m, v] => {
                for (((p, &g), m), v) in param
                    .iter_mut()
                    .zip(grad)
                    .zip(m.iter_mut())
                    .zip(v.iter_mut())
                {
                    let g = g + l2 * *p;
                    *p *= shrink;
                    *m = b1 * *m + (1.0 - b1) * g;
                    *v = b2 * *v + (1.0 - b2) * g * g;
                    *p -= step_size * *m / (v.sqrt() * inv_sqrt_bc2 + eps);
                }
            }
            [m, v, vmax] => {
                let it = param
                    .iter_mut()
                    .zip(grad)
                    .zip(m.iter_mut())
                    .zip(v.iter_mut())
                    .zip(vmax.iter_mut());
                for ((((p, &g), m), v), vmax) in it {
                    let g = g + l2 * *p;
                    *p *= shrink;
                    *m = b1 * *m + (1.0 - b1) * g;
                    *v = b2 * *v + (1.0 - b2) * g * g;
                    *vmax = vmax.max(*v);
                    *p -= step_size * *m / (vmax.sqrt() * inv_sqrt_bc2 + eps);
                }
            }
            _ => unreachable!("adam keeps two or three buffers"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::optimizer::tests::same_bits_at_every_level;

    #[test]
    fn every_simd_level_gives_the_same_bits() {
        for (name, rule, buffers) in [
            ("adam", Adam::new(1e-2), 2),
            ("adam l2", Adam::new(1e-2).weight_decay(0.1), 2),
            ("adamw", Adam::adamw(1e-2), 2),
            ("amsgrad", Adam::new(1e-2).amsgrad(true), 3),
        ] {
            same_bits_at_every_level(name, buffers, |level, step, p, g, b| {
                adam_update::at(level, &rule, 1e-2, step, p, g, b)
            });
        }
    }
}
