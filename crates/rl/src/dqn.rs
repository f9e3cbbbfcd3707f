//! Deep Q-networks (Mnih et al. 2015) on `nn` and `optim`, for environments with box
//! observations and discrete actions.
//!
//! Q-learning with a network: transitions go into a replay buffer; every `train_freq` steps,
//! `gradient_steps` minibatches are drawn uniformly from it and the online network `Q_θ`
//! takes a step on the Huber loss of
//!
//! ```text
//! δ = Q_θ(s, a) − (r + γ (1 − terminated) max_b Q_θ⁻(s', b))
//! ```
//!
//! with `Q_θ⁻` a *target network*, a copy of `Q_θ` refreshed every `target_update` steps.
//! Replay breaks the correlation of consecutive samples, the frozen target keeps the
//! regression's target from moving with every step, and the Huber loss (quadratic for
//! `|δ| ≤ 1`, linear beyond) bounds the gradient of outliers. A truncated episode is not
//! terminal: its last transition keeps the bootstrap, as stable-baselines3 does.
//! Exploration is ε-greedy with ε falling linearly from 1 to `final_epsilon` over the first
//! `exploration_fraction` of training.
//!
//! Defaults are stable-baselines3's tuned CartPole-v1 settings (rl-baselines3-zoo): 50,000
//! steps, learning rate 2.3e-3, batch 64, buffer 100,000, learning from step 1,000, γ 0.99,
//! target refreshed every 10 steps, 128 gradient steps every 256 steps, ε to 0.04 over the
//! first 16%, gradient norm clipped at 10, a 256-256 ReLU network.

use std::time::Instant;

use core_tensor::ndarray::{ArrayD, IxDyn};
use core_tensor::{no_grad, Rng, Tensor};
use nn::{Activation, Linear, Module, Sequential};
use optim::Adam;

use crate::env::{net_argmax, Checked, Env, GreedyPolicy};
use crate::error::{invalid, Result, RlError};
use crate::space::Space;

/// DQN's settings.
#[derive(Debug, Clone, PartialEq)]
pub struct DqnConfig {
    /// Environment steps in all.
    pub total_steps: u64,
    /// Adam's learning rate.
    pub lr: f64,
    /// Minibatch size.
    pub batch: usize,
    /// Replay buffer capacity (oldest transitions are overwritten).
    pub buffer: usize,
    /// Steps of random behaviour before learning starts.
    pub learning_starts: u64,
    /// Discount.
    pub gamma: f64,
    /// Steps between copies of the online network into the target network.
    pub target_update: u64,
    /// Steps between training phases.
    pub train_freq: u64,
    /// Gradient steps per training phase.
    pub gradient_steps: usize,
    /// Fraction of training over which ε falls from 1 to `final_epsilon`.
    pub exploration_fraction: f64,
    /// ε after the decay.
    pub final_epsilon: f64,
    /// Gradient-norm clip.
    pub max_grad_norm: f32,
    /// Hidden width (two ReLU layers).
    pub hidden: usize,
    /// Seed of the network, the replay sampling, exploration and the environment.
    pub seed: u64,
}

impl Default for DqnConfig {
    fn default() -> DqnConfig {
        DqnConfig {
            total_steps: 50_000,
            lr: 2.3e-3,
            batch: 64,
            buffer: 100_000,
            learning_starts: 1_000,
            gamma: 0.99,
            target_update: 10,
            train_freq: 256,
            gradient_steps: 128,
            exploration_fraction: 0.16,
            final_epsilon: 0.04,
            max_grad_norm: 10.0,
            hidden: 256,
            seed: 0,
        }
    }
}

fn err(e: impl std::fmt::Display) -> RlError {
    invalid("dqn", e.to_string())
}

fn q_net(inputs: usize, hidden: usize, actions: usize, rng: &mut Rng) -> nn::Result<Sequential> {
    Ok(Sequential::new()
        .push(Linear::new(inputs, hidden, true, rng)?)
        .push(Activation::Relu)
        .push(Linear::new(hidden, hidden, true, rng)?)
        .push(Activation::Relu)
        .push(Linear::new(hidden, actions, true, rng)?))
}

/// A trained Q-network, acting greedily.
pub struct QNetwork {
    net: Sequential,
    obs_dim: usize,
}

impl GreedyPolicy for QNetwork {
    /// The action of the highest Q-value.
    fn act_greedy(&self, obs: &[f32]) -> Result<usize> {
        net_argmax(&self.net, obs, self.obs_dim)
    }
}

impl QNetwork {
    /// The network.
    pub fn net(&self) -> &Sequential {
        &self.net
    }
}

/// What training produced.
pub struct DqnRun {
    /// The online network at the end.
    pub q: QNetwork,
    /// `(environment steps, return)` of every finished training episode.
    pub episodes: Vec<(u64, f64)>,
    /// Seconds of training.
    pub seconds: f64,
}

/// Copies `from`'s parameters into `to` (the same architecture).
fn copy_params(from: &Sequential, to: &Sequential) -> Result<()> {
    for (a, b) in from.params().iter().zip(to.params()) {
        b.set_data(a.detach().array().to_owned().into_shared())
            .map_err(err)?;
    }
    Ok(())
}

