//! A custom environment in a few dozen lines: a thermostat that must hold a room at 21 °C.
//! Implement `Env` (six methods), wrap it in `TimeLimit` and `Checked`, and every tool of
//! the crate — vector stepping, the checks — works on it.
//!
//! `cargo run --release -p rl --example custom_env`

use core_tensor::Rng;
use rl::{Checked, Env, Space, Step, TimeLimit, VecEnv};

/// The room drifts toward the outside temperature; the heater (action 1) adds heat.
struct Thermostat {
    temperature: f64,
    outside: f64,
    rng: Rng,
}

impl Env for Thermostat {
    type Obs = [f32; 1];
    type Action = usize;

    fn name(&self) -> &str {
        "Thermostat"
    }

    fn observation_space(&self) -> Space {
        Space::uniform_box(1, -50.0, 80.0)
    }

    fn action_space(&self) -> Space {
        Space::Discrete(2) // 0 off, 1 on
    }

    fn reset(&mut self, seed: Option<u64>) -> [f32; 1] {
        if let Some(s) = seed {
            self.rng = Rng::seed(s);
        }
        self.temperature = 15.0 + 10.0 * self.rng.next_f64();
        [self.temperature as f32]
    }

    fn step(&mut self, action: &usize) -> Step<[f32; 1]> {
        let heat = if *action == 1 { 1.5 } else { 0.0 };
        let noise = 0.2 * self.rng.next_normal();
        self.temperature += 0.1 * (self.outside - self.temperature) + heat + noise;
        Step {
            obs: [self.temperature as f32],
            reward: -(self.temperature - 21.0).abs(),
            terminated: false,
            truncated: false,
        }
    }
}

/// A room for 200 steps (an episode).
fn room() -> TimeLimit<Thermostat> {
    let room = Thermostat {
        temperature: 20.0,
        outside: 5.0,
        rng: Rng::seed(0),
    };
    TimeLimit::new(room, 200)
}

fn main() -> Result<(), rl::RlError> {
    // One episode with a bang-bang controller.
    let mut env = Checked::new(room());
    let mut obs = env.reset(Some(42))?;
    let mut total = 0.0;
    loop {
        let action = usize::from(obs[0] < 21.0);
        let s = env.step(&action)?;
        total += s.reward;
        obs = s.obs;
        if s.done() {
            break;
        }
    }
    println!("bang-bang controller: return {total:.1} over 200 steps (0 is perfect)");

    // Misuse is an error that names the environment.
    match env.step(&1) {
        Err(e) => println!("stepping after the end: {e}"),
        Ok(_) => unreachable!("the checks refuse it"),
    }
    env.reset(None)?;
    if let Err(e) = env.step(&7) {
        println!("a bad action: {e}");
    }

    // Sixteen rooms at once, with autoreset.
    let mut rooms = VecEnv::new(16, |_| room())?;
    let obs = rooms.reset(Some(0))?;
    let actions: Vec<usize> = obs.iter().map(|o| usize::from(o[0] < 21.0)).collect();
    let step = rooms.step(&actions)?;
    println!(
        "16 rooms, first step's mean reward: {:.2}",
        step.rewards.iter().sum::<f64>() / 16.0
    );
    Ok(())
}
