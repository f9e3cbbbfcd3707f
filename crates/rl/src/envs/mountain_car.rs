//! MountainCar-v0 with Gymnasium's exact dynamics (Moore 1990; Sutton & Barto's version), in
//! f64, observed as f32. Checked step by step against Gymnasium 1.4 (`tests/gymnasium.rs`).

use core_tensor::Rng;

use crate::env::{Env, Step};
use crate::space::Space;

const MIN_POSITION: f64 = -1.2;
const MAX_POSITION: f64 = 0.6;
const MAX_SPEED: f64 = 0.07;
const GOAL_POSITION: f64 = 0.5;
const FORCE: f64 = 0.001;
const GRAVITY: f64 = 0.0025;

/// An under-powered car in a valley: push left (0), nothing (1) or right (2); reward −1 per
/// step until the car reaches the flag at 0.5. Observation `[position, velocity]`.
#[derive(Debug, Clone)]
pub struct MountainCar {
    state: [f64; 2],
    rng: Rng,
}

impl Default for MountainCar {
    fn default() -> Self {
        MountainCar::new()
    }
}

impl MountainCar {
    /// A car (call `reset` before `step`).
    pub fn new() -> MountainCar {
        MountainCar {
            state: [-0.5, 0.0],
            rng: Rng::seed(0),
        }
    }

    /// The internal state `[position, velocity]` in f64.
    pub fn state(&self) -> [f64; 2] {
        self.state
    }

    /// Sets the internal state (to replay a recorded trajectory).
    pub fn set_state(&mut self, state: [f64; 2]) {
        self.state = state;
    }
}

impl Env for MountainCar {
    type Obs = [f32; 2];
    type Action = usize;

    fn name(&self) -> &str {
        "MountainCar-v0"
    }

    fn observation_space(&self) -> Space {
        Space::Box {
            low: vec![MIN_POSITION as f32, -MAX_SPEED as f32],
            high: vec![MAX_POSITION as f32, MAX_SPEED as f32],
        }
    }

    fn action_space(&self) -> Space {
        Space::Discrete(3)
    }

    fn reset(&mut self, seed: Option<u64>) -> [f32; 2] {
        if let Some(s) = seed {
            self.rng = Rng::seed(s);
        }
        self.state = [-0.6 + 0.2 * self.rng.next_f64(), 0.0];
        self.state.map(|v| v as f32)
    }

    fn step(&mut self, action: &usize) -> Step<[f32; 2]> {
        let [mut position, mut velocity] = self.state;
        velocity += (*action as f64 - 1.0) * FORCE + (3.0 * position).cos() * (-GRAVITY);
        velocity = velocity.clamp(-MAX_SPEED, MAX_SPEED);
        position += velocity;
        position = position.clamp(MIN_POSITION, MAX_POSITION);
        if position == MIN_POSITION && velocity < 0.0 {
            velocity = 0.0;
        }
        let terminated = position >= GOAL_POSITION && velocity >= 0.0;
        self.state = [position, velocity];
        Step {
            obs: self.state.map(|v| v as f32),
            reward: -1.0,
            terminated,
            truncated: false,
        }
    }
}
