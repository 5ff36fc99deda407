//! Comparison sessions: every (plugin, seed) pair of a grid run in one process on a pool
//! of worker threads, each run on one compute thread with its own run directory, then a
//! report. `spec` (what a session is), `stats` (rliable's statistics), `report`.
//!
//! Layout: `<session>/session.json` (the resolved grid), `<session>/<label>/seed-<s>/`
//! (ordinary run directories), `summary.md`, `summary.csv`, `curves.svg`, `curves.png`.

mod commands;
mod exact_table;
pub mod report;
mod sensitivity;
pub mod spec;
pub mod stats;
pub mod summary;
pub mod sweep;
mod tasks;

pub use commands::{SessionArgs, command, from_cli, report_command, wanted};

use crate::output::folder::Lock;
use crate::output::run_dir::{RunState, Status, write_json};
use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use parking_lot::Mutex;
use spec::{PlannedRun, Session, SessionSpec, Shard};
use std::collections::VecDeque;
use std::path::{Path, PathBuf};
use std::time::Instant;

pub struct Options {
    pub jobs: usize,
    pub shard: Option<Shard>,
    /// No progress bars.
    pub quiet: bool,
    /// Print `summary.md` at the end.
    pub print_report: bool,
    /// Run again the runs that `failed` (a crashed worker, a full disk...), from their last
    /// checkpoint or from the start; `diverged` runs are kept (they would diverge again).
    pub retry_failed: bool,
}

impl Options {
    pub fn new(jobs: Option<usize>, shard: Option<&str>, quiet: bool) -> Result<Self, String> {
        let jobs = match jobs {
            Some(0) => return Err("`--jobs` must be at least 1".into()),
            Some(n) => n,
            None => std::thread::available_parallelism().map_or(1, |n| n.get()),
        };
        let shard = shard.map(Shard::parse).transpose()?;
        Ok(Self {
            jobs,
            shard,
            quiet,
            print_report: true,
            retry_failed: false,
        })
    }
}

/// A new session from `spec` in `out` (default `<runs>/sessions/<name>-<timestamp>`), or, if
/// `out` already holds this very session (another shard, a re-run), joining it.
pub fn start(
    spec: &SessionSpec,
    out: Option<PathBuf>,
    runs_root: &Path,
    opts: &Options,
) -> Result<PathBuf, String> {
    if opts.shard.is_some() && out.is_none() {
        return Err(
            "`--shard` needs `--out DIR`: every shard must write into the same session directory"
                .into(),
        );
    }
    let session = spec.plan()?;
    check_agents(&session)?;
    let dir = match out {
        Some(dir) => {
            // Inside another run or session folder is refused. Only the folders above `dir`
            // are looked at: `dir` itself may be this very session's (another shard, a
            // re-run; joined below), and another shard may write its session.json at any
            // moment; a `dir` that is some other folder is refused below as foreign.
            let parent = dir.parent().filter(|p| !p.as_os_str().is_empty());
            let parent = parent.unwrap_or(Path::new("."));
            crate::output::folder::check_not_inside("`--out`", &dir, parent)?;
            dir
        }
        None => {
            crate::output::folder::check_output_root("`--runs`", runs_root)?;
            // An env id with options (`fourroom:goal=[1,1]`, `gym:ALE/Pong-v5`) as a folder name.
            let name = (spec.name.clone())
                .unwrap_or_else(|| crate::output::folder::sanitize(&spec.settings.env));
            crate::output::folder::check_name("session name", &name)?;
            crate::output::folder::create_unique(
                &runs_root
                    .join("sessions")
                    .join(format!("{name}-{}", crate::output::run_dir::timestamp())),
            )?
        }
    };
    let has_session = || dir.join("session.json").is_file();
    if !has_session() {
        // Shards of one session may start at the same moment: another shard's half-written
        // `session.json` (a hidden temporary file) does not make the folder foreign, and nor
        // does what that shard wrote since this check (its `session.json` is renamed into
        // place before it starts any run, so look for it again).
        let foreign = std::fs::read_dir(&dir)
            .into_iter()
            .flatten()
            .flatten()
            .any(|e| {
                let name = e.file_name().to_string_lossy().into_owned();
                !(name.starts_with(".session.json.") && name.ends_with(".tmp"))
            });
        if foreign && !has_session() {
            return Err(format!(
                "`{}` exists and is not a session directory; refusing to write into it",
                dir.display()
            ));
        }
        if !has_session() {
            std::fs::create_dir_all(&dir)
                .map_err(|e| format!("cannot create session directory `{}`: {e}", dir.display()))?;
            write_json(&dir.join("session.json"), &session)?;
        }
    }
    // Whoever wrote it (this process or a concurrent shard), it must be this very session.
    let existing = read(&dir)?;
    let same = |a: &[spec::PlannedRun], b: &[spec::PlannedRun]| {
        serde_json::to_value(a).ok() == serde_json::to_value(b).ok()
    };
    if !same(&existing.runs, &session.runs) {
        let fewer_seeds = existing.runs.len() < session.runs.len()
            && same(&existing.runs, &session.runs[..existing.runs.len()]);
        if fewer_seeds {
            return Err(format!(
                "`{}` holds this session at its first {} seed(s); to add seeds and keep its runs, grow it with `host --resume {} --seeds {}`",
                dir.display(),
                existing.spec.seeds,
                dir.display(),
                spec.seeds
            ));
        }
        return Err(format!(
            "`{}` already holds a different session; pick a new `--out`, or continue that one with `--resume {}`",
            dir.display(),
            dir.display()
        ));
    }
    execute(&dir, &session, opts)?;
    Ok(dir)
}

