//! The `rl` study: claims that are theorems, measured.
//!
//! One run (a seed) does three things:
//!
//! 1. **Exact solutions agree.** Value iteration and policy iteration on FrozenLake 4×4
//!    (slippery) reach the same `V*` (`vi_pi_gap`).
//! 2. **Q-learning converges to `Q*`** (Watkins & Dayan 1992) from uniformly random
//!    behaviour with `α_n = n^{−ω}` per pair: `max |Q − Q*|` at steps `N/64, N/16, N/4, N`
//!    (`q_error` at `N`), and the log-log slope of the error over the last three marks
//!    (`q_slope`) against `−ω/2`, the rate at which the noise term of a step-size
//!    `n^{−ω}` stochastic approximation shrinks (`q_slope_predicted`; the gap is
//!    `q_slope_error`).
//! 3. **REINFORCE is unbiased, a baseline cuts its variance.** On a corridor MDP with a
//!    random softmax policy, the mean of `M` estimates against the exact gradient: the
//!    largest `|z|` over the components (`pg_max_z`; unbiased means about N(0,1) each), with
//!    and without a learned Monte Carlo baseline; and the ratio of total variances without
//!    and with it (`variance_ratio`).
//! 4. **PPO solves CartPole-v1** when `ppo_steps > 0`: the greedy policy's mean return over
//!    the evaluation episodes (`ppo_eval_return`; solved is ≥ 475), its spread, the first
//!    step at which the training episodes averaged ≥ 475, and the training time. **DQN**
//!    likewise when `dqn_steps > 0` (`dqn_eval_return`, `dqn_seconds`).

use core_tensor::Rng;
use lab::report::{header, Heatmap, Line, LinePlot, Plot, Section, TableData};
use lab::study::{Progress, Record, Run, Study};
use serde::{Deserialize, Serialize};

use crate::dqn::{train_dqn, DqnConfig};
use crate::env::evaluate;
use crate::env::Checked;
use crate::envs::{cart_pole, frozen_lake_env};
use crate::mdp::{chain, frozen_lake, TabularEnv};
use crate::pg::{estimate, exact_gradient, learn_baseline};
use crate::ppo::{train_ppo, PpoConfig};
use crate::tabular::{greedy_policy, q_learning, TabularConfig};

lab::params! {
    /// One run's configuration (mirrors the experiment's `[params]`).
    #[derive(Debug, Clone, PartialEq, Serialize)]
    pub struct RlConfig as "rl" {
        /// Discount of the FrozenLake MDP and of the corridor.
        pub gamma: f64 = 0.9; bounds(min = 0, max = 0.999),
        /// Q-learning's step-size exponent: alpha_n = n^-omega (Robbins-Monro in (0.5, 1]).
        pub omega: f64 = 0.8; bounds(gt = 0.5, max = 1),
        /// Q-learning steps, from uniformly random behaviour.
        pub q_steps: u64 = 3_200_000; bounds(min = 64, max = 1_000_000_000),
        /// REINFORCE episodes per estimate.
        pub episodes: usize = 20_000; bounds(min = 100, max = 100_000_000),
        /// Episodes that learn the Monte Carlo baseline (independent of the estimate's).
        pub baseline_episodes: usize = 5_000; bounds(min = 10, max = 100_000_000),
        /// Cells of the corridor MDP.
        pub corridor: usize = 5; bounds(min = 2, max = 1000),
        /// Probability that a corridor move goes the other way.
        pub slip: f64 = 0.1; bounds(min = 0, lt = 1),
        /// Scale of the random softmax parameters theta ~ N(0, scale^2).
        pub theta_scale: f64 = 0.5; bounds(min = 0, max = 10),
        /// PPO's environment steps on CartPole-v1 (stable-baselines3's tuned settings); 0 = skip.
        pub ppo_steps: u64 = 0; bounds(max = 100_000_000),
        /// DQN's environment steps on CartPole-v1 (stable-baselines3's tuned settings); 0 = skip.
        pub dqn_steps: u64 = 0; bounds(max = 100_000_000),
        /// Evaluation episodes of PPO's and DQN's greedy policies.
        pub eval_episodes: usize = 100; bounds(min = 1, max = 100_000),
    }
}

