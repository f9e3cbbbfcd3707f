//! The diagnosis against analytic answers: exact spectra, limits on quadratics, each rule
//! beyond and just inside its limit, Adam's preconditioned limit crossed by a real run, and
//! bad input.

use super::*;
use crate::hessian::DenseSymmetric;
use crate::problems::{Quadratic, Spectrum};
use crate::{Adam, OptimizerState, Sgd};
use core_tensor::Rng;

/// `1/2 x^T A x` with eigenvalues uniform from `l / kappa` to `l`, rotated, from a seeded
/// start.
fn quad(kappa: f64, l: f64, seed: u64) -> QuadraticObjective {
    QuadraticObjective {
        problem: Quadratic::new(12, kappa, l / kappa, Spectrum::Uniform, true, seed).unwrap(),
        start: Rng::seed(seed + 1).normal(&[12, 1], 0.0, 1.0),
    }
}

fn quick() -> DiagnoseOptions {
    DiagnoseOptions {
        lanczos_steps: 12,
        probe_steps: 60,
        probe_every: 20,
        check_steps: 300,
        long_steps: 300,
        range_steps: 60,
        ..DiagnoseOptions::default()
    }
}

#[test]
fn curvature_of_a_dense_matrix_is_exact() {
    // diag(10, 4, 2, 1, -0.5) rotated: known eigenvalues, a saddle.
    let eig = [10.0, 4.0, 2.0, 1.0, -0.5];
    let q = Quadratic::new(5, 10.0, 1.0, Spectrum::Uniform, true, 3).unwrap();
    let n = 5;
    let mut a = vec![0.0; n * n];
    for (k, &l) in eig.iter().enumerate() {
        let v = q.eigenvector(k);
        for i in 0..n {
            for j in 0..n {
                a[i * n + j] += l * v[i] * v[j];
            }
        }
    }
    let op = DenseSymmetric::new(n, a).unwrap();
    let opts = DiagnoseOptions {
        top_k: 3,
        trace_probes: 400,
        density_probes: 4,
        ..quick()
    };
    let c = curvature(&op, &opts).unwrap();
    assert!(c.converged);
    for (got, want) in c.top.iter().zip([10.0, 4.0, 2.0]) {
        assert!((got - want).abs() < 1e-9 * want, "{got} vs {want}");
    }
    assert!((c.bottom + 0.5).abs() < 1e-9);
    assert!((c.kappa_eff - 5.0).abs() < 1e-9);
    // Hutchinson within 4 standard errors of tr = 16.5.
    assert!(
        (c.trace.0 - 16.5).abs() < 4.0 * c.trace.1 + 1e-9,
        "{:?}",
        c.trace
    );
    // One of five eigenvalues is negative: an SLQ with full Krylov spaces puts the
    // probes' weight on it (on average 1/5).
    assert!(
        c.negative_mass > 0.0 && c.negative_mass < 0.6,
        "{}",
        c.negative_mass
    );
}

#[test]
fn on_a_quadratic_sharpness_and_limits_match_the_analytic_values() {
    // Eigenvalues 0.5 .. 50, GD at 0.9 x 2/L: stable, top direction oscillating.
    let obj = quad(100.0, 50.0, 7);
    let lr = 0.9 * 2.0 / 50.0;
    let spec = OptimizerSpec::Sgd(Sgd::new(lr as f32));
    let d = diagnose(&obj, &spec, &quick()).unwrap();
    let rel = |a: f64, b: f64| (a - b).abs() / b.abs();
    assert!(
        rel(d.curvature.top[0], 50.0) < 1e-6,
        "{}",
        d.curvature.top[0]
    );
    // f32 products: accurate to ~1e-7 of the operator's norm, so the bottom to 1e-6 of L.
    assert!(
        (d.curvature.bottom - 0.5).abs() < 1e-6 * 50.0,
        "{}",
        d.curvature.bottom
    );
    assert!(rel(d.limit, 2.0 / f64::from(lr as f32)) < 1e-12);
    assert!(rel(d.probe.max_sharpness.0, 50.0) < 1e-6);
    assert_eq!(d.probe.regime, Regime::Stable);
    assert_eq!(d.directions.0.approach, Approach::Oscillating);
    assert_eq!(d.directions.1.approach, Approach::Monotone);
    // Contraction along the bottom direction: 1 - lr * 0.5.
    let lr64 = f64::from(lr as f32);
    assert!(rel(d.directions.1.contraction, 1.0 - lr64 * 0.5) < 1e-6);
    assert!(rel(d.suggested_lr, 0.8 * 2.0 / 50.0) < 1e-6);
    assert!(d.checks_pass(), "{}", d.verdict_text());
    assert!(d.noise.is_none()); // one batch: no noise scale
}

