//! Optimizer trajectories on 2-D test functions — an ill-conditioned (rotated) quadratic,
//! Rosenbrock's valley and Beale's function — for drawing every optimizer's path over the loss
//! contours, with the loss and gradient norm per step.
//!
//! Learning rates default to a per-(problem, method) table chosen so that each method makes
//! visible progress within the default 1000 steps without diverging (recorded in
//! [`default_lr`]); give `lr` to override.

use core_tensor::Tensor;
use serde::{Deserialize, Serialize};

use lab::params::Params;

use crate::error::Result;
use crate::method::Method;
use crate::problems::{beale, rosenbrock};

mod report;
pub use report::PathsStudy;

/// A 2-D test function.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Problem2d {
    /// `f = 1/2 (u^2 + kappa v^2)` in coordinates `(u, v)` rotated 30 degrees from `(x, y)`.
    Quadratic,
    /// `(1 - x)^2 + 100 (y - x^2)^2`, minimum at `(1, 1)`.
    Rosenbrock,
    /// Beale's function, minimum at `(3, 0.5)`.
    Beale,
}

lab::choice!(Problem2d);

impl Problem2d {
    /// Every test function, in study order.
    pub const ALL: [Problem2d; 3] = [
        Problem2d::Quadratic,
        Problem2d::Rosenbrock,
        Problem2d::Beale,
    ];
}

/// Where a path starts, where the minimum is, and the window to draw.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Geometry {
    /// The default start `(x, y)`.
    pub start: (f64, f64),
    /// The minimiser.
    pub minimum: (f64, f64),
    /// The plotting window `(x0, x1, y0, y1)`.
    pub window: (f64, f64, f64, f64),
}

impl Problem2d {
    /// The default start, the minimiser and the plotting window.
    pub fn geometry(self) -> Geometry {
        let (start, minimum, window) = match self {
            Problem2d::Quadratic => ((-1.8, 1.2), (0.0, 0.0), (-2.2, 2.2, -1.6, 1.6)),
            Problem2d::Rosenbrock => ((-1.2, 1.0), (1.0, 1.0), (-2.0, 2.0, -1.0, 3.0)),
            Problem2d::Beale => ((1.0, 1.0), (3.0, 0.5), (-0.5, 4.5, -1.0, 2.0)),
        };
        Geometry {
            start,
            minimum,
            window,
        }
    }

    /// The loss at `p` (shape `[2]`), as a differentiable graph.
    ///
    /// # Errors
    /// A shape error when `p` is not `[2]`.
    pub fn loss(self, p: &Tensor, kappa: f64) -> core_tensor::Result<Tensor> {
        match self {
            Problem2d::Quadratic => {
                let (c, s) = (30f32.to_radians().cos(), 30f32.to_radians().sin());
                let x = p.narrow(0, 0, 1)?;
                let y = p.narrow(0, 1, 1)?;
                let u = x.mul_scalar(c).add(&y.mul_scalar(s))?;
                let v = x.mul_scalar(-s).add(&y.mul_scalar(c))?;
                u.square()
                    .add(&v.square().mul_scalar(kappa as f32))?
                    .mul_scalar(0.5)
                    .sum_all()
            }
            Problem2d::Rosenbrock => rosenbrock(p),
            Problem2d::Beale => beale(p),
        }
    }

    /// The loss at a point, evaluated without recording a graph.
    pub fn value(self, x: f64, y: f64, kappa: f64) -> f64 {
        let p = Tensor::from_vec(vec![x as f32, y as f32], &[2]).expect("two values");
        core_tensor::no_grad(|| self.loss(&p, kappa))
            .and_then(|t| t.item())
            .map(f64::from)
            .unwrap_or(f64::NAN)
    }
}

/// The learning rate a method uses on a problem when none is given.
pub fn default_lr(problem: Problem2d, method: Method) -> f64 {
    use Method::*;
    match (problem, method) {
        (Problem2d::Quadratic, Sgd) => 0.09,
        (Problem2d::Quadratic, HeavyBall | Nesterov) => 0.02,
        (Problem2d::Quadratic, Adam | AdamW | RmsProp) => 0.05,
        (Problem2d::Quadratic, AdaGrad) => 0.5,
        (Problem2d::Rosenbrock, Sgd) => 1e-3,
        (Problem2d::Rosenbrock, HeavyBall | Nesterov) => 2e-4,
        (Problem2d::Rosenbrock, Adam | AdamW | RmsProp) => 0.05,
        (Problem2d::Rosenbrock, AdaGrad) => 0.5,
        (Problem2d::Beale, Sgd) => 0.01,
        (Problem2d::Beale, HeavyBall | Nesterov) => 1e-3,
        (Problem2d::Beale, Adam | AdamW | RmsProp) => 0.05,
        (Problem2d::Beale, AdaGrad) => 0.5,
    }
}

