//! The flags of a run on the command line (`host --plugin P --env E ...`), and the session
//! entries several `--plugin` flags make.

use crate::run::spec::{Entry, RunSettings};
use clap::Args;
use std::path::PathBuf;

#[derive(Args, Debug, Clone)]
pub struct TrainArgs {
    /// Plugin path or name. A plugin with several agents takes `name@agent`. Several
    /// `--plugin` flags make a comparison session; each may carry its own overrides after a
    /// colon: `--plugin sac:schedule=10-0,label=SAC-10-0` (keys: agent config keys,
    /// `correction`, `correction.KEY` and `label`).
    #[arg(long, required = false)]
    pub plugin: Vec<String>,
    /// Correction (gap estimator) plugin path or name, attached to the agent's correction hook.
    /// A plugin with several corrections takes `name@correction`; a bare component name
    /// (e.g. `residual`) is also looked up inside the plugins found.
    #[arg(long)]
    pub correction: Option<String>,
    /// Master seed; env, eval env, replay sampling, warm-up actions and the plugin get streams derived from it.
    /// With `--seeds N`, the first of N consecutive seeds.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Run every plugin with N seeds (`--seed` .. `--seed + N - 1`) as one comparison session;
    /// with `--resume SESSION_DIR`, grow that session to N seeds (its runs are kept).
    #[arg(long, value_name = "N", value_parser = crate::bounded::count::<1, 10_000, u64>)]
    pub seeds: Option<u64>,
    /// Runs in parallel in a session, each on one compute thread (default: the number of cores).
    #[arg(long, value_name = "N", value_parser = crate::bounded::count::<1, 1024, usize>)]
    pub jobs: Option<usize>,
    /// Run only the i-th (0-based) of n slices of a session's (plugin, seed) grid, e.g. on a
    /// cluster job array; needs `--out` so that all shards write into one session directory.
    #[arg(long, value_name = "I/N")]
    pub shard: Option<String>,
    /// Session directory (default: `<runs>/sessions/<name>-<timestamp>/`). Naming one makes
    /// a session, even of a single run.
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Report the number of env steps each plugin needs to reach this eval return.
    #[arg(long, allow_hyphen_values = true)]
    pub threshold: Option<f64>,
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
    #[arg(long, value_name = "E", value_parser = crate::bounded::count::<1, 1_000_000, usize>)]
    pub env_steps_per_iter: Option<usize>,
    /// Correction config override `key=value`; repeatable.
    #[arg(long = "correction-set", value_name = "KEY=VALUE")]
    pub correction_set: Vec<String>,
    /// Environment id (see `host envs`). Repeat it to run every plugin on every task as one
    /// multi-task session (`--env pendulum --env cartpole`), with normalised aggregates.
    #[arg(
        long = "env",
        id = "env",
        value_name = "ID",
        default_value = "pendulum"
    )]
    pub envs: Vec<String>,
    #[command(flatten)]
    pub settings: RunSettings,
    /// Parent folder of run directories (`<runs>/<env>/<plugin>/<seed>-<timestamp>/`).
    #[arg(long, default_value = "runs")]
    pub runs: PathBuf,
    /// Continue the run or session in this directory from its last checkpoints, exactly.
    #[arg(long)]
    pub resume: Option<PathBuf>,
    /// With `--resume DIR`: `--steps N` given on the command line (extends the run).
    #[arg(skip)]
    pub resume_steps: Option<usize>,
    /// With `--resume SESSION_DIR`: run again the runs that `failed` (a crashed env worker, a
    /// full disk...), each from its last checkpoint, or from the start without one.
    #[arg(long, requires = "resume")]
    pub retry_failed: bool,
    /// Do not draw progress bars.
    #[arg(long)]
    pub quiet: bool,
}

/// The `--plugin` flags as session entries: the global overrides (`--config`, `--set`,
/// `--schedule`, `--correction`, ...) apply to every plugin, its own after the colon win.
pub fn entries(args: &TrainArgs) -> Result<Vec<Entry>, String> {
    if args.plugin.is_empty() {
        return Err(
            "no plugin given: pass `--plugin sac` (a name) or `--plugin path/to/libsac.so`".into(),
        );
    }
    let mut set = match &args.config {
        Some(f) => crate::plugins::read_config_file(f)?,
        None => serde_json::Map::new(),
    };
    set.extend(crate::plugins::parse_sets(&args.set)?);
    if let Some(s) = &args.schedule {
        set.insert("schedule".into(), s.clone().into());
    }
    if let Some(e) = args.env_steps_per_iter {
        set.insert("env_steps_per_iter".into(), e.into());
    }
    let correction_set = crate::plugins::parse_sets(&args.correction_set)?;
    args.plugin
        .iter()
        .map(|typed| {
            let own = super::spec::Entry::parse(typed)?;
            let mut entry = Entry {
                set: set.clone(),
                correction: args.correction.clone(),
                correction_set: correction_set.clone(),
                config_file: args.config.clone(),
                ..own.clone()
            };
            entry.set.extend(own.set);
            entry.correction = own.correction.or(entry.correction);
            entry.correction_set.extend(own.correction_set);
            Ok(entry)
        })
        .collect()
}
