//! Finite MDPs with known dynamics, their exact solutions, and an environment that samples
//! them.
//!
//! With the transition law known, the Bellman optimality operator
//! `(T V)(s) = max_a Σ_{s'} p(s' | s, a) [r(s, a, s') + γ V(s')]` is a γ-contraction in the
//! max norm, so **value iteration** `V ← T V` converges to `V*` geometrically:
//! `‖V_k − V*‖∞ ≤ γ^k ‖V_0 − V*‖∞` (Bellman 1957; Puterman 1994, §6.3). **Policy iteration**
//! evaluates a policy exactly — the linear system `(I − γ P_π) V = r_π` — and improves it
//! greedily; each step does not lower any state's value and it stops at an optimal policy in
//! finitely many steps (Howard 1960). A transition into a terminal state contributes its
//! reward and nothing after it.

use core_tensor::Rng;

use crate::env::{Env, Step};
use crate::error::{invalid, Result};
use crate::space::{draw, Space};

/// One outcome of taking an action in a state.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Transition {
    /// Its probability.
    pub prob: f64,
    /// The next state.
    pub next: usize,
    /// The reward.
    pub reward: f64,
    /// Whether the next state is terminal (no value after it).
    pub terminal: bool,
}

/// A finite MDP: `transitions[s][a]` lists the outcomes of action `a` in state `s`.
#[derive(Debug, Clone, PartialEq)]
pub struct Mdp {
    /// Outcomes per state and action.
    pub transitions: Vec<Vec<Vec<Transition>>>,
    /// The start-state distribution.
    pub start: Vec<f64>,
    /// The discount.
    pub gamma: f64,
}

impl Mdp {
    /// Checks that every outcome list and the start distribution sum to one, states are in
    /// range, every state has the same number of actions, and `0 <= gamma < 1`.
    ///
    /// # Errors
    /// [`crate::RlError::Invalid`] naming the first problem.
    pub fn new(transitions: Vec<Vec<Vec<Transition>>>, start: Vec<f64>, gamma: f64) -> Result<Mdp> {
        let n = transitions.len();
        if n == 0 || start.len() != n {
            return Err(invalid(
                "Mdp",
                format!("{n} states but a start distribution of {}", start.len()),
            ));
        }
        if !(0.0..1.0).contains(&gamma) {
            return Err(invalid(
                "Mdp",
                format!("gamma must be in [0, 1), got {gamma}"),
            ));
        }
        let actions = transitions[0].len();
        for (s, row) in transitions.iter().enumerate() {
            if row.len() != actions || actions == 0 {
                return Err(invalid(
                    "Mdp",
                    format!("state {s} has {} actions, state 0 {actions}", row.len()),
                ));
            }
            for (a, outs) in row.iter().enumerate() {
                let total: f64 = outs.iter().map(|t| t.prob).sum();
                if (total - 1.0).abs() > 1e-9 || outs.iter().any(|t| t.next >= n || t.prob < 0.0) {
                    return Err(invalid("Mdp", format!("state {s}, action {a}: probabilities sum to {total} or a next state is out of range")));
                }
            }
        }
        let total: f64 = start.iter().sum();
        if (total - 1.0).abs() > 1e-9 {
            return Err(invalid(
                "Mdp",
                format!("the start distribution sums to {total}"),
            ));
        }
        Ok(Mdp {
            transitions,
            start,
            gamma,
        })
    }

    /// Number of states.
    pub fn states(&self) -> usize {
        self.transitions.len()
    }

    /// Number of actions.
    pub fn actions(&self) -> usize {
        self.transitions[0].len()
    }

    /// `Q(s, a) = Σ p [r + γ (1 − terminal) V(s')]` for a value function `v`.
    pub fn q_from_v(&self, v: &[f64]) -> Vec<Vec<f64>> {
        self.transitions
            .iter()
            .map(|row| {
                row.iter()
                    .map(|outs| {
                        outs.iter()
                            .map(|t| {
                                t.prob
                                    * (t.reward
                                        + if t.terminal {
                                            0.0
                                        } else {
                                            self.gamma * v[t.next]
                                        })
                            })
                            .sum()
                    })
                    .collect()
            })
            .collect()
    }

