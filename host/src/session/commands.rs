//! The session commands: `host session FILE`, `host report DIR`, and the sessions the command
//! line makes (several `--plugin`, `--seeds`, `--shard`, or `--resume` of a session folder).

use super::spec::SessionSpec;
use super::{Options, read, resume, start, summary};
use std::path::{Path, PathBuf};

/// The one rule for run vs session: a session is anything with a session's shape — several
/// plugins, several envs, `--seeds`, a shard, a session folder named with `--out`, or the
/// resumption of a session directory; everything else is one run.
pub fn wanted(args: &crate::run::args::TrainArgs) -> bool {
    args.plugin.len() > 1
        || args.envs.len() > 1
        || args.seeds.is_some()
        || args.shard.is_some()
        || args.out.is_some()
        || args
            .resume
            .as_ref()
            .is_some_and(|d| d.join("session.json").is_file())
}

/// A session from the command line (`--plugin A --plugin B`, `--env A --env B`, `--seeds N`,
/// `--shard`), or
/// the resumption of a session directory.
pub fn from_cli(args: &crate::run::args::TrainArgs) -> Result<(), String> {
    let mut opts = Options::new(args.jobs, args.shard.as_deref(), args.quiet)?;
    if let Some(dir) = &args.resume {
        opts.retry_failed = args.retry_failed;
        return resume(dir, &opts, args.seeds).map(|_| ());
    }
    let spec = SessionSpec {
        name: None,
        description: None,
        plugins: crate::run::args::entries(args)?,
        seeds: args.seeds.unwrap_or(1),
        seed: args.seed,
        threshold: args.threshold,
        settings: args.settings.clone(),
        envs: if args.envs.len() > 1 {
            args.envs.clone()
        } else {
            Vec::new()
        },
    };
    start(&spec, args.out.clone(), &args.runs, &opts).map(|_| ())
}

/// `host session FILE`'s arguments.
#[derive(clap::Args, Debug)]
pub struct SessionArgs {
    /// Session file.
    file: PathBuf,
    /// Runs in parallel (default: the number of cores).
    #[arg(long, value_name = "N", value_parser = crate::bounded::count::<1, 1024, usize>)]
    jobs: Option<usize>,
    /// Run only the i-th (0-based) of n slices of the grid; needs `--out`.
    #[arg(long, value_name = "I/N")]
    shard: Option<String>,
    /// Session directory (default: `runs/sessions/<name>-<timestamp>/`).
    #[arg(long)]
    out: Option<PathBuf>,
    /// Replace the file's training length (e.g. a paper's full budget).
    #[arg(long, value_name = "N", value_parser = crate::bounded::count::<1, { 1 << 40 }, usize>)]
    steps: Option<usize>,
    /// Replace the file's environment (e.g. another goal cell: `fourroom:goal=[1,1]`); repeat
    /// it for a multi-task session (`--env pendulum --env cartpole`).
    #[arg(long, value_name = "ID")]
    env: Vec<String>,
    /// Replace the file's number of seeds.
    #[arg(long, value_name = "N", value_parser = crate::bounded::count::<1, 10_000, u64>)]
    seeds: Option<u64>,
    /// Do not draw progress bars.
    #[arg(long)]
    quiet: bool,
}

/// `host session FILE`: the file's session, with the command line's replacements.
pub fn command(a: SessionArgs) -> Result<(), String> {
    let mut spec = SessionSpec::read(&a.file)?;
    spec.settings.steps = a.steps.unwrap_or(spec.settings.steps);
    match a.env.as_slice() {
        [] => {}
        [one] => {
            spec.settings.env = one.clone();
            spec.envs.clear();
        }
        many => spec.envs = many.to_vec(),
    }
    spec.seeds = a.seeds.unwrap_or(spec.seeds);
    spec.check()?;
    let opts = Options::new(a.jobs, a.shard.as_deref(), a.quiet)?;
    start(&spec, a.out, Path::new("runs"), &opts).map(|_| ())
}

/// `host report DIR`: rewrite a session's report and print it.
pub fn report_command(dir: &Path, threshold: Option<f64>) -> Result<(), String> {
    let session = read(dir)?;
    summary::write(dir, &session, threshold)?;
    print!(
        "{}",
        std::fs::read_to_string(dir.join("summary.md")).unwrap_or_default()
    );
    println!(
        "wrote {}/summary.md, summary.csv, curves.svg, curves.png",
        dir.display()
    );
    Ok(())
}
