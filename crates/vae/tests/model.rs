//! The VAE against its definition: the architectures' sizes (the Higgins MLP has 14.2 M
//! parameters), the KL term in closed form, gradients of the whole objective against finite
//! differences (noise held fixed), the capacity objective by hand, and a short training run
//! on dSprites that lowers the loss.

use core_tensor::{Rng, Tensor};
use optim::Adam;
use vae::dsprites::DSprites;
use vae::kl::kl_per_dimension;
use vae::model::{Likelihood, MlpSpec, Objective, Vae};

fn rows(t: &Tensor) -> Vec<Vec<f64>> {
    t.to_vec2()
        .unwrap()
        .into_iter()
        .map(|r| r.into_iter().map(f64::from).collect())
        .collect()
}

#[test]
fn architectures_have_the_papers_shapes() {
    let mlp = Vae::mlp(
        &MlpSpec::higgins(),
        Likelihood::Bernoulli,
        &mut Rng::seed(0),
    )
    .unwrap();
    let count: usize = mlp.params().iter().map(Tensor::numel).sum();
    assert_eq!(count, 14_196_516);
    let fm = Vae::mlp(
        &MlpSpec::fashion_mnist(),
        Likelihood::Bernoulli,
        &mut Rng::seed(0),
    )
    .unwrap();
    // 784-512-256-(2x10) and 10-256-512-784, weights and biases.
    let by_hand = 784 * 512 + 512 + 512 * 256 + 256 + 256 * 20 + 20;
    let by_hand = by_hand + 10 * 256 + 256 + 256 * 512 + 512 + 512 * 784 + 784;
    assert_eq!(
        fm.params().iter().map(Tensor::numel).sum::<usize>(),
        by_hand
    );
    let conv = Vae::conv(10, Likelihood::Bernoulli, &mut Rng::seed(0)).unwrap();
    let x = DSprites.batch(&[0, 100_000]);
    let (mu, logvar) = conv.encode(&x).unwrap();
    assert_eq!((mu.shape(), logvar.shape()), (&[2, 10][..], &[2, 10][..]));
    assert_eq!(conv.decode(&mu).unwrap().shape(), &[2, 4096]);
    assert!(conv.named_parameters()[0].0.starts_with("encoder."));
}

#[test]
fn the_kl_term_is_the_closed_form_and_the_objectives_combine_it() {
    let vae = Vae::mlp(
        &MlpSpec::symmetric(16, 8, 3),
        Likelihood::Bernoulli,
        &mut Rng::seed(1),
    )
    .unwrap();
    let x = Rng::seed(2).bernoulli(&[5, 16], 0.5);
    let t = vae.terms(&x, &mut Rng::seed(3)).unwrap();
    let want = kl_per_dimension(&rows(&t.mu), &rows(&t.logvar));
    for (got, want) in t.kl_per_dim.iter().zip(&want) {
        assert!((*got as f64 - want).abs() < 1e-5, "{got} vs {want}");
    }
    let (r, k) = (t.recon.item().unwrap(), t.kl.item().unwrap());
    let beta = t.loss(Objective::Beta(4.0), 0).unwrap().item().unwrap();
    assert!((beta - (r + 4.0 * k)).abs() < 1e-4);
    let cap = Objective::Capacity {
        gamma: 100.0,
        c_max: 20.0,
        steps: 100,
    };
    let at50 = t.loss(cap, 50).unwrap().item().unwrap();
    assert!(
        (at50 - (r + 100.0 * (k - 10.0).abs())).abs() < 1e-2,
        "{at50}"
    );
    let late = t.loss(cap, 1_000).unwrap().item().unwrap();
    assert!((late - (r + 100.0 * (k - 20.0).abs())).abs() < 1e-2);
}

#[test]
fn gradients_of_the_objective_match_finite_differences() {
    for likelihood in [Likelihood::Bernoulli, Likelihood::Gaussian] {
        // Smooth activations: finite differences across a ReLU kink would test the kink.
        let spec = MlpSpec {
            encoder_activation: nn::Activation::Tanh,
            decoder_activation: nn::Activation::Tanh,
            ..MlpSpec::symmetric(12, 6, 2)
        };
        let vae = Vae::mlp(&spec, likelihood, &mut Rng::seed(4)).unwrap();
        let x = Rng::seed(5).bernoulli(&[3, 12], 0.5);
        let loss = || -> f64 {
            let t = vae.terms(&x, &mut Rng::seed(6)).unwrap();
            t.loss(Objective::Beta(2.0), 0).unwrap().item().unwrap() as f64
        };
        let t = vae.terms(&x, &mut Rng::seed(6)).unwrap();
        t.loss(Objective::Beta(2.0), 0).unwrap().backward().unwrap();
        let mut rng = Rng::seed(7);
        for p in vae.params() {
            let g = p.grad().unwrap().to_vec();
            let k = rng.below(p.numel());
            let original = p.to_vec();
            let at = |delta: f32| {
                let mut v = original.clone();
                v[k] += delta;
                p.set_data(Tensor::from_vec(v, p.shape()).unwrap().array())
                    .unwrap();
                loss()
            };
            let h = 1e-2;
            let fd = (at(h) - at(-h)) / (2.0 * h as f64);
            p.set_data(Tensor::from_vec(original, p.shape()).unwrap().array())
                .unwrap();
            assert!(
                (fd - g[k] as f64).abs() <= 2e-2 * fd.abs().max(1e-2),
                "{likelihood:?} {:?}[{k}]: autodiff {} vs finite differences {fd}",
                p.shape(),
                g[k]
            );
        }
    }
}

#[test]
fn a_short_training_run_lowers_the_loss() {
    let data = DSprites;
    let x = data.batch(&data.sample(128, 0));
    let vae = Vae::mlp(
        &MlpSpec::symmetric(4096, 128, 4),
        Likelihood::Bernoulli,
        &mut Rng::seed(0),
    )
    .unwrap();
    let mut opt = Adam::new(1e-3).bind(vae.params()).unwrap();
    let mut rng = Rng::seed(1);
    let mut losses = Vec::new();
    for step in 0..60 {
        opt.zero_grad();
        let t = vae.terms(&x, &mut rng).unwrap();
        let l = t.loss(Objective::Beta(1.0), step).unwrap();
        l.backward().unwrap();
        opt.step().unwrap();
        losses.push(l.item().unwrap());
    }
    assert!(
        losses[59] < 0.5 * losses[0],
        "{} -> {}",
        losses[0],
        losses[59]
    );
}
