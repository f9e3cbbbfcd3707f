#!/usr/bin/env python3
"""groundwork's rl crate against what users run, in one sitting: CartPole-v1 steps/s against
Gymnasium (one environment, and 16 through `gymnasium.make_vec` as it vectorises CartPole by
default), and the wall time of PPO training 100,000 steps against stable-baselines3's PPO with
its tuned CartPole-v1 settings (rl-baselines3-zoo), both on 2 threads.

    cargo build --release -p xtask
    PY scripts/rl-vs-peers.py [--xtask target/release/xtask] [--json FILE]

(PY: a Python with gymnasium and stable-baselines3, outside the project.) Ours is measured by
`xtask bench --filter rl-` before and after the peers (both printed), so a change of the
machine's speed during the sitting shows.
"""
import argparse
import json
import os
import re
import subprocess
import time

import numpy as np

os.environ.setdefault("OMP_NUM_THREADS", "2")
import gymnasium as gym  # noqa: E402
import torch  # noqa: E402

torch.set_num_threads(2)

STEPS = 100_000


def ours(xtask):
    out = subprocess.run([xtask, "bench", "--filter", "rl-"], capture_output=True, text=True,
                         check=True).stderr
    rows = {}
    for name, unit in [("rl-cartpole/step/1t", "steps/s"), ("rl-cartpole/vec16/1t", "steps/s")]:
        m = re.search(re.escape(name) + r"\s+([0-9.e+]+) " + unit, out)
        rows[name] = float(m.group(1)) if m else None
    m = re.search(r"rl-ppo-cartpole-100k/2t\s+([0-9.]+) s \(greedy policy over 100 episodes: ([0-9.]+)\)", out)
    rows["ppo_seconds"], rows["ppo_eval"] = (float(m.group(1)), float(m.group(2))) if m else (None, None)
    return rows


def action(k):
    return (k * 7 + k // 3) % 2


def gym_single():
    env = gym.make("CartPole-v1")
    env.reset(seed=0)
    t = time.perf_counter()
    for k in range(STEPS):
        _, _, term, trunc, _ = env.step(action(k))
        if term or trunc:
            env.reset()
    return STEPS / (time.perf_counter() - t)


def gym_vec():
    env = gym.make_vec("CartPole-v1", num_envs=16)
    env.reset(seed=0)
    acts = np.zeros(16, dtype=np.int64)
    t = time.perf_counter()
    for k in range(STEPS // 16):
        for i in range(16):
            acts[i] = action(k + i)
        env.step(acts)
    return STEPS / (time.perf_counter() - t), type(env).__name__


def sb3_ppo():
    from stable_baselines3 import PPO
    from stable_baselines3.common.env_util import make_vec_env
    from stable_baselines3.common.evaluation import evaluate_policy

    def linear(v):
        return lambda progress: progress * v

    env = make_vec_env("CartPole-v1", n_envs=8, seed=0)
    model = PPO("MlpPolicy", env, n_steps=32, batch_size=256, gae_lambda=0.8, gamma=0.98,
                n_epochs=20, ent_coef=0.0, learning_rate=linear(0.001), clip_range=linear(0.2),
                seed=0, device="cpu", verbose=0)
    t = time.perf_counter()
    model.learn(total_timesteps=STEPS)
    seconds = time.perf_counter() - t
    mean, _ = evaluate_policy(model, gym.make("CartPole-v1"), n_eval_episodes=100,
                              deterministic=True)
    return seconds, float(mean)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--xtask", default="target/release/xtask")
    ap.add_argument("--json")
    args = ap.parse_args()
    before = ours(args.xtask)
    single = gym_single()
    vec, vec_kind = gym_vec()
    sb3_seconds, sb3_eval = sb3_ppo()
    after = ours(args.xtask)
    print(f"gymnasium {gym.__version__}, torch {torch.__version__} (2 threads)")
    print("| measurement | groundwork (before / after) | peer | ratio |")
    print("| --- | --- | --- | --- |")
    for name, peer, label in [("rl-cartpole/step/1t", single, "gym.make"),
                              ("rl-cartpole/vec16/1t", vec, f"make_vec x16 ({vec_kind})")]:
        a, b = before[name], after[name]
        print(f"| CartPole-v1 steps/s, {label} | {a:.3g} / {b:.3g} | {peer:.3g} | "
              f"{min(a, b) / peer:.0f}-{max(a, b) / peer:.0f}x |")
    a, b = before["ppo_seconds"], after["ppo_seconds"]
    print(f"| PPO, 100,000 steps, seconds (eval return) | {a:.1f} ({before['ppo_eval']:.0f}) / "
          f"{b:.1f} ({after['ppo_eval']:.0f}) | {sb3_seconds:.1f} ({sb3_eval:.0f}) | "
          f"{sb3_seconds / max(a, b):.1f}-{sb3_seconds / min(a, b):.1f}x faster |")
    if args.json:
        json.dump({"ours_before": before, "ours_after": after, "gym_single": single,
                   "gym_vec16": vec, "gym_vec_kind": vec_kind, "sb3_ppo_seconds": sb3_seconds,
                   "sb3_eval": sb3_eval, "gymnasium": gym.__version__,
                   "torch": torch.__version__}, open(args.json, "w"), indent=1)


if __name__ == "__main__":
    main()
