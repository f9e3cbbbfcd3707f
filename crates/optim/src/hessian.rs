//! Hessian tools: exact Hessian-vector products through core-tensor's double backward, and the
//! spectral methods that only need such products — power iteration, Lanczos with full
//! reorthogonalisation, Hutchinson's trace estimator and stochastic Lanczos quadrature (SLQ)
//! for the eigenvalue density (as PyHessian does; Yao et al. 2020, Ghorbani et al. 2019).
//!
//! * HVP: `H v = d/dx <grad f(x), v>`, computed exactly by differentiating the recorded
//!   gradient graph (`create_graph = true`), in f32; no finite differences.
//! * Power iteration: `v <- H v / |H v|`, eigenvalue estimate `v^T H v`; converges to the
//!   eigenvalue of largest *magnitude* at rate `|lambda_2 / lambda_1|` per step.
//! * Lanczos: builds an orthonormal basis `Q_k` of the Krylov space with `Q_k^T H Q_k = T_k`
//!   tridiagonal; the eigenvalues of `T_k` (Ritz values) converge first at both ends of the
//!   spectrum, so `lambda_min < 0` reveals a saddle and `lambda_max / lambda_min` estimates the
//!   condition number on the positive-definite part. Every new vector is orthogonalised twice
//!   against all previous ones, so rounding does not create ghost eigenvalues.
//! * Hutchinson: `tr(H) = E[z^T H z]` for Rademacher `z`; the standard error is reported.
//! * SLQ: for a unit probe `v`, `v^T g(H) v = sum_j w_j g(theta_j)` with Ritz values `theta_j`
//!   and weights `w_j` = squared first components of `T_k`'s eigenvectors (Gauss quadrature);
//!   averaging over probes and smoothing with a Gaussian gives the spectral density.
//!
//! Vectors are f64 (`&[f64]`) so the Krylov recurrences lose little to rounding; operators
//! that work in f32 (the autodiff HVP) convert at their boundary.

use core_tensor::{grad, GradOptions, Rng, Tensor};

use crate::error::{check, OptimError, Result};

/// A symmetric linear operator known only through products `v -> A v`.
pub trait LinearOperator {
    /// The dimension `n` of `A` (n x n).
    fn dim(&self) -> usize;

    /// `A v` for `v` of length `n`.
    ///
    /// # Errors
    /// Operator-specific (e.g. a failing forward pass).
    fn apply(&self, v: &[f64]) -> Result<Vec<f64>>;
}

/// A dense symmetric matrix in row-major order.
#[derive(Debug, Clone, PartialEq)]
pub struct DenseSymmetric {
    n: usize,
    a: Vec<f64>,
}

impl DenseSymmetric {
    /// Wraps `a` (row-major `n x n`; assumed symmetric).
    ///
    /// # Errors
    /// [`OptimError::StateMismatch`] when `a.len() != n * n`.
    pub fn new(n: usize, a: Vec<f64>) -> Result<Self> {
        if a.len() != n * n {
            return Err(OptimError::StateMismatch(format!(
                "a dense {n}x{n} matrix needs {} values, got {}",
                n * n,
                a.len()
            )));
        }
        Ok(DenseSymmetric { n, a })
    }

    /// The row-major values.
    pub fn values(&self) -> &[f64] {
        &self.a
    }
}

impl LinearOperator for DenseSymmetric {
    fn dim(&self) -> usize {
        self.n
    }

    fn apply(&self, v: &[f64]) -> Result<Vec<f64>> {
        Ok(self
            .a
            .chunks_exact(self.n)
            .map(|row| row.iter().zip(v).map(|(a, b)| a * b).sum())
            .collect())
    }
}