    /// Value iteration until the update changes no value by more than `tol` (the error to
    /// `V*` is then at most `tol γ / (1 − γ)`); returns `V` and the sweeps taken.
    pub fn value_iteration(&self, tol: f64, max_sweeps: usize) -> (Vec<f64>, usize) {
        let mut v = vec![0.0; self.states()];
        for sweep in 1..=max_sweeps {
            let q = self.q_from_v(&v);
            let next: Vec<f64> = q
                .iter()
                .map(|r| r.iter().copied().fold(f64::NEG_INFINITY, f64::max))
                .collect();
            let change = next
                .iter()
                .zip(&v)
                .map(|(a, b)| (a - b).abs())
                .fold(0.0, f64::max);
            v = next;
            if change <= tol {
                return (v, sweep);
            }
        }
        (v, max_sweeps)
    }

    /// The exact value of a stochastic policy `pi[s][a]`: the solution of
    /// `(I − γ P_π) V = r_π` by Gaussian elimination with partial pivoting.
    pub fn evaluate(&self, pi: &[Vec<f64>]) -> Vec<f64> {
        let n = self.states();
        let mut a = vec![vec![0.0; n + 1]; n];
        for s in 0..n {
            a[s][s] += 1.0;
            for (act, outs) in self.transitions[s].iter().enumerate() {
                for t in outs {
                    let w = pi[s][act] * t.prob;
                    a[s][n] += w * t.reward;
                    if !t.terminal {
                        a[s][t.next] -= w * self.gamma;
                    }
                }
            }
        }
        solve(a)
    }

    /// Policy iteration from the uniform policy: `(V*, the greedy deterministic policy,
    /// improvement steps)`.
    pub fn policy_iteration(&self, max_steps: usize) -> (Vec<f64>, Vec<usize>, usize) {
        let (n, k) = (self.states(), self.actions());
        let mut pi = vec![vec![1.0 / k as f64; k]; n];
        let mut greedy = vec![usize::MAX; n];
        for step in 1..=max_steps {
            let v = self.evaluate(&pi);
            let q = self.q_from_v(&v);
            let next: Vec<usize> = q
                .iter()
                .enumerate()
                .map(|(s, r)| {
                    // Keep the current action on ties, so the loop ends.
                    let best = r.iter().copied().fold(f64::NEG_INFINITY, f64::max);
                    if greedy[s] != usize::MAX && r[greedy[s]] >= best - 1e-12 {
                        greedy[s]
                    } else {
                        r.iter().position(|&x| x >= best - 1e-12).unwrap_or(0)
                    }
                })
                .collect();
            if next == greedy {
                return (v, greedy, step);
            }
            greedy = next;
            pi = greedy
                .iter()
                .map(|&a| (0..k).map(|b| if a == b { 1.0 } else { 0.0 }).collect())
                .collect();
        }
        (self.evaluate(&pi), greedy, max_steps)
    }

    /// The objective `J(π) = Σ_s μ0(s) V_π(s)`.
    pub fn objective(&self, pi: &[Vec<f64>]) -> f64 {
        self.evaluate(pi)
            .iter()
            .zip(&self.start)
            .map(|(v, p)| v * p)
            .sum()
    }

    /// The discounted state visitation `η(s) = Σ_t γ^t Pr(s_t = s)` from the start
    /// distribution under `pi`: the solution of `η = μ0 + γ P_πᵀ η`.
    pub fn visitation(&self, pi: &[Vec<f64>]) -> Vec<f64> {
        let n = self.states();
        let mut a = vec![vec![0.0; n + 1]; n];
        for (s, row) in a.iter_mut().enumerate() {
            row[s] += 1.0;
            row[n] = self.start[s];
        }
        for s in 0..n {
            for (act, outs) in self.transitions[s].iter().enumerate() {
                for t in outs {
                    if !t.terminal {
                        a[t.next][s] -= self.gamma * pi[s][act] * t.prob;
                    }
                }
            }
        }
        solve(a)
    }
}

