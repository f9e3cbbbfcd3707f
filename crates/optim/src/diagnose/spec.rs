//! The user's optimizer as the theory sees it: which curvature its dynamics feel, the largest
//! eigenvalue of that curvature it tolerates at its learning rate, and the learning rate a
//! given curvature tolerates.

use serde::{Deserialize, Serialize};

use crate::error::Result;
use crate::optimizer::Optimizer;
use crate::theory::{self, DirectionPrediction};
use crate::{Adam, RmsProp, Sgd};

/// An optimizer configuration to diagnose: the hyper-parameter structs the optimizers are
/// built from, so a diagnosis and a training run read the same values.
///
/// The *curvature* an optimizer's dynamics feel, near a point where the loss is locally
/// quadratic with Hessian `H`, is `H + wd I` for SGD and its momentum forms (L2 weight decay
/// adds `wd` to every eigenvalue), and `P^-1/2 (H + wd I) P^-1/2` for Adam and RMSProp, with
/// their preconditioner `P = diag(sqrt(v_hat) + eps)` (AdamW's decoupled decay is not in the
/// curvature; it enters the recurrence). Its top eigenvalue is the *sharpness* `S` this
/// module's limits are about.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(tag = "rule", rename_all = "kebab-case")]
pub enum OptimizerSpec {
    /// SGD, heavy ball (`momentum > 0`) or Nesterov.
    Sgd(Sgd),
    /// Adam or AdamW.
    Adam(Adam),
    /// RMSProp.
    #[serde(rename = "rmsprop")]
    RmsProp(RmsProp),
}

impl OptimizerSpec {
    /// The learning rate.
    pub fn lr(&self) -> f64 {
        f64::from(match self {
            OptimizerSpec::Sgd(s) => s.lr,
            OptimizerSpec::Adam(a) => a.lr,
            OptimizerSpec::RmsProp(r) => r.lr,
        })
    }

    /// The same optimizer at another learning rate.
    pub fn with_lr(&self, lr: f64) -> OptimizerSpec {
        let lr = lr as f32;
        match *self {
            OptimizerSpec::Sgd(s) => OptimizerSpec::Sgd(Sgd { lr, ..s }),
            OptimizerSpec::Adam(a) => OptimizerSpec::Adam(Adam { lr, ..a }),
            OptimizerSpec::RmsProp(r) => OptimizerSpec::RmsProp(RmsProp { lr, ..r }),
        }
    }

    /// Whether the curvature is preconditioned by the gradient history (Adam, RMSProp).
    pub fn is_adaptive(&self) -> bool {
        !matches!(self, OptimizerSpec::Sgd(_))
    }

    /// The L2 weight decay that shifts the curvature (0 for AdamW's decoupled decay).
    pub fn l2(&self) -> f64 {
        f64::from(match self {
            OptimizerSpec::Sgd(s) => s.weight_decay,
            OptimizerSpec::Adam(a) if a.decoupled => 0.0,
            OptimizerSpec::Adam(a) => a.weight_decay,
            OptimizerSpec::RmsProp(r) => r.weight_decay,
        })
    }

    /// `"sgd lr 0.1"`, `"heavy ball lr 0.05 momentum 0.9"`, `"adamw lr 0.001 ..."`.
    pub fn describe(&self) -> String {
        let wd = |w: f32| {
            if w > 0.0 {
                format!(" weight decay {w}")
            } else {
                String::new()
            }
        };
        match self {
            OptimizerSpec::Sgd(s) if s.momentum == 0.0 => {
                format!("sgd lr {}{}", s.lr, wd(s.weight_decay))
            }
            OptimizerSpec::Sgd(s) => format!(
                "{} lr {} momentum {}{}",
                if s.nesterov { "nesterov" } else { "heavy ball" },
                s.lr,
                s.momentum,
                wd(s.weight_decay)
            ),
            OptimizerSpec::Adam(a) => format!(
                "{} lr {} betas ({}, {}) eps {}{}",
                if a.decoupled { "adamw" } else { "adam" },
                a.lr,
                a.betas.0,
                a.betas.1,
                a.eps,
                wd(a.weight_decay)
            ),
            OptimizerSpec::RmsProp(r) => format!(
                "rmsprop lr {} alpha {} eps {}{}",
                r.lr,
                r.alpha,
                r.eps,
                wd(r.weight_decay)
            ),
        }
    }

