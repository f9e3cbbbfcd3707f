//! Misuse gets an error naming the environment and changes nothing; vector stepping keeps
//! Gymnasium's next-step autoreset.

use rl::envs::{cart_pole, frozen_lake_env, Bandit, CartPole};
use rl::{Checked, Env, RlError, Space, Step, TimeLimit, VecEnv};

/// A custom environment that returns NaN after three steps.
struct Leaky {
    t: usize,
}

impl Env for Leaky {
    type Obs = Vec<f32>;
    type Action = Vec<f32>;
    fn name(&self) -> &str {
        "Leaky"
    }
    fn observation_space(&self) -> Space {
        Space::uniform_box(2, -1.0, 1.0)
    }
    fn action_space(&self) -> Space {
        Space::uniform_box(1, -1.0, 1.0)
    }
    fn reset(&mut self, _: Option<u64>) -> Vec<f32> {
        self.t = 0;
        vec![0.0, 0.0]
    }
    fn step(&mut self, a: &Vec<f32>) -> Step<Vec<f32>> {
        self.t += 1;
        let v = if self.t > 3 { f32::NAN } else { a[0] };
        Step {
            obs: vec![v, 0.0],
            reward: 0.0,
            terminated: false,
            truncated: false,
        }
    }
}

#[test]
fn misuse_is_an_error_naming_the_environment() {
    let mut env = cart_pole();
    let e = env.step(&0).unwrap_err();
    assert!(
        matches!(
            &e,
            RlError::Order {
                when: "before reset",
                ..
            }
        ),
        "{e}"
    );
    assert!(e.to_string().contains("CartPole-v1"), "{e}");

    env.reset(Some(0)).unwrap();
    let before = env.inner().inner().state();
    let e = env.step(&2).unwrap_err();
    assert!(
        e.to_string()
            .contains("action 2 is outside the action space Discrete(2)"),
        "{e}"
    );
    assert_eq!(
        env.inner().inner().state(),
        before,
        "a refused action steps nothing"
    );

    // Run to the end, then one step too many.
    loop {
        if env.step(&1).unwrap().done() {
            break;
        }
    }
    let e = env.step(&1).unwrap_err();
    assert!(
        e.to_string().contains("after the episode terminated"),
        "{e}"
    );
    env.reset(None).unwrap();
    env.step(&1).unwrap();

    let mut leaky = Checked::new(Leaky { t: 0 });
    leaky.reset(None).unwrap();
    let e = leaky.step(&vec![2.0]).unwrap_err();
    assert!(e.to_string().contains("Leaky: action [2.0]"), "{e}");
    for _ in 0..3 {
        leaky.step(&vec![0.5]).unwrap();
    }
    let e = leaky.step(&vec![0.5]).unwrap_err();
    assert!(
        e.to_string()
            .contains("Leaky: step returned an observation with a non-finite value"),
        "{e}"
    );
}

#[test]
fn truncation_is_not_termination() {
    let mut env = Checked::new(TimeLimit::new(CartPole::new(), 3));
    env.reset(Some(1)).unwrap();
    let mut last = None;
    for _ in 0..3 {
        last = Some(
            env.step(&usize::from(env.inner().inner().state()[2] > 0.0))
                .unwrap(),
        );
    }
    let last = last.unwrap();
    assert!(last.truncated && !last.terminated);
    assert!(env.step(&0).unwrap_err().to_string().contains("truncated"));
}

#[test]
fn vector_steps_autoreset_on_the_next_step_and_seed_each_copy() {
    let mut v = VecEnv::new(3, |_| TimeLimit::new(Bandit::new(4, 9).unwrap(), 1)).unwrap();
    v.reset(Some(5)).unwrap();
    // Every bandit pull ends its episode; the next step resets instead (reward 0, no flags).
    let s = v.step(&[0, 1, 2]).unwrap();
    assert!(s.terminated.iter().all(|&t| t));
    let s = v.step(&[0, 1, 2]).unwrap();
    assert_eq!(s.rewards, [0.0, 0.0, 0.0]);
    assert!(s.terminated.iter().chain(&s.truncated).all(|&f| !f));
    assert!(v
        .step(&[0, 1])
        .unwrap_err()
        .to_string()
        .contains("2 actions for 3"));
    assert!(v
        .step(&[0, 1, 9])
        .unwrap_err()
        .to_string()
        .contains("Bandit: action 9"));

    // Copy i is seeded with seed + i: the same as a lone environment reset with that seed.
    let mut vc = VecEnv::new(4, |_| CartPole::new()).unwrap();
    let obs = vc.reset(Some(10)).unwrap();
    for (i, o) in obs.iter().enumerate() {
        let mut lone = CartPole::new();
        assert_eq!(&lone.reset(Some(10 + i as u64)), o);
    }
    // Many copies step on the thread pool with the same results as one by one.
    let n = rl::PAR_MIN_ENVS + 3;
    let mut big = VecEnv::new(n, |_| frozen_lake_env(0.9).inner().clone()).unwrap();
    big.reset(Some(0)).unwrap();
    let acts: Vec<usize> = (0..n).map(|i| i % 4).collect();
    let a = big.step(&acts).unwrap();
    for i in [0, 7, n - 1] {
        let mut lone = frozen_lake_env(0.9);
        lone.reset(Some(i as u64)).unwrap();
        assert_eq!(lone.step(&acts[i]).unwrap().obs, a.obs[i], "copy {i}");
    }
}
