//! What optimisation theory predicts on quadratics, as functions to check experiments against.
//!
//! The model problem is `f(x) = 1/2 x^T A x - b^T x` with `A` symmetric positive definite,
//! eigenvalues in `[mu, L]`, condition number `kappa = L / mu`. In the eigenbasis of `A` every
//! first-order method with constant hyper-parameters acts on each eigen-direction `lambda`
//! independently, as a linear recurrence on the error `e_k = x_k - x*`:
//!
//! * gradient descent: `e_{k+1} = (1 - eta lambda) e_k`; stable iff `eta < 2 / L`; the step
//!   `eta = 2 / (L + mu)` minimises the worst factor, giving the rate `(kappa - 1)/(kappa + 1)`.
//! * heavy ball (Polyak): `e_{k+1} = (1 + beta - eta lambda) e_k - beta e_{k-1}`, characteristic
//!   polynomial `z^2 - (1 + beta - eta lambda) z + beta`. With `eta = 4 / (sqrt L + sqrt mu)^2`
//!   and `beta = ((sqrt kappa - 1)/(sqrt kappa + 1))^2` every direction has `|z| = sqrt beta`,
//!   the rate `(sqrt kappa - 1)/(sqrt kappa + 1)`.
//! * Nesterov: `z^2 - (1 + beta)(1 - eta lambda) z + beta (1 - eta lambda)`; with
//!   `eta = 1/L`, `beta = (sqrt kappa - 1)/(sqrt kappa + 1)` the rate is at most
//!   `1 - 1/sqrt kappa` (Nesterov 2004, Thm 2.2.3 for quadratics).
//!
//! Rates here are per-iteration contraction factors of `|e_k|`; the suboptimality
//! `f(x_k) - f*` contracts by the square of the rate. Complex roots mean the error rotates in
//! the `(e_k, e_{k-1})` plane: the approach *oscillates* (overshoots the minimum); negative real
//! roots alternate the sign (also an overshoot); positive real roots give a monotone approach.
//!
//! Adam: its step on coordinate `i` is `eta m_hat_i / (sqrt(v_hat_i) + eps)`. Rescaling
//! coordinate `i` by `c` scales its gradient history by `c`, so `m_hat / sqrt(v_hat)` is
//! unchanged: on an **axis-aligned** quadratic, Adam removes the per-coordinate curvature and
//! its progress hardly depends on `kappa`. A rotation mixes all curvatures into every
//! coordinate, so no diagonal rescaling can undo it: on a **rotated** quadratic Adam loses that
//! advantage and behaves like a (noisy) first-order method whose speed depends on `kappa`.

use crate::error::{check, Result};

/// `kappa = L / mu`.
///
/// # Errors
/// [`OptimError::InvalidParameter`](crate::OptimError::InvalidParameter) unless `0 < mu <= L`.
pub fn condition_number(mu: f64, l: f64) -> Result<f64> {
    check(mu > 0.0, "condition_number", "mu", mu, "must be > 0")?;
    check(l >= mu, "condition_number", "L", l, "must be >= mu")?;
    Ok(l / mu)
}

/// The largest stable gradient-descent step on a quadratic: `eta < 2 / L`.
pub fn gd_stability_limit(l: f64) -> f64 {
    2.0 / l
}

/// The step minimising GD's worst-direction factor: `eta* = 2 / (L + mu)`.
pub fn gd_optimal_step(mu: f64, l: f64) -> f64 {
    2.0 / (l + mu)
}

/// GD's contraction factor with step `eta`: `max(|1 - eta mu|, |1 - eta L|)` (>= 1 diverges).
pub fn gd_rate(eta: f64, mu: f64, l: f64) -> f64 {
    (1.0 - eta * mu).abs().max((1.0 - eta * l).abs())
}

/// GD's rate at the optimal step: `(kappa - 1) / (kappa + 1)`.
pub fn gd_optimal_rate(kappa: f64) -> f64 {
    (kappa - 1.0) / (kappa + 1.0)
}

/// Polyak's optimal heavy-ball parameters `(eta, beta) = (4 / (sqrt L + sqrt mu)^2,
/// ((sqrt kappa - 1) / (sqrt kappa + 1))^2)`.
pub fn heavy_ball_optimal(mu: f64, l: f64) -> (f64, f64) {
    let (sm, sl) = (mu.sqrt(), l.sqrt());
    let eta = 4.0 / (sl + sm).powi(2);
    let beta = ((sl - sm) / (sl + sm)).powi(2);
    (eta, beta)
}

