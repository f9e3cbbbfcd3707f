//! Train, save, reload, resume: the Fashion-MNIST MLP trained a few Adam steps on random
//! images, saved with its optimizer state to a safetensors file, loaded into a freshly
//! initialised network of the same architecture (outputs identical), and training resumed
//! from the loaded state (losses identical to the uninterrupted run). The file opens in
//! Python's `safetensors` too.
//!
//! Run: `cargo run --release -p nn --example mlp_checkpoint -- [/tmp/mlp.safetensors]`

use core_tensor::{Rng, Tensor};
use nn::checkpoint::{load, save};
use nn::module::parameter_tensors;
use nn::study::{build_model, InitKind, ModelKind};
use nn::{loss, Module, Sequential};
use optim::{Adam, Optimizer};

/// `steps` Adam steps on a fixed batch; the losses.
fn train(
    net: &Sequential,
    opt: &mut dyn Optimizer,
    x: &Tensor,
    y: &[usize],
    steps: usize,
) -> Vec<f32> {
    let params = parameter_tensors(net);
    (0..steps)
        .map(|_| {
            let l = loss::cross_entropy(&net.forward(x).unwrap(), y, 0.0).unwrap();
            l.backward().unwrap();
            opt.step(&params).unwrap();
            params.iter().for_each(Tensor::zero_grad);
            l.item().unwrap()
        })
        .collect()
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let path = std::env::args()
        .nth(1)
        .map_or_else(|| std::env::temp_dir().join("mlp.safetensors"), Into::into);
    let mut rng = Rng::seed(0);
    let (x, y): (Tensor, Vec<usize>) = (
        rng.uniform(&[64, 784], 0.0, 1.0),
        (0..64).map(|i| i % 10).collect(),
    );

    let net = build_model(ModelKind::Mlp, InitKind::Default, &mut rng)?;
    let mut opt = Adam::new(1e-3).build()?;
    let first = train(&net, &mut opt, &x, &y, 10);
    save(&path, &net.parameters(), Some(&opt.state()))?;
    let at_save = net.forward(&x)?.to_vec();
    let continued = train(&net, &mut opt, &x, &y, 10);
    println!(
        "trained 10 steps (loss {:.4} -> {:.4}), saved {}",
        first[0],
        first[9],
        path.display()
    );

    // A fresh network (other weights), loaded from the file: same outputs, same resumed run.
    let fresh = build_model(ModelKind::Mlp, InitKind::Default, &mut Rng::seed(99))?;
    let state = load(&path, &fresh.parameters())?.expect("the optimizer state was saved");
    let mut opt2 = Adam::new(1e-3).build()?;
    opt2.load_state(state)?;
    assert_eq!(
        fresh.forward(&x)?.to_vec(),
        at_save,
        "the loaded network computes the same"
    );
    let resumed = train(&fresh, &mut opt2, &x, &y, 10);
    assert_eq!(resumed, continued, "resumed training matches bit for bit");
    println!(
        "reloaded into a fresh network: outputs identical; 10 resumed steps identical (loss {:.4})",
        resumed[9]
    );
    Ok(())
}
