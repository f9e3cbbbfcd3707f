//! The environment interface, with Gymnasium's semantics, and the wrappers every environment
//! gets: a time limit and the checks that turn misuse into errors.
//!
//! `reset(seed)` starts an episode (a seed makes it reproducible; `None` continues the
//! environment's own stream); `step(action)` returns the next observation, the reward, and two
//! flags: **terminated** — the MDP reached a terminal state (the value of what follows is 0)
//! — and **truncated** — the episode was cut for an outside reason, usually a time limit (the
//! state is not terminal: bootstrap from it). Algorithms that confuse the two learn the
//! wrong values; [`TimeLimit`] sets only `truncated`.

use crate::error::{Result, RlError};
use crate::space::{Space, SpaceValue};

/// What one step returns.
#[derive(Debug, Clone, PartialEq)]
pub struct Step<O> {
    /// The observation after the step.
    pub obs: O,
    /// The reward for the transition.
    pub reward: f64,
    /// The new state is terminal.
    pub terminated: bool,
    /// The episode was cut short (time limit); the state is not terminal.
    pub truncated: bool,
}

impl<O> Step<O> {
    /// Either flag: the episode is over and the next call must be `reset`.
    pub fn done(&self) -> bool {
        self.terminated || self.truncated
    }
}

/// An environment. A custom one is an implementation of these six methods (see
/// `examples/custom_env.rs`); wrap it in [`Checked`] (and [`TimeLimit`]) to get Gymnasium's
/// guarantees as errors.
pub trait Env: Send {
    /// Observations (`usize` for a discrete space, `[f32; N]` or `Vec<f32>` for a box).
    type Obs: SpaceValue;
    /// Actions (`usize` for a discrete space, f32 arrays or vectors for a box).
    type Action: SpaceValue;

    /// A name for messages (`"CartPole-v1"`).
    fn name(&self) -> &str;

    /// Where observations live.
    fn observation_space(&self) -> Space;

    /// Where actions live.
    fn action_space(&self) -> Space;

    /// Starts an episode; `Some(seed)` reseeds the environment's random stream first.
    fn reset(&mut self, seed: Option<u64>) -> Self::Obs;

    /// Advances one step. Called only with an action in the action space, and only between
    /// a `reset` and the end of its episode, when wrapped in [`Checked`].
    fn step(&mut self, action: &Self::Action) -> Step<Self::Obs>;
}

/// Ends episodes after `max_steps` steps with `truncated = true` (Gymnasium's `TimeLimit`:
/// CartPole-v1 500, MountainCar-v0 200).
#[derive(Debug, Clone)]
pub struct TimeLimit<E> {
    inner: E,
    max_steps: usize,
    elapsed: usize,
}

impl<E: Env> TimeLimit<E> {
    /// Wraps `inner`.
    pub fn new(inner: E, max_steps: usize) -> TimeLimit<E> {
        TimeLimit {
            inner,
            max_steps,
            elapsed: 0,
        }
    }

    /// The wrapped environment.
    pub fn inner(&self) -> &E {
        &self.inner
    }

    /// The wrapped environment, mutably.
    pub fn inner_mut(&mut self) -> &mut E {
        &mut self.inner
    }

    /// Steps taken in this episode.
    pub fn elapsed(&self) -> usize {
        self.elapsed
    }
}

impl<E: Env> Env for TimeLimit<E> {
    type Obs = E::Obs;
    type Action = E::Action;

    fn name(&self) -> &str {
        self.inner.name()
    }

    fn observation_space(&self) -> Space {
        self.inner.observation_space()
    }

    fn action_space(&self) -> Space {
        self.inner.action_space()
    }

    fn reset(&mut self, seed: Option<u64>) -> E::Obs {
        self.elapsed = 0;
        self.inner.reset(seed)
    }

    fn step(&mut self, action: &E::Action) -> Step<E::Obs> {
        let mut s = self.inner.step(action);
        self.elapsed += 1;
        if self.elapsed >= self.max_steps {
            s.truncated = true;
        }
        s
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    Fresh,
    Running,
    Terminated,
    Truncated,
}

/// Gymnasium's checks as errors: `step` before `reset` or after the episode ended, an action
/// outside the action space, an observation that is not finite or not in the observation
/// space, a reward that is not finite — each an [`RlError`] naming the environment.
#[derive(Debug, Clone)]
pub struct Checked<E> {
    inner: E,
    phase: Phase,
    obs_space: Space,
    action_space: Space,
}

impl<E: Env> Checked<E> {
    /// Wraps `inner`.
    pub fn new(inner: E) -> Checked<E> {
        Checked {
            obs_space: inner.observation_space(),
            action_space: inner.action_space(),
            inner,
            phase: Phase::Fresh,
        }
    }

