//! The study's run on tiny settings: what it logs, measures and draws, that runs sharing a
//! seed share their start and data (so a β sweep differs only in β), reproducibility, and
//! the Fashion-MNIST path on a synthetic dataset.

use core_tensor::Rng;
use nn::data::Dataset;
use vae::study::{check, run_vae, Arch, DataKind, ObjectiveKind, VaeConfig, VaeRun};

fn tiny(beta: f64, latent: usize) -> VaeConfig {
    VaeConfig {
        beta,
        latent,
        batch: 8,
        steps: 4,
        kl_every: 2,
        eval_examples: 32,
        mig_points: 300,
        score_train: 6,
        score_eval: 4,
        score_batch: 4,
        variance_points: 64,
        traversal_steps: 5,
        scatter_points: 20,
        ..VaeConfig::default()
    }
}

fn run(cfg: &VaeConfig, seed: u64, images: Option<(&Dataset, &Dataset)>) -> VaeRun {
    let mut calls = 0;
    let r = run_vae(cfg, seed, images, &mut |_, _, _| calls += 1).unwrap();
    assert!(calls == 0 || cfg.steps >= 10);
    r
}

#[test]
fn a_dsprites_run_logs_measures_and_draws() {
    let cfg = tiny(4.0, 2);
    let r = run(&cfg, 3, None);
    // The Higgins MLP with 2 latents instead of 10: 8 fewer inputs to the decoder (1,200
    // weights each) and 16 fewer encoder outputs (1,200 weights and a bias each).
    assert_eq!(r.parameters, 14_196_516 - 8 * 1200 - 16 * 1201);
    assert_eq!(r.steps.len(), 4);
    for s in &r.steps {
        assert!(s.recon > 0.0 && s.kl >= 0.0);
        assert!(
            (s.loss - (s.recon + 4.0 * s.kl)).abs() <= 1e-3 * s.loss,
            "{s:?}"
        );
    }
    // Per-dimension KL every 2 steps and at the last, summing to the step's KL.
    let steps: Vec<u64> = r.kl_log.iter().map(|k| k.0).collect();
    assert_eq!(steps, [0, 2, 3]);
    for (s, v) in &r.kl_log {
        let total: f32 = v.iter().sum();
        assert!((total - r.steps[*s as usize].kl).abs() < 1e-3, "step {s}");
    }
    let e = r.eval.as_ref().expect("not diverged");
    assert!(e.recon > 0.0 && e.kl() > 0.0);
    assert!((e.kl() - e.kl_per_dim.iter().sum::<f64>()).abs() < 1e-9);
    assert!(e.kl_per_dim[e.order()[0]] >= e.kl_per_dim[e.order()[1]]);
    assert_eq!(e.mean_variance.len(), 2);
    assert!((e.decomposition.total_kl - e.kl()).abs() < 1e-9);
    let f = e.factors.as_ref().expect("dSprites has factors");
    assert!((0.0..=1.0).contains(&f.mig.unwrap()));
    assert_eq!(f.mig_per_factor.len(), 5);
    let (bv, fv) = (f.beta_vae.unwrap(), f.factor_vae.unwrap());
    assert!((0.0..=1.0).contains(&bv.eval) && (0.0..=1.0).contains(&fv.eval));
    // Pictures: 10 originals over their reconstructions; a row of 5 per latent.
    assert_eq!(
        (e.reconstructions.width, e.reconstructions.height),
        (10 * 64 + 9 * 2, 2 * 64 + 2)
    );
    assert_eq!(
        (e.traversal.width, e.traversal.height),
        (5 * 64 + 4 * 2, 2 * 64 + 2)
    );
    // The originals are dSprites: binary.
    assert!(e.reconstructions.pixels[..64]
        .iter()
        .all(|&p| p == 0 || p == 255));
    // Two latents: the scatter, with the five factor indices of each point.
    assert_eq!(e.scatter.len(), 20);
    assert!(e.scatter.iter().all(|(_, _, l)| l.len() == 5 && l[0] < 3));
}

#[test]
fn runs_sharing_a_seed_differ_only_in_beta_and_repeat_exactly() {
    let (a, b) = (tiny(1.0, 3), tiny(8.0, 3));
    let cheap = |c: VaeConfig| VaeConfig {
        score_train: 0,
        mig_points: 0,
        ..c
    };
    let (ra, rb) = (run(&cheap(a.clone()), 5, None), run(&cheap(b), 5, None));
    // Step 0 is taken before any update: same weights, data and noise, so the same ELBO terms.
    assert_eq!(ra.steps[0].recon.to_bits(), rb.steps[0].recon.to_bits());
    assert_eq!(ra.steps[0].kl.to_bits(), rb.steps[0].kl.to_bits());
    assert_ne!(ra.steps[0].loss, rb.steps[0].loss);
    assert_ne!(ra.steps[1].recon, rb.steps[1].recon);
    // The same file and seed: the same numbers.
    let again = run(&cheap(a), 5, None);
    assert!(ra.steps == again.steps && ra.kl_log == again.kl_log);
    assert!(
        ra.eval == again.eval,
        "the evaluation differs between two identical runs"
    );
    // Another seed: other data.
    let other = run(&cheap(tiny(1.0, 3)), 6, None);
    assert_ne!(ra.steps[0].recon, other.steps[0].recon);
}