/// Trains DQN on one environment made by `make`; `progress(steps, total, last return)` at
/// the end of every episode.
///
/// # Errors
/// A non-box observation space or non-discrete action space, invalid settings, or the
/// environment's own errors.
pub fn train_dqn<E>(
    cfg: &DqnConfig,
    make: &dyn Fn() -> Checked<E>,
    progress: &mut dyn FnMut(u64, u64, f64),
) -> Result<DqnRun>
where
    E: Env<Action = usize>,
    E::Obs: AsRef<[f32]>,
{
    let mut env = make();
    let (obs_dim, actions) = match (env.observation_space(), env.action_space()) {
        (Space::Box { low, .. }, Space::Discrete(n)) => (low.len(), *n),
        _ => {
            return Err(invalid(
                "dqn",
                "needs a box observation space and discrete actions",
            ))
        }
    };
    if cfg.batch == 0 || cfg.buffer < cfg.batch || cfg.train_freq == 0 || cfg.target_update == 0 {
        return Err(invalid(
            "dqn",
            "batch, train_freq and target_update must be > 0, buffer >= batch",
        ));
    }
    let mut init = Rng::with_stream(cfg.seed, 1);
    let online = q_net(obs_dim, cfg.hidden, actions, &mut init).map_err(err)?;
    let target = q_net(obs_dim, cfg.hidden, actions, &mut init).map_err(err)?;
    copy_params(&online, &target)?;
    let mut stale = false;
    let params = online.params();
    let mut opt = Adam::new(cfg.lr as f32).bind(params.clone()).map_err(err)?;
    let mut rng = Rng::with_stream(cfg.seed, 2);
    // Replay: a ring of transitions.
    let (mut r_obs, mut r_next) = (Vec::<f32>::new(), Vec::<f32>::new());
    let (mut r_act, mut r_rew, mut r_term) =
        (Vec::<usize>::new(), Vec::<f32>::new(), Vec::<f32>::new());
    let mut head = 0usize;
    let mut obs = env.reset(Some(cfg.seed))?.as_ref().to_vec();
    let mut episode_return = 0.0;
    let mut episodes = Vec::new();
    let started = Instant::now();
    let decay_steps = (cfg.exploration_fraction * cfg.total_steps as f64).max(1.0);
    for step in 1..=cfg.total_steps {
        let eps = if (step as f64) < decay_steps {
            1.0 + (cfg.final_epsilon - 1.0) * step as f64 / decay_steps
        } else {
            cfg.final_epsilon
        };
        let a = if step <= cfg.learning_starts || rng.next_f64() < eps {
            rng.below(actions)
        } else {
            net_argmax(&online, &obs, obs_dim)?
        };
        let s = env.step(&a)?;
        episode_return += s.reward;
        let next = s.obs.as_ref().to_vec();
        let term = if s.terminated { 1.0 } else { 0.0 };
        if r_act.len() < cfg.buffer {
            r_obs.extend_from_slice(&obs);
            r_next.extend_from_slice(&next);
            r_act.push(a);
            r_rew.push(s.reward as f32);
            r_term.push(term);
        } else {
            r_obs[head * obs_dim..(head + 1) * obs_dim].copy_from_slice(&obs);
            r_next[head * obs_dim..(head + 1) * obs_dim].copy_from_slice(&next);
            r_act[head] = a;
            r_rew[head] = s.reward as f32;
            r_term[head] = term;
            head = (head + 1) % cfg.buffer;
        }
        if s.done() {
            episodes.push((step, episode_return));
            progress(step, cfg.total_steps, episode_return);
            episode_return = 0.0;
            obs = env.reset(None)?.as_ref().to_vec();
        } else {
            obs = next;
        }
        if step > cfg.learning_starts && step % cfg.train_freq == 0 {
            for _ in 0..cfg.gradient_steps {
                let n = r_act.len();
                let idx: Vec<usize> = (0..cfg.batch).map(|_| rng.below(n)).collect();
                let gather = |v: &[f32]| -> Vec<f32> {
                    idx.iter()
                        .flat_map(|&k| v[k * obs_dim..(k + 1) * obs_dim].iter().copied())
                        .collect()
                };
                let m = cfg.batch;
                let next_x = Tensor::from_vec(gather(&r_next), &[m, obs_dim]).map_err(err)?;
                let next_q = no_grad(|| target.forward(&next_x)).map_err(err)?.to_vec();
                let y: Vec<f32> = idx
                    .iter()
                    .enumerate()
                    .map(|(j, &k)| {
                        let best = next_q[j * actions..(j + 1) * actions]
                            .iter()
                            .copied()
                            .fold(f32::NEG_INFINITY, f32::max);
                        r_rew[k] + (cfg.gamma as f32) * (1.0 - r_term[k]) * best
                    })
                    .collect();
                let loss = (|| -> std::result::Result<Tensor, Box<dyn std::error::Error>> {
                    let x = Tensor::from_vec(gather(&r_obs), &[m, obs_dim])?;
                    let a_idx = ArrayD::from_shape_vec(
                        IxDyn(&[m, 1]),
                        idx.iter().map(|&k| r_act[k]).collect(),
                    )
                    .expect("m x 1 indices");
                    let q = online.forward(&x)?.gather(1, &a_idx)?.reshape(&[m])?;
                    let d = q.sub(&Tensor::from_vec(y, &[m])?)?;
                    // Huber with threshold 1: ½ min(|δ|, 1)² + (|δ| − min(|δ|, 1)).
                    let a = d.abs();
                    let c = a.clamp(0.0, 1.0)?;
                    Ok(c.square().mul_scalar(0.5).add(&a.sub(&c)?)?.mean_all()?)
                })()
                .map_err(err)?;
                opt.zero_grad();
                loss.backward().map_err(err)?;
                optim::clip_grad_norm(&params, cfg.max_grad_norm).map_err(err)?;
                opt.step().map_err(err)?;
                stale = true;
            }
        }
        // The target follows the online network every `target_update` steps; between training
        // phases the online network does not change, so only a copy after one is work.
        if step % cfg.target_update == 0 && stale {
            stale = false;
            copy_params(&online, &target)?;
        }
    }
    Ok(DqnRun {
        q: QNetwork {
            net: online,
            obs_dim,
        },
        episodes,
        seconds: started.elapsed().as_secs_f64(),
    })
}