#[test]
fn beyond_the_limit_the_verdict_says_divergent_and_its_checks_confirm() {
    let obj = quad(10.0, 10.0, 2);
    for spec in [
        OptimizerSpec::Sgd(Sgd::new(0.25)),               // 2/L = 0.2
        OptimizerSpec::Sgd(Sgd::new(0.45).momentum(0.9)), // 3.8/L = 0.38
        OptimizerSpec::Sgd(Sgd::new(0.16).nesterov(0.9)), // 3.8/(2.8 L) = 0.1357
    ] {
        let d = diagnose(&obj, &spec, &quick()).unwrap();
        assert_eq!(d.probe.regime, Regime::Divergent, "{}", d.verdict_text());
        assert!(d.lr_ratio > 1.0);
        assert_eq!(d.directions.0.approach, Approach::Divergent);
        assert!(d.checks_pass(), "{}", d.verdict_text());
        let below = diagnose(&obj, &spec.with_lr(0.95 * d.suggested_lr / 0.8), &quick()).unwrap();
        assert_eq!(below.probe.regime, Regime::Edge, "{}", below.verdict_text());
    }
}

/// Adam with its second moment loaded at `v` and `beta2` so close to 1 that it does not
/// move: the preconditioner is frozen at `P = sqrt(v) + eps`, and on `1/2 x^T A x` the
/// preconditioned sharpness is `L / P`. The run (our Adam, not a model of it) must converge
/// just below `(2 + 2 beta1) / ((1 - beta1) eta)` and diverge just above.
#[test]
fn adams_preconditioned_limit_is_where_a_real_adam_run_crosses_over() {
    let obj = quad(10.0, 10.0, 5);
    let v = 4.0f32; // P = 2 + eps
    let beta1 = 0.9f64;
    let run = |lr: f64| -> (f64, f64) {
        let p = leaves(&obj.parameters()).unwrap();
        let mut opt = Adam::new(lr as f32)
            .betas(beta1 as f32, 0.999_999_9)
            .build()
            .unwrap();
        opt.load_state(OptimizerState {
            name: "adam".into(),
            step: 1_000_000_000,
            lr: lr as f32,
            buffer_names: vec!["exp_avg".into(), "exp_avg_sq".into()],
            buffers: vec![vec![vec![0.0; 12], vec![v; 12]]],
        })
        .unwrap();
        let (mut max, mut last) = (0.0f64, 0.0);
        for _ in 0..3000 {
            last = step(&obj, &p, &mut opt).unwrap();
            max = max.max(last);
        }
        (max, last)
    };
    let s = 10.0 / (2.0 + 1e-8); // preconditioned sharpness L / P
    let spec = OptimizerSpec::Adam(Adam::new(1.0).betas(beta1 as f32, 0.999));
    let eta_max = spec.lr_limit(s); // (2 + 2 beta1) / ((1 - beta1) s) = 7.6
    assert!((eta_max / (3.8 / (0.1 * s)) - 1.0).abs() < 1e-6); // f32 hyper-parameters
    let start = obj.problem.loss(&obj.start).unwrap().item().unwrap() as f64;
    // Below: converges, after a transient of the momentum (measured: 8x the start at
    // 0.97 of the limit). Above: the top direction blows up by orders of magnitude (measured
    // 15,000x at 1.03) until the squared gradients grow `v` enough to pull the sharpness
    // back under the limit — Adam's own edge-of-stability mechanism (Cohen et al. 2022).
    let (max, last) = run(0.97 * eta_max);
    assert!(last < 1e-3 * start && max < 20.0 * start, "{max} {last}");
    let (max, _) = run(1.03 * eta_max);
    assert!(max > 1000.0 * start, "{max}");
}