    /// The optimizer itself.
    ///
    /// # Errors
    /// An invalid hyper-parameter (learning rate ≤ 0, momentum outside `[0, 1)`, ...).
    pub fn build(&self) -> Result<Box<dyn Optimizer>> {
        Ok(match *self {
            OptimizerSpec::Sgd(s) => Box::new(s.build()?),
            OptimizerSpec::Adam(a) => Box::new(a.build()?),
            OptimizerSpec::RmsProp(r) => Box::new(r.build()?),
        })
    }

    /// The largest sharpness (top eigenvalue of the curvature, see [`OptimizerSpec`]) that
    /// is stable at this learning rate `eta`. From each rule's characteristic polynomial on
    /// a quadratic (see [`theory`]):
    ///
    /// | rule | stable while `S <` |
    /// |---|---|
    /// | SGD | `2 / eta` |
    /// | heavy ball, momentum `mu` | `2 (1 + mu) / eta` |
    /// | Nesterov (PyTorch form) | `(2 + 2 mu) / ((1 + 2 mu) eta)` |
    /// | Adam, `beta1` | `(2 + 2 beta1) / ((1 - beta1) eta)` |
    /// | AdamW, decay `wd` | `(1 + beta1)(2 - eta wd) / ((1 - beta1) eta)` |
    /// | RMSProp | `2 / eta` |
    ///
    /// Nesterov's: `z^2 - (1 + mu) q z + mu q` with `q = 1 - eta S` has both roots inside the
    /// unit circle iff `1 + (1 + 2 mu) q > 0` (the other Jury conditions hold for `S > 0`),
    /// i.e. `eta S < (2 + 2 mu) / (1 + 2 mu)`.
    pub fn sharpness_limit(&self) -> f64 {
        let eta = self.lr();
        match *self {
            OptimizerSpec::Sgd(s) => {
                let mu = f64::from(s.momentum);
                if mu == 0.0 {
                    2.0 / eta
                } else if s.nesterov {
                    (2.0 + 2.0 * mu) / ((1.0 + 2.0 * mu) * eta)
                } else {
                    2.0 * (1.0 + mu) / eta
                }
            }
            OptimizerSpec::Adam(a) => {
                let b1 = f64::from(a.betas.0);
                let decay = if a.decoupled {
                    eta * f64::from(a.weight_decay)
                } else {
                    0.0
                };
                (1.0 + b1) * (2.0 - decay) / ((1.0 - b1) * eta)
            }
            OptimizerSpec::RmsProp(_) => 2.0 / eta,
        }
    }

    /// The largest learning rate at which sharpness `s` is stable: the inverse of
    /// [`OptimizerSpec::sharpness_limit`] in the learning rate (AdamW's solves
    /// `(1 + beta1)(2 - eta wd) = eta (1 - beta1) s`). Infinite for `s <= 0`.
    pub fn lr_limit(&self, s: f64) -> f64 {
        if s <= 0.0 {
            return f64::INFINITY;
        }
        match *self {
            OptimizerSpec::Adam(a) if a.decoupled => {
                let b1 = f64::from(a.betas.0);
                2.0 * (1.0 + b1) / ((1.0 - b1) * s + (1.0 + b1) * f64::from(a.weight_decay))
            }
            _ => self.lr() * self.sharpness_limit() / s,
        }
    }

    /// How the error along one eigen-direction of the curvature, eigenvalue `lambda`,
    /// evolves at this learning rate: the roots of the rule's characteristic polynomial.
    pub fn direction(&self, lambda: f64) -> DirectionPrediction {
        let eta = self.lr();
        match *self {
            OptimizerSpec::Sgd(s) if s.nesterov && s.momentum > 0.0 => {
                theory::nesterov_direction(eta, f64::from(s.momentum), lambda)
            }
            OptimizerSpec::Sgd(s) => theory::momentum_direction(eta, f64::from(s.momentum), lambda),
            OptimizerSpec::Adam(a) if a.decoupled => theory::adamw_direction(
                eta,
                f64::from(a.betas.0),
                f64::from(a.weight_decay),
                lambda,
            ),
            OptimizerSpec::Adam(a) => theory::adam_direction(eta, f64::from(a.betas.0), lambda),
            OptimizerSpec::RmsProp(_) => theory::momentum_direction(eta, 0.0, lambda),
        }
    }