/// Exact Hessian-vector products of a scalar loss with respect to a list of parameters.
///
/// `H v = grad(<grad(f, params), v>, params)`, with the inner gradient recorded.
///
/// # Errors
/// A tensor error when `f` fails, when shapes of `v` and `params` differ, or when the loss
/// does not depend on the parameters.
pub fn hvp<F>(f: &F, params: &[Tensor], v: &[Tensor]) -> Result<Vec<Tensor>>
where
    F: Fn(&[Tensor]) -> core_tensor::Result<Tensor>,
{
    let leaves: Vec<Tensor> = params.iter().map(|p| p.detach().with_grad()).collect();
    let refs: Vec<&Tensor> = leaves.iter().collect();
    let loss = f(&leaves)?;
    let g = grad(&loss, &refs, None, GradOptions::create_graph())?;
    let mut dot: Option<Tensor> = None;
    for (gi, vi) in g.iter().zip(v) {
        let term = gi.mul(vi)?.sum_all()?;
        dot = Some(match dot {
            None => term,
            Some(d) => d.add(&term)?,
        });
    }
    let dot = dot.ok_or_else(|| OptimError::StateMismatch("hvp: no parameters".into()))?;
    if !dot.requires_grad() {
        // The gradient does not depend on the parameters: the Hessian is zero.
        return Ok(params.iter().map(Tensor::zeros_like).collect());
    }
    Ok(grad(&dot, &refs, None, GradOptions::default())?)
}

/// The Hessian of a loss over parameters as a [`LinearOperator`] (flattened, concatenated).
pub struct HessianOperator<F> {
    f: F,
    params: Vec<Tensor>,
    dim: usize,
}

impl<F> HessianOperator<F>
where
    F: Fn(&[Tensor]) -> core_tensor::Result<Tensor>,
{
    /// The Hessian of `f` at `params`.
    pub fn new(f: F, params: &[Tensor]) -> Self {
        let dim = params.iter().map(Tensor::numel).sum();
        HessianOperator {
            f,
            params: params.iter().map(Tensor::detach).collect(),
            dim,
        }
    }
}

impl<F> LinearOperator for HessianOperator<F>
where
    F: Fn(&[Tensor]) -> core_tensor::Result<Tensor>,
{
    fn dim(&self) -> usize {
        self.dim
    }

    fn apply(&self, v: &[f64]) -> Result<Vec<f64>> {
        let mut parts = Vec::with_capacity(self.params.len());
        let mut offset = 0;
        for p in &self.params {
            let n = p.numel();
            let vals: Vec<f32> = v[offset..offset + n].iter().map(|&x| x as f32).collect();
            parts.push(Tensor::from_vec(vals, p.shape())?);
            offset += n;
        }
        let hv = hvp(&self.f, &self.params, &parts)?;
        Ok(hv.iter().flat_map(|t| t.to_vec()).map(f64::from).collect())
    }
}

/// The dense matrix of an operator, one column per basis vector (for small operators).
///
/// # Errors
/// Whatever the operator's `apply` returns.
pub fn dense_matrix(op: &dyn LinearOperator) -> Result<DenseSymmetric> {
    let n = op.dim();
    let mut a = vec![0.0; n * n];
    let mut e = vec![0.0; n];
    for j in 0..n {
        e[j] = 1.0;
        let col = op.apply(&e)?;
        for i in 0..n {
            a[i * n + j] = col[i];
        }
        e[j] = 0.0;
    }
    DenseSymmetric::new(n, a)
}

/// Eigen-decomposition of a dense symmetric matrix in O(n³): Householder reduction to
/// tridiagonal form `A = Q T Qᵀ` (each step reflects a column below the subdiagonal onto
/// one axis, `H = I − 2uuᵀ/uᵀu`, accumulated into `Q`), then the implicit QL algorithm with
/// Wilkinson-type shifts on `T`, its Givens rotations accumulated into `Q` — EISPACK's
/// `tred2`/`tql2` pair. Cost about `9n³` flops with vectors (400×400: well under a second);
/// eigenvalues are accurate to a few units of `ε‖A‖`, eigenvectors orthonormal to ~`nε`.
///
/// Returns eigenvalues in ascending order and the matching unit eigenvectors (each a `Vec`).
/// Only the lower triangle of `a` is read (the matrix is assumed symmetric). A matrix with
/// NaN entries gives NaN eigenvalues rather than looping.
pub fn symmetric_eigen(a: &DenseSymmetric) -> (Vec<f64>, Vec<Vec<f64>>) {
    let n = a.n;
    if n == 0 {
        return (Vec::new(), Vec::new());
    }
    // v: row-major n x n, starts as the lower triangle mirrored; ends as the eigenvectors
    // (columns). d: diagonal, e: subdiagonal.
    let mut v: Vec<f64> = (0..n * n)
        .map(|k| {
            let (i, j) = (k / n, k % n);
            a.a[i.max(j) * n + i.min(j)]
        })
        .collect();
    let mut d = vec![0.0; n];
    let mut e = vec![0.0; n];
    tridiagonalize(n, &mut v, &mut d, &mut e);
    tridiagonal_ql(n, &mut v, &mut d, &mut e);
    let mut order: Vec<usize> = (0..n).collect();
    order.sort_by(|&i, &j| d[i].total_cmp(&d[j]));
    let values = order.iter().map(|&i| d[i]).collect();
    let vectors = order
        .iter()
        .map(|&j| (0..n).map(|k| v[k * n + j]).collect())
        .collect();
    (values, vectors)
}

