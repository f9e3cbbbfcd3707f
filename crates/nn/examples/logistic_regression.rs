//! Logistic regression (softmax, three classes) on three Gaussian blobs in the plane: a
//! Linear layer, cross-entropy, Adam, a few hundred full-batch steps, accuracy by argmax.
//!
//! Run: `cargo run --release -p nn --example logistic_regression`

use core_tensor::{Rng, Tensor};
use nn::{loss, Linear, Module};
use optim::Adam;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut rng = Rng::seed(0);
    // 300 points: class k around the centre (3 cos(2πk/3), 3 sin(2πk/3)).
    let y: Vec<usize> = (0..300).map(|i| i % 3).collect();
    let centres: Vec<f32> = y
        .iter()
        .flat_map(|&k| {
            let a = 2.0 * std::f32::consts::PI * k as f32 / 3.0;
            [3.0 * a.cos(), 3.0 * a.sin()]
        })
        .collect();
    let x = (&Tensor::from_vec(centres, &[300, 2])? + &rng.normal(&[300, 2], 0.0, 1.0))?;

    let model = Linear::new(2, 3, true, &mut rng)?;
    let mut opt = Adam::new(0.05).bind(model.params())?;
    for step in 0..300 {
        opt.zero_grad();
        let loss = loss::cross_entropy(&model.forward(&x)?, &y)?;
        loss.backward()?;
        opt.step()?;
        if step % 100 == 0 {
            println!("step {step:3}: loss {:.4}", loss.item()?);
        }
    }
    let predicted = model.forward(&x)?.argmax(-1)?;
    let correct = predicted.iter().zip(&y).filter(|(p, t)| p == t).count();
    println!(
        "accuracy {:.1}%\n{}",
        100.0 * correct as f64 / 300.0,
        model.weight
    );
    Ok(())
}
