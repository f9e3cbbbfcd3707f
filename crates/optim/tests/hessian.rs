//! Hessian tools on problems whose spectrum is known, and on a small MLP against its explicitly
//! computed (finite-difference) Hessian.

use core_tensor::{grad, GradOptions, Rng, Tensor};
use optim::hessian::{
    dense_matrix, hutchinson_trace, lanczos, power_iteration, slq_density, symmetric_eigen,
    DenseSymmetric, HessianOperator, LinearOperator,
};
use optim::problems::{Quadratic, Spectrum};

fn rel(a: f64, b: f64) -> f64 {
    (a - b).abs() / b.abs()
}

#[test]
fn lanczos_and_power_iteration_recover_a_known_spectrum_through_autodiff() {
    let q = Quadratic::new(40, 1000.0, 0.01, Spectrum::LogUniform, true, 11).unwrap();
    let op = HessianOperator::new(|p: &[Tensor]| q.loss(&p[0]), &[Tensor::zeros(&[40, 1])]);
    let run = lanczos(&op, 40, 1).unwrap();
    let (top, bottom) = (run.top(2), run.bottom(2));
    let ev = q.eigenvalues();
    // The operator is the f32 matrix, so agreement is limited by f32 rounding of A (~1e-7 L).
    assert!(rel(top[0], ev[39]) < 1e-4, "top {} vs {}", top[0], ev[39]);
    assert!(
        rel(top[1], ev[38]) < 1e-4,
        "second {} vs {}",
        top[1],
        ev[38]
    );
    assert!(
        rel(bottom[0], ev[0]) < 1e-3,
        "bottom {} vs {}",
        bottom[0],
        ev[0]
    );
    assert!(rel(top[0] / bottom[0], 1000.0) < 1e-3);
    let pi = power_iteration(&op, 2000, 1e-10, 2).unwrap();
    assert!(pi.converged && rel(pi.eigenvalue, ev[39]) < 1e-4, "{pi:?}");
}

#[test]
fn lanczos_in_f64_is_exact_to_1e_minus_4_and_sees_saddles() {
    // A = Q diag(-2, 1, ..., 50) Q^T in f64: an indefinite matrix (a saddle).
    let n = 30;
    let q = Quadratic::new(n, 50.0, 1.0, Spectrum::Uniform, true, 5).unwrap();
    let mut lam: Vec<f64> = q.eigenvalues().to_vec();
    lam[0] = -2.0;
    let mut a = vec![0.0; n * n];
    for i in 0..n {
        for j in 0..n {
            a[i * n + j] = (0..n)
                .map(|k| q.eigenvector(k)[i] * lam[k] * q.eigenvector(k)[j])
                .sum();
        }
    }
    let op = DenseSymmetric::new(n, a).unwrap();
    let run = lanczos(&op, n, 3).unwrap();
    assert!(
        rel(run.bottom(1)[0], -2.0) < 1e-10,
        "lambda_min {}",
        run.bottom(1)[0]
    );
    assert!(rel(run.top(1)[0], 50.0) < 1e-10);
    // Fewer steps still pin the extremes (they converge first).
    let short = lanczos(&op, 20, 3).unwrap();
    assert!(rel(short.top(1)[0], 50.0) < 1e-4 && rel(short.bottom(1)[0], -2.0) < 1e-4);
    // Each Ritz value is within its residual bound of an eigenvalue, and the top Ritz vector
    // has exactly that residual: |A x - theta x| = beta_k |s_k|.
    let (theta, bound) = (short.top(1)[0], short.top_residuals(1)[0]);
    assert!((theta - 50.0).abs() <= bound + 1e-12, "{theta} +- {bound}");
    let x = &short.top_vector;
    let ax = op.apply(x).unwrap();
    let r = ax
        .iter()
        .zip(x)
        .map(|(a, b)| (a - theta * b).powi(2))
        .sum::<f64>()
        .sqrt();
    assert!((r - bound).abs() < 1e-8 * (1.0 + bound), "{r} vs {bound}");
    assert!((x.iter().map(|v| v * v).sum::<f64>() - 1.0).abs() < 1e-12);
    let (vals, _) = symmetric_eigen(&op);
    for (v, l) in vals.iter().zip({
        let mut s = lam.clone();
        s.sort_by(f64::total_cmp);
        s
    }) {
        assert!((v - l).abs() < 1e-9, "{v} vs {l}");
    }
}

