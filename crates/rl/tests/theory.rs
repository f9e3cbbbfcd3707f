//! The algorithms against what theory says they must do, on small problems with exact
//! answers (the `rl` study measures the same at full size).

use core_tensor::Rng;
use rl::envs::frozen_lake_env;
use rl::mdp::{chain, frozen_lake, TabularEnv};
use rl::pg::{estimate, exact_gradient, softmax_policy};
use rl::tabular::{greedy_policy, q_learning, sarsa, TabularConfig};
use rl::Checked;

fn random_theta(n: usize, seed: u64) -> Vec<Vec<f64>> {
    let mut rng = Rng::seed(seed);
    (0..n)
        .map(|_| (0..2).map(|_| 0.5 * rng.next_normal()).collect())
        .collect()
}

#[test]
fn the_exact_gradient_is_the_derivative_of_the_exact_objective() {
    // Central differences of J(theta) (linear solves, no sampling) against the closed form.
    let mdp = chain(6, 0.2, 0.03, 0.9).unwrap();
    let theta = random_theta(6, 4);
    let g = exact_gradient(&mdp, &theta);
    let h = 1e-6;
    for s in 0..6 {
        for a in 0..2 {
            let mut up = theta.clone();
            up[s][a] += h;
            let mut down = theta.clone();
            down[s][a] -= h;
            let fd = (mdp.objective(&softmax_policy(&up)) - mdp.objective(&softmax_policy(&down)))
                / (2.0 * h);
            assert!(
                (fd - g[s][a]).abs() < 1e-7,
                "({s}, {a}): {fd} vs {}",
                g[s][a]
            );
        }
    }
}

#[test]
fn reinforce_averages_to_the_exact_gradient() {
    let mdp = chain(4, 0.1, 0.0, 0.9).unwrap();
    let theta = random_theta(4, 9);
    let exact: Vec<f64> = exact_gradient(&mdp, &theta).into_iter().flatten().collect();
    let mut env = Checked::new(TabularEnv::new(mdp, "Corridor"));
    env.reset(Some(2)).unwrap();
    let m = 4000;
    let e = estimate(&mut env, &theta, 0.9, None, m, &mut Rng::seed(5)).unwrap();
    for (i, ((mu, v), x)) in e.mean.iter().zip(&e.variance).zip(&exact).enumerate() {
        if *v > 0.0 {
            let z = (mu - x) / (v / m as f64).sqrt();
            assert!(z.abs() < 4.5, "component {i}: mean {mu}, exact {x}, z {z}");
        }
    }
}

#[test]
fn q_learning_and_sarsa_find_frozen_lakes_optimal_policy() {
    let mdp = frozen_lake(0.9);
    let (v, _) = mdp.value_iteration(1e-12, 100_000);
    let q_star = mdp.q_from_v(&v);
    let optimal = |policy: &[usize]| {
        policy.iter().enumerate().all(|(s, &a)| {
            let best = q_star[s].iter().copied().fold(f64::NEG_INFINITY, f64::max);
            q_star[s][a] >= best - 1e-9
        })
    };
    let mut env = frozen_lake_env(0.9);
    let cfg = TabularConfig {
        steps: 400_000,
        omega: 0.8,
        epsilon: 1.0,
        glie: false,
        gamma: 0.9,
        seed: 3,
    };
    let mut errors = Vec::new();
    let q = q_learning(&mut env, &cfg, &[25_000, 400_000], &mut |_, q| {
        let e = q
            .iter()
            .zip(&q_star)
            .flat_map(|(a, b)| a.iter().zip(b).map(|(x, y)| (x - y).abs()))
            .fold(0.0, f64::max);
        errors.push(e);
    })
    .unwrap();
    assert!(errors[1] < errors[0] && errors[1] < 0.06, "{errors:?}");
    assert!(optimal(&greedy_policy(&q)));

    // SARSA with a fixed epsilon learns the value of its own epsilon-greedy policy (below Q*,
    // since it pays for exploring), whose greedy policy is FrozenLake's optimal one.
    let mut env = frozen_lake_env(0.9);
    let cfg = TabularConfig {
        steps: 3_000_000,
        omega: 0.8,
        epsilon: 0.2,
        glie: false,
        gamma: 0.9,
        seed: 4,
    };
    let q = sarsa(&mut env, &cfg).unwrap();
    assert!(optimal(&greedy_policy(&q)), "{:?}", greedy_policy(&q));
    assert!(
        q[0].iter().all(|&x| x < q_star[0][0]),
        "on-policy values stay below Q*"
    );
}

