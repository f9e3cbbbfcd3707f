//! Tabular Q-learning and SARSA on any environment with discrete states and actions.
//!
//! **Q-learning** (Watkins 1989): after `(s, a, r, s')`,
//! `Q(s, a) ← Q(s, a) + α_n(s, a) [r + γ max_b Q(s', b) − Q(s, a)]` (no bootstrap past a
//! terminal `s'`; a truncated episode *does* bootstrap). It is off-policy: with every pair
//! visited infinitely often and step sizes satisfying Robbins–Monro, `Σ α = ∞`, `Σ α² < ∞`,
//! `Q → Q*` with probability one (Watkins & Dayan 1992; Tsitsiklis 1994). Here
//! `α_n = 1 / n^ω` with `n` the pair's visit count, Robbins–Monro for `ω ∈ (1/2, 1]`;
//! Even-Dar & Mansour (2003) show `ω < 1` converges polynomially fast where `ω = 1` can be
//! exponentially slow in `1 / (1 − γ)`.
//!
//! **SARSA** (Rummery & Niranjan 1994) bootstraps from the action it will take,
//! `r + γ Q(s', a')`: on-policy, it converges to `Q*` when exploration decays in the limit
//! (GLIE: greedy in the limit with infinite exploration, Singh et al. 2000). Here ε decays per
//! *state*, `ε(s) = ε / √n(s)` with `n(s)` the state's visits: `Σ_n n^{−1/2} = ∞`, so every
//! action of every state visited infinitely often is still tried infinitely often (a decay
//! per episode, `ε / √k`, is not enough: a path of six exploratory moves then has a
//! summable probability, and on FrozenLake the goal is never found). Even so GLIE is slow
//! there, its values lagging far behind `Q*` for millions of steps. With a fixed ε SARSA
//! learns the value of its own ε-greedy policy — on FrozenLake (ε = 0.2, 3
//! million steps) one whose greedy policy is optimal (`tests/theory.rs`).

use core_tensor::Rng;

use crate::env::{Checked, Env};
use crate::error::{invalid, Result};
use crate::space::{argmax, Space};

/// Settings of a tabular learner.
#[derive(Debug, Clone, PartialEq)]
pub struct TabularConfig {
    /// Environment steps in all.
    pub steps: usize,
    /// Step-size exponent: `α_n = 1 / n^ω` per state-action pair.
    pub omega: f64,
    /// Exploration: ε-greedy's ε (1 = uniformly random behaviour). With `glie` (SARSA), the
    /// ε of a state's first visit; it decays as `ε / √n(s)` over the state's visits.
    pub epsilon: f64,
    /// SARSA only: decay ε per state as `ε / √n(s)` (greedy in the limit, with infinite
    /// exploration).
    pub glie: bool,
    /// The discount.
    pub gamma: f64,
    /// The seed of the environment and of the behaviour.
    pub seed: u64,
}

fn sizes<E: Env<Obs = usize, Action = usize>>(env: &Checked<E>) -> Result<(usize, usize)> {
    match (env.observation_space(), env.action_space()) {
        (Space::Discrete(s), Space::Discrete(a)) => Ok((*s, *a)),
        _ => Err(invalid(
            env.name(),
            "tabular methods need discrete observation and action spaces",
        )),
    }
}

fn epsilon_greedy(q: &[f64], epsilon: f64, rng: &mut Rng) -> usize {
    if rng.next_f64() < epsilon {
        rng.below(q.len())
    } else {
        argmax(q)
    }
}

fn check(cfg: &TabularConfig) -> Result<()> {
    if !(cfg.omega > 0.5 && cfg.omega <= 1.0) {
        return Err(invalid(
            "tabular",
            format!(
                "omega must be in (0.5, 1] (Robbins-Monro), got {}",
                cfg.omega
            ),
        ));
    }
    if !(0.0..=1.0).contains(&cfg.epsilon) || !(0.0..1.0).contains(&cfg.gamma) {
        return Err(invalid(
            "tabular",
            "epsilon must be in [0, 1] and gamma in [0, 1)",
        ));
    }
    Ok(())
}