#[test]
fn hutchinson_and_slq() {
    let q = Quadratic::new(100, 100.0, 1.0, Spectrum::TwoCluster, true, 8).unwrap();
    let op = HessianOperator::new(|p: &[Tensor]| q.loss(&p[0]), &[Tensor::zeros(&[100, 1])]);
    let trace: f64 = q.eigenvalues().iter().sum(); // 50 * 1 + 50 * 100 = 5050
    let est = hutchinson_trace(&op, 200, 4).unwrap();
    assert!(rel(est.trace, trace) < 0.05, "{est:?} vs {trace}");
    let d = slq_density(&op, 30, 4, 2.0, 400, 6).unwrap();
    let dx = d.grid[1] - d.grid[0];
    let mass: f64 = d.density.iter().sum::<f64>() * dx;
    assert!((mass - 1.0).abs() < 0.02, "density integrates to {mass}");
    // Half the mass near 1, half near 100 (two clusters).
    let low: f64 = d
        .grid
        .iter()
        .zip(&d.density)
        .filter(|(x, _)| **x < 50.0)
        .map(|(_, p)| p * dx)
        .sum();
    assert!((low - 0.5).abs() < 0.1, "mass below 50: {low}");
}

#[test]
fn mlp_hessian_matches_finite_differences_of_the_gradient() {
    let mut rng = Rng::seed(3);
    let x = rng.normal(&[8, 3], 0.0, 1.0);
    let y = rng.normal(&[8, 1], 0.0, 1.0);
    let params = [rng.normal(&[3, 4], 0.0, 0.7), rng.normal(&[4, 1], 0.0, 0.7)];
    let loss = |p: &[Tensor]| {
        x.matmul(&p[0])?
            .tanh()
            .matmul(&p[1])?
            .sub(&y)?
            .square()
            .mean_all()
    };
    let op = HessianOperator::new(loss, &params);
    let h = dense_matrix(&op).unwrap();
    // Explicit Hessian: central differences of the autodiff gradient, column by column.
    let n = op.dim();
    let flat: Vec<f32> = params.iter().flat_map(|p| p.to_vec()).collect();
    let gradient_at = |v: &[f32]| -> Vec<f64> {
        let a = Tensor::from_slice(&v[..12], &[3, 4]).unwrap().with_grad();
        let b = Tensor::from_slice(&v[12..], &[4, 1]).unwrap().with_grad();
        let l = loss(&[a.clone(), b.clone()]).unwrap();
        grad(&l, &[&a, &b], None, GradOptions::default())
            .unwrap()
            .iter()
            .flat_map(|g| g.to_vec())
            .map(f64::from)
            .collect()
    };
    let step = 1e-2f32;
    let mut fd = vec![0.0; n * n];
    for j in 0..n {
        let (mut up, mut down) = (flat.clone(), flat.clone());
        up[j] += step;
        down[j] -= step;
        let (gu, gd) = (gradient_at(&up), gradient_at(&down));
        for i in 0..n {
            fd[i * n + j] = (gu[i] - gd[i]) / (2.0 * step as f64);
        }
    }
    let scale = h.values().iter().fold(0.0f64, |m, v| m.max(v.abs()));
    for (a, b) in h.values().iter().zip(&fd) {
        assert!(
            (a - b).abs() < 2e-3 * scale,
            "autodiff {a} vs finite differences {b} (scale {scale})"
        );
    }
    // Symmetric, and Lanczos on the HVP operator agrees with the dense eigenvalues.
    for i in 0..n {
        for j in 0..n {
            assert!((h.values()[i * n + j] - h.values()[j * n + i]).abs() < 1e-5 * scale);
        }
    }
    let (vals, _) = symmetric_eigen(&h);
    let run = lanczos(&op, n, 9).unwrap();
    assert!(rel(run.top(1)[0], vals[n - 1]) < 1e-4);
    assert!((run.bottom(1)[0] - vals[0]).abs() < 1e-4 * scale);
}