/// Heavy ball's rate at the optimal parameters: `(sqrt kappa - 1) / (sqrt kappa + 1)`.
pub fn heavy_ball_optimal_rate(kappa: f64) -> f64 {
    let s = kappa.sqrt();
    (s - 1.0) / (s + 1.0)
}

/// Nesterov's constant parameters for strongly convex problems:
/// `(eta, beta) = (1 / L, (sqrt kappa - 1) / (sqrt kappa + 1))`.
pub fn nesterov_params(mu: f64, l: f64) -> (f64, f64) {
    let s = (l / mu).sqrt();
    (1.0 / l, (s - 1.0) / (s + 1.0))
}

/// Nesterov's guaranteed rate with [`nesterov_params`]: `1 - 1 / sqrt kappa`.
pub fn nesterov_rate_bound(kappa: f64) -> f64 {
    1.0 - 1.0 / kappa.sqrt()
}

/// How the error along one eigen-direction approaches zero.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Approach {
    /// Both roots real and positive: the error shrinks without changing sign.
    Monotone,
    /// Complex roots (the error rotates) or negative real roots (its sign alternates): the
    /// iterate overshoots the minimum along this direction.
    Oscillating,
    /// A root with `|z| >= 1`: the error does not shrink.
    Divergent,
}

/// The roots of a direction's characteristic polynomial and what they imply.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct DirectionPrediction {
    /// The two roots as `(re, im)` pairs.
    pub roots: [(f64, f64); 2],
    /// `max |z|`: the per-iteration contraction factor along this direction.
    pub spectral_radius: f64,
    /// Monotone, oscillating (overshoot) or divergent.
    pub approach: Approach,
    /// Iterations between sign changes of the error component: `pi / theta` for complex roots
    /// `r e^(+-i theta)`, 1 for negative real roots, `None` for a monotone approach.
    pub half_period: Option<f64>,
}

impl DirectionPrediction {
    /// Whether the overshoot can be *seen* before the error component decays by `floor`
    /// (e.g. `1e-4`): the approach oscillates and a half period `pi / theta` fits in the
    /// `ln(floor) / ln(r)` iterations the component stays above the floor. Near the boundary
    /// between real and complex roots `theta -> 0` and the oscillation is too slow to show.
    pub fn observable_overshoot(&self, floor: f64) -> bool {
        match (self.approach, self.half_period) {
            (Approach::Divergent, _) => true,
            (Approach::Oscillating, Some(h)) => {
                let r = self.spectral_radius;
                r <= 0.0 || h <= floor.ln() / r.ln()
            }
            _ => false,
        }
    }
}

/// Classifies the roots of `z^2 - s z + p` (real `s` and `p`). A negative `p` (Nesterov
/// with `eta lambda > 1`) gives real roots of opposite signs: the negative one oscillates.
fn classify(s: f64, p: f64) -> DirectionPrediction {
    let disc = s * s - 4.0 * p;
    let (roots, radius, negative_or_complex) = if disc < 0.0 {
        let im = (-disc).sqrt() / 2.0;
        ([(s / 2.0, im), (s / 2.0, -im)], p.sqrt(), true)
    } else {
        let r = disc.sqrt();
        let (z1, z2) = ((s + r) / 2.0, (s - r) / 2.0);
        ([(z1, 0.0), (z2, 0.0)], z1.abs().max(z2.abs()), z2 < 0.0)
    };
    let approach = if radius >= 1.0 {
        Approach::Divergent
    } else if negative_or_complex {
        Approach::Oscillating
    } else {
        Approach::Monotone
    };
    let half_period = negative_or_complex.then(|| {
        if disc < 0.0 {
            std::f64::consts::PI / roots[0].1.abs().atan2(roots[0].0)
        } else {
            1.0 // negative real roots: the sign alternates every step
        }
    });
    DirectionPrediction {
        roots,
        spectral_radius: radius,
        approach,
        half_period,
    }
}

/// Heavy-ball momentum (and GD with `beta = 0`) along eigenvalue `lambda`: the roots of
/// `z^2 - (1 + beta - eta lambda) z + beta`.
pub fn momentum_direction(eta: f64, beta: f64, lambda: f64) -> DirectionPrediction {
    classify(1.0 + beta - eta * lambda, beta)
}

/// Nesterov momentum along eigenvalue `lambda`: the roots of
/// `z^2 - (1 + beta)(1 - eta lambda) z + beta (1 - eta lambda)`.
///
/// For `eta lambda > 1` the constant term is negative and the roots are real with opposite
/// signs; the negative one makes the approach oscillate (see `classify`).
pub fn nesterov_direction(eta: f64, beta: f64, lambda: f64) -> DirectionPrediction {
    let q = 1.0 - eta * lambda;
    classify((1.0 + beta) * q, beta * q)
}