/// Householder tridiagonalisation (`tred2`): on return `d` is the diagonal, `e[1..]` the
/// subdiagonal and `v` the orthogonal `Q` with `A = Q T Qᵀ`.
fn tridiagonalize(n: usize, v: &mut [f64], d: &mut [f64], e: &mut [f64]) {
    let at = |i: usize, j: usize| i * n + j;
    d.copy_from_slice(&v[at(n - 1, 0)..at(n - 1, 0) + n]);
    for i in (1..n).rev() {
        // Scale the row to avoid under- and overflow.
        let scale: f64 = d[..i].iter().map(|x| x.abs()).sum();
        let mut h = 0.0;
        if scale == 0.0 {
            e[i] = d[i - 1];
            for j in 0..i {
                d[j] = v[at(i - 1, j)];
                v[at(i, j)] = 0.0;
                v[at(j, i)] = 0.0;
            }
        } else {
            for x in &mut d[..i] {
                *x /= scale;
                h += *x * *x;
            }
            let f = d[i - 1];
            let g = if f > 0.0 { -h.sqrt() } else { h.sqrt() };
            e[i] = scale * g;
            h -= f * g;
            d[i - 1] = f - g;
            e[..i].fill(0.0);
            // Apply the reflection to the remaining columns: p = A u / h, then
            // A <- A - q uᵀ - u qᵀ with q = p - (uᵀp / 2h) u.
            for j in 0..i {
                let f = d[j];
                v[at(j, i)] = f;
                let mut g = e[j] + v[at(j, j)] * f;
                for k in j + 1..i {
                    g += v[at(k, j)] * d[k];
                    e[k] += v[at(k, j)] * f;
                }
                e[j] = g;
            }
            let mut f = 0.0;
            for j in 0..i {
                e[j] /= h;
                f += e[j] * d[j];
            }
            let hh = f / (h + h);
            for j in 0..i {
                e[j] -= hh * d[j];
            }
            for j in 0..i {
                let (f, g) = (d[j], e[j]);
                for k in j..i {
                    v[at(k, j)] -= f * e[k] + g * d[k];
                }
                d[j] = v[at(i - 1, j)];
                v[at(i, j)] = 0.0;
            }
        }
        d[i] = h;
    }
    // Accumulate the reflections into Q.
    for i in 0..n - 1 {
        v[at(n - 1, i)] = v[at(i, i)];
        v[at(i, i)] = 1.0;
        let h = d[i + 1];
        if h != 0.0 {
            for k in 0..=i {
                d[k] = v[at(k, i + 1)] / h;
            }
            for j in 0..=i {
                let g: f64 = (0..=i).map(|k| v[at(k, i + 1)] * v[at(k, j)]).sum();
                for k in 0..=i {
                    v[at(k, j)] -= g * d[k];
                }
            }
        }
        for k in 0..=i {
            v[at(k, i + 1)] = 0.0;
        }
    }
    for j in 0..n {
        d[j] = v[at(n - 1, j)];
        v[at(n - 1, j)] = 0.0;
    }
    v[at(n - 1, n - 1)] = 1.0;
    e[0] = 0.0;
}