/// `session.json` of a session directory.
pub fn read(dir: &Path) -> Result<Session, String> {
    let path = dir.join("session.json");
    let text = std::fs::read_to_string(&path).map_err(|e| {
        format!(
            "`{}` is not a session directory (no readable session.json: {e})",
            dir.display()
        )
    })?;
    serde_json::from_str(&text).map_err(|e| {
        if serde_json::from_str::<SessionSpec>(&text).is_ok() {
            format!(
                "`{}` is a session file, not a session directory; run it with `host session {}`",
                path.display(),
                path.display()
            )
        } else {
            format!("`{}` is corrupt: {e}", path.display())
        }
    })
}

/// Continue a session: finished (and failed) runs are kept, interrupted ones resume from
/// their checkpoints, the rest start. With `seeds`, first grow it to that many seeds
/// (`Session::with_seeds`; session.json is rewritten before any new run starts).
pub fn resume(dir: &Path, opts: &Options, seeds: Option<u64>) -> Result<PathBuf, String> {
    let mut session = read(dir)?;
    if let Some(seeds) = seeds.filter(|&n| n != session.spec.seeds) {
        let grown = session.with_seeds(seeds)?;
        eprintln!(
            "session {}: grown from {} to {seeds} seeds ({} new runs)",
            dir.display(),
            session.spec.seeds,
            grown.runs.len() - session.runs.len()
        );
        write_json(&dir.join("session.json"), &grown)?;
        session = grown;
    }
    execute(dir, &session, opts)?;
    Ok(dir.to_path_buf())
}

/// A run has its outcome if its status says it ended (`running`: killed; `interrupted`: stopped
/// by a signal; `failed`, when retrying failed runs).
fn has_outcome(run_dir: &Path, retry_failed: bool) -> bool {
    std::fs::read_to_string(run_dir.join("status.json"))
        .ok()
        .and_then(|t| serde_json::from_str::<Status>(&t).ok())
        .is_some_and(|s| match s.state {
            RunState::Running | RunState::Interrupted => false,
            RunState::Failed => !retry_failed,
            RunState::Finished | RunState::Diverged => true,
        })
}

