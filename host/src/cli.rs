//! Command-line interface (clap). `host --help` is generated from these docs.

use clap::{Args, Parser, Subcommand};
use std::path::PathBuf;

/// acgap host: trains and evaluates actor-critic plugins on native environments.
///
/// Example: `host --plugin sac --env pendulum --steps 20000 --seed 0`
#[derive(Parser, Debug)]
#[command(name = "host", version, args_conflicts_with_subcommands = true)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,
    #[command(flatten)]
    pub train: TrainArgs,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Print a plugin's build info and components with their default configs.
    Inspect {
        /// Plugin path or name (`sac` finds `libsac.so`).
        plugin: String,
    },
    /// List the environment ids.
    Envs,
    /// Plot the deterministic-eval curves of several runs (e.g. seeds) and their mean into one SVG.
    Plot {
        /// Run directories.
        #[arg(required = true)]
        runs: Vec<std::path::PathBuf>,
        /// Output SVG file.
        #[arg(long, default_value = "curves.svg")]
        out: std::path::PathBuf,
        /// Plot title.
        #[arg(long, default_value = "deterministic evaluation")]
        title: String,
    },
    /// Measure throughput on one thread (SAC updates/s, env steps/s, fraction of the fp32 peak, memory).
    Bench {
        /// Shorter timings, no memory run.
        #[arg(long)]
        quick: bool,
        /// Also write the figures as JSON here.
        #[arg(long)]
        json: Option<std::path::PathBuf>,
    },
}

#[derive(Args, Debug, Clone)]
pub struct TrainArgs {
    /// Plugin path or name. A plugin with several agents takes `name@agent`. Several
    /// `--plugin` flags are reserved for comparison sessions.
    #[arg(long, required = false)]
    pub plugin: Vec<String>,
    /// Correction (gap estimator) plugin path or name, attached to the agent's correction hook.
    /// A plugin with several corrections takes `name@correction`; a bare component name
    /// (e.g. `residual`) is also looked up inside the plugins found.
    #[arg(long)]
    pub correction: Option<String>,
    /// Environment id (see `host envs`).
    #[arg(long, default_value = "pendulum")]
    pub env: String,
    /// Total environment steps.
    #[arg(long, default_value_t = 20_000)]
    pub steps: usize,
    /// Master seed; env, eval env, replay sampling, warm-up actions and the plugin get streams derived from it.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// JSON file with agent config overrides (an object).
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// Agent config override `key=value` (value parsed as JSON, else taken as a string); repeatable.
    #[arg(long = "set", value_name = "KEY=VALUE")]
    pub set: Vec<String>,
    /// The paper's "Algo-x-y" schedule: x critic steps and y correction steps per iteration
    /// (then one actor step). Same as `--set schedule="x-y"`.
    #[arg(long, value_name = "X-Y")]
    pub schedule: Option<String>,
    /// Env steps per iteration (the paper's E = 10). Same as `--set env_steps_per_iter=E`.
    #[arg(long, value_name = "E")]
    pub env_steps_per_iter: Option<usize>,
    /// Correction config override `key=value`; repeatable.
    #[arg(long = "correction-set", value_name = "KEY=VALUE")]
    pub correction_set: Vec<String>,
    /// Compute device handed to the plugin.
    #[arg(long, default_value = "cpu")]
    pub device: String,
    /// Evaluate every this many env steps (0: only at the end).
    #[arg(long, default_value_t = 1000)]
    pub eval_every: usize,
    /// Episodes per evaluation (deterministic policy, separately seeded env).
    #[arg(long, default_value_t = 10)]
    pub eval_episodes: usize,
    /// Average update metrics over windows of this many env steps.
    #[arg(long, default_value_t = 1000)]
    pub log_every: usize,
    /// Write a checkpoint every this many env steps (0: only at the end).
    #[arg(long, default_value_t = 5000)]
    pub checkpoint_every: usize,
    /// Monte-Carlo gap diagnostics every this many env steps (0: off): the critic's bias
    /// against true soft returns from a fixed set of replay states (see README).
    #[arg(long, default_value_t = 0)]
    pub gap_every: usize,
    /// Number of (state, action) pairs of the gap diagnostics.
    #[arg(long, default_value_t = 10)]
    pub gap_pairs: usize,
    /// Monte-Carlo rollouts per pair.
    #[arg(long, default_value_t = 10)]
    pub gap_rollouts: usize,
    /// Rollout length (0: until gamma^H < 1%).
    #[arg(long, default_value_t = 0)]
    pub gap_horizon: usize,
    /// Parent folder of run directories (`<runs>/<env>/<plugin>/<seed>-<timestamp>/`).
    #[arg(long, default_value = "runs")]
    pub runs: PathBuf,
    /// Continue the run in this directory from its last checkpoint, exactly.
    #[arg(long)]
    pub resume: Option<PathBuf>,
    /// Do not draw a progress bar.
    #[arg(long)]
    pub quiet: bool,
}