#[test]
fn settings_outside_their_ranges_are_refused() {
    let mut env = frozen_lake_env(0.9);
    let cfg = TabularConfig {
        steps: 10,
        omega: 0.5,
        epsilon: 1.0,
        glie: false,
        gamma: 0.9,
        seed: 0,
    };
    let e = q_learning(&mut env, &cfg, &[], &mut |_, _| {}).unwrap_err();
    assert!(e.to_string().contains("Robbins-Monro"), "{e}");
    assert!(chain(1, 0.1, 0.0, 0.9).is_err());
    assert!(rl::envs::Bandit::new(0, 1).is_err());
}

#[test]
fn ppo_learns_to_balance_the_pole() {
    use rl::envs::cart_pole;
    use rl::evaluate;
    use rl::ppo::{train_ppo, PpoConfig};
    // A random policy keeps the pole up for about 22 steps; a short PPO run already far longer.
    let cfg = PpoConfig {
        total_steps: 16_384,
        ..PpoConfig::default()
    };
    let run = train_ppo(&cfg, &cart_pole, &mut |_, _, _| {}).unwrap();
    let (mean, _) = evaluate(&run.policy, &cart_pole, 10, 7).unwrap();
    let first = run.curve.iter().find(|c| c.1.is_finite()).unwrap().1;
    println!("first iteration's episodes {first:.1}, greedy policy after 16k steps {mean:.1}");
    assert!(first < 60.0 && mean > 100.0, "{first} -> {mean}");
}

/// One step, two arms paying 0 and 1: DQN's Q-values must converge to the rewards (the
/// Bellman target of a terminal step is the reward alone).
#[test]
fn dqn_regresses_q_onto_the_bellman_target() {
    use rl::dqn::{train_dqn, DqnConfig};
    use rl::GreedyPolicy;
    use rl::{Env, Space, Step};
    struct TwoArms;
    impl Env for TwoArms {
        type Obs = [f32; 1];
        type Action = usize;
        fn name(&self) -> &str {
            "TwoArms"
        }
        fn observation_space(&self) -> Space {
            Space::uniform_box(1, -1.0, 1.0)
        }
        fn action_space(&self) -> Space {
            Space::Discrete(2)
        }
        fn reset(&mut self, _: Option<u64>) -> [f32; 1] {
            [0.5]
        }
        fn step(&mut self, a: &usize) -> Step<[f32; 1]> {
            Step {
                obs: [0.5],
                reward: *a as f64,
                terminated: true,
                truncated: false,
            }
        }
    }
    let cfg = DqnConfig {
        total_steps: 3_000,
        lr: 1e-3,
        learning_starts: 100,
        train_freq: 1,
        gradient_steps: 1,
        hidden: 16,
        ..DqnConfig::default()
    };
    let run = train_dqn(&cfg, &|| Checked::new(TwoArms), &mut |_, _, _| {}).unwrap();
    let q = core_tensor::no_grad(|| {
        use nn::Module;
        run.q
            .net()
            .forward(&core_tensor::Tensor::from_vec(vec![0.5], &[1, 1]).unwrap())
    })
    .unwrap()
    .to_vec();
    assert!(
        (q[0] - 0.0).abs() < 0.05 && (q[1] - 1.0).abs() < 0.05,
        "{q:?}"
    );
    assert_eq!(run.q.act_greedy(&[0.5]).unwrap(), 1);
}
