//! CartPole-v1 with Gymnasium's exact dynamics (Barto, Sutton & Anderson 1983; Florian
//! 2007's equations, explicit Euler at 50 Hz), in f64 as Gymnasium computes it, observed as
//! f32. Checked step by step against Gymnasium 1.4 (`tests/gymnasium.rs`).

use core_tensor::Rng;

use crate::env::{Env, Step};
use crate::space::Space;

const GRAVITY: f64 = 9.8;
const MASS_CART: f64 = 1.0;
const MASS_POLE: f64 = 0.1;
const TOTAL_MASS: f64 = MASS_POLE + MASS_CART;
/// Half the pole's length.
const LENGTH: f64 = 0.5;
const POLE_MASS_LENGTH: f64 = MASS_POLE * LENGTH;
const FORCE: f64 = 10.0;
const TAU: f64 = 0.02;
/// 12 degrees.
pub const THETA_THRESHOLD: f64 = 12.0 * 2.0 * std::f64::consts::PI / 360.0;
/// The cart leaves the track beyond ±2.4.
pub const X_THRESHOLD: f64 = 2.4;

/// A pole on a cart: push left (0) or right (1); reward 1 per step until the pole tilts past
/// 12° or the cart leaves the track. Observation `[x, ẋ, θ, θ̇]`.
#[derive(Debug, Clone)]
pub struct CartPole {
    state: [f64; 4],
    rng: Rng,
    steps_beyond_terminated: Option<usize>,
}

impl Default for CartPole {
    fn default() -> Self {
        CartPole::new()
    }
}

impl CartPole {
    /// A cart pole (call `reset` before `step`).
    pub fn new() -> CartPole {
        CartPole {
            state: [0.0; 4],
            rng: Rng::seed(0),
            steps_beyond_terminated: None,
        }
    }

    /// The internal state `[x, ẋ, θ, θ̇]` in f64.
    pub fn state(&self) -> [f64; 4] {
        self.state
    }

    /// Sets the internal state (to replay a recorded trajectory).
    pub fn set_state(&mut self, state: [f64; 4]) {
        self.state = state;
        self.steps_beyond_terminated = None;
    }

    fn obs(&self) -> [f32; 4] {
        self.state.map(|v| v as f32)
    }
}

impl Env for CartPole {
    type Obs = [f32; 4];
    type Action = usize;

    fn name(&self) -> &str {
        "CartPole-v1"
    }

    fn observation_space(&self) -> Space {
        let high = [
            (X_THRESHOLD * 2.0) as f32,
            f32::INFINITY,
            (THETA_THRESHOLD * 2.0) as f32,
            f32::INFINITY,
        ];
        Space::Box {
            low: high.iter().map(|h| -h).collect(),
            high: high.to_vec(),
        }
    }

    fn action_space(&self) -> Space {
        Space::Discrete(2)
    }

    fn reset(&mut self, seed: Option<u64>) -> [f32; 4] {
        if let Some(s) = seed {
            self.rng = Rng::seed(s);
        }
        for v in &mut self.state {
            *v = -0.05 + 0.1 * self.rng.next_f64();
        }
        self.steps_beyond_terminated = None;
        self.obs()
    }

    fn step(&mut self, action: &usize) -> Step<[f32; 4]> {
        let [x, x_dot, theta, theta_dot] = self.state;
        let force = if *action == 1 { FORCE } else { -FORCE };
        let (sin, cos) = (theta.sin(), theta.cos());
        let temp = (force + POLE_MASS_LENGTH * (theta_dot * theta_dot) * sin) / TOTAL_MASS;
        let theta_acc = (GRAVITY * sin - cos * temp)
            / (LENGTH * (4.0 / 3.0 - MASS_POLE * (cos * cos) / TOTAL_MASS));
        let x_acc = temp - POLE_MASS_LENGTH * theta_acc * cos / TOTAL_MASS;
        self.state = [
            x + TAU * x_dot,
            x_dot + TAU * x_acc,
            theta + TAU * theta_dot,
            theta_dot + TAU * theta_acc,
        ];
        let [x, _, theta, _] = self.state;
        let terminated = !(-X_THRESHOLD..=X_THRESHOLD).contains(&x)
            || !(-THETA_THRESHOLD..=THETA_THRESHOLD).contains(&theta);
        let reward = if !terminated {
            1.0
        } else if self.steps_beyond_terminated.is_none() {
            self.steps_beyond_terminated = Some(0);
            1.0
        } else {
            self.steps_beyond_terminated = self.steps_beyond_terminated.map(|n| n + 1);
            0.0
        };
        Step {
            obs: self.obs(),
            reward,
            terminated,
            truncated: false,
        }
    }
}
