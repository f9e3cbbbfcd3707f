//! The `diagnose` study and the one-call diagnosis of a user-style model.

use std::collections::BTreeSet;

use core_tensor::{Rng, Tensor};
use lab::params::Params;
use lab::study::{Progress, Run, Status, Study};
use nn::diagnose::study::{DiagnoseConfig, DiagnoseStudy};
use nn::{loss, Activation, Linear, Module, Sequential};
use optim::diagnose::{DiagnoseOptions, OptimizerSpec, Regime};
use optim::Sgd;

fn config(text: &str) -> DiagnoseConfig {
    DiagnoseConfig::from_table(&toml::from_str(text).unwrap()).unwrap()
}

#[test]
fn the_quadratic_case_records_its_declared_metrics_and_the_analytic_values() {
    let cfg = config("problem = \"quadratic\"\noptimizer = \"nesterov\"\nlr = 0.02\nprobe_steps = 60\ncheck_steps = 60\nlong_steps = 200");
    let out = DiagnoseStudy.run(&cfg, 0, &mut Progress::none()).unwrap();
    let rec = DiagnoseStudy.record(&cfg, &out);
    let recorded: BTreeSet<&str> = rec.metrics.keys().map(String::as_str).collect();
    let declared: BTreeSet<&str> = DiagnoseStudy::METRICS.iter().copied().collect();
    assert_eq!(recorded, declared);
    let m = |k: &str| rec.metrics[k];
    assert!((m("sharpness_start") / m("analytic_sharpness") - 1.0).abs() < 1e-6);
    // Nesterov mu = 0.9 on L = 50: (2 + 1.8) / (2.8 * 50).
    assert!((m("analytic_lr_limit") / (3.8 / 140.0) - 1.0).abs() < 1e-6);
    assert!((m("lr_limit") / m("analytic_lr_limit") - 1.0).abs() < 1e-6);
    assert_eq!(m("checks_failed"), 0.0, "{}", out.diagnosis.verdict_text());
    let out_density_points = out.diagnosis.curvature.density.len();
    let run = Run {
        id: "q".into(),
        axes: Default::default(),
        params: Default::default(),
        config: cfg.clone(),
        seed: 0,
        status: Status::Ok,
        metrics: rec.metrics.clone(),
        output: Some(out),
    };
    let sections = DiagnoseStudy.report(&[run]);
    assert_eq!(sections.len(), 1);
    assert_eq!(sections[0].plots.len(), 3);
    assert_eq!(out_density_points, 200);
    assert!(sections[0].text.contains("Suggested: lr <="));
    assert_eq!(sections[0].table.as_ref().map(|t| t.rows.len()), Some(4));
}

#[test]
fn adagrad_is_refused_with_the_reason() {
    let cfg = config("problem = \"quadratic\"\noptimizer = \"adagrad\"\nlr = 0.1");
    let e = DiagnoseStudy
        .run(&cfg, 0, &mut Progress::none())
        .unwrap_err();
    assert!(e.to_string().contains("no fixed stability limit"), "{e}");
}

/// A user's MLP on a separable problem: the diagnosis at a modest rate is not "divergent";
/// far beyond the limit the probe sees it; either way the checks agree with the verdict.
#[test]
fn a_small_mlp_is_diagnosed_and_the_checks_agree() {
    let mut rng = Rng::seed(1);
    let xs: Vec<Tensor> = (0..2).map(|_| rng.normal(&[32, 6], 0.0, 1.0)).collect();
    let ys: Vec<Vec<usize>> = xs
        .iter()
        .map(|x| {
            x.to_vec()
                .chunks(6)
                .map(|r| usize::from(r[0] + r[1] > 0.0))
                .collect()
        })
        .collect();
    let net = Sequential::new()
        .push(Linear::new(6, 16, true, &mut rng).unwrap())
        .push(Activation::Tanh)
        .push(Linear::new(16, 2, true, &mut rng).unwrap());
    let before = net.params().iter().map(Tensor::to_vec).collect::<Vec<_>>();
    let opts = DiagnoseOptions {
        probe_steps: 60,
        check_steps: 60,
        long_steps: 240,
        range_steps: 40,
        ..DiagnoseOptions::default()
    };
    let run = |lr: f32| {
        nn::diagnose::diagnose(
            &net,
            &xs,
            |out, i| loss::cross_entropy(out, &ys[i]),
            &OptimizerSpec::Sgd(Sgd::new(lr)),
            &opts,
        )
        .unwrap()
    };
    let good = run(0.1);
    assert_ne!(
        good.probe.regime,
        Regime::Divergent,
        "{}",
        good.verdict_text()
    );
    assert!(good.checks_pass(), "{}", good.verdict_text());
    assert!(good.noise.is_some());
    let far = run((4.0 * good.suggested_lr / 0.8) as f32);
    // Four times the limit: the probe starts beyond it. On this small problem the network
    // then catapults (the loss spikes, the sharpness drops under the new limit; Lewkowycz et
    // al. 2020) and trains on; whatever the regime, the checks must agree with the verdict.
    assert!(far.lr_ratio > 3.0, "{}", far.verdict_text());
    assert!(far.probe.sharpness[0] > far.limit, "{}", far.verdict_text());
    assert!(far.checks_pass(), "{}", far.verdict_text());
    // The model's own weights are untouched.
    let after = net.params().iter().map(Tensor::to_vec).collect::<Vec<_>>();
    assert_eq!(before, after);
}
