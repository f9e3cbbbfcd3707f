//! Proximal policy optimisation (Schulman et al. 2017) on `nn` and `optim`, for environments
//! with box observations and discrete actions.
//!
//! Each iteration collects `envs × steps_per_env` transitions with the current policy, then
//! takes `epochs` passes of minibatch gradient steps on
//!
//! ```text
//! L = −E[min(ρ A, clip(ρ, 1 − ε, 1 + ε) A)] + c_v E[(V(s) − R)²] − c_e E[H(π(·|s))]
//! ```
//!
//! with `ρ = π(a|s) / π_old(a|s)`, advantages `A` from generalised advantage estimation
//! (Schulman et al. 2016), `δ_t = r_t + γ V(s_{t+1}) − V(s_t)`, `A_t = δ_t + γλ A_{t+1}`
//! (cut at episode ends), normalised per minibatch, and returns `R = A + V`. A truncated
//! episode (time limit) is not terminal: its last reward gets `γ V(s_last)` added, as
//! stable-baselines3 does. The clip keeps each update near the data's policy: for `A > 0`
//! the objective stops growing once `ρ > 1 + ε`, for `A < 0` once `ρ < 1 − ε`.
//!
//! Defaults are stable-baselines3's tuned CartPole-v1 settings (rl-baselines3-zoo): 8
//! environments × 32 steps, minibatch 256, 20 epochs, γ 0.98, λ 0.8, ε 0.2 and learning rate
//! 1e-3 both annealed linearly to 0, no entropy bonus, gradient norm clipped at 0.5, actor
//! and critic separate 64-64 tanh MLPs.

use std::time::Instant;

use core_tensor::ndarray::{ArrayD, IxDyn};
use core_tensor::{no_grad, Rng, Tensor};
use nn::{Activation, Linear, Module, Sequential};
use optim::Adam;

use crate::env::{net_argmax, Checked, Env, GreedyPolicy};
use crate::error::{invalid, Result, RlError};
use crate::space::{draw, Space};

/// PPO's settings.
#[derive(Debug, Clone, PartialEq)]
pub struct PpoConfig {
    /// Environments stepped side by side.
    pub envs: usize,
    /// Steps per environment per iteration.
    pub steps_per_env: usize,
    /// Minibatch size.
    pub minibatch: usize,
    /// Passes over each iteration's data.
    pub epochs: usize,
    /// Discount.
    pub gamma: f64,
    /// GAE's λ.
    pub lambda: f64,
    /// The clip range ε (annealed with the learning rate when `anneal`).
    pub clip: f64,
    /// Adam's learning rate.
    pub lr: f64,
    /// Anneal the learning rate and ε linearly to 0 over training.
    pub anneal: bool,
    /// Weight of the value loss.
    pub vf_coef: f64,
    /// Weight of the entropy bonus.
    pub ent_coef: f64,
    /// Gradient-norm clip.
    pub max_grad_norm: f32,
    /// Hidden width of both MLPs (two tanh layers).
    pub hidden: usize,
    /// Environment steps in all.
    pub total_steps: u64,
    /// Seed of the networks, the sampling and the environments.
    pub seed: u64,
}

impl Default for PpoConfig {
    fn default() -> PpoConfig {
        PpoConfig {
            envs: 8,
            steps_per_env: 32,
            minibatch: 256,
            epochs: 20,
            gamma: 0.98,
            lambda: 0.8,
            clip: 0.2,
            lr: 1e-3,
            anneal: true,
            vf_coef: 0.5,
            ent_coef: 0.0,
            max_grad_norm: 0.5,
            hidden: 64,
            total_steps: 100_000,
            seed: 0,
        }
    }
}

/// A trained actor-critic.
pub struct Policy {
    actor: Sequential,
    critic: Sequential,
    obs_dim: usize,
}

fn mlp(inputs: usize, hidden: usize, outputs: usize, rng: &mut Rng) -> nn::Result<Sequential> {
    Ok(Sequential::new()
        .push(Linear::new(inputs, hidden, true, rng)?)
        .push(Activation::Tanh)
        .push(Linear::new(hidden, hidden, true, rng)?)
        .push(Activation::Tanh)
        .push(Linear::new(hidden, outputs, true, rng)?))
}

fn nn_err(e: impl std::fmt::Display) -> RlError {
    invalid("ppo", e.to_string())
}

impl GreedyPolicy for Policy {
    /// The action with the highest probability.
    fn act_greedy(&self, obs: &[f32]) -> Result<usize> {
        net_argmax(&self.actor, obs, self.obs_dim)
    }
}

impl Policy {
    /// The actor network (logits).
    pub fn actor(&self) -> &Sequential {
        &self.actor
    }

    /// The critic network (state values).
    pub fn critic(&self) -> &Sequential {
        &self.critic
    }
}

