//! Each optimizer's first steps against values derived by hand in the test (the f64 arithmetic
//! below is the update rule written out, not a call into the implementation), plus state
//! save/restore, clipping, schedules and validation.

use core_tensor::Tensor;
use optim::{
    clip_grad_norm, AdaGrad, Adam, InvalidParameter, OptimError, Optimizer, OptimizerState,
    RmsProp, Schedule, Sgd,
};

const P0: [f64; 2] = [1.0, -2.0];
const GRADS: [[f64; 2]; 3] = [[0.5, -1.0], [0.1, 0.2], [0.0, 0.0]];

/// Runs `opt` for `steps` steps with the fixed gradients above; returns the parameter after
/// each step.
fn trajectory(opt: &mut dyn Optimizer, steps: usize) -> Vec<[f64; 2]> {
    let p = Tensor::from_vec(P0.iter().map(|&v| v as f32).collect(), &[2])
        .unwrap()
        .with_grad();
    (0..steps)
        .map(|t| {
            let g = Tensor::from_vec(GRADS[t].iter().map(|&v| v as f32).collect(), &[2]).unwrap();
            p.set_grad(Some(g)).unwrap();
            opt.step(std::slice::from_ref(&p)).unwrap();
            let v = p.to_vec();
            [v[0] as f64, v[1] as f64]
        })
        .collect()
}

fn assert_path(name: &str, got: &[[f64; 2]], want: &[[f64; 2]]) {
    for (t, (g, w)) in got.iter().zip(want).enumerate() {
        for i in 0..2 {
            assert!(
                (g[i] - w[i]).abs() < 2e-6,
                "{name} step {}: got {:?}, want {:?}",
                t + 1,
                g,
                w
            );
        }
    }
}

#[test]
fn sgd_plain_and_weight_decay() {
    // p -= 0.1 g
    let want = [[0.95, -1.9], [0.94, -1.92], [0.94, -1.92]];
    assert_path(
        "sgd",
        &trajectory(&mut Sgd::new(0.1).build().unwrap(), 3),
        &want,
    );
    // g' = g + 0.1 p: step 1 g' = [0.5 + 0.1, -1 - 0.2] -> p = [0.94, -1.88]
    // step 2 g' = [0.1 + 0.094, 0.2 - 0.188] = [0.194, 0.012] -> p = [0.9206, -1.8812]
    let want = [[0.94, -1.88], [0.9206, -1.8812]];
    assert_path(
        "sgd wd",
        &trajectory(&mut Sgd::new(0.1).weight_decay(0.1).build().unwrap(), 2),
        &want,
    );
}

#[test]
fn heavy_ball_momentum() {
    // b1 = g1 = [0.5, -1]            p1 = p0 - 0.1 b1 = [0.95, -1.9]
    // b2 = 0.9 b1 + g2 = [0.55, -0.7] p2 = [0.895, -1.83]
    // b3 = 0.9 b2 + 0 = [0.495, -0.63] p3 = [0.8455, -1.767]
    let want = [[0.95, -1.9], [0.895, -1.83], [0.8455, -1.767]];
    assert_path(
        "momentum",
        &trajectory(&mut Sgd::new(0.1).momentum(0.9).build().unwrap(), 3),
        &want,
    );
}

#[test]
fn nesterov_momentum() {
    // b1 = g1; d1 = g1 + 0.9 b1 = [0.95, -1.9];            p1 = [0.905, -1.81]
    // b2 = [0.55, -0.7]; d2 = g2 + 0.9 b2 = [0.595, -0.43]; p2 = [0.8455, -1.767]
    // b3 = [0.495, -0.63]; d3 = 0 + 0.9 b3 = [0.4455, -0.567]; p3 = [0.80095, -1.7103]
    let want = [[0.905, -1.81], [0.8455, -1.767], [0.80095, -1.7103]];
    assert_path(
        "nesterov",
        &trajectory(&mut Sgd::new(0.1).nesterov(0.9).build().unwrap(), 3),
        &want,
    );
}

/// Adam written out in f64: the textbook bias-corrected form.
fn adam_reference(lr: f64, wd: f64, decoupled: bool, amsgrad: bool, steps: usize) -> Vec<[f64; 2]> {
    let (b1, b2, eps) = (0.9f64, 0.999f64, 1e-8f64);
    let mut p = P0;
    let (mut m, mut v, mut vmax) = ([0.0; 2], [0.0; 2], [0.0f64; 2]);
    let mut out = Vec::new();
    for t in 1..=steps {
        for i in 0..2 {
            let mut g = GRADS[t - 1][i];
            if decoupled {
                p[i] *= 1.0 - lr * wd;
            } else {
                g += wd * p[i];
            }
            m[i] = b1 * m[i] + (1.0 - b1) * g;
            v[i] = b2 * v[i] + (1.0 - b2) * g * g;
            vmax[i] = vmax[i].max(v[i]);
            let vv = if amsgrad { vmax[i] } else { v[i] };
            let m_hat = m[i] / (1.0 - b1.powi(t as i32));
            let v_hat = vv / (1.0 - b2.powi(t as i32));
            p[i] -= lr * m_hat / (v_hat.sqrt() + eps);
        }
        out.push(p);
    }
    out
}