impl Default for RlConfig {
    /// Every parameter at its default.
    fn default() -> RlConfig {
        use lab::params::Params;
        RlConfig::from_table(&lab::params::Table::new()).expect("every parameter has a default")
    }
}

/// What one run produced.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RlRun {
    /// `V*` of FrozenLake by value iteration, per state.
    pub v_star: Vec<f64>,
    /// The optimal greedy action per state (policy iteration).
    pub policy: Vec<usize>,
    /// Value-iteration sweeps and policy-iteration steps taken.
    pub sweeps: (usize, usize),
    /// `max |V_VI − V_PI|`.
    pub vi_pi_gap: f64,
    /// `(steps, max |Q − Q*|)` at the checkpoints.
    pub q_errors: Vec<(u64, f64)>,
    /// Q-learning's greedy policy at the end.
    pub q_policy: Vec<usize>,
    /// The exact gradient, flattened `[s * A + a]`.
    pub exact: Vec<f64>,
    /// REINFORCE without a baseline: component means and variances.
    pub plain: (Vec<f64>, Vec<f64>),
    /// With the learned baseline.
    pub baselined: (Vec<f64>, Vec<f64>),
    /// The learned baseline and the exact `V_π` it estimates, per state.
    pub baseline: (Vec<f64>, Vec<f64>),
    /// Episodes per estimate.
    pub episodes: usize,
    /// PPO on CartPole, when run: `(steps, mean return of the episodes that ended in that
    /// iteration)`.
    pub ppo_curve: Vec<(u64, f64)>,
    /// PPO's greedy policy over the evaluation episodes: mean and standard deviation.
    pub ppo_eval: Option<(f64, f64)>,
    /// PPO's training seconds.
    pub ppo_seconds: f64,
    /// DQN on CartPole, when run: `(steps, return)` of every finished training episode.
    pub dqn_episodes: Vec<(u64, f64)>,
    /// DQN's greedy policy over the evaluation episodes: mean and standard deviation.
    pub dqn_eval: Option<(f64, f64)>,
    /// DQN's training seconds.
    pub dqn_seconds: f64,
}

fn max_z(mean: &[f64], var: &[f64], exact: &[f64], m: usize) -> f64 {
    mean.iter()
        .zip(var)
        .zip(exact)
        .filter(|((_, v), _)| **v > 0.0)
        .map(|((mu, v), x)| ((mu - x) / (v / m as f64).sqrt()).abs())
        .fold(0.0, f64::max)
}

impl RlRun {
    /// The log-log slope of the error over the last three checkpoints (least squares).
    pub fn q_slope(&self) -> f64 {
        let pts: Vec<(f64, f64)> = self
            .q_errors
            .iter()
            .rev()
            .take(3)
            .map(|&(n, e)| ((n as f64).ln(), e.max(1e-300).ln()))
            .collect();
        let k = pts.len() as f64;
        let (mx, my) = (
            pts.iter().map(|p| p.0).sum::<f64>() / k,
            pts.iter().map(|p| p.1).sum::<f64>() / k,
        );
        let sxy: f64 = pts.iter().map(|p| (p.0 - mx) * (p.1 - my)).sum();
        let sxx: f64 = pts.iter().map(|p| (p.0 - mx).powi(2)).sum();
        sxy / sxx
    }

    /// The largest `|z|` of the plain estimator's components against the exact gradient.
    pub fn max_z_plain(&self) -> f64 {
        max_z(&self.plain.0, &self.plain.1, &self.exact, self.episodes)
    }

    /// The same with the baseline.
    pub fn max_z_baselined(&self) -> f64 {
        max_z(
            &self.baselined.0,
            &self.baselined.1,
            &self.exact,
            self.episodes,
        )
    }