/// `Q diag(lam) Qᵀ` with `Q` a product of `r` random Householder reflections (orthogonal).
fn with_spectrum(lam: &[f64], r: usize, seed: u64) -> DenseSymmetric {
    let n = lam.len();
    let mut rng = Rng::seed(seed);
    // Columns of q, row-major: start from the identity.
    let mut q = vec![0.0; n * n];
    for i in 0..n {
        q[i * n + i] = 1.0;
    }
    for _ in 0..r {
        let u: Vec<f64> = (0..n).map(|_| rng.next_normal()).collect();
        let uu: f64 = u.iter().map(|x| x * x).sum();
        // q <- (I - 2 u uᵀ / uᵀu) q
        for j in 0..n {
            let dot: f64 = (0..n).map(|i| u[i] * q[i * n + j]).sum();
            for i in 0..n {
                q[i * n + j] -= 2.0 * u[i] * dot / uu;
            }
        }
    }
    let mut a = vec![0.0; n * n];
    for i in 0..n {
        for j in 0..=i {
            let x: f64 = (0..n).map(|k| q[i * n + k] * lam[k] * q[j * n + k]).sum();
            a[i * n + j] = x;
            a[j * n + i] = x;
        }
    }
    DenseSymmetric::new(n, a).unwrap()
}

#[test]
fn the_dense_eigensolver_recovers_a_known_spectrum_at_400() {
    // Negative, clustered and exactly repeated eigenvalues over six decades.
    let n = 400;
    let lam: Vec<f64> = (0..n)
        .map(|i| match i {
            0 => -3.0,
            1..=9 => 2.5,
            _ => 10f64.powf(-3.0 + 6.0 * i as f64 / n as f64),
        })
        .collect();
    let a = with_spectrum(&lam, 4, 21);
    let (vals, vecs) = symmetric_eigen(&a);
    let mut want = lam.clone();
    want.sort_by(f64::total_cmp);
    let norm = 1e3;
    for (got, want) in vals.iter().zip(&want) {
        assert!((got - want).abs() < 1e-11 * norm, "{got} vs {want}");
    }
    // Each pair satisfies A v = lambda v, and the vectors are orthonormal.
    let av = |v: &[f64]| -> Vec<f64> {
        (0..n)
            .map(|i| (0..n).map(|j| a.values()[i * n + j] * v[j]).sum())
            .collect()
    };
    for k in [0, 1, 5, 9, 200, 399] {
        let r: f64 = av(&vecs[k])
            .iter()
            .zip(&vecs[k])
            .map(|(x, v)| (x - vals[k] * v).powi(2))
            .sum::<f64>()
            .sqrt();
        assert!(r < 1e-10 * norm, "residual {r} at {k}");
        for l in [0, 3, 9, 399] {
            let d: f64 = vecs[k].iter().zip(&vecs[l]).map(|(x, y)| x * y).sum();
            let want = if k == l { 1.0 } else { 0.0 };
            assert!((d - want).abs() < 1e-11, "<v{k}, v{l}> = {d}");
        }
    }
    // Lanczos (full reorthogonalisation) on the same operator agrees at both ends.
    let run = lanczos(&a, 120, 1).unwrap();
    assert!(rel(run.top(1)[0], vals[n - 1]) < 1e-10);
    assert!(rel(run.bottom(1)[0], vals[0]) < 1e-10);
}

#[test]
fn the_dense_eigensolver_on_edge_cases() {
    let eig = |n: usize, a: Vec<f64>| symmetric_eigen(&DenseSymmetric::new(n, a).unwrap());
    assert_eq!(eig(0, vec![]), (vec![], vec![]));
    assert_eq!(eig(1, vec![-2.5]), (vec![-2.5], vec![vec![1.0]]));
    // 2x2 by hand: [[2, 1], [1, 2]] has 1 and 3 along (1, -1)/√2 and (1, 1)/√2.
    let (vals, vecs) = eig(2, vec![2.0, 1.0, 1.0, 2.0]);
    assert!((vals[0] - 1.0).abs() < 1e-15 && (vals[1] - 3.0).abs() < 1e-15);
    let h = std::f64::consts::FRAC_1_SQRT_2;
    assert!((vecs[1][0].abs() - h).abs() < 1e-15 && vecs[1][0] * vecs[1][1] > 0.0);
    assert!(vecs[0][0] * vecs[0][1] < 0.0);
    // Zero and diagonal matrices: exact.
    assert_eq!(eig(3, vec![0.0; 9]).0, vec![0.0; 3]);
    let (vals, _) = eig(3, vec![5.0, 0.0, 0.0, 0.0, -1.0, 0.0, 0.0, 0.0, 2.0]);
    assert_eq!(vals, vec![-1.0, 2.0, 5.0]);
    // NaN entries end in NaN, not in an endless loop.
    let (vals, _) = eig(
        3,
        vec![1.0, f64::NAN, 0.0, f64::NAN, 1.0, 0.0, 0.0, 0.0, 1.0],
    );
    assert!(vals.iter().any(|v| v.is_nan()));
}
