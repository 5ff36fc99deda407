#!/usr/bin/env python3
"""acgap's SAC against Stable-Baselines3's SAC, both under acgap's evaluation protocol.

    python scripts/peers/compare_sac.py --task HalfCheetah-v5 ACGAP_SESSION_DIR SB3_DIR ... --out docs/sac_mujoco

Each pair is an acgap session folder (`host --plugin sac --seeds 3 ... --out DIR`, runs in
`sac/seed-*/eval.csv`) and a folder of `scripts/peers/sb3_sac.py` runs (`seed-*/eval.csv`).
Prints a Markdown table (final IQM with a 95% percentile-bootstrap CI over seeds, AUC = the eval
curve's average over training) and draws the mean curves with their min-max band to OUT.png.
"""
import argparse
import csv
import glob
import os
import random


def curves(pattern):
    runs = []
    for path in sorted(glob.glob(pattern)):
        with open(path) as f:
            rows = [(float(r["step"]), float(r["mean"])) for r in csv.DictReader(f)]
        if rows:
            runs.append(rows)
    return runs


def auc(curve):
    """The eval curve's average return over training: trapezoids over the step range (as `host report`)."""
    if len(curve) < 2:
        return curve[0][1]
    area = sum((s1 - s0) * (v0 + v1) / 2 for (s0, v0), (s1, v1) in zip(curve, curve[1:]))
    return area / (curve[-1][0] - curve[0][0])


def iqm(xs):
    xs = sorted(xs)
    cut = int(len(xs) * 0.25)
    kept = xs[cut:len(xs) - cut] or xs
    return sum(kept) / len(kept)


def bootstrap(xs, stat, n=20000, seed=0):
    rng = random.Random(seed)
    vals = sorted(stat([rng.choice(xs) for _ in xs]) for _ in range(n))
    return vals[int(0.025 * n)], vals[int(0.975 * n) - 1]


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--task", action="append", required=True)
    p.add_argument("dirs", nargs="+", help="acgap and SB3 folders, a pair per --task")
    p.add_argument("--out", required=True)
    a = p.parse_args()
    assert len(a.dirs) == 2 * len(a.task), "one acgap and one SB3 folder per task"
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, axes = plt.subplots(1, len(a.task), figsize=(5 * len(a.task), 3.6))
    axes = axes if len(a.task) > 1 else [axes]
    print("| task | library | seeds | final IQM [95% CI] | AUC [95% CI] |")
    print("|---|---|---|---|---|")
    for k, task in enumerate(a.task):
        ax = axes[k]
        for name, pattern, color in [
            ("acgap", os.path.join(a.dirs[2 * k], "sac", "seed-*", "eval.csv"), "tab:blue"),
            ("SB3", os.path.join(a.dirs[2 * k + 1], "seed-*", "eval.csv"), "tab:orange"),
        ]:
            runs = curves(pattern)
            if not runs:
                continue
            finals = [r[-1][1] for r in runs]
            aucs = [auc(r) for r in runs]
            lo, hi = bootstrap(finals, iqm)
            alo, ahi = bootstrap(aucs, iqm)
            print(f"| {task} | {name} | {len(runs)} | {iqm(finals):.1f} [{lo:.1f}, {hi:.1f}] "
                  f"| {iqm(aucs):.1f} [{alo:.1f}, {ahi:.1f}] |")
            n = min(len(r) for r in runs)
            steps = [runs[0][i][0] for i in range(n)]
            mean = [sum(r[i][1] for r in runs) / len(runs) for i in range(n)]
            ax.plot(steps, mean, color=color, label=f"{name} ({len(runs)} seeds)")
            ax.fill_between(steps, [min(r[i][1] for r in runs) for i in range(n)],
                            [max(r[i][1] for r in runs) for i in range(n)], color=color, alpha=0.2)
        ax.set_title(task)
        ax.set_xlabel("env steps")
        ax.set_ylabel("eval return (10 episodes)")
        ax.legend()
    fig.tight_layout()
    fig.savefig(a.out + ".png", dpi=90)


if __name__ == "__main__":
    main()
