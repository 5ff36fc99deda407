"""Reference trajectories from Gymnasium for acgap's native environments.

Run:  pip install gymnasium==1.4.0 && python3 envs/scripts/gymnasium_reference.py
Writes envs/tests/data/gymnasium_reference.json. The Rust test
(envs/tests/gymnasium_reference.rs) replays each episode's actions from
Gymnasium's physical state before every step and compares observations,
rewards, terminated and truncated; it does not need Python.
"""
import json
import os

import gymnasium as gym
import numpy as np

EPISODES = {
    "pendulum": ("Pendulum-v1", 3, 200),
    "cartpole": ("CartPole-v1", 3, 500),
    # Full episodes from six initial states: three pushed to the goal, three random to the time
    # limit (so float32 drift over hundreds of steps is caught; the test also runs these free).
    "mountaincar-continuous": ("MountainCarContinuous-v0", 6, 999),
}


def main():
    rng = np.random.default_rng(12345)
    out = {"gymnasium": gym.__version__, "episodes": []}
    for acgap_id, (gym_id, n_episodes, max_steps) in EPISODES.items():
        env = gym.make(gym_id)
        for ep in range(n_episodes):
            obs, _ = env.reset(seed=1000 + ep)
            state = [float(x) for x in env.unwrapped.state]
            steps = []
            for _ in range(max_steps + 5):
                if acgap_id == "cartpole":
                    # Mostly-balancing policy so that episodes last, with random flips.
                    action = int(obs[2] + 0.5 * obs[3] > 0) if rng.random() < 0.8 else int(rng.integers(2))
                    act = [float(action)]
                elif acgap_id == "pendulum":
                    act = [float(x) for x in rng.uniform(-2.5, 2.5, size=1).astype(np.float32)]
                    action = np.array(act, dtype=np.float32)
                elif ep < 3:
                    # Push with the velocity so that the car reaches the goal.
                    push = 1.0 if obs[1] >= 0 else -1.0
                    act = [float(np.float32(push * rng.uniform(0.5, 1.2)))]
                    action = np.array(act, dtype=np.float32)
                else:
                    # Random pushes, some beyond the action bounds (clipped), to the time limit.
                    act = [float(np.float32(rng.uniform(-1.2, 1.2)))]
                    action = np.array(act, dtype=np.float32)
                obs, reward, terminated, truncated, _ = env.step(action)
                steps.append({
                    "action": act,
                    # The full float64 state after the step: the test restarts every step from
                    # the previous one, so ulp-level libm differences cannot grow chaotically.
                    "state": [float(x) for x in env.unwrapped.state],
                    "obs": [float(x) for x in obs],
                    "reward": float(reward),
                    "terminated": bool(terminated),
                    "truncated": bool(truncated),
                })
                if terminated or truncated:
                    break
            out["episodes"].append({"env": acgap_id, "initial_state": state, "steps": steps})
    path = os.path.join(os.path.dirname(__file__), "..", "tests", "data", "gymnasium_reference.json")
    with open(path, "w") as f:
        json.dump(out, f)
    print("wrote", path, sum(len(e["steps"]) for e in out["episodes"]), "steps")


if __name__ == "__main__":
    main()