/// Adam along an eigenvalue `lambda` of the *preconditioned* curvature `P^-1/2 H P^-1/2`,
/// with the preconditioner `P = diag(sqrt(v_hat) + eps)` held fixed (it moves slowly:
/// `beta2` is near 1) and the bias corrections at 1 (late in a run).
///
/// Derivation: in the coordinates `y = P^1/2 x` the update `x -= eta P^-1 m`,
/// `m = beta1 m + (1 - beta1) H x` becomes, along an eigenvector of `P^-1/2 H P^-1/2`,
/// `y_{t+1} = y_t - eta m_t`, `m_t = beta1 m_{t-1} + (1 - beta1) lambda y_t`. Eliminating `m`:
/// `y_{t+1} = (1 + beta1 - eta (1 - beta1) lambda) y_t - beta1 y_{t-1}` — heavy ball with
/// step `eta (1 - beta1)` and momentum `beta1`. It is stable while
/// `eta (1 - beta1) lambda < 2 (1 + beta1)`, i.e. `lambda < (2 + 2 beta1) / ((1 - beta1) eta)`
/// (Cohen et al. 2022, "Adaptive gradient methods at the edge of stability").
pub fn adam_direction(eta: f64, beta1: f64, lambda: f64) -> DirectionPrediction {
    momentum_direction(eta * (1.0 - beta1), beta1, lambda)
}

/// AdamW (decoupled weight decay `wd`) along a preconditioned eigenvalue `lambda`, with the
/// preconditioner fixed as in [`adam_direction`]. The decay multiplies the parameter by
/// `c = 1 - eta wd` before the Adam step, so `y_{t+1} = c y_t - eta m_t`; eliminating `m`
/// gives `z^2 - (c + beta1 - eta (1 - beta1) lambda) z + beta1 c`. By the Jury conditions it
/// is stable for `-wd < lambda < (1 + beta1)(2 - eta wd) / ((1 - beta1) eta)`.
pub fn adamw_direction(eta: f64, beta1: f64, wd: f64, lambda: f64) -> DirectionPrediction {
    let c = 1.0 - eta * wd;
    classify(c + beta1 - eta * (1.0 - beta1) * lambda, beta1 * c)
}

/// The worst contraction factor over a spectrum for heavy ball (`nesterov = false`; GD is
/// `beta = 0`) or Nesterov: the predicted asymptotic linear rate of `|e_k|`.
pub fn rate_over_spectrum(eta: f64, beta: f64, eigenvalues: &[f64], nesterov: bool) -> f64 {
    eigenvalues
        .iter()
        .map(|&l| {
            if nesterov {
                nesterov_direction(eta, beta, l).spectral_radius
            } else {
                momentum_direction(eta, beta, l).spectral_radius
            }
        })
        .fold(0.0, f64::max)
}

/// Adam's effective step on one coordinate: `eta m_hat / (sqrt(v_hat) + eps)`.
pub fn adam_effective_step(eta: f64, m_hat: f64, v_hat: f64, eps: f64) -> f64 {
    eta * m_hat / (v_hat.sqrt() + eps)
}