#[test]
fn adam_family() {
    // Step 1 by hand: m_hat = g1, v_hat = g1^2, so p1 = p0 - 0.1 sign(g1) = [0.9, -1.9].
    let ours = trajectory(&mut Adam::new(0.1).build().unwrap(), 3);
    assert_path("adam step 1", &ours[..1], &[[0.9, -1.9]]);
    assert_path("adam", &ours, &adam_reference(0.1, 0.0, false, false, 3));
    let ours = trajectory(&mut Adam::new(0.1).weight_decay(0.1).build().unwrap(), 3);
    assert_path("adam l2", &ours, &adam_reference(0.1, 0.1, false, false, 3));
    // AdamW step 1: p0 (1 - 0.1 * 0.1) = [0.99, -1.98], then -0.1 sign(g1) = [0.89, -1.88].
    let ours = trajectory(&mut Adam::adamw(0.1).weight_decay(0.1).build().unwrap(), 3);
    assert_path("adamw step 1", &ours[..1], &[[0.89, -1.88]]);
    assert_path("adamw", &ours, &adam_reference(0.1, 0.1, true, false, 3));
    // Step 3 has g = 0 so v shrinks: AMSGrad keeps the larger v and takes a smaller step.
    let ams = trajectory(&mut Adam::new(0.1).amsgrad(true).build().unwrap(), 3);
    assert_path("amsgrad", &ams, &adam_reference(0.1, 0.0, false, true, 3));
    let plain = adam_reference(0.1, 0.0, false, false, 3);
    assert!((ams[2][0] - ams[1][0]).abs() < (plain[2][0] - plain[1][0]).abs());
}

#[test]
fn rmsprop_and_adagrad() {
    // RMSProp lr 0.01: v1 = 0.01 g1^2 = [0.0025, 0.01], step = 0.01 * g1 / sqrt(v1) = 0.01 * [10, -10].
    // v2 = 0.99 v1 + 0.01 g2^2 = [0.002575, 0.0103], step = 0.01 * [0.1/0.0507445, 0.2/0.1014889].
    let s2 = [
        0.01 * 0.1 / 0.002575f64.sqrt(),
        0.01 * 0.2 / 0.0103f64.sqrt(),
    ];
    let want = [[0.9, -1.9], [0.9 - s2[0], -1.9 - s2[1]]];
    assert_path(
        "rmsprop",
        &trajectory(&mut RmsProp::new(0.01).build().unwrap(), 2),
        &want,
    );
    // AdaGrad lr 0.1: s1 = g1^2 -> step 0.1 sign(g1); s2 = [0.26, 1.04].
    let s2 = [0.1 * 0.1 / 0.26f64.sqrt(), 0.1 * 0.2 / 1.04f64.sqrt()];
    let want = [[0.9, -1.9], [0.9 - s2[0], -1.9 - s2[1]]];
    assert_path(
        "adagrad",
        &trajectory(&mut AdaGrad::new(0.1).build().unwrap(), 2),
        &want,
    );
}

#[test]
fn saved_state_resumes_bit_identically() {
    let full = trajectory(&mut Adam::new(0.1).amsgrad(true).build().unwrap(), 3);
    let p = Tensor::from_vec(P0.iter().map(|&v| v as f32).collect(), &[2])
        .unwrap()
        .with_grad();
    let mut first = Adam::new(0.1).amsgrad(true).build().unwrap();
    for g in &GRADS[..2] {
        p.set_grad(Some(
            Tensor::from_vec(g.iter().map(|&v| v as f32).collect(), &[2]).unwrap(),
        ))
        .unwrap();
        first.step(std::slice::from_ref(&p)).unwrap();
    }
    let saved = first.state();
    let mut resumed = Adam::new(0.1).amsgrad(true).build().unwrap();
    resumed.load_state(saved.clone()).unwrap();
    assert_eq!(resumed.steps(), 2);
    p.set_grad(Some(Tensor::zeros(&[2]))).unwrap();
    resumed.step(std::slice::from_ref(&p)).unwrap();
    let v = p.to_vec();
    assert_eq!([v[0] as f64, v[1] as f64], full[2]);
    // A state of another rule is refused, naming both.
    let err = Sgd::new(0.1)
        .momentum(0.9)
        .build()
        .unwrap()
        .load_state(saved)
        .unwrap_err();
    assert!(
        err.to_string().contains("`adam`") && err.to_string().contains("`momentum`"),
        "{err}"
    );
}

#[test]
fn clipping_by_global_norm() {
    let a = Tensor::zeros(&[2]).with_grad();
    let b = Tensor::zeros(&[1]).with_grad();
    a.set_grad(Some(Tensor::from_vec(vec![3.0, 0.0], &[2]).unwrap()))
        .unwrap();
    b.set_grad(Some(Tensor::from_vec(vec![4.0], &[1]).unwrap()))
        .unwrap();
    let norm = clip_grad_norm(&[a.clone(), b.clone()], 1.0).unwrap();
    assert_eq!(norm, 5.0);
    // Scaled by 1 / (5 + 1e-6).
    let ga = a.grad().unwrap().to_vec();
    assert!((ga[0] - 0.6).abs() < 1e-6 && (b.grad().unwrap().to_vec()[0] - 0.8).abs() < 1e-6);
    // Below the limit nothing changes; the norm is now 5 / (5 + 1e-6).
    let again = clip_grad_norm(&[a.clone(), b], 10.0).unwrap();
    assert!((again - 1.0).abs() < 1e-6, "{again}");
    assert!(clip_grad_norm(&[a], 0.0).is_err());
}

