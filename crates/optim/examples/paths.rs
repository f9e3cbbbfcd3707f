//! Prints where each optimizer ends on each 2-D test function (the optimizer-paths study).
//!
//! Run: `cargo run --release -p optim --example paths`

use optim::paths::{run_path, PathConfig, Problem2d};
use optim::Method;

fn main() -> optim::Result<()> {
    for problem in Problem2d::ALL {
        for method in Method::ALL {
            let r = run_path(&PathConfig {
                problem,
                method,
                lr: None,
                steps: 1000,
                kappa: 10.0,
            })?;
            let last = r.points.last().copied().unwrap_or_default();
            println!(
                "{problem:?} {method:?} lr {}: loss {:.3e} -> {:.3e}, end ({:.3}, {:.3}), distance {:.4}{}",
                r.lr,
                r.losses[0],
                r.losses.last().copied().unwrap_or(f64::NAN),
                last.0,
                last.1,
                r.final_distance,
                r.diverged_at.map(|k| format!(" DIVERGED at {k}")).unwrap_or_default()
            );
        }
    }
    Ok(())
}
