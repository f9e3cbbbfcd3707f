//! Test problems with known structure: quadratics of chosen spectrum and conditioning
//! (axis-aligned or rotated), Rosenbrock, Beale, and logistic regression on synthetic data.
//! Each exposes its loss as a core-tensor graph (so gradients and Hessian-vector products come
//! from autodiff) and whatever theory needs (eigenvalues, `mu`, `L`) where it is known.

use core_tensor::{Rng, Tensor};
use serde::{Deserialize, Serialize};

use crate::error::{check, Result};

/// How a quadratic's eigenvalues fill `[mu, L]` (both ends are always eigenvalues).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Spectrum {
    /// Half the eigenvalues at `mu`, half at `L`.
    TwoCluster,
    /// Evenly spaced from `mu` to `L`.
    Uniform,
    /// Geometrically spaced from `mu` to `L`.
    LogUniform,
}

lab::choice!(Spectrum);

/// `f(x) = 1/2 x^T A x` with `A = Q diag(lambda) Q^T` (`Q = I` when axis-aligned). The
/// minimiser is `x* = 0` and `f* = 0`, so errors and suboptimalities are exact in f32.
#[derive(Debug, Clone)]
pub struct Quadratic {
    eigenvalues: Vec<f64>,
    /// Column `i` is the eigenvector of `eigenvalues[i]` (row-major `dim x dim`).
    basis: Vec<f64>,
    a: Tensor,
    rotated: bool,
}

impl Quadratic {
    /// A quadratic of dimension `dim` with eigenvalues from `mu` to `mu * kappa` laid out by
    /// `spectrum`, rotated by a seeded random orthogonal matrix when `rotated`.
    ///
    /// # Errors
    /// [`OptimError::InvalidParameter`](crate::OptimError::InvalidParameter) for `dim < 2`,
    /// `kappa < 1` or `mu <= 0`.
    pub fn new(
        dim: usize,
        kappa: f64,
        mu: f64,
        spectrum: Spectrum,
        rotated: bool,
        seed: u64,
    ) -> Result<Self> {
        check(dim >= 2, "quadratic", "dim", dim as f64, "must be >= 2")?;
        check(
            kappa >= 1.0 && kappa.is_finite(),
            "quadratic",
            "kappa",
            kappa,
            "must be >= 1",
        )?;
        check(mu > 0.0, "quadratic", "mu", mu, "must be > 0")?;
        let l = mu * kappa;
        let eigenvalues: Vec<f64> = (0..dim)
            .map(|i| {
                let t = i as f64 / (dim - 1) as f64;
                match spectrum {
                    Spectrum::TwoCluster => {
                        if i < dim / 2 {
                            mu
                        } else {
                            l
                        }
                    }
                    Spectrum::Uniform => mu + (l - mu) * t,
                    Spectrum::LogUniform => mu * kappa.powf(t),
                }
            })
            .collect();
        let basis = if rotated {
            random_orthogonal(dim, &mut Rng::with_stream(seed, 0x0_0417))
        } else {
            let mut id = vec![0.0; dim * dim];
            (0..dim).for_each(|i| id[i * dim + i] = 1.0);
            id
        };
        let mut a = vec![0.0f32; dim * dim];
        for i in 0..dim {
            for j in 0..dim {
                let v: f64 = (0..dim)
                    .map(|k| basis[i * dim + k] * eigenvalues[k] * basis[j * dim + k])
                    .sum();
                a[i * dim + j] = v as f32;
            }
        }
        Ok(Quadratic {
            eigenvalues,
            basis,
            a: Tensor::from_vec(a, &[dim, dim])?,
            rotated,
        })
    }

    /// The dimension.
    pub fn dim(&self) -> usize {
        self.eigenvalues.len()
    }

    /// Eigenvalues, ascending.
    pub fn eigenvalues(&self) -> &[f64] {
        &self.eigenvalues
    }

    /// The smallest eigenvalue `mu`.
    pub fn mu(&self) -> f64 {
        self.eigenvalues[0]
    }

    /// The largest eigenvalue `L`.
    pub fn l(&self) -> f64 {
        self.eigenvalues[self.dim() - 1]
    }