lab::params! {
    /// One trajectory's configuration.
    #[derive(Debug, Clone, PartialEq, Serialize)]
    pub struct PathConfig as "optimizer paths" {
        /// The 2-D function.
        pub problem: Problem2d,
        /// The optimizer (momentum methods use 0.9).
        pub method: Method,
        /// Learning rate (default: a per-problem table in optim::paths).
        pub lr: Option<f64> = None; bounds(gt = 0),
        /// Steps to take.
        pub steps: u64 = 1000; bounds(min = 1, max = 10_000_000),
        /// Condition number of the quadratic.
        pub kappa: f64 = 10.0; bounds(min = 1, max = 1e12),
    }
}

/// A trajectory.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PathRun {
    /// `(x, y)` after each step, the start first.
    pub points: Vec<(f64, f64)>,
    /// Loss at each point.
    pub losses: Vec<f64>,
    /// Gradient norm at each point (the last is NaN: no gradient taken there).
    pub grad_norms: Vec<f64>,
    /// Distance of the last point to the minimiser.
    pub final_distance: f64,
    /// Step at which the loss became non-finite or exceeded 1e10.
    pub diverged_at: Option<u64>,
    /// The learning rate used.
    pub lr: f64,
}

/// Runs one trajectory.
///
/// # Errors
/// Invalid configuration.
pub fn run_path(cfg: &PathConfig) -> Result<PathRun> {
    cfg.check()?;
    let lr = cfg
        .lr
        .unwrap_or_else(|| default_lr(cfg.problem, cfg.method));
    let mut opt = cfg
        .method
        .build(lr as f32, Method::DEFAULT_MOMENTUM as f32)?;
    let Geometry {
        start,
        minimum: min,
        ..
    } = cfg.problem.geometry();
    let p = Tensor::from_vec(vec![start.0 as f32, start.1 as f32], &[2])?.with_grad();
    let params = [p.clone()];
    let (mut points, mut losses, mut grad_norms) = (Vec::new(), Vec::new(), Vec::new());
    let mut diverged_at = None;
    for k in 0..=cfg.steps {
        let v = p.to_vec();
        points.push((v[0] as f64, v[1] as f64));
        let loss = cfg.problem.loss(&p, cfg.kappa)?;
        let f = loss.item()? as f64;
        losses.push(f);
        if !f.is_finite() || f > 1e10 {
            diverged_at = Some(k);
            grad_norms.push(f64::NAN);
            break;
        }
        if k == cfg.steps {
            grad_norms.push(f64::NAN);
            break;
        }
        loss.backward()?;
        let g = p.grad().map(|g| g.to_vec()).unwrap_or_default();
        grad_norms.push(g.iter().map(|&x| (x as f64).powi(2)).sum::<f64>().sqrt());
        opt.step(&params)?;
        p.zero_grad();
    }
    let last = *points.last().expect("at least the start");
    Ok(PathRun {
        final_distance: ((last.0 - min.0).powi(2) + (last.1 - min.1).powi(2)).sqrt(),
        points,
        losses,
        grad_norms,
        diverged_at,
        lr,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_descend_and_the_quadratic_has_its_minimum() {
        assert!(Problem2d::Quadratic.value(0.0, 0.0, 10.0).abs() < 1e-12);
        for problem in Problem2d::ALL {
            for method in Method::ALL {
                let run = run_path(&PathConfig {
                    problem,
                    method,
                    lr: None,
                    steps: 1000,
                    kappa: 10.0,
                })
                .unwrap();
                assert!(run.diverged_at.is_none(), "{problem:?} {method:?} diverged");
                let (first, last) = (run.losses[0], *run.losses.last().unwrap());
                assert!(last < first, "{problem:?} {method:?}: {first} -> {last}");
            }
        }
    }
}
