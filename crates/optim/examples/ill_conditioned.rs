//! Prints the ill-conditioning study as a table: every method on axis-aligned and rotated
//! quadratics of growing condition number, measured rate next to theory's.
//!
//! Run: `cargo run --release -p optim --example ill_conditioned [dim]`

use std::time::Instant;

use optim::study::{run_quadratic, QuadraticRunConfig};
use optim::Method;

fn main() -> optim::Result<()> {
    let dim: usize = std::env::args()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(32);
    println!(
        "{:>7} {:>10} {:>8} {:>9} {:>9} {:>9} {:>9} {:>7} {:>7} {:>7}",
        "kappa", "method", "rotated", "iters", "pred it", "rate", "pred", "top", "bottom", "secs"
    );
    for kappa in [1.0, 10.0, 100.0, 1000.0, 10000.0] {
        for method in [
            Method::Sgd,
            Method::HeavyBall,
            Method::Nesterov,
            Method::Adam,
        ] {
            for rotated in [false, true] {
                let cfg = QuadraticRunConfig::new(dim, kappa, rotated, method);
                let t = Instant::now();
                let r = run_quadratic(&cfg, 0, &mut |_, _| {})?;
                let f = |v: Option<f64>| v.map(|x| format!("{x:.5}")).unwrap_or("-".into());
                let it = |v: Option<u64>| v.map(|x| x.to_string()).unwrap_or("-".into());
                println!(
                    "{kappa:>7} {:>10} {rotated:>8} {:>9} {:>9} {:>9} {:>9} {:>7} {:>7} {:>7.2}",
                    format!("{method:?}"),
                    it(r.iterations_to_tol),
                    it(r.predicted_iterations),
                    f(r.measured_rate),
                    f(r.predicted_rate),
                    format!(
                        "{}/{}",
                        r.predicted_top_overshoot
                            .map(|a| if a { 'O' } else { 'M' })
                            .unwrap_or('-'),
                        if r.observed_top_overshoot { 'O' } else { 'M' }
                    ),
                    format!(
                        "{}/{}",
                        r.predicted_bottom_overshoot
                            .map(|a| if a { 'O' } else { 'M' })
                            .unwrap_or('-'),
                        if r.observed_bottom_overshoot {
                            'O'
                        } else {
                            'M'
                        }
                    ),
                    t.elapsed().as_secs_f64()
                );
            }
        }
    }
    Ok(())
}
