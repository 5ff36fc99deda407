#!/usr/bin/env python3
"""Stable-Baselines3's SAC under acgap's evaluation protocol, for side-by-side learning curves.

    python scripts/peers/sb3_sac.py --env HalfCheetah-v5 --seed 0 --steps 50000 --out DIR

Hyperparameters as `host --plugin sac --set hidden=[256,256] --set batch_size=256
--set learning_starts=5000` (Haarnoja et al. 2018b: Adam 3e-4, 2 x 256 ReLU, batch 256,
buffer 1e6, tau 0.005, gamma 0.99, one gradient step per env step, automatic entropy).
Evaluation as acgap's: every --eval-every steps, --eval-episodes deterministic episodes on a
separate environment; written to DIR/eval.csv in acgap's columns (step,mean,std,min,max,episodes).
One torch thread, as acgap uses one compute thread per run.
"""
import argparse
import os
import time

import gymnasium as gym
import numpy as np
import torch
from stable_baselines3 import SAC
from stable_baselines3.common.callbacks import BaseCallback


class Evaluate(BaseCallback):
    def __init__(self, env_id, every, episodes, seed, path):
        super().__init__()
        self.env = gym.make(env_id)
        self.every, self.episodes, self.seed, self.path = every, episodes, seed, path
        self.next_seed = 10_000 + seed
        with open(path, "w") as f:
            f.write("step,mean,std,min,max,episodes\n")

    def _on_step(self):
        if self.num_timesteps % self.every == 0:
            returns = []
            for _ in range(self.episodes):
                obs, _ = self.env.reset(seed=self.next_seed)
                self.next_seed += 1
                done, ret = False, 0.0
                while not done:
                    action, _ = self.model.predict(obs, deterministic=True)
                    obs, r, term, trunc, _ = self.env.step(action)
                    ret += r
                    done = term or trunc
                returns.append(ret)
            r = np.array(returns)
            with open(self.path, "a") as f:
                f.write(f"{self.num_timesteps},{r.mean()},{r.std()},{r.min()},{r.max()},{len(r)}\n")
        return True


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--env", required=True)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--steps", type=int, default=50_000)
    p.add_argument("--learning-starts", type=int, default=5_000)
    p.add_argument("--eval-every", type=int, default=5_000)
    p.add_argument("--eval-episodes", type=int, default=10)
    p.add_argument("--out", required=True)
    a = p.parse_args()
    torch.set_num_threads(1)
    os.makedirs(a.out, exist_ok=True)
    model = SAC(
        "MlpPolicy", gym.make(a.env), learning_rate=3e-4, buffer_size=1_000_000,
        learning_starts=a.learning_starts, batch_size=256, tau=0.005, gamma=0.99,
        train_freq=1, gradient_steps=1, ent_coef="auto",
        policy_kwargs={"net_arch": [256, 256]}, seed=a.seed, device="cpu", verbose=0,
    )
    start = time.time()
    model.learn(a.steps, callback=Evaluate(a.env, a.eval_every, a.eval_episodes, a.seed,
                                           os.path.join(a.out, "eval.csv")))
    with open(os.path.join(a.out, "wall_seconds"), "w") as f:
        f.write(f"{time.time() - start:.1f}\n")


if __name__ == "__main__":
    main()