/// The implicit QL algorithm on a symmetric tridiagonal matrix (`tql2`): `d` becomes the
/// eigenvalues, and the rotations are accumulated into the columns of `v`.
fn tridiagonal_ql(n: usize, v: &mut [f64], d: &mut [f64], e: &mut [f64]) {
    for i in 1..n {
        e[i - 1] = e[i];
    }
    e[n - 1] = 0.0;
    let (mut f, mut tst1) = (0.0f64, 0.0f64);
    let eps = f64::EPSILON;
    for l in 0..n {
        // Find a negligible subdiagonal element (e[n-1] = 0 ends the search).
        tst1 = tst1.max(d[l].abs() + e[l].abs());
        let m = (l..n).find(|&m| e[m].abs() <= eps * tst1).unwrap_or(n - 1);
        if m > l {
            for _ in 0..64 {
                // The shift: the eigenvalue of the leading 2x2 block nearer d[l].
                let g = d[l];
                let p = (d[l + 1] - g) / (2.0 * e[l]);
                let r = if p < 0.0 { -p.hypot(1.0) } else { p.hypot(1.0) };
                d[l] = e[l] / (p + r);
                d[l + 1] = e[l] * (p + r);
                let dl1 = d[l + 1];
                let h = g - d[l];
                for x in &mut d[l + 2..n] {
                    *x -= h;
                }
                f += h;
                // One implicit QL sweep from m up to l.
                let mut p = d[m];
                let (mut c, mut c2, mut c3) = (1.0, 1.0, 1.0);
                let el1 = e[l + 1];
                let (mut s, mut s2) = (0.0, 0.0);
                for i in (l..m).rev() {
                    c3 = c2;
                    c2 = c;
                    s2 = s;
                    let g = c * e[i];
                    let h = c * p;
                    let r = p.hypot(e[i]);
                    e[i + 1] = s * r;
                    s = e[i] / r;
                    c = p / r;
                    p = c * d[i] - s * g;
                    d[i + 1] = h + s * (c * g + s * d[i]);
                    for k in 0..n {
                        let h = v[k * n + i + 1];
                        v[k * n + i + 1] = s * v[k * n + i] + c * h;
                        v[k * n + i] = c * v[k * n + i] - s * h;
                    }
                }
                p = -s * s2 * c3 * el1 * e[l] / dl1;
                e[l] = s * p;
                d[l] = c * p;
                // Converged (a NaN also stops here instead of looping).
                if e[l].abs() <= eps * tst1 || e[l].is_nan() {
                    break;
                }
            }
        }
        d[l] += f;
        e[l] = 0.0;
    }
}

