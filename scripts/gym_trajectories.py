#!/usr/bin/env python3
"""Records CartPole-v1 and MountainCar-v0 trajectories from Gymnasium itself, for the rl
crate's dynamics test (crates/rl/tests/gymnasium.rs compares every state to these).

    PY scripts/gym_trajectories.py > crates/rl/tests/fixtures/gymnasium.json

(PY: a Python with gymnasium, outside the project; the fixture is committed, so the tests
need no Python.) Each trajectory: the environment id, the reset seed, the internal state
after reset (float64, `env.unwrapped.state`), then per step the action, the observation
(float32, as returned), the internal state, the reward, terminated and truncated — through
`gymnasium.make`, so the TimeLimit wrapper's truncation is recorded too. Actions: seeded
uniform random ones, and a controller that keeps the episode going (CartPole: push toward
the pole's fall; MountainCar: push along the velocity) so truncation and the goal are reached.
"""
import json

import gymnasium as gym
import numpy as np


def record(env_id, seed, policy):
    env = gym.make(env_id)
    obs, _ = env.reset(seed=seed)
    rng = np.random.default_rng(seed + 1000)
    traj = {
        "env": env_id,
        "seed": seed,
        "policy": policy,
        "gymnasium": gym.__version__,
        "reset_state": [float(v) for v in env.unwrapped.state],
        "reset_obs": [float(v) for v in obs],
        "steps": [],
    }
    while True:
        state = np.asarray(env.unwrapped.state, dtype=np.float64)
        if policy == "random":
            action = int(rng.integers(env.action_space.n))
        elif env_id.startswith("CartPole"):
            action = int(state[2] + 0.5 * state[3] > 0)
        else:
            action = 2 if state[1] >= 0 else 0
        obs, reward, terminated, truncated, _ = env.step(action)
        traj["steps"].append({
            "action": action,
            "obs": [float(v) for v in obs],
            "state": [float(v) for v in env.unwrapped.state],
            "reward": float(reward),
            "terminated": bool(terminated),
            "truncated": bool(truncated),
        })
        if terminated or truncated:
            return traj


def main():
    out = []
    for env_id in ["CartPole-v1", "MountainCar-v0"]:
        for seed in [0, 1, 2]:
            out.append(record(env_id, seed, "random"))
        out.append(record(env_id, 3, "controller"))
    print(json.dumps(out))


if __name__ == "__main__":
    main()