/// Run this shard's share of the grid on `opts.jobs` threads, then write the report.
fn execute(dir: &Path, session: &Session, opts: &Options) -> Result<(), String> {
    let mine: Vec<usize> = (0..session.runs.len())
        .filter(|&i| opts.shard.is_none_or(|s| s.takes(i)))
        .collect();
    let pending: VecDeque<usize> = mine
        .iter()
        .copied()
        .filter(|&i| !has_outcome(&dir.join(&session.runs[i].dir), opts.retry_failed))
        .collect();
    let multi = if opts.quiet {
        MultiProgress::with_draw_target(ProgressDrawTarget::hidden())
    } else {
        MultiProgress::new()
    };
    let overall = multi.add(ProgressBar::new(mine.len() as u64));
    overall.set_style(
        ProgressStyle::with_template("{prefix:>28} {bar:30} {pos}/{len} runs  elapsed {elapsed}")
            .expect("valid template"),
    );
    overall.set_prefix("session");
    overall.set_position((mine.len() - pending.len()) as u64);
    let say = |line: String| {
        if multi.is_hidden() {
            eprintln!("{line}");
        } else {
            let _ = multi.println(line);
        }
    };
    say(format!(
        "session {}: {} runs here ({} already done), {} at a time",
        dir.display(),
        mine.len(),
        mine.len() - pending.len(),
        opts.jobs.min(pending.len()).max(1)
    ));
    // Every run this process will write is locked now, for the whole session: a second
    // session or `--resume` on the same folder is refused before anything is written.
    let mut locks = std::collections::HashMap::new();
    for &i in &pending {
        let run_dir = dir.join(&session.runs[i].dir);
        std::fs::create_dir_all(&run_dir)
            .map_err(|e| format!("cannot create `{}`: {e}", run_dir.display()))?;
        locks.insert(i, Lock::acquire(&run_dir)?);
    }
    let locks = Mutex::new(locks);
    let queue = Mutex::new(pending);
    // The runs stop cleanly on a signal, and the report is still written.
    let _catching = crate::run::interrupt::catching();
    std::thread::scope(|scope| {
        for _ in 0..opts.jobs {
            scope.spawn(|| {
                loop {
                    // After SIGINT/SIGTERM the runs in progress checkpoint and stop; no new one starts.
                    if crate::run::interrupt::requested().is_some() {
                        break;
                    }
                    // Take the lock only to pop: `while let` would hold it for the whole run.
                    let Some(i) = queue.lock().pop_front() else {
                        break;
                    };
                    let run = &session.runs[i];
                    let bar =
                        multi.insert_before(&overall, ProgressBar::new(run.spec.steps as u64));
                    bar.set_prefix(format!("{:>20} seed {:<3} ", run.label, run.seed));
                    let clock = Instant::now();
                    let lock = locks
                        .lock()
                        .remove(&i)
                        .expect("every pending run is locked");
                    let outcome = run_guarded(dir, run, &bar, lock);
                    bar.finish_and_clear();
                    multi.remove(&bar);
                    overall.inc(1);
                    let secs = clock.elapsed().as_secs_f64();
                    say(match outcome {
                        Ok(ret) => format!(
                            "finished {} seed {}: final eval return {ret:.1} ({secs:.0} s)",
                            run.label, run.seed
                        ),
                        Err(e) if crate::run::interrupt::requested().is_some() => format!(
                            "stopped  {} seed {}: {}",
                            run.label,
                            run.seed,
                            e.lines().next().unwrap_or_default()
                        ),
                        Err(e) => format!(
                            "FAILED   {} seed {}: {}",
                            run.label,
                            run.seed,
                            e.lines().next().unwrap_or_default()
                        ),
                    });
                }
            });
        }
    });
    overall.finish_and_clear();
    let report = summary::write(dir, session, None)?;
    // Only this shard's runs decide its exit code; other shards' runs may still be pending.
    let unfinished: Vec<String> = mine
        .iter()
        .map(|&i| &report.records[i])
        .filter(|r| !r.finished())
        .map(|r| format!("{} seed {} ({})", r.label, r.seed, r.state_name()))
        .collect();
    if opts.print_report {
        println!(
            "{}",
            std::fs::read_to_string(dir.join("summary.md")).unwrap_or_default()
        );
        println!(
            "report: {}/summary.md, curves: {}/curves.png",
            dir.display(),
            dir.display()
        );
    }
    if unfinished.is_empty() {
        Ok(())
    } else {
        Err(format!(
            "{} of {} runs have no result: {}. The others' results and the report are in `{}`.",
            unfinished.len(),
            mine.len(),
            unfinished.join(", "),
            dir.display()
        ))
    }
}

/// Make each task's env once and build every distinct agent of the grid once (each label's
/// first run), then drop them, so an env that cannot be made, a correction of the wrong
/// family, a schedule that cannot train it or a config the plugin refuses stops the session
/// before anything is written, not run by run.
fn check_agents(session: &Session) -> Result<(), String> {
    let mut envs = std::collections::BTreeMap::new();
    let mut seen = std::collections::BTreeSet::new();
    for run in &session.runs {
        if !envs.contains_key(&run.spec.env) {
            let env = acgap_envs::make(&run.spec.env, 0).map_err(|e| e.to_string())?;
            envs.insert(run.spec.env.clone(), env.spec().clone());
        }
        if seen.insert(&run.label) {
            crate::run::spec::build_agent(&run.spec, &envs[&run.spec.env])
                .map_err(|e| format!("`{}`: {e}", run.label))?;
        }
    }
    Ok(())
}

/// One run; a panic in the host's own code fails only this run.
fn run_guarded(dir: &Path, run: &PlannedRun, bar: &ProgressBar, lock: Lock) -> Result<f64, String> {
    let run_dir = dir.join(&run.dir);
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        run_one(&run_dir, run, bar, lock)
    }))
    .unwrap_or_else(|payload| {
        let msg = payload
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| payload.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "(no message)".into());
        Err(format!("the host panicked while running this run: {msg}"))
    });
    // The trainer marks its own ends (finished, failed, diverged, interrupted); a run that
    // never got that far (a plugin that would not load, a host panic) is marked failed here.
    if let Err(e) = &result
        && !has_outcome(&run_dir, false)
        && crate::run::interrupt::requested().is_none()
    {
        let _ = std::fs::create_dir_all(&run_dir);
        let _ = write_json(&run_dir.join("status.json"), &Status::failed(e.clone()));
    }
    result
}

/// Start, or resume from its checkpoint, one run of the grid; its final eval return.
fn run_one(run_dir: &Path, run: &PlannedRun, bar: &ProgressBar, lock: Lock) -> Result<f64, String> {
    let trainer = crate::run::start(run.spec.clone(), run_dir.to_path_buf(), lock)?;
    let title = format!("{} on {} (seed {})", run.label, run.spec.env, run.seed);
    let crate::run::Outcome {
        trainer, outcome, ..
    } = crate::run::finish(trainer, bar, &title);
    outcome.map_err(|f| f.message)?;
    Ok(trainer.last_eval().unwrap_or(f64::NAN))
}