    /// Whether the eigenbasis is a random rotation.
    pub fn rotated(&self) -> bool {
        self.rotated
    }

    /// The unit eigenvector of `eigenvalues()[i]`.
    pub fn eigenvector(&self, i: usize) -> Vec<f64> {
        let n = self.dim();
        (0..n).map(|r| self.basis[r * n + i]).collect()
    }

    /// The matrix `A` as a tensor.
    pub fn matrix(&self) -> &Tensor {
        &self.a
    }

    /// `f(x) = 1/2 x^T A x` for `x` of shape `[dim, 1]`, as a differentiable graph.
    ///
    /// # Errors
    /// A shape error when `x` is not `[dim, 1]`.
    pub fn loss(&self, x: &Tensor) -> core_tensor::Result<Tensor> {
        Ok(x.t().matmul(&self.a.matmul(x)?)?.sum_all()?.mul_scalar(0.5))
    }

    /// `f(x)` in f64 through the eigen-decomposition: `1/2 sum_i lambda_i (q_i . x)^2`.
    pub fn value(&self, x: &[f64]) -> f64 {
        (0..self.dim())
            .map(|i| {
                let c: f64 = self.eigenvector(i).iter().zip(x).map(|(q, v)| q * v).sum();
                0.5 * self.eigenvalues[i] * c * c
            })
            .sum()
    }
}

/// A random orthogonal matrix: modified Gram–Schmidt (applied twice) on Gaussian columns.
fn random_orthogonal(n: usize, rng: &mut Rng) -> Vec<f64> {
    let mut cols: Vec<Vec<f64>> = Vec::with_capacity(n);
    while cols.len() < n {
        let mut v: Vec<f64> = (0..n).map(|_| rng.next_normal()).collect();
        for _ in 0..2 {
            for c in &cols {
                let d: f64 = v.iter().zip(c).map(|(a, b)| a * b).sum();
                v.iter_mut().zip(c).for_each(|(a, b)| *a -= d * b);
            }
        }
        let s = v.iter().map(|a| a * a).sum::<f64>().sqrt();
        if s > 1e-8 {
            cols.push(v.into_iter().map(|a| a / s).collect());
        }
    }
    let mut m = vec![0.0; n * n];
    for (j, c) in cols.iter().enumerate() {
        for i in 0..n {
            m[i * n + j] = c[i];
        }
    }
    m
}

/// Rosenbrock's function `f(x, y) = (1 - x)^2 + 100 (y - x^2)^2` for `p` of shape `[2]`;
/// minimum 0 at `(1, 1)` at the end of a curved, ill-conditioned valley.
///
/// # Errors
/// A shape error when `p` is not `[2]`.
pub fn rosenbrock(p: &Tensor) -> core_tensor::Result<Tensor> {
    let x = p.narrow(0, 0, 1)?;
    let y = p.narrow(0, 1, 1)?;
    let a = x.neg().add_scalar(1.0).square();
    let b = y.sub(&x.square())?.square().mul_scalar(100.0);
    a.add(&b)?.sum_all()
}

/// Beale's function `f(x, y) = (1.5 - x + xy)^2 + (2.25 - x + xy^2)^2 + (2.625 - x + xy^3)^2`;
/// minimum 0 at `(3, 0.5)`, with flat regions and sharp ridges.
///
/// # Errors
/// A shape error when `p` is not `[2]`.
pub fn beale(p: &Tensor) -> core_tensor::Result<Tensor> {
    let x = p.narrow(0, 0, 1)?;
    let y = p.narrow(0, 1, 1)?;
    let mut total = Tensor::zeros(&[1]);
    let mut yk = Tensor::ones(&[1]);
    for c in [1.5f32, 2.25, 2.625] {
        yk = yk.mul(&y)?;
        let term = x.mul(&yk)?.sub(&x)?.add_scalar(c).square();
        total = total.add(&term)?;
    }
    total.sum_all()
}

/// Binary logistic regression on synthetic Gaussian data.
#[derive(Debug, Clone)]
pub struct Logistic {
    x: Tensor,
    y: Tensor,
    l2: f32,
}