#[test]
fn bad_input_gets_a_clear_error() {
    struct Empty;
    impl Objective for Empty {
        fn parameters(&self) -> Vec<Tensor> {
            Vec::new()
        }
        fn batches(&self) -> usize {
            1
        }
        fn batch_size(&self, _: usize) -> usize {
            1
        }
        fn batch_loss(&self, _: &[Tensor], _: usize) -> core_tensor::Result<Tensor> {
            Ok(Tensor::scalar(1.0))
        }
    }
    let e = diagnose(&Empty, &OptimizerSpec::Sgd(Sgd::new(0.1)), &quick()).unwrap_err();
    assert!(e.to_string().contains("no parameters"), "{e}");

    struct NanLoss(Tensor);
    impl Objective for NanLoss {
        fn parameters(&self) -> Vec<Tensor> {
            vec![self.0.clone()]
        }
        fn batches(&self) -> usize {
            1
        }
        fn batch_size(&self, _: usize) -> usize {
            1
        }
        fn batch_loss(&self, p: &[Tensor], _: usize) -> core_tensor::Result<Tensor> {
            Ok(p[0].sum_all()?.mul_scalar(f32::NAN))
        }
    }
    let e = diagnose(
        &NanLoss(Tensor::ones(&[3])),
        &OptimizerSpec::Sgd(Sgd::new(0.1)),
        &quick(),
    )
    .unwrap_err();
    assert!(e.to_string().contains("loss at the start is NaN"), "{e}");

    let obj = quad(10.0, 10.0, 1);
    let e = diagnose(&obj, &OptimizerSpec::Sgd(Sgd::new(0.0)), &quick()).unwrap_err();
    assert!(e.to_string().contains("lr"), "{e}");
    let e = diagnose(&obj, &OptimizerSpec::Sgd(Sgd::new(-1.0)), &quick()).unwrap_err();
    assert!(e.to_string().contains("lr"), "{e}");
    // A Lanczos budget too small to converge is said, not hidden.
    let big = quad(1000.0, 50.0, 9);
    let opts = DiagnoseOptions {
        lanczos_steps: 2,
        top_k: 1,
        check_steps: 0,
        range_steps: 0,
        ..quick()
    };
    let mut tiny = curvature(
        &HessianOperator::new(|p: &[Tensor]| big.problem.loss(&p[0]), &big.parameters()),
        &opts,
    )
    .unwrap();
    assert!(!tiny.converged);
    tiny.lanczos_steps = 0;
}

/// A run of `losses` with the sharpness `s` measured once, in its second half.
fn trace(losses: Vec<f64>, s: f64) -> Trace {
    let at = losses.len() as u64 - 1;
    Trace {
        losses,
        steps: vec![at],
        sharpness: vec![s],
        blew_up: false,
        params: Vec::new(),
        precond: None,
    }
}

#[test]
fn regimes_of_hand_made_runs() {
    let regime = |losses: Vec<f64>, s: f64| {
        let h = analyse_history(&losses);
        regime_of(&trace(losses, s), &h, 10.0)
    };
    // Falls smoothly below the limit: stable; with the sharpness at 95% of it: edge.
    let falling: Vec<f64> = (0..100).map(|t| 2.0 * 0.97f64.powi(t)).collect();
    assert_eq!(regime(falling.clone(), 5.0), Regime::Stable);
    assert_eq!(regime(falling.clone(), 9.5), Regime::Edge);
    // Rounding noise at a zero loss (1e-12 against a start of 2) is no spike.
    let mut noisy = falling.clone();
    noisy.extend((0..100).map(|t| 1e-12 * (1 + t % 7) as f64));
    assert_eq!(late_spike(&noisy), None);
    assert_eq!(regime(noisy, 5.0), Regime::Stable);
    // Beyond the limit, a spike to 3x the best so far in the second half: catapults.
    let mut spiky = falling.clone();
    spiky[80] = 3.0 * spiky[79];
    assert_eq!(late_spike(&spiky), Some((3.0 * spiky[79] / spiky[79], 80)));
    assert_eq!(regime(spiky.clone(), 12.0), Regime::Divergent);
    let h = analyse_history(&spiky);
    assert_eq!(
        classify(&trace(spiky.clone(), 12.0), &h, 10.0),
        (Regime::Divergent, Some(Beyond::Catapults))
    );
    // A loss that grows a millionfold is diverging, not catapulting, though it spikes too.
    let growing: Vec<f64> = (0..100).map(|t| 1.5f64.powi(t)).collect();
    let h = analyse_history(&growing);
    assert!(late_spike(&growing).is_some());
    assert!(matches!(
        classify(&trace(growing, 12.0), &h, 10.0),
        (Regime::Divergent, Some(b)) if b != Beyond::Catapults
    ));
    // ... the same spike with the sharpness below the limit (momentum overshooting) is not.
    assert_ne!(regime(spiky, 8.0), Regime::Divergent);
    // Damaged: fell to 0.4, then sat on a plateau at 0.7 (1.75x its best, 19% of its gain
    // given back), with a low sharpness.
    let mut damaged: Vec<f64> = (0..50).map(|t| 2.0 - 1.6 * t as f64 / 49.0).collect();
    damaged.extend((0..150).map(|t| 0.7 + 1e-4 * (150 - t) as f64 / 150.0));
    assert_eq!(regime(damaged, 1.0), Regime::Divergent);
}