    /// Total variance without the baseline over total variance with it.
    pub fn variance_ratio(&self) -> f64 {
        self.plain.1.iter().sum::<f64>() / self.baselined.1.iter().sum::<f64>()
    }
}

/// One run.
///
/// # Errors
/// An invalid configuration (the corridor's), or an environment error.
pub fn run_rl(
    cfg: &RlConfig,
    seed: u64,
    progress: &mut dyn FnMut(u64, u64, f64),
) -> crate::Result<RlRun> {
    let mdp = frozen_lake(cfg.gamma);
    let (v_star, sweeps) = mdp.value_iteration(1e-13, 1_000_000);
    let (v_pi, policy, steps) = mdp.policy_iteration(1000);
    let vi_pi_gap = v_star
        .iter()
        .zip(&v_pi)
        .map(|(a, b)| (a - b).abs())
        .fold(0.0, f64::max);
    let q_star = mdp.q_from_v(&v_star);

    let n = cfg.q_steps;
    let marks: Vec<usize> = [n / 64, n / 16, n / 4, n]
        .iter()
        .map(|&m| m.max(1) as usize)
        .collect();
    let mut q_errors = Vec::new();
    let mut env = frozen_lake_env(cfg.gamma);
    let tab = TabularConfig {
        steps: n as usize,
        omega: cfg.omega,
        epsilon: 1.0,
        glie: false,
        gamma: cfg.gamma,
        seed,
    };
    let q = q_learning(&mut env, &tab, &marks, &mut |step, q| {
        let e = q
            .iter()
            .zip(&q_star)
            .flat_map(|(a, b)| a.iter().zip(b).map(|(x, y)| (x - y).abs()))
            .fold(0.0, f64::max);
        q_errors.push((step as u64, e));
        progress(step as u64, n, e);
    })?;

    let corridor = chain(cfg.corridor, cfg.slip, 0.0, cfg.gamma)?;
    let mut rng = Rng::with_stream(seed, 11);
    let theta: Vec<Vec<f64>> = (0..cfg.corridor)
        .map(|_| {
            (0..2)
                .map(|_| cfg.theta_scale * rng.next_normal())
                .collect()
        })
        .collect();
    let exact: Vec<f64> = exact_gradient(&corridor, &theta)
        .into_iter()
        .flatten()
        .collect();
    let v_exact = corridor.evaluate(&crate::pg::softmax_policy(&theta));
    let mut env = Checked::new(TabularEnv::new(corridor, "Corridor"));
    env.reset(Some(seed))?;
    let plain = estimate(&mut env, &theta, cfg.gamma, None, cfg.episodes, &mut rng)?;
    let b = learn_baseline(&mut env, &theta, cfg.gamma, cfg.baseline_episodes, &mut rng)?;
    let baselined = estimate(
        &mut env,
        &theta,
        cfg.gamma,
        Some(&b),
        cfg.episodes,
        &mut rng,
    )?;
    let (mut ppo_curve, mut ppo_eval, mut ppo_seconds) = (Vec::new(), None, f64::NAN);
    if cfg.ppo_steps > 0 {
        let pc = PpoConfig {
            total_steps: cfg.ppo_steps,
            seed,
            ..PpoConfig::default()
        };
        let run = train_ppo(&pc, &cart_pole, &mut |_, _, _| {})?;
        ppo_eval = Some(evaluate(
            &run.policy,
            &cart_pole,
            cfg.eval_episodes,
            1_000_000,
        )?);
        ppo_curve = run.curve;
        ppo_seconds = run.seconds;
    }
    let (mut dqn_episodes, mut dqn_eval, mut dqn_seconds) = (Vec::new(), None, f64::NAN);
    if cfg.dqn_steps > 0 {
        let dc = DqnConfig {
            total_steps: cfg.dqn_steps,
            seed,
            ..DqnConfig::default()
        };
        let run = train_dqn(&dc, &cart_pole, &mut |_, _, _| {})?;
        dqn_eval = Some(evaluate(&run.q, &cart_pole, cfg.eval_episodes, 1_000_000)?);
        dqn_episodes = run.episodes;
        dqn_seconds = run.seconds;
    }
    Ok(RlRun {
        v_star,
        policy,
        sweeps: (sweeps, steps),
        vi_pi_gap,
        q_errors,
        q_policy: greedy_policy(&q),
        exact,
        plain: (plain.mean, plain.variance),
        baselined: (baselined.mean, baselined.variance),
        baseline: (b, v_exact),
        episodes: cfg.episodes,
        ppo_curve,
        ppo_eval,
        ppo_seconds,
        dqn_episodes,
        dqn_eval,
        dqn_seconds,
    })
}

