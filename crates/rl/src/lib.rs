//! # rl
//!
//! Reinforcement learning from first principles, on groundwork's own crates:
//!
//! * [`env`](mod@env) — the environment interface with Gymnasium's semantics (`reset(seed)`, `step`
//!   returning `terminated` and `truncated`), [`TimeLimit`], and [`Checked`], which turns
//!   misuse into errors naming the environment: an action outside the space, a NaN
//!   observation, `step` after the end without `reset`. A custom environment is six methods
//!   (`cargo run --release -p rl --example custom_env`).
//! * [`space`] — `Discrete` and `Box` spaces and the values that live in them.
//! * [`vector`] — `N` copies stepped together with Gymnasium's next-step autoreset.
//! * [`envs`] — CartPole-v1 and MountainCar-v0 with Gymnasium's exact dynamics (checked
//!   step by step against recorded Gymnasium trajectories), FrozenLake, a k-armed bandit.
//! * [`mdp`] — finite MDPs with known dynamics: value iteration, policy iteration, exact
//!   policy evaluation and discounted visitation; FrozenLake's and a corridor's laws.
//! * [`tabular`] — Q-learning and SARSA with Robbins–Monro step sizes.
//! * [`pg`] — the exact policy gradient of a softmax policy and the REINFORCE estimator, with
//!   and without a learned baseline.
//! * [`ppo`] and [`dqn`] — PPO and DQN on `nn` and `optim`, with stable-baselines3's tuned
//!   CartPole-v1 settings (`cargo run --release -p rl --example ppo_cartpole`, `dqn_cartpole`).
//! * [`study`] — the `rl` study (`experiments/rl.toml`): those theorems as claims.
//!
//! ## Example: Q-learning finds FrozenLake's optimal values
//!
//! ```
//! use rl::mdp::frozen_lake;
//! use rl::tabular::{q_learning, TabularConfig};
//!
//! # fn main() -> Result<(), rl::RlError> {
//! let mdp = frozen_lake(0.9);
//! let (v_star, _) = mdp.value_iteration(1e-12, 10_000);
//! let mut env = rl::envs::frozen_lake_env(0.9);
//! let cfg = TabularConfig { steps: 200_000, omega: 0.8, epsilon: 1.0, glie: false, gamma: 0.9, seed: 1 };
//! let q = q_learning(&mut env, &cfg, &[], &mut |_, _| {})?;
//! let v0 = q[0].iter().copied().fold(f64::MIN, f64::max);
//! assert!((v0 - v_star[0]).abs() < 0.05, "{v0} vs {}", v_star[0]);
//! # Ok(())
//! # }
//! ```

#![deny(unsafe_code)]

pub mod dqn;
pub mod env;
pub mod envs;
mod error;
pub mod mdp;
pub mod pg;
pub mod ppo;
pub mod space;
pub mod study;
pub mod tabular;
pub mod vector;

pub use env::{evaluate, Checked, Env, GreedyPolicy, Step, TimeLimit};
pub use error::{Result, RlError};
pub use space::{Space, SpaceValue};
pub use vector::{VecEnv, VecStep, PAR_MIN_ENVS};
