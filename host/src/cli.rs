//! Command-line interface (clap). `host --help` is generated from these docs.

use crate::run::spec::RunSettings;
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
    /// Write (or rewrite) the comparison report of a session directory: summary.md/.csv,
    /// probability of improvement, curves.svg/.png. Merges the shards of a sharded session.
    Report {
        /// Session directory (holds `session.json`).
        session: std::path::PathBuf,
        /// Report the env steps needed to reach this eval return (default: the session's).
        #[arg(long, allow_hyphen_values = true)]
        threshold: Option<f64>,
    },
    /// Run a comparison session described by a JSON file (see `experiments/`).
    Session(crate::session::SessionArgs),
    /// The paper's dynamic-programming experiments (appendix D.1.1, Fig. 4) on a tabular env:
    /// exact PG / Actor^o / Actor^g actors with BR or TD tabular critics, J and Jq per iteration.
    Exact(crate::tools::exact_dp::Options),
    /// Score gap estimators against the exact policy gradient on finite MDPs: relative bias,
    /// variance, MSE, cosines and the share of the actor-critic / policy-gradient gap each
    /// closes (docs/scorecard.md). Writes `<runs>/score/<suite>-<timestamp>/`.
    Score(crate::tools::score::Options),
    /// Measure throughput on one thread (SAC updates/s, env steps/s, fraction of the fp32 peak, memory).
    Bench(crate::tools::bench::Args),
}

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
    /// Run every plugin with N seeds (`--seed` .. `--seed + N - 1`) as one comparison session.
    #[arg(long, value_name = "N")]
    pub seeds: Option<u64>,
    /// Runs in parallel in a session, each on one compute thread (default: the number of cores).
    #[arg(long, value_name = "N")]
    pub jobs: Option<usize>,
    /// Run only the i-th (0-based) of n slices of a session's (plugin, seed) grid, e.g. on a
    /// cluster job array; needs `--out` so that all shards write into one session directory.
    #[arg(long, value_name = "I/N")]
    pub shard: Option<String>,
    /// Session directory (default: `<runs>/sessions/<name>-<timestamp>/`).
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
    #[arg(long, value_name = "E")]
    pub env_steps_per_iter: Option<usize>,
    /// Correction config override `key=value`; repeatable.
    #[arg(long = "correction-set", value_name = "KEY=VALUE")]
    pub correction_set: Vec<String>,
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
    /// Do not draw progress bars.
    #[arg(long)]
    pub quiet: bool,
}

impl RunSettings {
    /// Refuse settings no run can honour, before anything is allocated or written.
    pub fn check(&self) -> Result<(), String> {
        let within = |name: &str, v: usize, lo: usize, hi: usize| {
            if (lo..=hi).contains(&v) {
                Ok(())
            } else {
                Err(format!("`{name}` must be between {lo} and {hi}, got {v}"))
            }
        };
        within("eval_episodes", self.eval_episodes, 1, 100_000)?;
        within("gap_pairs", self.gap_pairs, 1, 100_000)?;
        within("gap_rollouts", self.gap_rollouts, 1, 100_000)?;
        within("steps", self.steps, 1, 1 << 40)?;
        Ok(())
    }
}

/// `--resume DIR` continues a run (or session) exactly as its `run.json` (`session.json`)
/// defines it. Besides `--quiet`, a run takes only `--steps N` (to extend it; recorded in
/// run.json), a session only `--jobs` and `--shard`; any other flag is refused, not ignored.
pub fn check_resume_flags(matches: &clap::ArgMatches, dir: &std::path::Path) -> Result<(), String> {
    let session = dir.join("session.json").is_file();
    let allowed: &[&str] = if session {
        &["resume", "quiet", "jobs", "shard", "runs"]
    } else {
        &["resume", "quiet", "steps", "runs"]
    };
    let given: Vec<String> = matches
        .ids()
        .map(|id| id.as_str().to_string())
        // Argument groups (the flattened structs) are named in CamelCase; flags are not.
        .filter(|id| !id.starts_with(|c: char| c.is_ascii_uppercase()))
        .filter(|id| matches.value_source(id) == Some(clap::parser::ValueSource::CommandLine))
        .filter(|id| !allowed.contains(&id.as_str()))
        .map(|id| format!("--{}", id.replace('_', "-")))
        .collect();
    if given.is_empty() {
        return Ok(());
    }
    Err(format!(
        "`--resume` continues `{}` exactly as its {} defines it and does not take {}; a run may only be extended with `--steps N`",
        dir.display(),
        if session { "session.json" } else { "run.json" },
        given.join(", ")
    ))
}

/// The `--plugin` flags as session entries: the global overrides (`--config`, `--set`,
/// `--schedule`, `--correction`, ...) apply to every plugin, its own after the colon win.
pub fn entries(args: &TrainArgs) -> Result<Vec<crate::run::spec::Entry>, String> {
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
            let own = crate::session::spec::parse_entry(typed)?;
            let mut entry = crate::run::spec::Entry {
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