pub(crate) fn dot(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

fn norm(a: &[f64]) -> f64 {
    dot(a, a).sqrt()
}

fn random_unit(n: usize, rng: &mut Rng) -> Vec<f64> {
    let v: Vec<f64> = (0..n).map(|_| rng.next_normal()).collect();
    let s = norm(&v);
    v.into_iter().map(|x| x / s).collect()
}

/// The result of [`power_iteration`].
#[derive(Debug, Clone, PartialEq)]
pub struct PowerIteration {
    /// The Rayleigh quotient `v^T A v` at the last iterate.
    pub eigenvalue: f64,
    /// The unit eigenvector estimate.
    pub eigenvector: Vec<f64>,
    /// Products computed.
    pub iterations: usize,
    /// Whether the relative change fell below the tolerance.
    pub converged: bool,
}

/// Power iteration for the eigenvalue of largest magnitude (the sharpness, for a loss at a
/// minimum), stopping when `|lambda_k - lambda_{k-1}| <= tol |lambda_k|`.
///
/// # Errors
/// [`OptimError::InvalidParameter`] for an empty operator or `max_iters == 0`; operator errors.
pub fn power_iteration(
    op: &dyn LinearOperator,
    max_iters: usize,
    tol: f64,
    seed: u64,
) -> Result<PowerIteration> {
    check(op.dim() > 0, "power_iteration", "dim", 0.0, "must be > 0")?;
    check(
        max_iters > 0,
        "power_iteration",
        "max_iters",
        0.0,
        "must be > 0",
    )?;
    let mut v = random_unit(op.dim(), &mut Rng::seed(seed));
    let mut lambda = f64::NAN;
    for k in 1..=max_iters {
        let w = op.apply(&v)?;
        let next = dot(&v, &w);
        let wn = norm(&w);
        if wn == 0.0 {
            return Ok(PowerIteration {
                eigenvalue: 0.0,
                eigenvector: v,
                iterations: k,
                converged: true,
            });
        }
        v = w.into_iter().map(|x| x / wn).collect();
        let done = (next - lambda).abs() <= tol * next.abs();
        lambda = next;
        if done {
            return Ok(PowerIteration {
                eigenvalue: lambda,
                eigenvector: v,
                iterations: k,
                converged: true,
            });
        }
    }
    Ok(PowerIteration {
        eigenvalue: lambda,
        eigenvector: v,
        iterations: max_iters,
        converged: false,
    })
}

/// The tridiagonal matrix and Ritz pairs from a Lanczos run.
#[derive(Debug, Clone, PartialEq)]
pub struct Lanczos {
    /// Diagonal of `T_k`.
    pub alphas: Vec<f64>,
    /// Off-diagonal of `T_k` (`alphas.len() - 1` values).
    pub betas: Vec<f64>,
    /// Ritz values (eigenvalues of `T_k`), ascending.
    pub ritz_values: Vec<f64>,
    /// Gauss-quadrature weights: squared first components of `T_k`'s eigenvectors (sum 1).
    pub weights: Vec<f64>,
    /// Residual norm of each Ritz pair, `|A x_i - theta_i x_i| = beta_k |s_i[k]|` (`beta_k`
    /// the next off-diagonal, `s_i[k]` the last component of `T_k`'s eigenvector): an
    /// eigenvalue of `A` lies within this distance of `theta_i` (the Lanczos error bound).
    pub residuals: Vec<f64>,
    /// The Ritz vector of the largest Ritz value, `Q_k s` (unit length): a warm start for
    /// the next run when the operator changes slowly (a sharpness tracked along training).
    pub top_vector: Vec<f64>,
}

impl Lanczos {
    /// The `k` largest Ritz values, largest first.
    pub fn top(&self, k: usize) -> Vec<f64> {
        self.ritz_values.iter().rev().take(k).copied().collect()
    }

    /// The `k` smallest Ritz values, smallest first.
    pub fn bottom(&self, k: usize) -> Vec<f64> {
        self.ritz_values.iter().take(k).copied().collect()
    }

    /// The residual bounds of [`Lanczos::top`]`(k)`, in the same order.
    pub fn top_residuals(&self, k: usize) -> Vec<f64> {
        self.residuals.iter().rev().take(k).copied().collect()
    }
}

/// Lanczos with full reorthogonalisation from a random start (seeded), at most `steps`
/// products; stops early when the Krylov space becomes invariant.
///
/// # Errors
/// [`OptimError::InvalidParameter`] for `steps == 0` or an empty operator; operator errors.
pub fn lanczos(op: &dyn LinearOperator, steps: usize, seed: u64) -> Result<Lanczos> {
    check(op.dim() > 0, "lanczos", "dim", 0.0, "must be > 0")?;
    let v0 = random_unit(op.dim(), &mut Rng::seed(seed));
    lanczos_from(op, &v0, steps)
}

/// Lanczos from a given start vector (normalised here).
///
/// # Errors
/// As [`lanczos`].
pub fn lanczos_from(op: &dyn LinearOperator, start: &[f64], steps: usize) -> Result<Lanczos> {
    check(steps > 0, "lanczos", "steps", 0.0, "must be > 0")?;
    let n = op.dim();
    let steps = steps.min(n);
    let s = norm(start);
    let mut q: Vec<Vec<f64>> = vec![start.iter().map(|x| x / s).collect()];
    let (mut alphas, mut betas) = (Vec::new(), Vec::new());
    let mut beta_next = 0.0;
    for j in 0..steps {
        let mut w = op.apply(&q[j])?;
        let alpha = dot(&w, &q[j]);
        alphas.push(alpha);
        // Full reorthogonalisation, twice ("twice is enough").
        for _ in 0..2 {
            for qi in &q {
                let c = dot(&w, qi);
                w.iter_mut().zip(qi).for_each(|(x, y)| *x -= c * y);
            }
        }
        let beta = norm(&w);
        let scale = alphas.iter().map(|a| a.abs()).fold(1e-300, f64::max);
        if beta <= 1e-10 * scale {
            break; // invariant subspace: the Ritz pairs are exact
        }
        if j + 1 == steps {
            beta_next = beta;
            break;
        }
        betas.push(beta);
        q.push(w.into_iter().map(|x| x / beta).collect());
    }
    let k = alphas.len();
    let mut t = vec![0.0; k * k];
    for i in 0..k {
        t[i * k + i] = alphas[i];
        if i + 1 < k {
            t[i * k + i + 1] = betas[i];
            t[(i + 1) * k + i] = betas[i];
        }
    }
    let (ritz_values, vectors) = symmetric_eigen(&DenseSymmetric { n: k, a: t });
    let weights = vectors.iter().map(|v| v[0] * v[0]).collect();
    let residuals = vectors.iter().map(|v| beta_next * v[k - 1].abs()).collect();
    let top = &vectors[k - 1];
    let mut top_vector = vec![0.0; n];
    for (qi, c) in q.iter().zip(top) {
        top_vector.iter_mut().zip(qi).for_each(|(x, y)| *x += c * y);
    }
    Ok(Lanczos {
        top_vector,
        alphas,
        betas,
        ritz_values,
        weights,
        residuals,
    })
}

/// A trace estimate with its standard error.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TraceEstimate {
    /// Mean of `z^T A z` over the probes.
    pub trace: f64,
    /// Standard error of that mean.
    pub std_error: f64,
}

