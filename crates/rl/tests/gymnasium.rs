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

/// Replays `t` on `env` from its recorded start state (`set` puts it in place, `get` reads the
/// internal state back after each step).
fn replay<E: rl::Env<Action = usize>>(
    t: &Trajectory,
    mut env: rl::Checked<E>,
    set: impl Fn(&mut E, &[f64]),
    get: impl Fn(&E) -> Vec<f64>,
) where
    E::Obs: AsRef<[f32]>,
{
    let label = format!("{} seed {} ({})", t.env, t.seed, t.policy);
    env.reset(Some(t.seed)).unwrap();
    set(env.inner_mut(), &t.reset_state);
    for (k, r) in t.steps.iter().enumerate() {
        let out = env.step(&r.action).unwrap();
        let what = format!("{label} step {k}");
        close(&what, &get(env.inner()), &r.state, 1e-9);
        let obs: Vec<f64> = out.obs.as_ref().iter().map(|&v| v as f64).collect();
        close(&what, &obs, &r.obs, 1e-6);
        assert_eq!(
            (out.reward, out.terminated, out.truncated),
            (r.reward, r.terminated, r.truncated),
            "{what}"
        );
    }
}

#[test]
fn cartpole_and_mountain_car_step_exactly_as_gymnasium() {
    let (mut cartpoles, mut cars) = (0, 0);
    for t in fixture() {
        match t.env.as_str() {
            "CartPole-v1" => {
                cartpoles += 1;
                replay(
                    &t,
                    cart_pole(),
                    |e, s| e.inner_mut().set_state([s[0], s[1], s[2], s[3]]),
                    |e| e.inner().state().to_vec(),
                );
            }
            "MountainCar-v0" => {
                cars += 1;
                replay(
                    &t,
                    mountain_car(),
                    |e, s| e.inner_mut().set_state([s[0], s[1]]),
                    |e| e.inner().state().to_vec(),
                );
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
