#!/usr/bin/env bash
# Issue 31's ablation of acgap's SAC against Stable-Baselines3's on Reacher-v5 (20k steps, 5
# seeds): experiments/sac-reacher-sb3-ablation.json (acgap as is, then with SB3's shared minibatch,
# SB3's floored tanh correction, and both) beside SB3's SAC with the same seeds, hyperparameters
# and evaluation protocol, the two running side by side (one core each). Needs scripts/setup-mujoco
# and scripts/setup-peers (plus `mujoco==3.17.0 gymnasium[mujoco]==1.4.0` in the peers'
# Python, which scripts/peers/sac-mujoco.sh installs). About 30 minutes on 2 cores. Prints the
# table docs/reproductions.md shows.
set -euo pipefail
cd "$(dirname "$0")/../.."
host=${HOST:-./target/release/host}
out=${OUT:-runs/sac-reacher-ablation}
peers=${ACGAP_PEERS_HOME:-${XDG_DATA_HOME:-$HOME/.local/share}/acgap/peers}
python=${PYTHON:-$peers/bin/python}
"$host" session experiments/sac-reacher-sb3-ablation.json --out "$out/acgap" --jobs 1 --quiet &
acgap=$!
for seed in 0 1 2 3 4; do
    [ -f "$out/sb3/seed-$seed/eval.csv" ] && [ "$(wc -l < "$out/sb3/seed-$seed/eval.csv")" -ge 5 ] && continue
    "$python" scripts/peers/sb3_sac.py --env Reacher-v5 --seed "$seed" --steps 20000 \
        --out "$out/sb3/seed-$seed"
done
wait "$acgap"
python3 scripts/peers/ablation_table.py "$out"