/// Solves the augmented system `a = [A | b]` in place.
fn solve(mut a: Vec<Vec<f64>>) -> Vec<f64> {
    let n = a.len();
    for c in 0..n {
        let p = (c..n)
            .max_by(|&i, &j| a[i][c].abs().total_cmp(&a[j][c].abs()))
            .unwrap_or(c);
        a.swap(c, p);
        let d = a[c][c];
        a[c][c..].iter_mut().for_each(|x| *x /= d);
        let pivot = a[c].clone();
        for (r, row) in a.iter_mut().enumerate() {
            if r != c && row[c] != 0.0 {
                let f = row[c];
                for (x, p) in row[c..].iter_mut().zip(&pivot[c..]) {
                    *x -= f * p;
                }
            }
        }
    }
    a.iter().map(|r| r[n]).collect()
}

/// Gymnasium's FrozenLake 4×4 (`is_slippery=True`): start top-left, holes end the episode
/// with 0, the goal bottom-right with reward 1; an action moves as intended with probability
/// 1/3 and to each side with 1/3. Actions 0 left, 1 down, 2 right, 3 up.
pub fn frozen_lake(gamma: f64) -> Mdp {
    const MAP: [&str; 4] = ["SFFF", "FHFH", "FFFH", "HFFG"];
    let cell = |r: usize, c: usize| MAP[r].as_bytes()[c];
    let mut transitions = Vec::new();
    for r in 0..4 {
        for c in 0..4 {
            let here = cell(r, c);
            let mut row = Vec::new();
            for a in 0..4usize {
                if here == b'H' || here == b'G' {
                    row.push(vec![Transition {
                        prob: 1.0,
                        next: r * 4 + c,
                        reward: 0.0,
                        terminal: true,
                    }]);
                    continue;
                }
                let mut outs: Vec<Transition> = Vec::new();
                for dir in [(a + 3) % 4, a, (a + 1) % 4] {
                    let (nr, nc) = match dir {
                        0 => (r, c.saturating_sub(1)),
                        1 => ((r + 1).min(3), c),
                        2 => (r, (c + 1).min(3)),
                        _ => (r.saturating_sub(1), c),
                    };
                    let kind = cell(nr, nc);
                    let t = Transition {
                        prob: 1.0 / 3.0,
                        next: nr * 4 + nc,
                        reward: if kind == b'G' { 1.0 } else { 0.0 },
                        terminal: kind == b'G' || kind == b'H',
                    };
                    match outs.iter_mut().find(|o| o.next == t.next) {
                        Some(o) => o.prob += t.prob,
                        None => outs.push(t),
                    }
                }
                row.push(outs);
            }
            transitions.push(row);
        }
    }
    let mut start = vec![0.0; 16];
    start[0] = 1.0;
    Mdp::new(transitions, start, gamma).expect("FrozenLake is a valid MDP")
}

/// A corridor of `n` cells (`n >= 2`): start in cell 0, actions 0 (left) and 1 (right) move
/// as intended with probability `1 − slip` and the other way with `slip` (walls hold);
/// every step costs `step_cost`, reaching the last cell ends the episode with reward 1.
/// Episodes end with probability one under any policy that moves right with positive
/// probability: the MDP for checking policy-gradient estimators against exact gradients.
///
/// # Errors
/// `n < 2` or `slip` outside `[0, 1)`.
pub fn chain(n: usize, slip: f64, step_cost: f64, gamma: f64) -> Result<Mdp> {
    if n < 2 || !(0.0..1.0).contains(&slip) {
        return Err(invalid(
            "chain",
            format!("needs n >= 2 and slip in [0, 1), got {n} and {slip}"),
        ));
    }
    let mut transitions = Vec::new();
    for s in 0..n {
        let mut row = Vec::new();
        for a in 0..2usize {
            if s == n - 1 {
                row.push(vec![Transition {
                    prob: 1.0,
                    next: s,
                    reward: 0.0,
                    terminal: true,
                }]);
                continue;
            }
            let mut outs: Vec<Transition> = Vec::new();
            for (dir, prob) in [(a, 1.0 - slip), (1 - a, slip)] {
                if prob == 0.0 {
                    continue;
                }
                let next = if dir == 1 { s + 1 } else { s.saturating_sub(1) };
                let goal = next == n - 1;
                let t = Transition {
                    prob,
                    next,
                    reward: if goal { 1.0 } else { 0.0 } - step_cost,
                    terminal: goal,
                };
                match outs.iter_mut().find(|o| o.next == next) {
                    Some(o) => o.prob += prob,
                    None => outs.push(t),
                }
            }
            row.push(outs);
        }
        transitions.push(row);
    }
    let mut start = vec![0.0; n];
    start[0] = 1.0;
    Mdp::new(transitions, start, gamma)
}

