//! PPO solves CartPole-v1: trains with stable-baselines3's tuned settings and evaluates the
//! greedy policy over 100 episodes (solved: mean return >= 475).
//!
//! `cargo run --release -p rl --example ppo_cartpole [-- SEED]`

use rl::envs::cart_pole;
use rl::evaluate;
use rl::ppo::{train_ppo, PpoConfig};

fn main() -> Result<(), rl::RlError> {
    let seed = std::env::args()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let cfg = PpoConfig {
        seed,
        ..PpoConfig::default()
    };
    let mut last = 0;
    let run = train_ppo(&cfg, &cart_pole, &mut |steps, total, ret| {
        if steps >= last + 10_000 || steps == total {
            last = steps;
            println!("{steps:>7} steps: mean return of finished episodes {ret:.1}");
        }
    })?;
    let (mean, sd) = evaluate(&run.policy, &cart_pole, 100, 1_000_000)?;
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
