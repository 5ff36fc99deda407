"""SAC training-loop speed of acgap, SBX (JAX) and Stable-Baselines3 (PyTorch), timed in one run.

`host bench --peers` runs this file with the Python that scripts/setup-peers installed:

    python sac_speed.py --host PATH/TO/host [--quick] [--core N]

Each measurement is a whole SAC training loop on Pendulum-v1 (env step, action, one critic and
one actor update per step), timed after the warm-up and the first 200 updates (so JAX's
compilation and allocator warm-up are outside the window), on one core: every process is pinned
to the same CPU, PyTorch uses one thread, and JAX one thread (XLA_FLAGS). The three
implementations run one after the other, in turn, `--reps` times per network size; the median
of each is reported. Prints one JSON object.
"""
import argparse
import csv
import glob
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

SIZES = [("paper (2x128, batch 128)", 128, 128), ("Haarnoja (2x256, batch 256)", 256, 256)]
LEARNING_STARTS = 1000
SKIP = 200  # updates left out of the window (compilation, warm-up)


def child(impl, hidden, batch, steps, core):
    """One Python peer, in a fresh process so that thread settings hold from the start."""
    env = dict(os.environ)
    env["XLA_FLAGS"] = "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1"
    env["OMP_NUM_THREADS"] = env["MKL_NUM_THREADS"] = env["OPENBLAS_NUM_THREADS"] = "1"
    env["JAX_PLATFORMS"] = "cpu"
    out = subprocess.run(
        [sys.executable, os.path.abspath(__file__), "--child", impl, str(hidden), str(batch), str(steps), str(core)],
        env=env, capture_output=True, text=True, check=False,
    )
    if out.returncode != 0:
        raise SystemExit(f"{impl} failed:\n{out.stderr[-2000:]}")
    return float(out.stdout.strip().splitlines()[-1])


def run_child(impl, hidden, batch, steps, core):
    os.sched_setaffinity(0, {core})
    import gymnasium as gym
    from stable_baselines3.common.callbacks import BaseCallback

    if impl == "sb3":
        import torch
        from stable_baselines3 import SAC

        torch.set_num_threads(1)
    else:
        from sbx import SAC

    class Clock(BaseCallback):
        def __init__(self):
            super().__init__()
            self.start = self.end = None

        def _on_step(self):
            if self.num_timesteps == LEARNING_STARTS + SKIP:
                self.start = time.perf_counter()
            self.end = time.perf_counter()
            return True

    model = SAC(
        "MlpPolicy", gym.make("Pendulum-v1"), learning_rate=3e-4, buffer_size=100_000,
        learning_starts=LEARNING_STARTS, batch_size=batch, train_freq=1, gradient_steps=1,
        policy_kwargs={"net_arch": [hidden, hidden]}, seed=0, verbose=0,
    )
    clock = Clock()
    model.learn(LEARNING_STARTS + SKIP + steps, callback=clock)
    print(steps / (clock.end - clock.start))


def acgap(host, hidden, batch, steps, core):
    """acgap's own loop: `host` on one core; rate from train.csv's per-window update rates, and
    the CPU kernels the run recorded in run.json."""
    with tempfile.TemporaryDirectory() as runs:
        log_every = 100
        total = LEARNING_STARTS + SKIP + steps
        cmd = [host, "--plugin", "sac", "--env", "pendulum", "--steps", str(total),
               "--set", f"hidden=[{hidden},{hidden}]", "--set", f"batch_size={batch}",
               "--set", f"learning_starts={LEARNING_STARTS}", "--set", "buffer_size=100000",
               "--log-every", str(log_every), "--eval-every", "0", "--checkpoint-every", "0",
               "--quiet", "--runs", runs]
        subprocess.run(cmd, check=True, capture_output=True, preexec_fn=lambda: os.sched_setaffinity(0, {core}))
        (path,) = glob.glob(os.path.join(runs, "**", "train.csv"), recursive=True)
        with open(path) as f:
            rows = [r for r in csv.DictReader(f) if int(r["step"]) > LEARNING_STARTS + SKIP]
        # A window's wall time is its update calls over their rate; SAC-1-0 makes two calls
        # (critic, actor) per env step, so the loop's rate is env steps over that time.
        secs = sum(float(r["updates"]) / float(r["time/updates_per_s"]) for r in rows)
        with open(os.path.join(os.path.dirname(path), "run.json")) as f:
            kernels = json.load(f).get("kernels")
        return len(rows) * log_every / secs, kernels


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--host", required=True)
    p.add_argument("--quick", action="store_true")
    p.add_argument("--core", type=int, default=max(os.sched_getaffinity(0)))
    p.add_argument("--reps", type=int)
    a = p.parse_args()
    reps = a.reps or (1 if a.quick else 3)
    steps = 600 if a.quick else 2000
    rows = []
    kernels = None
    for name, hidden, batch in SIZES:
        rates = {"acgap": [], "sbx": [], "sb3": []}
        for rep in range(reps):
            for impl in rates:
                print(f"  {name}: {impl} (rep {rep + 1}/{reps}) ...", file=sys.stderr, flush=True)
                if impl == "acgap":
                    rate, kernels = acgap(a.host, hidden, batch, steps, a.core)
                    rates[impl].append(rate)
                else:
                    rates[impl].append(child(impl, hidden, batch, steps, a.core))
        med = {k: statistics.median(v) for k, v in rates.items()}
        rows.append({
            "net": name, "hidden": hidden, "batch": batch, "timed_updates": steps, "reps": reps,
            "updates_per_s": med, "all_updates_per_s": rates,
            "acgap_vs_sbx": med["acgap"] / med["sbx"], "acgap_vs_sb3": med["acgap"] / med["sb3"],
        })
    versions = {}
    for mod in ["stable_baselines3", "sbx", "jax", "torch"]:
        try:
            versions[mod] = __import__(mod).__version__
        except Exception:  # noqa: BLE001
            versions[mod] = None
    out = {"core": a.core, "versions": versions, "acgap_kernels": kernels, "rows": rows}
    print(json.dumps(out))


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        _, _, impl, hidden, batch, steps, core = sys.argv
        run_child(impl, int(hidden), int(batch), int(steps), int(core))
    else:
        main()
