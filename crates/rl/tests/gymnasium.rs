//! CartPole-v1 and MountainCar-v0 against Gymnasium itself: trajectories recorded from
//! `gymnasium.make` (`scripts/gym_trajectories.py`, fixture committed), replayed here from
//! the same start state with the same actions. Every internal state (f64) within 1e-9 and
//! every observation (f32) within 1e-6 of Gymnasium's; rewards, `terminated` and
//! `truncated` (the TimeLimit wrapper's) the same at every step.

use rl::envs::{cart_pole, mountain_car};

#[derive(serde::Deserialize)]
struct StepRec {
    action: usize,
    obs: Vec<f64>,
    state: Vec<f64>,
    reward: f64,
    terminated: bool,
    truncated: bool,
}

#[derive(serde::Deserialize)]
struct Trajectory {
    env: String,
    seed: u64,
    policy: String,
    reset_state: Vec<f64>,
    steps: Vec<StepRec>,
}

fn fixture() -> Vec<Trajectory> {
    let text = include_str!("fixtures/gymnasium.json");
    serde_json::from_str(text).expect("the fixture parses")
}

fn close(what: &str, ours: &[f64], theirs: &[f64], tol: f64) {
    for (i, (a, b)) in ours.iter().zip(theirs).enumerate() {
        assert!((a - b).abs() <= tol, "{what}[{i}]: ours {a}, Gymnasium {b}");
    }
}

#[test]
fn cartpole_and_mountain_car_step_exactly_as_gymnasium() {
    let (mut cartpoles, mut cars) = (0, 0);
    for t in fixture() {
        let label = format!("{} seed {} ({})", t.env, t.seed, t.policy);
        match t.env.as_str() {
            "CartPole-v1" => {
                cartpoles += 1;
                let mut env = cart_pole();
                env.reset(Some(t.seed)).unwrap();
                let s = &t.reset_state;
                env.inner_mut()
                    .inner_mut()
                    .set_state([s[0], s[1], s[2], s[3]]);
                for (k, r) in t.steps.iter().enumerate() {
                    let out = env.step(&r.action).unwrap();
                    let what = format!("{label} step {k}");
                    close(&what, &env.inner().inner().state(), &r.state, 1e-9);
                    let obs: Vec<f64> = out.obs.iter().map(|&v| v as f64).collect();
                    close(&what, &obs, &r.obs, 1e-6);
                    assert_eq!(
                        (out.reward, out.terminated, out.truncated),
                        (r.reward, r.terminated, r.truncated),
                        "{what}"
                    );
                }
            }
            "MountainCar-v0" => {
                cars += 1;
                let mut env = mountain_car();
                env.reset(Some(t.seed)).unwrap();
                let s = &t.reset_state;
                env.inner_mut().inner_mut().set_state([s[0], s[1]]);
                for (k, r) in t.steps.iter().enumerate() {
                    let out = env.step(&r.action).unwrap();
                    let what = format!("{label} step {k}");
                    close(&what, &env.inner().inner().state(), &r.state, 1e-9);
                    let obs: Vec<f64> = out.obs.iter().map(|&v| v as f64).collect();
                    close(&what, &obs, &r.obs, 1e-6);
                    assert_eq!(
                        (out.reward, out.terminated, out.truncated),
                        (r.reward, r.terminated, r.truncated),
                        "{what}"
                    );
                }
            }
            other => panic!("unknown environment {other} in the fixture"),
        }
    }
    assert_eq!((cartpoles, cars), (4, 4));
}

#[test]
fn the_fixture_reaches_every_ending() {
    // Termination and truncation both occur for both environments, so both rules are tested.
    for env in ["CartPole-v1", "MountainCar-v0"] {
        let ends: Vec<(bool, bool)> = fixture()
            .iter()
            .filter(|t| t.env == env)
            .map(|t| {
                let last = t.steps.last().unwrap();
                (last.terminated, last.truncated)
            })
            .collect();
        assert!(
            ends.contains(&(true, false)) && ends.contains(&(false, true)),
            "{env}: {ends:?}"
        );
    }
}