/// An [`Mdp`] as an environment: the state is the observation, transitions are sampled.
#[derive(Debug, Clone)]
pub struct TabularEnv {
    mdp: Mdp,
    name: String,
    state: usize,
    rng: Rng,
}

impl TabularEnv {
    /// Samples `mdp`; `name` is for messages.
    pub fn new(mdp: Mdp, name: &str) -> TabularEnv {
        TabularEnv {
            mdp,
            name: name.to_string(),
            state: 0,
            rng: Rng::seed(0),
        }
    }

    /// The MDP it samples.
    pub fn mdp(&self) -> &Mdp {
        &self.mdp
    }
}

impl Env for TabularEnv {
    type Obs = usize;
    type Action = usize;

    fn name(&self) -> &str {
        &self.name
    }

    fn observation_space(&self) -> Space {
        Space::Discrete(self.mdp.states())
    }

    fn action_space(&self) -> Space {
        Space::Discrete(self.mdp.actions())
    }

    fn reset(&mut self, seed: Option<u64>) -> usize {
        if let Some(s) = seed {
            self.rng = Rng::seed(s);
        }
        self.state = draw(&mut self.rng, self.mdp.start.iter().copied());
        self.state
    }

    fn step(&mut self, action: &usize) -> Step<usize> {
        let outs = &self.mdp.transitions[self.state][*action];
        let t = outs[draw(&mut self.rng, outs.iter().map(|t| t.prob))];
        self.state = t.next;
        Step {
            obs: t.next,
            reward: t.reward,
            terminated: t.terminal,
            truncated: false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn value_and_policy_iteration_agree_on_frozen_lake() {
        let mdp = frozen_lake(0.95);
        let (v, sweeps) = mdp.value_iteration(1e-12, 10_000);
        let (vp, policy, steps) = mdp.policy_iteration(100);
        assert!(sweeps < 10_000 && steps < 100);
        for (a, b) in v.iter().zip(&vp) {
            assert!((a - b).abs() < 1e-9, "{a} vs {b}");
        }
        // The greedy policy's exact value is V*.
        let pi: Vec<Vec<f64>> = policy
            .iter()
            .map(|&a| (0..4).map(|b| f64::from(u8::from(a == b))).collect())
            .collect();
        let vpi = mdp.evaluate(&pi);
        assert!((vpi[0] - v[0]).abs() < 1e-9);
        // Known: from the start, the slippery lake is reached with probability < 1 and V* > 0.
        assert!(v[0] > 0.1 && v[0] < 1.0, "{}", v[0]);
    }

    #[test]
    fn a_one_state_mdp_has_the_geometric_value() {
        // Reward 1 forever: V = 1 / (1 − γ).
        let t = Transition {
            prob: 1.0,
            next: 0,
            reward: 1.0,
            terminal: false,
        };
        let mdp = Mdp::new(vec![vec![vec![t]]], vec![1.0], 0.9).unwrap();
        assert!((mdp.evaluate(&[vec![1.0]])[0] - 10.0).abs() < 1e-12);
        assert!((mdp.visitation(&[vec![1.0]])[0] - 10.0).abs() < 1e-12);
        let bad = Mdp::new(
            vec![vec![vec![Transition { prob: 0.5, ..t }]]],
            vec![1.0],
            0.9,
        );
        assert!(bad.is_err());
    }
}
