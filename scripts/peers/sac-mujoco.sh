#!/usr/bin/env bash
# acgap's SAC against Stable-Baselines3's on HalfCheetah-v5, Hopper-v5 (50k steps) and Reacher-v5
# (20k), 3 seeds each, Haarnoja et al. (2018b) hyperparameters (2 x 256, batch 256, lr 3e-4,
# 5,000 random warm-up steps), both evaluated by acgap's protocol (10 deterministic episodes every
# 5,000 steps). Needs scripts/setup-mujoco, and a Python with stable-baselines3 and the same
# mujoco/gymnasium pins (PYTHON; the script installs them into ~/.local/share/acgap/peers
# otherwise). About 3 hours on one core for SB3, 1 hour for acgap. Writes docs/sac_mujoco_vs_sb3.png
# and prints the table that docs/reproductions.md shows.
set -euo pipefail
cd "$(dirname "$0")/../.."
host=${HOST:-./target/release/host}
out=${OUT:-runs/sac-mujoco}
peers=${PEERS:-$HOME/.local/share/acgap/peers}
if [ -z "${PYTHON:-}" ]; then
    [ -x "$peers/bin/python" ] || python3 -m venv "$peers"
    "$peers/bin/python" -m pip install --quiet stable-baselines3 matplotlib \
        "mujoco==3.17.0" "gymnasium[mujoco]==1.4.0"
    PYTHON=$peers/bin/python
fi
for spec in halfcheetah:HalfCheetah-v5:50000 hopper:Hopper-v5:50000 reacher:Reacher-v5:20000; do
    IFS=: read -r task gym steps <<<"$spec"
    "$host" --plugin sac --env "$task" --seeds 3 --jobs 1 --steps "$steps" \
        --set hidden=[256,256] --set batch_size=256 --set learning_starts=5000 \
        --eval-every 5000 --eval-episodes 10 --out "$out/acgap/$task" --quiet
    for seed in 0 1 2; do
        "$PYTHON" scripts/peers/sb3_sac.py --env "$gym" --seed "$seed" --steps "$steps" \
            --out "$out/sb3/$gym/seed-$seed"
    done
done
"$PYTHON" scripts/peers/compare_sac.py --task HalfCheetah-v5 --task Hopper-v5 --task Reacher-v5 \
    "$out/acgap/halfcheetah" "$out/sb3/HalfCheetah-v5" "$out/acgap/hopper" "$out/sb3/Hopper-v5" \
    "$out/acgap/reacher" "$out/sb3/Reacher-v5" --out docs/sac_mujoco_vs_sb3
