//! DQN on CartPole-v1 with stable-baselines3's tuned settings; evaluates the greedy policy
//! over 100 episodes (solved: mean return >= 475).
//!
//! `cargo run --release -p rl --example dqn_cartpole [-- SEED [STEPS]]`

use rl::dqn::{train_dqn, DqnConfig};
use rl::envs::cart_pole;
use rl::evaluate;

fn main() -> Result<(), rl::RlError> {
    let seed = std::env::args()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let mut cfg = DqnConfig {
        seed,
        ..DqnConfig::default()
    };
    if let Some(steps) = std::env::args().nth(2).and_then(|s| s.parse().ok()) {
        cfg.total_steps = steps;
    }
    let mut last = 0;
    let run = train_dqn(&cfg, &cart_pole, &mut |steps, _, ret| {
        if steps >= last + 5_000 {
            last = steps;
            println!("{steps:>7} steps: last episode's return {ret:.0}");
        }
    })?;
    let (mean, sd) = evaluate(&run.q, &cart_pole, 100, 1_000_000)?;
    println!(
        "trained {} steps in {:.1} s; greedy policy over 100 episodes: {mean:.1} ± {sd:.1} ({})",
        cfg.total_steps,
        run.seconds,
        if mean >= 475.0 {
            "solved"
        } else {
            "not solved"
        }
    );
    Ok(())
}