/// What training produced.
pub struct PpoRun {
    /// The policy at the end.
    pub policy: Policy,
    /// `(environment steps, mean return of the episodes that ended in that iteration)`.
    pub curve: Vec<(u64, f64)>,
    /// Seconds of training.
    pub seconds: f64,
}

/// Trains with PPO on `cfg.envs` environments made by `make`; `progress(steps, total, mean
/// return)` after every iteration.
///
/// # Errors
/// A non-box observation space or non-discrete action space, invalid settings, or the
/// environments' own errors.
pub fn train_ppo<E>(
    cfg: &PpoConfig,
    make: &dyn Fn() -> Checked<E>,
    progress: &mut dyn FnMut(u64, u64, f64),
) -> Result<PpoRun>
where
    E: Env<Action = usize>,
    E::Obs: AsRef<[f32]>,
{
    let mut envs: Vec<Checked<E>> = (0..cfg.envs).map(|_| make()).collect();
    let (obs_dim, actions) = match envs
        .first()
        .map(|e| (e.observation_space().clone(), e.action_space().clone()))
    {
        Some((Space::Box { low, .. }, Space::Discrete(n))) => (low.len(), n),
        _ => {
            return Err(invalid(
                "ppo",
                "needs at least one environment, a box observation space and discrete actions",
            ))
        }
    };
    let batch = cfg.envs * cfg.steps_per_env;
    if batch == 0 || cfg.minibatch == 0 || cfg.minibatch > batch || cfg.epochs == 0 {
        return Err(invalid(
            "ppo",
            format!(
                "envs x steps_per_env = {batch} must be >= minibatch = {} > 0",
                cfg.minibatch
            ),
        ));
    }
    let mut init = Rng::with_stream(cfg.seed, 1);
    let policy = Policy {
        actor: mlp(obs_dim, cfg.hidden, actions, &mut init).map_err(nn_err)?,
        critic: mlp(obs_dim, cfg.hidden, 1, &mut init).map_err(nn_err)?,
        obs_dim,
    };
    let params: Vec<Tensor> = policy
        .actor
        .params()
        .into_iter()
        .chain(policy.critic.params())
        .collect();
    let mut opt = Adam::new(cfg.lr as f32)
        .eps(1e-5)
        .bind(params.clone())
        .map_err(nn_err)?;
    let mut rng = Rng::with_stream(cfg.seed, 2);
    let mut obs: Vec<Vec<f32>> = envs
        .iter_mut()
        .enumerate()
        .map(|(i, e)| {
            e.reset(Some(cfg.seed.wrapping_mul(1000).wrapping_add(i as u64)))
                .map(|o| o.as_ref().to_vec())
        })
        .collect::<Result<_>>()?;
    let started = Instant::now();
    let iterations = cfg.total_steps.div_ceil(batch as u64);
    let mut curve = Vec::new();
    let mut running = vec![0.0f64; cfg.envs];
    let mut steps_done = 0u64;
    let value_of = |x: &[f32], n: usize| -> Result<Vec<f32>> {
        let t = Tensor::from_vec(x.to_vec(), &[n, obs_dim]).map_err(nn_err)?;
        Ok(no_grad(|| policy.critic.forward(&t))
            .map_err(nn_err)?
            .to_vec())
    };
    for it in 0..iterations {
        let frac = if cfg.anneal {
            1.0 - it as f64 / iterations as f64
        } else {
            1.0
        };
        opt.set_lr((cfg.lr * frac) as f32);
        let clip = cfg.clip * frac;
        // Rollout, time-major: index t * envs + i.
        let (mut b_obs, mut b_act, mut b_logp, mut b_val, mut b_rew, mut b_done) = (
            Vec::with_capacity(batch * obs_dim),
            Vec::with_capacity(batch),
            Vec::with_capacity(batch),
            Vec::with_capacity(batch),
            Vec::with_capacity(batch),
            Vec::with_capacity(batch),
        );
        let mut finished = Vec::new();
        for _ in 0..cfg.steps_per_env {
            let flat: Vec<f32> = obs.iter().flatten().copied().collect();
            let x = Tensor::from_vec(flat.clone(), &[cfg.envs, obs_dim]).map_err(nn_err)?;
            let logp_all = no_grad(|| {
                policy
                    .actor
                    .forward(&x)
                    .and_then(|l| Ok(l.log_softmax(-1)?))
            })
            .map_err(nn_err)?
            .to_vec();
            let values = value_of(&flat, cfg.envs)?;
            for (i, env) in envs.iter_mut().enumerate() {
                let lp = &logp_all[i * actions..(i + 1) * actions];
                let a = draw(&mut rng, lp.iter().map(|&l| (l as f64).exp()));
                let s = env.step(&a)?;
                let mut reward = s.reward;
                running[i] += s.reward;
                if s.truncated && !s.terminated {
                    // Not terminal: bootstrap from the state the time limit cut at.
                    reward += cfg.gamma * value_of(s.obs.as_ref(), 1)?[0] as f64;
                }
                b_obs.extend_from_slice(&obs[i]);
                b_act.push(a);
                b_logp.push(lp[a]);
                b_val.push(values[i]);
                b_rew.push(reward);
                b_done.push(s.done());
                if s.done() {
                    finished.push(running[i]);
                    running[i] = 0.0;
                    obs[i] = env.reset(None)?.as_ref().to_vec();
                } else {
                    obs[i] = s.obs.as_ref().to_vec();
                }
            }
        }
        steps_done += batch as u64;
        // GAE, backwards in time per environment.
        let last: Vec<f32> =
            value_of(&obs.iter().flatten().copied().collect::<Vec<_>>(), cfg.envs)?;
        let mut adv = vec![0.0f64; batch];
        for (i, &bootstrap) in last.iter().enumerate() {
            let mut next_adv = 0.0;
            let mut next_value = bootstrap as f64;
            for t in (0..cfg.steps_per_env).rev() {
                let k = t * cfg.envs + i;
                let live = if b_done[k] { 0.0 } else { 1.0 };
                let delta = b_rew[k] + cfg.gamma * next_value * live - b_val[k] as f64;
                next_adv = delta + cfg.gamma * cfg.lambda * live * next_adv;
                adv[k] = next_adv;
                next_value = b_val[k] as f64;
            }
        }
        let returns: Vec<f32> = adv
            .iter()
            .zip(&b_val)
            .map(|(a, v)| (a + *v as f64) as f32)
            .collect();
        // Epochs of minibatch steps.
        for _ in 0..cfg.epochs {
            let order = rng.permutation(batch);
            for chunk in order.chunks(cfg.minibatch) {
                let m = chunk.len();
                let x: Vec<f32> = chunk
                    .iter()
                    .flat_map(|&k| b_obs[k * obs_dim..(k + 1) * obs_dim].iter().copied())
                    .collect();
                let a_mb: Vec<f32> = chunk.iter().map(|&k| adv[k] as f32).collect();
                let mean = a_mb.iter().sum::<f32>() / m as f32;
                let sd = (a_mb.iter().map(|v| (v - mean).powi(2)).sum::<f32>()
                    / (m.max(2) - 1) as f32)
                    .sqrt();
                let a_norm: Vec<f32> = a_mb.iter().map(|v| (v - mean) / (sd + 1e-8)).collect();
                let loss = (|| -> std::result::Result<Tensor, Box<dyn std::error::Error>> {
                    let x = Tensor::from_vec(x, &[m, obs_dim])?;
                    let idx = ArrayD::from_shape_vec(
                        IxDyn(&[m, 1]),
                        chunk.iter().map(|&k| b_act[k]).collect(),
                    )
                    .expect("m x 1 indices");
                    let old = Tensor::from_vec(chunk.iter().map(|&k| b_logp[k]).collect(), &[m])?;
                    let adv_t = Tensor::from_vec(a_norm, &[m])?;
                    let ret = Tensor::from_vec(chunk.iter().map(|&k| returns[k]).collect(), &[m])?;
                    let logits = policy.actor.forward(&x)?;
                    let logp_all = logits.log_softmax(-1)?;
                    let logp = logp_all.gather(1, &idx)?.reshape(&[m])?;
                    let ratio = logp.sub(&old)?.exp();
                    let s1 = ratio.mul(&adv_t)?;
                    let s2 = ratio
                        .clamp(1.0 - clip as f32, 1.0 + clip as f32)?
                        .mul(&adv_t)?;
                    let policy_loss = s1.minimum(&s2)?.mean_all()?.neg();
                    let v = policy.critic.forward(&x)?.reshape(&[m])?;
                    let value_loss = v.sub(&ret)?.square().mean_all()?;
                    let mut loss = policy_loss.add(&value_loss.mul_scalar(cfg.vf_coef as f32))?;
                    if cfg.ent_coef > 0.0 {
                        let entropy = logp_all
                            .exp()
                            .mul(&logp_all)?
                            .sum(&[-1], false)?
                            .neg()
                            .mean_all()?;
                        loss = loss.sub(&entropy.mul_scalar(cfg.ent_coef as f32))?;
                    }
                    Ok(loss)
                })()
                .map_err(nn_err)?;
                opt.zero_grad();
                loss.backward().map_err(nn_err)?;
                optim::clip_grad_norm(&params, cfg.max_grad_norm).map_err(nn_err)?;
                opt.step().map_err(nn_err)?;
            }
        }
        let mean_return = if finished.is_empty() {
            f64::NAN
        } else {
            finished.iter().sum::<f64>() / finished.len() as f64
        };
        curve.push((steps_done, mean_return));
        progress(steps_done, iterations * batch as u64, mean_return);
    }
    Ok(PpoRun {
        policy,
        curve,
        seconds: started.elapsed().as_secs_f64(),
    })
}
