#!/usr/bin/env python3
"""Record Gymnasium v5 MuJoCo trajectories for acgap's parity test (envs/tests/mujoco_parity.rs).

Run with the Python that scripts/setup-mujoco installed (pinned mujoco and gymnasium):
    ~/.local/share/acgap/mujoco/venv/bin/python envs/scripts/mujoco_reference.py
It writes envs/tests/data/mujoco_v5.json. Each trajectory starts from a state Gymnasium's own
reset drew (its qpos and qvel are recorded, so the test needs no NumPy RNG), then applies a
recorded float32 action sequence through the env with its TimeLimit, and records every
observation, reward and both flags, until the episode ends or the step budget runs out.

Hopper and Walker2d fall within a few dozen steps under random actions, so they are recorded
with terminate_when_unhealthy=False (in v5 that changes neither observations nor rewards) and
`terminated` is recorded as what the default env reports, `not is_healthy`: the trajectories
then run for hundreds of steps, through the fall, and check the flag at every step.
"""
import json
import os
import sys

import gymnasium as gym
import mujoco
import numpy as np

TASKS = {
    # id: (initial states, steps per trajectory, action scale)
    "HalfCheetah-v5": (3, 300, 1.0),
    "Hopper-v5": (3, 300, 1.0),
    "Walker2d-v5": (3, 300, 1.0),
    "Reacher-v5": (4, 60, 1.0),
}
# One full HalfCheetah episode, so the time-limit truncation at step 1000 is checked too.
FULL_EPISODE = ("HalfCheetah-v5", 1000)


def actions(rng, n, dim, scale):
    """Smooth random float32 actions: a random walk kept inside [-scale, scale]."""
    a = np.zeros(dim)
    out = []
    for _ in range(n):
        a = np.clip(0.8 * a + 0.5 * rng.uniform(-1, 1, dim), -1, 1)
        out.append((scale * a).astype(np.float32))
    return out


HEALTH = ("Hopper-v5", "Walker2d-v5")


def record(task, seed, steps, scale):
    env = gym.make(task, terminate_when_unhealthy=False) if task in HEALTH else gym.make(task)
    obs0, _ = env.reset(seed=seed)
    data = env.unwrapped.data
    start = {"qpos": data.qpos.tolist(), "qvel": data.qvel.tolist(), "obs": obs0.tolist()}
    rng = np.random.default_rng(1000 + seed)
    acts = actions(rng, steps, env.action_space.shape[0], scale)
    rows = []
    for a in acts:
        obs, reward, terminated, truncated, _ = env.step(a)
        if task in HEALTH:
            terminated = not env.unwrapped.is_healthy
        rows.append({"action": a.tolist(), "obs": obs.tolist(), "reward": float(reward),
                     "terminated": bool(terminated), "truncated": bool(truncated)})
        if truncated or (terminated and task not in HEALTH):
            break
    env.close()
    return {"task": task, "seed": seed, **start, "steps": rows}


def main():
    out = os.path.join(os.path.dirname(__file__), "..", "envs", "tests", "data", "mujoco_v5.json")
    trajectories = []
    for task, (states, steps, scale) in TASKS.items():
        for seed in range(states):
            trajectories.append(record(task, seed, steps, scale))
    task, steps = FULL_EPISODE
    trajectories.append(record(task, 99, steps, 1.0))
    meta = {"mujoco": mujoco.__version__, "gymnasium": gym.__version__, "numpy": np.__version__}
    with open(out, "w") as f:
        json.dump({"recorded_with": meta, "trajectories": trajectories}, f, separators=(",", ":"))
    for t in trajectories:
        last = t["steps"][-1]
        print(f'{t["task"]} seed {t["seed"]}: {len(t["steps"])} steps, '
              f'terminated {last["terminated"]}, truncated {last["truncated"]}', file=sys.stderr)


if __name__ == "__main__":
    main()
