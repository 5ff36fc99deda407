#!/usr/bin/env python3
"""The table of scripts/peers/sac-reacher-ablation.sh: every acgap variant of the ablation session
and Stable-Baselines3's SAC, scored the same way (compare_sac.py's final IQM and AUC with 95%
percentile-bootstrap CIs over seeds), plus the probability that SB3's final return beats each
variant's (over all seed pairs, ties half).

    python3 scripts/peers/ablation_table.py runs/sac-reacher-ablation
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from compare_sac import auc, bootstrap, curves, iqm  # noqa: E402


def p_better(xs, ys):
    """P(x > y) over all pairs, ties counted half."""
    wins = sum((x > y) + 0.5 * (x == y) for x in xs for y in ys)
    return wins / (len(xs) * len(ys))


def main():
    out = sys.argv[1]
    rows = []
    acgap = os.path.join(out, "acgap")
    for label in sorted(os.listdir(acgap)):
        if os.path.isdir(os.path.join(acgap, label)):
            rows.append((f"acgap {label}", os.path.join(acgap, label, "seed-*", "eval.csv")))
    rows.append(("SB3", os.path.join(out, "sb3", "seed-*", "eval.csv")))
    sb3 = [r[-1][1] for r in curves(rows[-1][1])]
    print("| run | seeds | final IQM [95% CI] | AUC [95% CI] | P(SB3 final > this) |")
    print("|---|---|---|---|---|")
    for name, pattern in rows:
        runs = curves(pattern)
        if not runs:
            continue
        finals = [r[-1][1] for r in runs]
        aucs = [auc(r) for r in runs]
        lo, hi = bootstrap(finals, iqm)
        alo, ahi = bootstrap(aucs, iqm)
        p = "" if name == "SB3" or not sb3 else f"{p_better(sb3, finals):.2f}"
        print(f"| {name} | {len(runs)} | {iqm(finals):.2f} [{lo:.2f}, {hi:.2f}] "
              f"| {iqm(aucs):.2f} [{alo:.2f}, {ahi:.2f}] | {p} |")


if __name__ == "__main__":
    main()