/// Q-learning for `cfg.steps` steps; `checkpoint(step, &q)` is called after every step
/// whose number is in `at` (sorted). Returns `Q[s][a]`.
///
/// # Errors
/// Non-discrete spaces, settings outside their ranges, or the environment's own error.
pub fn q_learning<E: Env<Obs = usize, Action = usize>>(
    env: &mut Checked<E>,
    cfg: &TabularConfig,
    at: &[usize],
    checkpoint: &mut dyn FnMut(usize, &[Vec<f64>]),
) -> Result<Vec<Vec<f64>>> {
    check(cfg)?;
    let (ns, na) = sizes(env)?;
    let mut q = vec![vec![0.0; na]; ns];
    let mut visits = vec![vec![0u64; na]; ns];
    let mut rng = Rng::with_stream(cfg.seed, 7);
    let mut s = env.reset(Some(cfg.seed))?;
    let mut next_mark = 0;
    for step in 1..=cfg.steps {
        let a = epsilon_greedy(&q[s], cfg.epsilon, &mut rng);
        let t = env.step(&a)?;
        visits[s][a] += 1;
        let alpha = (visits[s][a] as f64).powf(-cfg.omega);
        let future = if t.terminated {
            0.0
        } else {
            q[t.obs].iter().copied().fold(f64::NEG_INFINITY, f64::max)
        };
        q[s][a] += alpha * (t.reward + cfg.gamma * future - q[s][a]);
        s = if t.done() { env.reset(None)? } else { t.obs };
        while next_mark < at.len() && at[next_mark] == step {
            checkpoint(step, &q);
            next_mark += 1;
        }
    }
    Ok(q)
}

/// SARSA for `cfg.steps` steps. Returns `Q[s][a]`.
///
/// # Errors
/// As [`q_learning`].
pub fn sarsa<E: Env<Obs = usize, Action = usize>>(
    env: &mut Checked<E>,
    cfg: &TabularConfig,
) -> Result<Vec<Vec<f64>>> {
    check(cfg)?;
    let (ns, na) = sizes(env)?;
    let mut q = vec![vec![0.0; na]; ns];
    let mut visits = vec![vec![0u64; na]; ns];
    let mut rng = Rng::with_stream(cfg.seed, 7);
    let mut seen = vec![0u64; ns];
    let mut choose = |q: &[f64], s: usize, rng: &mut Rng| {
        seen[s] += 1;
        let e = if cfg.glie {
            cfg.epsilon / (seen[s] as f64).sqrt()
        } else {
            cfg.epsilon
        };
        epsilon_greedy(q, e, rng)
    };
    let mut s = env.reset(Some(cfg.seed))?;
    let mut a = choose(&q[s], s, &mut rng);
    for _ in 0..cfg.steps {
        let t = env.step(&a)?;
        visits[s][a] += 1;
        let alpha = (visits[s][a] as f64).powf(-cfg.omega);
        if t.done() {
            let future = if t.terminated {
                0.0
            } else {
                q[t.obs][argmax(&q[t.obs])]
            };
            q[s][a] += alpha * (t.reward + cfg.gamma * future - q[s][a]);
            s = env.reset(None)?;
            a = choose(&q[s], s, &mut rng);
        } else {
            let next = choose(&q[t.obs], t.obs, &mut rng);
            q[s][a] += alpha * (t.reward + cfg.gamma * q[t.obs][next] - q[s][a]);
            s = t.obs;
            a = next;
        }
    }
    Ok(q)
}

/// The greedy policy of `q`, one action per state (ties to the lowest action).
pub fn greedy_policy(q: &[Vec<f64>]) -> Vec<usize> {
    q.iter().map(|r| argmax(r)).collect()
}