    /// The wrapped environment.
    pub fn inner(&self) -> &E {
        &self.inner
    }

    /// The wrapped environment, mutably (to set a state for a test, say).
    pub fn inner_mut(&mut self) -> &mut E {
        &mut self.inner
    }

    /// The environment's name.
    pub fn name(&self) -> &str {
        self.inner.name()
    }

    /// Where observations live.
    pub fn observation_space(&self) -> &Space {
        &self.obs_space
    }

    /// Where actions live.
    pub fn action_space(&self) -> &Space {
        &self.action_space
    }

    fn observation(&self, call: &'static str, obs: &E::Obs) -> Result<()> {
        match obs.problem(&self.obs_space) {
            None => Ok(()),
            Some(what) => Err(RlError::Observation {
                env: self.inner.name().to_string(),
                call,
                what,
            }),
        }
    }

    /// Starts an episode.
    ///
    /// # Errors
    /// The environment returned an observation that is not finite or not in its space.
    pub fn reset(&mut self, seed: Option<u64>) -> Result<E::Obs> {
        let obs = self.inner.reset(seed);
        self.observation("reset", &obs)?;
        self.phase = Phase::Running;
        Ok(obs)
    }

    /// Advances one step.
    ///
    /// # Errors
    /// [`RlError::Order`] before `reset` or after the episode ended; [`RlError::Action`] for
    /// an action outside the space (nothing is stepped); [`RlError::Observation`] or
    /// [`RlError::Reward`] for what the environment returned.
    pub fn step(&mut self, action: &E::Action) -> Result<Step<E::Obs>> {
        let when = match self.phase {
            Phase::Running => None,
            Phase::Fresh => Some("before reset"),
            Phase::Terminated => Some("after the episode terminated"),
            Phase::Truncated => Some("after the episode was truncated"),
        };
        if let Some(when) = when {
            return Err(RlError::Order {
                env: self.inner.name().to_string(),
                when,
            });
        }
        if action.problem(&self.action_space).is_some() {
            return Err(RlError::Action {
                env: self.inner.name().to_string(),
                action: format!("{action:?}"),
                space: self.action_space.to_string(),
            });
        }
        let s = self.inner.step(action);
        self.observation("step", &s.obs)?;
        if !s.reward.is_finite() {
            return Err(RlError::Reward {
                env: self.inner.name().to_string(),
                reward: s.reward,
            });
        }
        self.phase = if s.terminated {
            Phase::Terminated
        } else if s.truncated {
            Phase::Truncated
        } else {
            Phase::Running
        };
        Ok(s)
    }
}

/// A policy that picks one action for a box observation: what [`evaluate`] runs (PPO's and
/// DQN's greedy policies).
pub trait GreedyPolicy {
    /// The action for `obs`.
    ///
    /// # Errors
    /// An observation of the wrong size.
    fn act_greedy(&self, obs: &[f32]) -> Result<usize>;
}

/// Mean and standard deviation of `policy`'s return over `episodes` episodes of fresh
/// environments made by `make`, reset with seeds `seed`, `seed + 1`, ….
///
/// # Errors
/// The policy's error, or the environment's.
pub fn evaluate<E>(
    policy: &dyn GreedyPolicy,
    make: &dyn Fn() -> Checked<E>,
    episodes: usize,
    seed: u64,
) -> Result<(f64, f64)>
where
    E: Env<Action = usize>,
    E::Obs: AsRef<[f32]>,
{
    let mut returns = Vec::with_capacity(episodes);
    for k in 0..episodes {
        let mut env = make();
        let mut obs = env.reset(Some(seed + k as u64))?;
        let mut total = 0.0;
        loop {
            let s = env.step(&policy.act_greedy(obs.as_ref())?)?;
            total += s.reward;
            if s.done() {
                break;
            }
            obs = s.obs;
        }
        returns.push(total);
    }
    let n = episodes.max(1) as f64;
    let mean = returns.iter().sum::<f64>() / n;
    let var = returns.iter().map(|r| (r - mean).powi(2)).sum::<f64>() / n;
    Ok((mean, var.sqrt()))
}

/// The action whose output of `net` is largest for one observation (of `obs_dim` values):
/// a policy's most likely action, or a Q-network's greedy one.
pub(crate) fn net_argmax(net: &nn::Sequential, obs: &[f32], obs_dim: usize) -> Result<usize> {
    use nn::Module as _;
    let bad = |e: &dyn std::fmt::Display| crate::error::invalid("greedy action", e.to_string());
    let x = core_tensor::Tensor::from_vec(obs.to_vec(), &[1, obs_dim]).map_err(|e| bad(&e))?;
    let out = core_tensor::no_grad(|| net.forward(&x)).map_err(|e| bad(&e))?;
    Ok(crate::space::argmax(&out.to_vec()))
}