/// Hutchinson's estimator `tr(A) ~ mean_i z_i^T A z_i` with Rademacher `z_i` (seeded).
///
/// # Errors
/// [`OptimError::InvalidParameter`] for fewer than 2 probes; operator errors.
pub fn hutchinson_trace(
    op: &dyn LinearOperator,
    probes: usize,
    seed: u64,
) -> Result<TraceEstimate> {
    check(
        probes >= 2,
        "hutchinson_trace",
        "probes",
        probes as f64,
        "must be >= 2",
    )?;
    let mut rng = Rng::seed(seed);
    let samples: Vec<f64> = (0..probes)
        .map(|_| {
            let z: Vec<f64> = (0..op.dim())
                .map(|_| if rng.next_u32() & 1 == 0 { -1.0 } else { 1.0 })
                .collect();
            op.apply(&z).map(|az| dot(&z, &az))
        })
        .collect::<Result<_>>()?;
    let mean = samples.iter().sum::<f64>() / probes as f64;
    let var = samples.iter().map(|s| (s - mean).powi(2)).sum::<f64>() / (probes - 1) as f64;
    Ok(TraceEstimate {
        trace: mean,
        std_error: (var / probes as f64).sqrt(),
    })
}

/// A smoothed eigenvalue density on a grid, with the quadrature nodes it came from.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct SpectralDensity {
    /// Grid points (eigenvalue axis).
    pub grid: Vec<f64>,
    /// Density at each grid point (integrates to about 1 over the grid).
    pub density: Vec<f64>,
    /// All Ritz values from all probes.
    pub nodes: Vec<f64>,
    /// Their weights (each probe's weights sum to `1 / probes`).
    pub weights: Vec<f64>,
}

/// Stochastic Lanczos quadrature: the eigenvalue density of `A` from `probes` Lanczos runs of
/// `steps` steps, smoothed by a Gaussian of width `sigma` (in eigenvalue units) on a grid of
/// `points` points spanning the nodes with a margin of `5 sigma`.
///
/// # Errors
/// [`OptimError::InvalidParameter`] for zero probes, steps or points or `sigma <= 0`.
pub fn slq_density(
    op: &dyn LinearOperator,
    steps: usize,
    probes: usize,
    sigma: f64,
    points: usize,
    seed: u64,
) -> Result<SpectralDensity> {
    check(probes > 0, "slq_density", "probes", 0.0, "must be > 0")?;
    check(
        points > 1,
        "slq_density",
        "points",
        points as f64,
        "must be > 1",
    )?;
    check(sigma > 0.0, "slq_density", "sigma", sigma, "must be > 0")?;
    let mut rng = Rng::seed(seed);
    let (mut nodes, mut weights) = (Vec::new(), Vec::new());
    for _ in 0..probes {
        let z: Vec<f64> = (0..op.dim())
            .map(|_| if rng.next_u32() & 1 == 0 { -1.0 } else { 1.0 })
            .collect();
        let run = lanczos_from(op, &z, steps)?;
        nodes.extend(&run.ritz_values);
        weights.extend(run.weights.iter().map(|w| w / probes as f64));
    }
    let lo = nodes.iter().copied().fold(f64::INFINITY, f64::min) - 5.0 * sigma;
    let hi = nodes.iter().copied().fold(f64::NEG_INFINITY, f64::max) + 5.0 * sigma;
    let grid: Vec<f64> = (0..points)
        .map(|i| lo + (hi - lo) * i as f64 / (points - 1) as f64)
        .collect();
    let norm_c = 1.0 / (sigma * (2.0 * std::f64::consts::PI).sqrt());
    let density = grid
        .iter()
        .map(|&t| {
            nodes
                .iter()
                .zip(&weights)
                .map(|(&x, &w)| w * norm_c * (-0.5 * ((t - x) / sigma).powi(2)).exp())
                .sum()
        })
        .collect();
    Ok(SpectralDensity {
        grid,
        density,
        nodes,
        weights,
    })
}
