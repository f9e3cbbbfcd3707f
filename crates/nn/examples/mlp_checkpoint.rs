//! Train, save, reload, resume: an MLP trained a few Adam steps on random images, saved with
//! its optimizer state (a safetensors file Python's `safetensors` opens too), loaded into a
//! freshly initialised network — identical outputs — and resumed — identical losses.
//!
//! Run: `cargo run --release -p nn --example mlp_checkpoint -- [/tmp/mlp.safetensors]`

use core_tensor::{Rng, Tensor};
use nn::checkpoint::{load_into, save};
use nn::{loss, Activation, Linear, Module, Sequential};
use optim::{Adam, BoundOptim};

fn mlp(rng: &mut Rng) -> nn::Result<Sequential> {
    Ok(Sequential::new()
        .push(Linear::new(784, 128, true, rng)?)
        .push(Activation::Relu)
        .push(Linear::new(128, 10, true, rng)?))
}

fn train(
    net: &Sequential,
    opt: &mut BoundOptim<Adam>,
    x: &Tensor,
    y: &[usize],
) -> nn::Result<Vec<f32>> {
    (0..10)
        .map(|_| {
            opt.zero_grad();
            let l = loss::cross_entropy(&net.forward(x)?, y)?;
            l.backward()?;
            opt.step()?;
            Ok(l.item()?)
        })
        .collect()
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let path = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "/tmp/mlp.safetensors".into());
    let mut rng = Rng::seed(0);
    let (x, y): (Tensor, Vec<usize>) = (
        rng.uniform(&[64, 784], 0.0, 1.0),
        (0..64).map(|i| i % 10).collect(),
    );

    let net = mlp(&mut rng)?;
    let mut opt = Adam::new(1e-3).bind(net.params())?;
    let first = train(&net, &mut opt, &x, &y)?;
    save(&path, &net, Some(&opt.state()))?;
    let (at_save, continued) = (net.forward(&x)?.to_vec(), train(&net, &mut opt, &x, &y)?);

    let fresh = mlp(&mut Rng::seed(99))?; // other weights, same architecture
    let mut opt2 = Adam::new(1e-3).bind(fresh.params())?;
    opt2.load_state(load_into(&path, &fresh)?.expect("saved with its optimizer"))?;
    assert_eq!(
        fresh.forward(&x)?.to_vec(),
        at_save,
        "the loaded network computes the same"
    );
    assert_eq!(
        train(&fresh, &mut opt2, &x, &y)?,
        continued,
        "resumed training matches bit for bit"
    );
    println!(
        "loss {:.4} -> {:.4}, saved {path}; reloaded: same outputs, same 10 resumed steps",
        first[0], first[9]
    );
    Ok(())
}