#[test]
fn the_capacity_objective_and_the_conv_model_run() {
    let cfg = VaeConfig {
        objective: ObjectiveKind::Capacity,
        model: Arch::Conv,
        gamma: 10.0,
        c_max: 5.0,
        capacity_steps: 4,
        score_train: 0,
        mig_points: 0,
        ..tiny(1.0, 4)
    };
    let r = run(&cfg, 1, None);
    // loss = recon + γ |KL − C(t)|, C(t) = 5 t / 4.
    for s in &r.steps {
        let c = 5.0 * s.step as f32 / 4.0;
        let want = s.recon + 10.0 * (s.kl - c).abs();
        assert!((s.loss - want).abs() <= 1e-3 * want, "{s:?}");
    }
    let e = r.eval.unwrap();
    assert!(e.factors.is_some() && e.factors.unwrap().beta_vae.is_none());
    assert!(e.scatter.is_empty());
}

#[test]
fn fashion_mnist_runs_on_any_dataset_of_its_shape_and_conv_is_refused() {
    let mut rng = Rng::seed(0);
    let data = |n: usize, rng: &mut Rng| Dataset {
        images: rng.uniform(&[n, 784], 0.0, 1.0),
        labels: (0..n).map(|i| i % 10).collect(),
        image_shape: (28, 28),
        classes: 10,
    };
    let (train, test) = (data(40, &mut rng), data(24, &mut rng));
    let cfg = VaeConfig {
        dataset: DataKind::FashionMnist,
        steps: 12,
        ..tiny(1.0, 2)
    };
    let r = run_vae(&cfg, 0, Some((&train, &test)), &mut |_, _, _| {}).unwrap();
    assert_eq!(r.steps.len(), 12); // 40 images, batch 8: two epochs and a bit
    let e = r.eval.unwrap();
    assert!(e.factors.is_none());
    assert_eq!(e.traversal.width, 5 * 28 + 4 * 2);
    // 24 test images are all there is: the scatter keeps 20, labelled by class.
    assert_eq!(e.scatter.len(), 20);
    assert_eq!(e.scatter[3].2, vec![3]);
    let no_data = run_vae(&cfg, 0, None, &mut |_, _, _| {}).unwrap_err();
    assert!(
        no_data
            .to_string()
            .contains("needs the Fashion-MNIST images"),
        "{no_data}"
    );
    let conv = VaeConfig {
        model: Arch::Conv,
        ..cfg
    };
    let err = check(&conv).unwrap_err();
    assert_eq!(err.field.as_deref(), Some("model"));
    assert!(err.message.contains("64x64"), "{}", err.message);
}

#[test]
fn the_numbers_do_not_depend_on_the_thread_count() {
    let cfg = VaeConfig {
        score_train: 0,
        mig_points: 200,
        ..tiny(4.0, 10)
    };
    let on = |threads: usize| {
        rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .unwrap()
            .install(|| run(&cfg, 9, None))
    };
    let (one, three) = (on(1), on(3));
    assert!(one.steps == three.steps, "training differs");
    assert!(one.eval == three.eval, "evaluation differs");
}

#[test]
fn a_non_finite_loss_is_recorded_as_a_divergence_not_an_error() {
    // A NaN pixel makes the first loss NaN: the run stops there, keeps what it logged, and
    // has no evaluation (the engine records it as diverged and the sweep goes on).
    let mut images = vec![0.5f32; 16 * 784];
    images[3] = f32::NAN;
    let bad = Dataset {
        images: core_tensor::Tensor::from_vec(images, &[16, 784]).unwrap(),
        labels: vec![0; 16],
        image_shape: (28, 28),
        classes: 10,
    };
    let cfg = VaeConfig {
        dataset: DataKind::FashionMnist,
        batch: 16,
        ..tiny(1.0, 2)
    };
    let r = run_vae(&cfg, 0, Some((&bad, &bad)), &mut |_, _, _| {}).unwrap();
    assert_eq!(r.diverged_at, Some(0));
    assert!(r.steps.is_empty() && r.eval.is_none());
}

#[test]
fn an_empty_dataset_is_refused_not_looped_on() {
    let empty = Dataset {
        images: core_tensor::Tensor::zeros(&[0, 784]),
        labels: vec![],
        image_shape: (28, 28),
        classes: 10,
    };
    let cfg = VaeConfig {
        dataset: DataKind::FashionMnist,
        ..tiny(1.0, 2)
    };
    let err = run_vae(&cfg, 0, Some((&empty, &empty)), &mut |_, _, _| {}).unwrap_err();
    assert!(err.to_string().contains("at least one image"), "{err}");
}

/// A run keeps its trained model with the configuration that rebuilds it: the checkpoint
/// loads into `build_vae(config)` by name and shape, and the weights are the trained ones
/// (not the initial ones).
#[test]
fn a_run_keeps_its_trained_model_and_the_configuration_to_rebuild_it() {
    use lab::params::{Params, Table};
    let cfg = tiny(4.0, 2);
    let r = run(&cfg, 3, None);
    assert!(!r.model.is_empty());
    let path = std::env::temp_dir().join(format!("vae-run-{}.safetensors", std::process::id()));
    std::fs::write(&path, r.model.to_bytes().unwrap()).unwrap();
    let bytes = nn::checkpoint::read_file(&path).unwrap();
    let meta = nn::checkpoint::metadata(&path, &bytes).unwrap();
    assert_eq!(meta["groundwork.study"], "vae");
    let table: Table = meta["groundwork.config"].parse().unwrap();
    assert_eq!(VaeConfig::from_table(&table).unwrap(), cfg);
    let rebuilt = vae::study::build_vae(&cfg, &mut Rng::with_stream(3, 1)).unwrap();
    let before = rebuilt.params()[0].to_vec();
    nn::checkpoint::load(&path, &rebuilt.named_parameters()).unwrap();
    assert_ne!(
        rebuilt.params()[0].to_vec(),
        before,
        "the trained weights, not the start"
    );
    let _ = std::fs::remove_file(path);
}
