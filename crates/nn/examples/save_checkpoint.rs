//! Writes the Fashion-MNIST MLP's initial parameters and an Adam state after one step to a
//! safetensors file, for opening with other tools (e.g. Python's `safetensors`).
//!
//! Run: `cargo run --release -p nn --example save_checkpoint -- /tmp/mlp.safetensors`

use core_tensor::Rng;
use nn::checkpoint::save;
use nn::module::parameter_tensors;
use nn::study::{build_model, InitKind, ModelKind};
use nn::{loss, Module};
use optim::{Adam, Optimizer};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let path = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "mlp.safetensors".into());
    let mut rng = Rng::seed(0);
    let net = build_model(ModelKind::Mlp, InitKind::Default, &mut rng)?;
    let params = parameter_tensors(&net);
    let mut opt = Adam::new(1e-3).build()?;
    let x = rng.uniform(&[4, 784], 0.0, 1.0);
    loss::cross_entropy(&net.forward(&x)?, &[0, 1, 2, 3], 0.0)?.backward()?;
    opt.step(&params)?;
    save(
        std::path::Path::new(&path),
        &net.parameters(),
        Some(&opt.state()),
    )?;
    println!("wrote {path}");
    Ok(())
}
