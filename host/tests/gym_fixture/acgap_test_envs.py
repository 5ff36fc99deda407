"""Gymnasium envs that misbehave on purpose, for host/tests/gym.rs (the bridge's fault tests).

Imported by the worker through Gymnasium's `module:Id` syntax, e.g.
`--env gym:acgap_test_envs:AcgapTest/Faulty-v0:mode=crash,after=5`.
"""
import os
import threading
import time

import gymnasium as gym
import numpy as np


class Faulty(gym.Env):
    """A two-state walk that does `mode` at step `after`: crash, hang, raise, print, nan."""

    observation_space = gym.spaces.Box(-10.0, 10.0, shape=(2,), dtype=np.float32)
    action_space = gym.spaces.Discrete(2)

    def __init__(self, mode="none", after=5):
        self.mode, self.after, self.t = mode, int(after), 0
        self.lock = threading.Lock() if mode == "unpicklable" else None

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.t = 0
        return self.np_random.uniform(-1, 1, size=2).astype(np.float32), {}

    def step(self, action):
        self.t += 1
        if self.t == self.after:
            if self.mode == "crash":
                os._exit(3)
            if self.mode == "hang":
                time.sleep(3600)
            if self.mode == "raise":
                raise RuntimeError("boom from the test env")
            if self.mode == "print":
                print("stray output that must not reach the protocol")
            if self.mode == "nan":
                return np.array([np.nan, 0.0], dtype=np.float32), 0.0, False, False, {}
        obs = np.array([self.t / 10.0, float(action)], dtype=np.float32)
        return obs, 1.0, False, self.t >= 100, {}


class DictObs(Faulty):
    observation_space = gym.spaces.Dict({"x": gym.spaces.Box(-1.0, 1.0, shape=(2,))})


gym.register("AcgapTest/Faulty-v0", entry_point=Faulty)
gym.register("AcgapTest/DictObs-v0", entry_point=DictObs)
