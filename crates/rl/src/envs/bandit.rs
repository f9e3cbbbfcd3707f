//! The k-armed bandit (Sutton & Barto, ch. 2): arm means drawn once from N(0, 1), each pull
//! pays N(mean, 1). One pull per episode (the single state is observed as 0).

use core_tensor::Rng;

use crate::env::{Env, Step};
use crate::error::{invalid, Result};
use crate::space::Space;

/// A k-armed Gaussian bandit.
#[derive(Debug, Clone)]
pub struct Bandit {
    means: Vec<f64>,
    rng: Rng,
}

impl Bandit {
    /// `k` arms whose means are drawn from N(0, 1) with `seed`.
    ///
    /// # Errors
    /// `k == 0`.
    pub fn new(k: usize, seed: u64) -> Result<Bandit> {
        if k == 0 {
            return Err(invalid("Bandit", "needs at least one arm"));
        }
        let mut rng = Rng::seed(seed);
        let means = (0..k).map(|_| rng.next_normal()).collect();
        Ok(Bandit { means, rng })
    }

    /// The arms' means.
    pub fn means(&self) -> &[f64] {
        &self.means
    }
}

impl Env for Bandit {
    type Obs = usize;
    type Action = usize;

    fn name(&self) -> &str {
        "Bandit"
    }

    fn observation_space(&self) -> Space {
        Space::Discrete(1)
    }

    fn action_space(&self) -> Space {
        Space::Discrete(self.means.len())
    }

    fn reset(&mut self, seed: Option<u64>) -> usize {
        if let Some(s) = seed {
            self.rng = Rng::with_stream(s, 1);
        }
        0
    }

    fn step(&mut self, action: &usize) -> Step<usize> {
        Step {
            obs: 0,
            reward: self.means[*action] + self.rng.next_normal(),
            terminated: true,
            truncated: false,
        }
    }
}
