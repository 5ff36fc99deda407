"""Gymnasium's own step loop, for `host bench` (which embeds and runs this file with the Python
that scripts/setup-mujoco or scripts/setup-gym installed, in the same run as acgap's loops).

Usage: python gym_step_rate.py ENV_ID STEPS -> prints env steps per second. Random actions from
the action space, reset when an episode ends, as acgap's side of the measurement does.
"""
import sys
import time

import gymnasium as gym

env_id, steps = sys.argv[1], int(sys.argv[2])
env = gym.make(env_id)
env.reset(seed=0)
env.action_space.seed(0)
start = time.perf_counter()
for _ in range(steps):
    _, _, terminated, truncated, _ = env.step(env.action_space.sample())
    if terminated or truncated:
        env.reset()
print(steps / (time.perf_counter() - start))