impl Logistic {
    /// `n` samples in `d` dimensions, labels `sign(x . w_true)`; with `separable = false`,
    /// 10% of labels are flipped. `l2` adds `l2/2 |w|^2`.
    ///
    /// # Errors
    /// [`OptimError::InvalidParameter`](crate::OptimError::InvalidParameter) for empty data.
    pub fn new(n: usize, d: usize, separable: bool, l2: f32, seed: u64) -> Result<Self> {
        check(
            n > 0 && d > 0,
            "logistic",
            "n*d",
            (n * d) as f64,
            "must be > 0",
        )?;
        let mut rng = Rng::seed(seed);
        let x = rng.normal(&[n, d], 0.0, 1.0);
        let w = rng.normal(&[d, 1], 0.0, 1.0);
        let margin = x.matmul(&w)?.to_vec();
        let labels: Vec<f32> = margin
            .iter()
            .map(|&m| {
                let s = if m >= 0.0 { 1.0 } else { -1.0 };
                if !separable && rng.next_f32() < 0.1 {
                    -s
                } else {
                    s
                }
            })
            .collect();
        Ok(Logistic {
            x,
            y: Tensor::from_vec(labels, &[n, 1])?,
            l2,
        })
    }

    /// `mean_i softplus(-y_i x_i . w) + l2/2 |w|^2` for `w` of shape `[d, 1]`.
    ///
    /// # Errors
    /// A shape error when `w` does not match the data.
    pub fn loss(&self, w: &Tensor) -> core_tensor::Result<Tensor> {
        let data = self
            .x
            .matmul(w)?
            .mul(&self.y)?
            .neg()
            .softplus()
            .mean_all()?;
        if self.l2 > 0.0 {
            data.add(&w.square().sum_all()?.mul_scalar(0.5 * self.l2))
        } else {
            Ok(data)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quadratic_has_the_spectrum_asked_for() {
        for spectrum in [
            Spectrum::TwoCluster,
            Spectrum::Uniform,
            Spectrum::LogUniform,
        ] {
            for rotated in [false, true] {
                let q = Quadratic::new(8, 100.0, 0.5, spectrum, rotated, 3).unwrap();
                assert_eq!(q.mu(), 0.5);
                assert!((q.l() - 50.0).abs() < 1e-12);
                // A q_i = lambda_i q_i, checked through the f32 matrix.
                for i in [0, 7] {
                    let v = q.eigenvector(i);
                    let t =
                        Tensor::from_vec(v.iter().map(|&x| x as f32).collect(), &[8, 1]).unwrap();
                    let av = q.matrix().matmul(&t).unwrap().to_vec();
                    for (a, b) in av.iter().zip(&v) {
                        assert!((*a as f64 - q.eigenvalues()[i] * b).abs() < 1e-4 * q.l());
                    }
                }
                let x = vec![0.3; 8];
                let t = Tensor::from_vec(vec![0.3; 8], &[8, 1]).unwrap();
                let f = q.loss(&t).unwrap().item().unwrap() as f64;
                assert!((f - q.value(&x)).abs() < 1e-4 * f.max(1.0));
            }
        }
        assert!(Quadratic::new(8, 0.5, 1.0, Spectrum::Uniform, false, 0).is_err());
        assert!(Quadratic::new(1, 10.0, 1.0, Spectrum::Uniform, false, 0).is_err());
    }

    #[test]
    fn test_functions_have_their_minima() {
        let r = rosenbrock(&Tensor::from_vec(vec![1.0, 1.0], &[2]).unwrap()).unwrap();
        assert_eq!(r.item().unwrap(), 0.0);
        let b = beale(&Tensor::from_vec(vec![3.0, 0.5], &[2]).unwrap()).unwrap();
        assert!(b.item().unwrap().abs() < 1e-10);
        let lg = Logistic::new(50, 3, true, 0.0, 1).unwrap();
        let l0 = lg.loss(&Tensor::zeros(&[3, 1])).unwrap().item().unwrap();
        assert!((l0 - std::f32::consts::LN_2).abs() < 1e-6);
    }
}
