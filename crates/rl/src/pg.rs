//! Policy gradients for a tabular softmax policy, `π(a | s) = exp θ(s,a) / Σ_b exp θ(s,b)`:
//! the exact gradient of `J(θ) = E[Σ_t γ^t r_t]` and the REINFORCE estimator of it.
//!
//! **Exact.** The policy gradient theorem (Sutton et al. 2000) gives
//! `∇J = Σ_s η(s) Σ_a ∇π(a|s) Q(s,a)` with `η` the discounted visitation from the start; for
//! the softmax, `∂J / ∂θ(s,b) = η(s) π(b|s) (Q(s,b) − V(s))` — computed here with the MDP's
//! linear solves ([`Mdp::evaluate`], [`Mdp::visitation`]).
//!
//! **REINFORCE** (Williams 1992): from one episode, `g = Σ_t γ^t (G_t − b(s_t)) ∇ log π(a_t|s_t)`
//! with `G_t = Σ_{k≥t} γ^{k−t} r_k`. `E[g] = ∇J` for *any* baseline that does not depend on the
//! action (`E[∇ log π(a|s)] = 0`), so a baseline can only change the variance; `b = V_π` is
//! the classic choice. Here the baseline is learned — a Monte Carlo average of returns per
//! state from episodes independent of the ones it is used on, so the estimate stays unbiased.

use core_tensor::Rng;

use crate::env::{Checked, Env};
use crate::error::{invalid, Result};
use crate::mdp::Mdp;
use crate::space::draw;

/// The softmax policy of `theta[s][a]`.
pub fn softmax_policy(theta: &[Vec<f64>]) -> Vec<Vec<f64>> {
    theta
        .iter()
        .map(|row| {
            let m = row.iter().copied().fold(f64::NEG_INFINITY, f64::max);
            let e: Vec<f64> = row.iter().map(|x| (x - m).exp()).collect();
            let z: f64 = e.iter().sum();
            e.iter().map(|x| x / z).collect()
        })
        .collect()
}

/// `∇_θ J` exactly, for the softmax policy of `theta` on `mdp`.
pub fn exact_gradient(mdp: &Mdp, theta: &[Vec<f64>]) -> Vec<Vec<f64>> {
    let pi = softmax_policy(theta);
    let v = mdp.evaluate(&pi);
    let q = mdp.q_from_v(&v);
    let eta = mdp.visitation(&pi);
    pi.iter()
        .enumerate()
        .map(|(s, p)| {
            p.iter()
                .enumerate()
                .map(|(b, &pb)| eta[s] * pb * (q[s][b] - v[s]))
                .collect()
        })
        .collect()
}

/// One episode's REINFORCE estimate of `∇J` (flattened `[s * A + a]`), and the states
/// visited with their returns `(s_t, G_t)` (what a Monte Carlo baseline learns from).
/// `baseline[s]` is subtracted from the returns when given. Episodes must end
/// (`max_steps` guards against one that does not: it is an error, as truncating would bias
/// the estimate).
///
/// # Errors
/// An episode longer than `max_steps`, or the environment's own error.
#[allow(clippy::type_complexity)]
pub fn reinforce_episode<E: Env<Obs = usize, Action = usize>>(
    env: &mut Checked<E>,
    theta: &[Vec<f64>],
    gamma: f64,
    baseline: Option<&[f64]>,
    rng: &mut Rng,
    max_steps: usize,
) -> Result<(Vec<f64>, Vec<(usize, f64)>)> {
    let pi = softmax_policy(theta);
    let na = theta[0].len();
    let mut s = env.reset(None)?;
    let mut path: Vec<(usize, usize, f64)> = Vec::new();
    loop {
        if path.len() >= max_steps {
            return Err(invalid(
                env.name(),
                format!("an episode ran past {max_steps} steps; REINFORCE needs episodes that end"),
            ));
        }
        let a = draw(rng, pi[s].iter().copied());
        let t = env.step(&a)?;
        path.push((s, a, t.reward));
        if t.done() {
            break;
        }
        s = t.obs;
    }
    let mut g = vec![0.0; theta.len() * na];
    let mut returns = Vec::with_capacity(path.len());
    let mut ret = 0.0;
    let mut rets = vec![0.0; path.len()];
    for (i, &(_, _, r)) in path.iter().enumerate().rev() {
        ret = r + gamma * ret;
        rets[i] = ret;
    }
    let mut discount = 1.0;
    for (&(s, a, _), &gt) in path.iter().zip(&rets) {
        returns.push((s, gt));
        let adv = gt - baseline.map_or(0.0, |b| b[s]);
        for (b, &pb) in pi[s].iter().enumerate() {
            let dlog = if a == b { 1.0 - pb } else { -pb };
            g[s * na + b] += discount * adv * dlog;
        }
        discount *= gamma;
    }
    Ok((g, returns))
}

/// Mean and per-component variance of `m` REINFORCE estimates.
#[derive(Debug, Clone, PartialEq)]
pub struct Estimates {
    /// Component means.
    pub mean: Vec<f64>,
    /// Component variances (sample, `m − 1` in the denominator).
    pub variance: Vec<f64>,
    /// Number of episodes.
    pub episodes: usize,
}

impl Estimates {
    /// The total variance `Σ_i Var(g_i)` (the trace of the covariance).
    pub fn total_variance(&self) -> f64 {
        self.variance.iter().sum()
    }
}

/// `m` REINFORCE estimates at `theta` (with `baseline` if given), summarised.
///
/// # Errors
/// As [`reinforce_episode`]; `m < 2`.
pub fn estimate<E: Env<Obs = usize, Action = usize>>(
    env: &mut Checked<E>,
    theta: &[Vec<f64>],
    gamma: f64,
    baseline: Option<&[f64]>,
    m: usize,
    rng: &mut Rng,
) -> Result<Estimates> {
    if m < 2 {
        return Err(invalid("estimate", "needs at least two episodes"));
    }
    let d = theta.len() * theta[0].len();
    let (mut mean, mut m2) = (vec![0.0; d], vec![0.0; d]);
    for k in 1..=m {
        let (g, _) = reinforce_episode(env, theta, gamma, baseline, rng, 100_000)?;
        // Welford's update, per component.
        for ((mu, s2), x) in mean.iter_mut().zip(&mut m2).zip(&g) {
            let delta = x - *mu;
            *mu += delta / k as f64;
            *s2 += delta * (x - *mu);
        }
    }
    Ok(Estimates {
        mean,
        variance: m2.iter().map(|s| s / (m - 1) as f64).collect(),
        episodes: m,
    })
}

/// A Monte Carlo baseline: the mean first-visit return from each state over `episodes`
/// episodes of the softmax policy of `theta` (0 for states never visited).
///
/// # Errors
/// As [`reinforce_episode`].
pub fn learn_baseline<E: Env<Obs = usize, Action = usize>>(
    env: &mut Checked<E>,
    theta: &[Vec<f64>],
    gamma: f64,
    episodes: usize,
    rng: &mut Rng,
) -> Result<Vec<f64>> {
    let n = theta.len();
    let (mut sum, mut count) = (vec![0.0; n], vec![0usize; n]);
    for _ in 0..episodes {
        let (_, returns) = reinforce_episode(env, theta, gamma, None, rng, 100_000)?;
        let mut seen = vec![false; n];
        for (s, g) in returns {
            if !seen[s] {
                seen[s] = true;
                sum[s] += g;
                count[s] += 1;
            }
        }
    }
    Ok(sum
        .iter()
        .zip(&count)
        .map(|(s, &c)| if c > 0 { s / c as f64 } else { 0.0 })
        .collect())
}
