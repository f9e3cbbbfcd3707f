//! Learning-rate schedules: the learning rate as a function of the step `t` (counted from 0).
//!
//! ```text
//! constant:          lr_t = lr
//! step:              lr_t = lr * gamma^floor(t / step_size)
//! exponential:       lr_t = lr * gamma^t
//! cosine (warm-up):  lr_t = lr * (t + 1) / warmup                                 t <  warmup
//!                    lr_t = min_lr + (lr - min_lr) * (1 + cos(pi * s)) / 2,
//!                           s = min(1, (t - warmup) / (total - warmup))            t >= warmup
//! inverse sqrt:      lr_t = lr * min((t + 1) / warmup, sqrt(warmup / (t + 1)))    (warmup >= 1)
//! ```
//!
//! The inverse-square-root schedule is the Transformer's ("Attention is all you need"),
//! normalised so its peak is `lr` at `t + 1 = warmup`.

use serde::{Deserialize, Serialize};

use crate::error::{check, Result};

/// A learning-rate schedule.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum Schedule {
    /// The base learning rate throughout.
    Constant,
    /// Multiply by `gamma` every `step_size` steps.
    Step {
        /// Steps between decays (>= 1).
        step_size: u64,
        /// Decay factor (> 0).
        gamma: f64,
    },
    /// Multiply by `gamma` every step.
    Exponential {
        /// Decay factor (> 0).
        gamma: f64,
    },
    /// Linear warm-up to the base rate, then half a cosine down to `min_lr` at `total`.
    Cosine {
        /// Warm-up steps (may be 0).
        warmup: u64,
        /// Total steps (> warmup).
        total: u64,
        /// Final learning rate (>= 0).
        min_lr: f64,
    },
    /// Linear warm-up, then decay as `1/sqrt(t)`.
    InverseSqrt {
        /// Warm-up steps (>= 1).
        warmup: u64,
    },
}

impl Schedule {
    /// Checks the schedule's parameters.
    ///
    /// # Errors
    /// [`OptimError::InvalidParameter`](crate::OptimError::InvalidParameter).
    pub fn validate(&self) -> Result<()> {
        match *self {
            Schedule::Constant => Ok(()),
            Schedule::Step { step_size, gamma } => {
                check(
                    step_size >= 1,
                    "step schedule",
                    "step_size",
                    step_size as f64,
                    "must be >= 1",
                )?;
                check(gamma > 0.0, "step schedule", "gamma", gamma, "must be > 0")
            }
            Schedule::Exponential { gamma } => check(
                gamma > 0.0,
                "exponential schedule",
                "gamma",
                gamma,
                "must be > 0",
            ),
            Schedule::Cosine {
                warmup,
                total,
                min_lr,
            } => {
                check(
                    total > warmup,
                    "cosine schedule",
                    "total",
                    total as f64,
                    "must exceed warmup",
                )?;
                check(
                    min_lr >= 0.0,
                    "cosine schedule",
                    "min_lr",
                    min_lr,
                    "must be >= 0",
                )
            }
            Schedule::InverseSqrt { warmup } => check(
                warmup >= 1,
                "inverse_sqrt schedule",
                "warmup",
                warmup as f64,
                "must be >= 1",
            ),
        }
    }

    /// The learning rate at step `t` (from 0) for base rate `lr`.
    pub fn lr_at(&self, lr: f64, t: u64) -> f64 {
        let tf = t as f64;
        match *self {
            Schedule::Constant => lr,
            Schedule::Step { step_size, gamma } => lr * gamma.powf((t / step_size) as f64),
            Schedule::Exponential { gamma } => lr * gamma.powf(tf),
            Schedule::Cosine {
                warmup,
                total,
                min_lr,
            } => {
                if t < warmup {
                    lr * (tf + 1.0) / warmup as f64
                } else {
                    let s = ((tf - warmup as f64) / (total - warmup) as f64).min(1.0);
                    min_lr + (lr - min_lr) * 0.5 * (1.0 + (std::f64::consts::PI * s).cos())
                }
            }
            Schedule::InverseSqrt { warmup } => {
                let w = warmup as f64;
                lr * ((tf + 1.0) / w).min((w / (tf + 1.0)).sqrt())
            }
        }
    }
}
