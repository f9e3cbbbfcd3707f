//! The built-in environments, each ready to use as Gymnasium's `make` returns it: checked and
//! time-limited where Gymnasium limits it.

mod bandit;
mod cartpole;
mod mountain_car;

pub use bandit::Bandit;
pub use cartpole::CartPole;
pub use mountain_car::MountainCar;

use crate::env::{Checked, TimeLimit};
use crate::mdp::{frozen_lake, TabularEnv};

/// CartPole-v1: 500 steps at most.
pub fn cart_pole() -> Checked<TimeLimit<CartPole>> {
    Checked::new(TimeLimit::new(CartPole::new(), 500))
}

/// MountainCar-v0: 200 steps at most.
pub fn mountain_car() -> Checked<TimeLimit<MountainCar>> {
    Checked::new(TimeLimit::new(MountainCar::new(), 200))
}

/// FrozenLake 4×4, slippery: 100 steps at most (Gymnasium's limit for the 4×4 map).
pub fn frozen_lake_env(gamma: f64) -> Checked<TimeLimit<TabularEnv>> {
    Checked::new(TimeLimit::new(
        TabularEnv::new(frozen_lake(gamma), "FrozenLake-v1"),
        100,
    ))
}
