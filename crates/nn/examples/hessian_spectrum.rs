//! The loss Hessian of a trained MLP, in one call: train a 2-16-3 tanh network on three
//! Gaussian blobs, then its top eigenvalue (power iteration), the Lanczos spectrum, the trace
//! (Hutchinson) — all exact Hessian-vector products by double backpropagation — and the
//! whole 99x99 Hessian's eigenvalues as a check.
//!
//! Run: `cargo run --release -p nn --example hessian_spectrum`

use core_tensor::{Rng, Tensor};
use nn::{loss, Activation, Linear, Module, Sequential};
use optim::hessian::{dense_matrix, hutchinson_trace, lanczos, power_iteration, symmetric_eigen};
use optim::Adam;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut rng = Rng::seed(0);
    let y: Vec<usize> = (0..300).map(|i| i % 3).collect();
    let centres: Vec<f32> = y
        .iter()
        .flat_map(|&k| [k as f32 * 2.0, (k % 2) as f32 * 3.0])
        .collect();
    let x = (&Tensor::from_vec(centres, &[300, 2])? + &rng.normal(&[300, 2], 0.0, 1.0))?;
    let net = Sequential::new()
        .push(Linear::new(2, 16, true, &mut rng)?)
        .push(Activation::Tanh)
        .push(Linear::new(16, 3, true, &mut rng)?);
    let mut opt = Adam::new(0.02).bind(net.params())?;
    for _ in 0..500 {
        opt.zero_grad();
        loss::cross_entropy(&net.forward(&x)?, &y)?.backward()?;
        opt.step()?;
    }

    let h = nn::hessian::hessian_operator(&net, &x, |out| loss::cross_entropy(out, &y));
    let top = power_iteration(&h, 500, 1e-9, 1)?;
    let spectrum = lanczos(&h, 40, 2)?;
    let trace = hutchinson_trace(&h, 200, 3)?;
    println!(
        "top eigenvalue {:.5} (power iteration, {} steps)",
        top.eigenvalue, top.iterations
    );
    println!(
        "Lanczos: top {:?}, bottom {:?}",
        spectrum.top(3),
        spectrum.bottom(3)
    );
    println!(
        "trace ~ {:.4} +- {:.4} (Hutchinson, 200 probes)",
        trace.trace, trace.std_error
    );

    let (exact, _) = symmetric_eigen(&dense_matrix(&h)?);
    let sum: f64 = exact.iter().sum();
    println!(
        "dense check: top {:.5}, trace {sum:.4}",
        exact[exact.len() - 1]
    );
    assert!((top.eigenvalue - exact[exact.len() - 1]).abs() < 1e-3 * exact[exact.len() - 1]);
    Ok(())
}
