//! The run loop: one (plugin, env, seed) run from its spec to its folder — stepping, replay,
//! evaluation and diagnostics, checkpoints, signals — and the one path (`start`, `finish`)
//! that single runs and sessions both take.

pub mod args;
pub mod checkpoint;
pub mod envs;
mod evaluation;
mod failure;
pub mod interrupt;
mod off_policy;
mod on_policy;
pub mod replay;
mod setup;
mod slot;
pub mod spec;
mod stepping;
pub mod trainer;
pub mod window;

use crate::output::folder::Lock;
use crate::output::plot;
use args::TrainArgs;
use envs::Envs;
use failure::RunFailure;
use indicatif::ProgressBar;
use spec::{Extension, RunSpec};
use std::path::PathBuf;
use trainer::Trainer;

/// What `finish` leaves: the trainer (its folder, step, last evaluation), how the run ended, the
/// learning curve, and warnings about plots that could not be drawn.
pub struct Outcome {
    pub trainer: Trainer,
    pub outcome: Result<(), RunFailure>,
    pub curve: Result<PathBuf, String>,
    pub warnings: Vec<String>,
}

/// A run's envs (one per role) and its agent, built from the training env's spec.
pub fn prepare(
    spec: &RunSpec,
    from_checkpoint: bool,
) -> Result<(Envs, Box<dyn acgap_sdk::Agent>), String> {
    let envs = Envs::make(spec, from_checkpoint)?;
    let agent = crate::run::spec::build_agent(spec, envs.spec())?;
    Ok((envs, agent))
}

/// The trainer of a run in an existing folder `dir`: resumed from its checkpoint, or
/// started over.
pub fn start(spec: RunSpec, dir: PathBuf, lock: Lock) -> Result<Trainer, String> {
    if checkpoint::exists(&dir) {
        let (envs, agent) = prepare(&spec, true)?;
        return Trainer::resume(spec, dir, agent, envs, lock);
    }
    // New, or stopped before its first checkpoint (every run that ends writes one): nothing
    // to continue, so start over cleanly (run.json is written again from the spec), keeping
    // the lock file this process holds. A finished run without checkpoints had them
    // deleted: its results are not thrown away.
    let status = std::fs::read_to_string(dir.join("status.json")).unwrap_or_default();
    if serde_json::from_str::<crate::output::run_dir::Status>(&status)
        .is_ok_and(|s| s.state == crate::output::run_dir::RunState::Finished)
    {
        return Err(format!(
            "`{}` is finished but has no checkpoint (`checkpoints/` was removed): it cannot \
             be continued, and starting it over would discard its results",
            dir.display()
        ));
    }
    for entry in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
        if entry.file_name() != ".lock" {
            let p = entry.path();
            let gone = if p.is_dir() {
                std::fs::remove_dir_all(&p)
            } else {
                std::fs::remove_file(&p)
            };
            gone.map_err(|e| format!("cannot clear `{}`: {e}", p.display()))?;
        }
    }
    let (envs, agent) = prepare(&spec, false)?;
    Trainer::new(spec, dir, agent, envs, lock)
}

/// The one path every run ends through, single or in a session: run the trainer to its end
/// and draw its learning curve, gap and tabular plots.
pub fn finish(mut trainer: Trainer, progress: &ProgressBar, title: &str) -> Outcome {
    let outcome = trainer.run(progress);
    let curve = plot::learning_curve(&trainer.dir, title);
    let mut warnings = Vec::new();
    if let Some(Err(e)) = plot::gap_curve(&trainer.dir, &format!("critic bias, {title}")) {
        warnings.push(e);
    }
    if let Some(Err(e)) = plot::tabular_values(&trainer.dir, &format!("values, {title}")) {
        warnings.push(e);
    }
    Outcome {
        trainer,
        outcome,
        curve,
        warnings,
    }
}

/// What a finished run reports.
pub struct Finished {
    pub steps: usize,
    pub final_eval: f64,
    /// The largest |TD error| of the critic seen in the run (SAC-family agents).
    pub td_abs_max: Option<f64>,
    pub curve: Result<std::path::PathBuf, String>,
}