    /// The name of the buffer holding the squared-gradient average the preconditioner is
    /// built from, and the bias-correction exponent base (`beta2` for Adam; none for RMSProp).
    pub(crate) fn second_moment(&self) -> Option<(&'static str, Option<f64>, f64)> {
        match self {
            OptimizerSpec::Sgd(_) => None,
            OptimizerSpec::Adam(a) => Some((
                if a.amsgrad {
                    "max_exp_avg_sq"
                } else {
                    "exp_avg_sq"
                },
                Some(f64::from(a.betas.1)),
                f64::from(a.eps),
            )),
            OptimizerSpec::RmsProp(r) => Some(("square_avg", None, f64::from(r.eps))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::theory::Approach;

    fn specs() -> Vec<OptimizerSpec> {
        vec![
            OptimizerSpec::Sgd(Sgd::new(0.1)),
            OptimizerSpec::Sgd(Sgd::new(0.05).momentum(0.9)),
            OptimizerSpec::Sgd(Sgd::new(0.05).nesterov(0.9)),
            OptimizerSpec::Sgd(Sgd::new(0.05).nesterov(0.5).weight_decay(0.1)),
            OptimizerSpec::Adam(Adam::new(1e-3)),
            OptimizerSpec::Adam(Adam::new(1e-3).betas(0.5, 0.99)),
            OptimizerSpec::Adam(Adam::adamw(0.01)),
            OptimizerSpec::Adam(Adam {
                weight_decay: 5.0,
                ..Adam::adamw(0.05)
            }),
            OptimizerSpec::RmsProp(RmsProp::new(0.01)),
        ]
    }

    #[test]
    fn every_limit_is_where_the_characteristic_roots_leave_the_unit_circle() {
        for spec in specs() {
            let s = spec.sharpness_limit();
            let inside = spec.direction(s * (1.0 - 1e-9));
            let outside = spec.direction(s * (1.0 + 1e-9));
            assert!(
                inside.spectral_radius < 1.0,
                "{}: {inside:?}",
                spec.describe()
            );
            assert_eq!(outside.approach, Approach::Divergent, "{}", spec.describe());
            assert!(
                (inside.spectral_radius - 1.0).abs() < 1e-6,
                "{}",
                spec.describe()
            );
            // The limit in the learning rate is the inverse map.
            let eta = spec.lr_limit(s);
            assert!((eta / spec.lr() - 1.0).abs() < 1e-12, "{}", spec.describe());
            let at = spec.with_lr(spec.lr_limit(3.0));
            assert!(
                (at.sharpness_limit() / 3.0 - 1.0).abs() < 1e-6,
                "{}",
                spec.describe()
            );
        }
    }

    #[test]
    fn hand_derived_limits() {
        let lim = |s: OptimizerSpec| s.sharpness_limit();
        assert!((lim(OptimizerSpec::Sgd(Sgd::new(0.1))) - 20.0).abs() < 1e-6);
        // Heavy ball mu = 0.9, eta = 0.05: 2 * 1.9 / 0.05 = 76.
        assert!((lim(OptimizerSpec::Sgd(Sgd::new(0.05).momentum(0.9))) - 76.0).abs() < 1e-4);
        // Nesterov mu = 0.9, eta = 0.05: 3.8 / (2.8 * 0.05) = 27.142857...
        let n = lim(OptimizerSpec::Sgd(Sgd::new(0.05).nesterov(0.9)));
        assert!((n - 3.8 / 0.14).abs() < 1e-4, "{n}");
        // Adam beta1 = 0.9, eta = 1e-3: 3.8 / (0.1 * 1e-3) = 38000.
        let a = lim(OptimizerSpec::Adam(Adam::new(1e-3)));
        assert!((a - 38_000.0).abs() < 1.0, "{a}");
    }
}
