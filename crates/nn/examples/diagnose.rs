//! "My loss oscillates — is my learning rate too high?" A small model of the kind a user
//! writes, trained with SGD + momentum at a rate that is too high, diagnosed in one call:
//! the curvature, the optimizer's stability limit, a probe run, a verdict with its numbers,
//! and the verdict's own checks by running.
//!
//!     cargo run --release -p nn --example diagnose [LR]

use core_tensor::Rng;
use nn::{loss, Activation, Linear, Sequential};
use optim::diagnose::{DiagnoseOptions, OptimizerSpec};
use optim::Sgd;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let lr: f32 = match std::env::args().nth(1) {
        Some(a) => a
            .parse()
            .map_err(|_| format!("LR must be a number, got {a:?}"))?,
        None => 8.0,
    };
    // Three overlapping Gaussian blobs in 20 dimensions, 4 batches of 256: the user's data
    // (overlapping, with noisy labels, so the loss cannot fall to zero and take the
    // curvature with it).
    let mut rng = Rng::seed(42);
    let centres = rng.normal(&[3, 20], 0.0, 0.3).to_vec();
    let (mut xs, mut ys) = (Vec::new(), Vec::new());
    for _ in 0..4 {
        let y: Vec<usize> = (0..256).map(|_| (rng.next_u32() % 3) as usize).collect();
        let noise = rng.normal(&[256, 20], 0.0, 1.0).to_vec();
        let x: Vec<f32> = (0..256 * 20)
            .map(|k| centres[y[k / 20] * 20 + k % 20] + noise[k])
            .collect();
        xs.push(core_tensor::Tensor::from_vec(x, &[256, 20])?);
        // A quarter of the labels drawn at random: real data's noise, a loss floor above 0.
        let y: Vec<usize> = y
            .into_iter()
            .map(|c| {
                if rng.next_u32().is_multiple_of(4) {
                    (rng.next_u32() % 3) as usize
                } else {
                    c
                }
            })
            .collect();
        ys.push(y);
    }
    // The user's model and optimizer.
    let net = Sequential::new()
        .push(Linear::new(20, 32, true, &mut rng)?)
        .push(Activation::Tanh)
        .push(Linear::new(32, 3, true, &mut rng)?);
    let spec = OptimizerSpec::Sgd(Sgd::new(lr).momentum(0.9));
    let opts = DiagnoseOptions {
        probe_steps: 200,
        check_steps: 200,
        long_steps: 1000,
        ..DiagnoseOptions::default()
    };
    let t = std::time::Instant::now();
    let d = nn::diagnose::diagnose(
        &net,
        &xs,
        |out, i| loss::cross_entropy(out, &ys[i]),
        &spec,
        &opts,
    )?;
    println!("{}", d.verdict_text());
    println!(
        "\n({:.1} s; every check {})",
        t.elapsed().as_secs_f64(),
        if d.checks_pass() {
            "agreed with the verdict"
        } else {
            "did NOT agree with the verdict: see the FAIL lines"
        }
    );
    Ok(())
}