/// The `rl` study.
pub struct RlStudy;

impl Study for RlStudy {
    type Config = RlConfig;
    type Output = RlRun;
    const KIND: &'static str = "rl";
    const DESCRIPTION: &'static str =
        "theory checked: VI = PI, Q-learning converges to Q*, REINFORCE is unbiased and a baseline cuts its variance";
    const METRICS: &'static [&'static str] = &[
        "vi_pi_gap",
        "q_error",
        "q_slope",
        "q_slope_predicted",
        "q_slope_error",
        "q_policy_optimal",
        "pg_max_z",
        "pg_max_z_baseline",
        "variance_ratio",
        "ppo_eval_return",
        "ppo_eval_sd",
        "ppo_steps_to_solve",
        "ppo_seconds",
        "dqn_eval_return",
        "dqn_seconds",
    ];

    fn run(
        &self,
        cfg: &RlConfig,
        seed: u64,
        progress: &mut Progress<'_>,
    ) -> Result<RlRun, lab::study::RunError> {
        run_rl(cfg, seed, &mut progress.as_fn()).map_err(Into::into)
    }

    fn record(&self, cfg: &RlConfig, r: &RlRun) -> Record {
        // The greedy policy is optimal when it matches on every state where the optimal
        // action is strict (holes and the goal have no action that matters).
        let mdp = frozen_lake(cfg.gamma);
        let q_star = mdp.q_from_v(&r.v_star);
        let optimal = r.q_policy.iter().enumerate().all(|(s, &a)| {
            let best = q_star[s].iter().copied().fold(f64::NEG_INFINITY, f64::max);
            q_star[s][a] >= best - 1e-9
        });
        Record::new()
            .metric("vi_pi_gap", r.vi_pi_gap)
            .metric("q_error", r.q_errors.last().map_or(f64::NAN, |e| e.1))
            .metric("q_slope", r.q_slope())
            .metric("q_slope_predicted", -cfg.omega / 2.0)
            .metric("q_slope_error", (r.q_slope() + cfg.omega / 2.0).abs())
            .flag("q_policy_optimal", Some(optimal))
            .metric("pg_max_z", r.max_z_plain())
            .metric("pg_max_z_baseline", r.max_z_baselined())
            .metric("variance_ratio", r.variance_ratio())
            .maybe("ppo_eval_return", r.ppo_eval.map(|e| e.0))
            .maybe("ppo_eval_sd", r.ppo_eval.map(|e| e.1))
            .maybe(
                "ppo_steps_to_solve",
                r.ppo_curve
                    .iter()
                    .find(|c| c.1 >= 475.0)
                    .map(|c| c.0 as f64),
            )
            .metric("ppo_seconds", r.ppo_seconds)
            .maybe("dqn_eval_return", r.dqn_eval.map(|e| e.0))
            .metric("dqn_seconds", r.dqn_seconds)
            .series(
                &["step", "q_error"],
                r.q_errors.iter().map(|&(n, e)| vec![n as f64, e]).collect(),
            )
    }

    fn report(&self, runs: &[Run<Self>]) -> Vec<Section> {
        report(runs)
    }
}

