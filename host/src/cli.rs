//! Command-line interface (clap). `host --help` is generated from these docs.

pub use crate::run::args::TrainArgs;
use clap::{Parser, Subcommand};

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
    /// Score gap estimators against the true policy gradient — exact on finite MDPs, Monte
    /// Carlo on Pendulum for SAC-family estimators (`--suite pendulum`): relative bias,
    /// variance, MSE, cosines and the share of the actor-critic / policy-gradient gap each
    /// closes (docs/scorecard.md). Writes `<runs>/score/<suite>-<timestamp>/`.
    Score(crate::tools::score::Options),
    /// Evaluate a run's latest checkpoint: deterministic episodes, their mean ± std, and
    /// optionally the first rendered to an animated GIF (`--render out.gif`).
    Eval(crate::tools::eval::Args),
    /// Measure throughput on one thread (SAC updates/s, env steps/s, fraction of the fp32 peak, memory).
    Bench(crate::tools::bench::Args),
}

/// The command line, parsed and checked: clap's own errors exit here (code 2); `--resume`
/// with flags it does not take is refused.
pub fn parse() -> Result<Cli, String> {
    use clap::{CommandFactory, FromArgMatches};
    let matches = Cli::command().get_matches();
    let mut cli = Cli::from_arg_matches(&matches).unwrap_or_else(|e| e.exit());
    // The first `--env` is the run's (several make a multi-task session, which reads `envs`).
    cli.train.settings.env = cli.train.envs[0].clone();
    // `--steps` typed on the command line is the one change a resume takes.
    if matches.value_source("steps") == Some(clap::parser::ValueSource::CommandLine) {
        cli.train.resume_steps = Some(cli.train.settings.steps);
    }
    if let (Some(dir), None) = (&cli.train.resume, &cli.command) {
        check_resume_flags(&matches, dir)?;
    }
    Ok(cli)
}

/// `--resume DIR` continues a run (or session) exactly as its `run.json` (`session.json`)
/// defines it. Besides `--quiet`, a run takes only `--steps N` (to extend it; recorded in
/// run.json), a session only `--jobs`, `--shard`, `--retry-failed` and `--seeds N` (to grow
/// it: session.json is rewritten with the new seeds' runs); any other flag is refused, not ignored.
pub fn check_resume_flags(matches: &clap::ArgMatches, dir: &std::path::Path) -> Result<(), String> {
    let session = dir.join("session.json").is_file();
    let allowed: &[&str] = if session {
        &[
            "resume",
            "quiet",
            "jobs",
            "shard",
            "runs",
            "retry_failed",
            "seeds",
        ]
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
    let how = if session {
        "a session resumes with `--jobs`, `--shard`, `--retry-failed` and `--seeds N` (more seeds) only; \
         to train longer, extend one of its runs with `host --resume RUN_DIR --steps N`, or run the \
         session file again with `--steps N` into a new folder"
    } else {
        "a run may only be extended with `--steps N`"
    };
    Err(format!(
        "`--resume` continues `{}` exactly as its {} defines it and does not take {}; {how}",
        dir.display(),
        if session { "session.json" } else { "run.json" },
        given.join(", ")
    ))
}
