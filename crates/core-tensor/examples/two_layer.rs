//! Fits `y = sin(3x)` on `[-1, 1]` with a 1-32-1 tanh network and plain gradient descent,
//! written directly on core-tensor (no optimizer crate), then checks the final gradients
//! against finite differences.
//!
//! Run: `cargo run --release -p core-tensor --example two_layer`

use core_tensor::{check_gradients, no_grad, GradCheck, Result, Rng, Tensor};

fn main() -> Result<()> {
    let mut rng = Rng::seed(0);
    let x = Tensor::linspace(-1.0, 1.0, 64).reshape(&[64, 1])?;
    let y = x.mul_scalar(3.0).map_sin();
    let params = [
        rng.normal(&[1, 32], 0.0, 1.0).with_grad(),
        Tensor::zeros(&[32]).with_grad(),
        rng.normal(&[32, 1], 0.0, 32f32.sqrt().recip()).with_grad(),
        Tensor::zeros(&[1]).with_grad(),
    ];
    let loss_fn = |p: &[Tensor]| -> Result<Tensor> {
        let h = x.matmul(&p[0])?.add(&p[1])?.tanh();
        h.matmul(&p[2])?.add(&p[3])?.sub(&y)?.square().mean_all()
    };
    let lr = 0.2;
    let mut first = None;
    for step in 0..=2000 {
        let loss = loss_fn(&params)?;
        let value = loss.item()?;
        first.get_or_insert(value);
        if step % 250 == 0 {
            println!("step {step:>5}  mse {value:.6}");
        }
        loss.backward()?;
        no_grad(|| -> Result<()> {
            for p in &params {
                let g = p.grad().expect("every parameter is used").array();
                p.update_data(|w| w.zip_mut_with(&g, |w, &g| *w -= lr * g))?;
                p.zero_grad();
            }
            Ok(())
        })?;
    }
    let last = loss_fn(&params)?.item()?;
    println!("mse {:.4} -> {:.6}", first.unwrap_or(f32::NAN), last);
    let report = check_gradients(loss_fn, &params, &GradCheck::default())?;
    println!("gradient check at the trained weights: {report}");
    Ok(())
}

/// `sin` is not one of core-tensor's differentiable ops; the targets need no gradient, so a
/// constant map is enough here.
trait MapSin {
    fn map_sin(&self) -> Tensor;
}

impl MapSin for Tensor {
    fn map_sin(&self) -> Tensor {
        Tensor::from_array(self.array().mapv(f32::sin).into_shared())
    }
}