fn report(runs: &[Run<RlStudy>]) -> Vec<Section> {
    let mut sections = Vec::new();
    // One band per omega over the seeds (the PPO and DQN runs repeat the theory part: left out).
    let mut omegas: Vec<f64> = runs.iter().map(|r| r.config.omega).collect();
    omegas.sort_by(f64::total_cmp);
    omegas.dedup();
    let lines: Vec<Line> = omegas
        .iter()
        .enumerate()
        .map(|(i, &omega)| {
            let curves: Vec<Vec<(f64, f64)>> = runs
                .iter()
                .filter(|r| {
                    r.config.omega == omega && r.config.ppo_steps == 0 && r.config.dqn_steps == 0
                })
                .filter_map(|r| r.output.as_ref())
                .map(|o| o.q_errors.iter().map(|&(n, e)| (n as f64, e)).collect())
                .collect();
            Line::mean_band(format!("omega {omega}"), &curves, i)
        })
        .collect();
    sections.push(Section {
        title: "Q-learning converges to Q*".into(),
        text: "max |Q - Q*| over every state and action of FrozenLake 4x4 (slippery), uniformly random behaviour, alpha_n = n^-omega per pair. The noise term of such a stochastic approximation shrinks like n^(-omega/2); omega = 1 can be far slower (Even-Dar & Mansour 2003).".into(),
        table: None,
        plots: vec![Plot::Lines(LinePlot {
            title: "Q-learning: distance to Q*".into(),
            x_label: "environment steps (log)".into(),
            y_label: "max |Q - Q*| (log)".into(),
            log_x: true,
            log_y: true,
            lines,
        })],
    });
    if let Some(o) = runs.iter().find_map(|r| r.output.as_ref()) {
        let arrows = ["left", "down", "right", "up"];
        let mut rows = Vec::new();
        for r in 0..4 {
            rows.push(
                (0..4)
                    .map(|c| {
                        let s = r * 4 + c;
                        format!("{:.3} {}", o.v_star[s], arrows[o.policy[s]])
                    })
                    .collect(),
            );
        }
        // Row 0 of the heat map is the bottom: the lake's last row.
        let values: Vec<f64> = (0..4)
            .rev()
            .flat_map(|r| (0..4).map(move |c| r * 4 + c))
            .map(|s| o.v_star[s])
            .collect();
        sections.push(Section {
            title: "FrozenLake: V* and the optimal policy".into(),
            text: format!(
                "Value iteration ({} sweeps to 1e-13) and policy iteration ({} improvements) agree; holes and the goal are terminal (value 0). Start top left, goal bottom right.",
                o.sweeps.0, o.sweeps.1
            ),
            table: Some(TableData { header: header(&["col 0", "col 1", "col 2", "col 3"]), rows }),
            plots: vec![Plot::Heatmap(Heatmap {
                title: "V* on the 4x4 lake (top row = start row)".into(),
                x_label: "column".into(),
                y_label: "row (top = 0)".into(),
                x_range: (0.0, 4.0),
                y_range: (0.0, 4.0),
                nx: 4,
                ny: 4,
                values,
                categories: vec![],
                overlay: vec![],
            })],
        });
    }
    let ppo: Vec<&Run<RlStudy>> = runs.iter().filter(|r| r.config.ppo_steps > 0).collect();
    if !ppo.is_empty() {
        // Iterations in which no episode ended carry the last mean forward, so seeds align.
        let curves: Vec<Vec<(f64, f64)>> = ppo
            .iter()
            .filter_map(|r| r.output.as_ref())
            .map(|o| {
                let mut last = f64::NAN;
                o.ppo_curve
                    .iter()
                    .map(|&(n, v)| {
                        if v.is_finite() {
                            last = v;
                        }
                        (n as f64, last)
                    })
                    .filter(|p| p.1.is_finite())
                    .collect()
            })
            .collect();
        let lines = vec![Line::mean_band("PPO", &curves, 0)];
        let rows = ppo
            .iter()
            .filter_map(|r| {
                let o = r.output.as_ref()?;
                let (m, sd) = o.ppo_eval?;
                Some(vec![
                    r.seed.to_string(),
                    format!("{:.1} ± {:.1}", m, sd),
                    o.ppo_curve
                        .iter()
                        .find(|c| c.1 >= 475.0)
                        .map_or("-".into(), |c| c.0.to_string()),
                    format!("{:.1}", o.ppo_seconds),
                ])
            })
            .collect();
        sections.push(Section {
            title: "PPO solves CartPole-v1".into(),
            text: "stable-baselines3's tuned settings (8 envs x 32 steps, minibatch 256, 20 epochs, gamma 0.98, GAE lambda 0.8, clip 0.2 and lr 1e-3 annealed to 0). Curve: mean return of the training episodes that ended in each iteration (carried forward through iterations where none ended), mean over seeds with the min-max band; table: the greedy policy over the evaluation episodes (solved: mean >= 475).".into(),
            table: Some(TableData { header: header(&["seed", "evaluation return", "first step with training mean >= 475", "training seconds"]), rows }),
            plots: vec![Plot::Lines(LinePlot {
                title: "PPO on CartPole-v1".into(),
                x_label: "environment steps".into(),
                y_label: "mean episode return".into(),
                log_x: false,
                log_y: false,
                lines,
            })],
        });
    }
    let dqn: Vec<&Run<RlStudy>> = runs.iter().filter(|r| r.config.dqn_steps > 0).collect();
    if !dqn.is_empty() {
        let rows = dqn
            .iter()
            .filter_map(|r| {
                let o = r.output.as_ref()?;
                let (m, sd) = o.dqn_eval?;
                Some(vec![
                    r.seed.to_string(),
                    r.config.dqn_steps.to_string(),
                    format!("{m:.1} ± {sd:.1}"),
                    format!("{:.1}", o.dqn_seconds),
                ])
            })
            .collect();
        let lines = dqn
            .iter()
            .enumerate()
            .filter_map(|(i, r)| {
                let o = r.output.as_ref()?;
                Some(Line::new(
                    format!("seed {}", r.seed),
                    o.dqn_episodes.iter().map(|&(n, v)| (n as f64, v)).collect(),
                    i,
                ))
            })
            .collect();
        sections.push(Section {
            title: "DQN on CartPole-v1".into(),
            text: "stable-baselines3's tuned settings (replay 100,000, batch 64, 128 gradient steps every 256 steps, target refreshed every 10 steps, epsilon to 0.04 over the first 16%, Huber loss, a 256-256 ReLU network). Curve: return of every training episode (exploring); table: the greedy policy over the evaluation episodes.".into(),
            table: Some(TableData { header: header(&["seed", "steps", "evaluation return", "training seconds"]), rows }),
            plots: vec![Plot::Lines(LinePlot {
                title: "DQN on CartPole-v1".into(),
                x_label: "environment steps".into(),
                y_label: "episode return".into(),
                log_x: false,
                log_y: false,
                lines,
            })],
        });
    }
    let rows: Vec<Vec<String>> = runs
        .iter()
        .filter_map(|r| {
            let o = r.output.as_ref()?;
            Some(vec![
                format!("{}", r.config.omega),
                r.seed.to_string(),
                format!("{:.2}", o.max_z_plain()),
                format!("{:.2}", o.max_z_baselined()),
                format!("{:.3}", o.plain.1.iter().sum::<f64>()),
                format!("{:.3}", o.baselined.1.iter().sum::<f64>()),
                format!("{:.2}", o.variance_ratio()),
            ])
        })
        .collect();
    sections.push(Section {
        title: "REINFORCE: unbiased, and a baseline cuts the variance".into(),
        text: "On the corridor MDP with random softmax parameters: the largest |z| of (mean of M estimates - exact gradient) / standard error over the components (about N(0, 1) each when unbiased), and the total variance of one estimate without and with the learned Monte Carlo baseline.".into(),
        table: Some(TableData {
            header: header(&["omega", "seed", "max |z| plain", "max |z| baseline", "total variance plain", "with baseline", "ratio"]),
            rows,
        }),
        plots: vec![],
    });
    sections
}
