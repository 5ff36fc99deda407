#!/usr/bin/env bash
# docs/pendulum_sac.gif: SAC trained 12,000 steps on Pendulum-v1 (seed 1), its checkpoint
# evaluated with `host eval` (5 deterministic episodes) and the first rendered. About 15 s.
set -euo pipefail
cd "$(dirname "$0")/.."
host=${HOST:-./target/release/host}
runs=${OUT:-runs/eval-gif}
rm -rf "$runs"
"$host" --plugin sac --env pendulum --steps 12000 --seed 1 --runs "$runs" --quiet >/dev/null
"$host" eval "$(ls -d "$runs"/pendulum/sac/*/ | head -1)" --episodes 5 --seed 0 --render docs/pendulum_sac.gif