#[test]
fn schedules_at_chosen_steps() {
    let close = |a: f64, b: f64| assert!((a - b).abs() < 1e-12, "{a} vs {b}");
    close(Schedule::Constant.lr_at(0.1, 1000), 0.1);
    let step = Schedule::Step {
        step_size: 10,
        gamma: 0.5,
    };
    close(step.lr_at(0.1, 9), 0.1);
    close(step.lr_at(0.1, 10), 0.05);
    close(step.lr_at(0.1, 25), 0.025);
    close(Schedule::Exponential { gamma: 0.9 }.lr_at(1.0, 2), 0.81);
    let cos = Schedule::Cosine {
        warmup: 10,
        total: 110,
        min_lr: 0.0,
    };
    close(cos.lr_at(1.0, 0), 0.1); // (0 + 1) / 10
    close(cos.lr_at(1.0, 9), 1.0);
    close(cos.lr_at(1.0, 60), 0.5); // halfway: (1 + cos(pi/2)) / 2
    close(cos.lr_at(1.0, 110), 0.0);
    close(cos.lr_at(1.0, 500), 0.0);
    let isq = Schedule::InverseSqrt { warmup: 4 };
    close(isq.lr_at(1.0, 1), 0.5); // (1 + 1) / 4
    close(isq.lr_at(1.0, 3), 1.0);
    close(isq.lr_at(1.0, 15), 0.5); // sqrt(4 / 16)
    assert!(Schedule::Cosine {
        warmup: 5,
        total: 5,
        min_lr: 0.0
    }
    .validate()
    .is_err());
}

#[test]
fn invalid_hyper_parameters_are_named() {
    let err = Sgd::new(-0.1).build().err().unwrap();
    assert_eq!(
        err.to_string(),
        "sgd: lr = -0.10000000149011612 is invalid: must be > 0"
    );
    assert!(matches!(
        Adam::new(1e-3).betas(1.0, 0.999).build(),
        Err(OptimError::InvalidParameter(InvalidParameter {
            field: "beta1",
            ..
        }))
    ));
    assert!(matches!(
        Sgd::new(0.1).momentum(1.0).build(),
        Err(OptimError::InvalidParameter(InvalidParameter {
            field: "momentum",
            ..
        }))
    ));
    assert!(RmsProp::new(0.0).build().is_err());
}

/// A large parameter is updated in slices on several threads; every element must come out
/// exactly as on one thread (the rules are elementwise), for each rule and its buffers.
#[test]
fn large_parameters_update_identically_on_any_thread_count() {
    let n = 200_003; // several slices and a ragged last one
    let run = |threads: usize,
               make: &(dyn Fn() -> Box<dyn Optimizer> + Sync)|
     -> (Vec<f32>, OptimizerState) {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .unwrap();
        pool.install(|| {
            let w0: Vec<f32> = (0..n)
                .map(|i| ((i * 7919) % 1000) as f32 * 1e-3 - 0.5)
                .collect();
            let p = Tensor::from_vec(w0, &[n]).unwrap().with_grad();
            let mut opt = make();
            for step in 0..3 {
                let g: Vec<f32> = (0..n)
                    .map(|i| (((i + step) * 104_729) % 2001) as f32 * 1e-3 - 1.0)
                    .collect();
                p.set_grad(Some(Tensor::from_vec(g, &[n]).unwrap()))
                    .unwrap();
                opt.step(std::slice::from_ref(&p)).unwrap();
            }
            (p.to_vec(), opt.state())
        })
    };
    type Make = Box<dyn Fn() -> Box<dyn Optimizer> + Sync>;
    let makers: Vec<(&str, Make)> = vec![
        (
            "adam",
            Box::new(|| Box::new(Adam::new(1e-2).amsgrad(true).build().unwrap())),
        ),
        (
            "sgd",
            Box::new(|| Box::new(Sgd::new(1e-2).nesterov(0.9).build().unwrap())),
        ),
        (
            "rmsprop",
            Box::new(|| Box::new(RmsProp::new(1e-2).build().unwrap())),
        ),
        (
            "adagrad",
            Box::new(|| Box::new(AdaGrad::new(1e-2).build().unwrap())),
        ),
    ];
    for (name, make) in &makers {
        let (w1, s1) = run(1, make.as_ref());
        let (w3, s3) = run(3, make.as_ref());
        assert!(
            w1.iter().zip(&w3).all(|(a, b)| a.to_bits() == b.to_bits()),
            "{name}: weights"
        );
        assert_eq!(s1.buffers, s3.buffers, "{name}: buffers");
    }
}