/// `host --plugin P --env E ...` or `host --resume RUN_DIR`: one run, and what it says.
pub fn command(args: &TrainArgs) -> Result<(), String> {
    let done = single(args)?;
    println!(
        "finished {} steps; final eval return {:.2}",
        done.steps, done.final_eval
    );
    if let Some(td) = done.td_abs_max {
        // Wen et al. 2021, Fig. 6: Res-SAC's clip c = the largest |TD error| plain SAC sees.
        println!("largest |TD error| seen: {td:.2} (suggested Res-SAC clip: --set clip={td:.2})");
    }
    match done.curve {
        Ok(path) => println!("learning curve: {}", path.display()),
        Err(e) => eprintln!("warning: {e}"),
    }
    Ok(())
}

/// One run, started or resumed, to its end.
pub fn single(args: &TrainArgs) -> Result<Finished, String> {
    let (trainer, resuming) = match &args.resume {
        Some(dir) => {
            let text = std::fs::read_to_string(dir.join("run.json")).map_err(|e| {
                format!(
                    "`{}` is not a run directory (no readable run.json: {e})",
                    dir.display()
                )
            })?;
            let mut spec: RunSpec = serde_json::from_str(&text)
                .map_err(|e| format!("`{}/run.json` is corrupt: {e}", dir.display()))?;
            let lock = crate::output::folder::Lock::acquire(dir)?;
            if let Some(steps) = args.resume_steps
                && steps != spec.steps
            {
                // `--resume DIR --steps N`: the one change a resume allows, recorded in run.json.
                spec.extended.push(Extension {
                    from_steps: spec.steps,
                    to_steps: steps,
                });
                spec.steps = steps;
            }
            (start(spec, dir.clone(), lock)?, true)
        }
        None => {
            crate::output::folder::check_output_root("`--runs`", &args.runs)?;
            // Envs and agent first: an env or a config that cannot be made leaves no empty
            // run folder behind.
            let spec = new_run_spec(args)?;
            let (envs, agent) = prepare(&spec, false)?;
            let env = crate::output::folder::sanitize(&spec.env);
            crate::output::folder::check_name("env id", &env)?;
            let base = args.runs.join(env).join(&spec.agent).join(format!(
                "{}-{}",
                spec.seed,
                crate::output::run_dir::timestamp()
            ));
            let dir = crate::output::folder::create_unique(&base)?;
            let lock = crate::output::folder::Lock::acquire(&dir)?;
            (Trainer::new(spec, dir, agent, envs, lock)?, false)
        }
    };
    if !args.quiet || resuming {
        eprintln!("run directory: {}", trainer.dir.display());
    }
    let progress = if args.quiet {
        ProgressBar::hidden()
    } else {
        ProgressBar::new(0)
    };
    let spec = &trainer.spec;
    let title = format!("{} on {} (seed {})", spec.agent, spec.env, spec.seed);
    if resuming {
        match trainer.step() {
            0 => eprintln!("no checkpoint was written before the run stopped: starting it over"),
            step => eprintln!("resuming at step {step}"),
        }
    }
    let Outcome {
        trainer,
        outcome,
        curve,
        warnings,
    } = finish(trainer, &progress, &title);
    progress.finish_and_clear();
    for w in warnings {
        eprintln!("warning: {w}");
    }
    if let Err(failure) = outcome {
        return Err(format!(
            "{}\nThe run is marked `{}` in {}/status.json; its metrics and last checkpoint stay readable.",
            failure.message,
            failure.state,
            trainer.dir.display()
        ));
    }
    Ok(Finished {
        steps: trainer.step(),
        final_eval: trainer.last_eval().unwrap_or(f64::NAN),
        td_abs_max: crate::output::run_dir::train_column_max(&trainer.dir, "train/td_abs_max"),
        curve,
    })
}

fn new_run_spec(args: &TrainArgs) -> Result<RunSpec, String> {
    let entries = args::entries(args)?;
    crate::run::spec::resolve_entry(&entries[0], &args.settings, args.seed)
}