/// Iterations for an error contracting by `rate` per step to shrink by `tol`:
/// `ceil(ln tol / ln rate)`. For a suboptimality target `tol_f` on `f - f*` (which contracts
/// by `rate^2`) pass `tol = sqrt(tol_f)`.
///
/// # Errors
/// [`OptimError::InvalidParameter`](crate::OptimError::InvalidParameter) unless
/// `0 < rate < 1` and `0 < tol < 1`.
pub fn iterations_to_tolerance(rate: f64, tol: f64) -> Result<u64> {
    check(
        rate > 0.0 && rate < 1.0,
        "iterations_to_tolerance",
        "rate",
        rate,
        "must be in (0, 1)",
    )?;
    check(
        tol > 0.0 && tol < 1.0,
        "iterations_to_tolerance",
        "tol",
        tol,
        "must be in (0, 1)",
    )?;
    Ok((tol.ln() / rate.ln()).ceil() as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gd_formulas() {
        // kappa = 100: eta* = 2/101, rate = 99/101, both extreme directions contract equally.
        assert!((gd_optimal_step(1.0, 100.0) - 2.0 / 101.0).abs() < 1e-15);
        assert!((gd_rate(2.0 / 101.0, 1.0, 100.0) - 99.0 / 101.0).abs() < 1e-15);
        assert!((gd_optimal_rate(100.0) - 99.0 / 101.0).abs() < 1e-15);
        assert_eq!(gd_stability_limit(100.0), 0.02);
        assert!(gd_rate(0.021, 1.0, 100.0) > 1.0);
        assert!(condition_number(0.0, 1.0).is_err());
    }

    #[test]
    fn heavy_ball_optimum_puts_every_direction_on_the_circle_sqrt_beta() {
        let (mu, l) = (1.0, 100.0);
        let (eta, beta) = heavy_ball_optimal(mu, l);
        // sqrt(kappa) = 10: eta = 4/121, beta = (9/11)^2, rate = 9/11.
        assert!((eta - 4.0 / 121.0).abs() < 1e-15);
        assert!((beta - (9.0f64 / 11.0).powi(2)).abs() < 1e-15);
        for lambda in [1.0, 2.0, 10.0, 50.0, 100.0] {
            let d = momentum_direction(eta, beta, lambda);
            assert!(
                (d.spectral_radius - 9.0 / 11.0).abs() < 1e-6,
                "lambda {lambda}: {d:?}"
            );
        }
        assert!((heavy_ball_optimal_rate(100.0) - 9.0 / 11.0).abs() < 1e-15);
    }

    #[test]
    fn momentum_direction_classification() {
        // beta = 0 (GD): root 1 - eta lambda.
        assert_eq!(
            momentum_direction(0.5, 0.0, 1.0).approach,
            Approach::Monotone
        );
        assert_eq!(
            momentum_direction(1.5, 0.0, 1.0).approach,
            Approach::Oscillating
        );
        assert_eq!(
            momentum_direction(2.5, 0.0, 1.0).approach,
            Approach::Divergent
        );
        // beta = 0.9, eta lambda = 0.01: s = 1.89, disc = 3.5721 - 3.6 < 0 -> complex.
        let d = momentum_direction(0.01, 0.9, 1.0);
        assert_eq!(d.approach, Approach::Oscillating);
        assert!((d.spectral_radius - 0.9f64.sqrt()).abs() < 1e-12);
        // beta = 0.1, eta lambda = 0.1: s = 1.0, disc = 1 - 0.4 > 0, roots (1 +- sqrt .6)/2 > 0.
        let d = momentum_direction(0.1, 0.1, 1.0);
        assert_eq!(d.approach, Approach::Monotone);
        assert!((d.spectral_radius - (1.0 + 0.6f64.sqrt()) / 2.0).abs() < 1e-12);
        // A root reaches -1 at eta lambda = 2 (1 + beta) = 3.8.
        assert_eq!(
            momentum_direction(3.79, 0.9, 1.0).approach,
            Approach::Oscillating
        );
        assert_eq!(
            momentum_direction(3.81, 0.9, 1.0).approach,
            Approach::Divergent
        );
        assert_eq!(
            momentum_direction(3.9, 0.9, 1.0).approach,
            Approach::Divergent
        );
    }

    #[test]
    fn nesterov_past_one_over_lambda_has_roots_of_opposite_sign() {
        // eta lambda = 1.2, beta = 0.5: z^2 + 0.3 z - 0.1 = 0, roots 0.2 and -0.5.
        let d = nesterov_direction(1.2, 0.5, 1.0);
        assert_eq!(d.approach, Approach::Oscillating);
        assert!((d.roots[0].0 - 0.2).abs() < 1e-12 && (d.roots[1].0 + 0.5).abs() < 1e-12);
        assert!((d.spectral_radius - 0.5).abs() < 1e-12 && d.half_period == Some(1.0));
        // eta lambda = 1.5: roots 0.25 and -1: no longer contracting.
        assert_eq!(
            nesterov_direction(1.5, 0.5, 1.0).approach,
            Approach::Divergent
        );
    }

    #[test]
    fn nesterov_meets_its_bound() {
        for kappa in [10.0, 100.0, 1e4] {
            let (eta, beta) = nesterov_params(1.0, kappa);
            let spectrum: Vec<f64> = (0..=200)
                .map(|i| 1.0 + (kappa - 1.0) * i as f64 / 200.0)
                .collect();
            let rate = rate_over_spectrum(eta, beta, &spectrum, true);
            // At lambda = mu the roots are a double root at the bound: equality up to rounding.
            assert!(
                rate <= nesterov_rate_bound(kappa) + 1e-7,
                "kappa {kappa}: {rate}"
            );
        }
    }

    #[test]
    fn iterations_from_rate() {
        // 0.5^10 = 1/1024 < 1e-3 <= 0.5^9.
        assert_eq!(iterations_to_tolerance(0.5, 1e-3).unwrap(), 10);
        assert!(iterations_to_tolerance(1.0, 1e-3).is_err());
        assert!((adam_effective_step(0.1, 2.0, 4.0, 0.0) - 0.1).abs() < 1e-15);
    }
}
