//! The (policy, critics) points of the continuous scorecard: ordinary SAC runs on Pendulum,
//! one per seed, stopped at each stage's step count and continued with an exact resume, so
//! that every stage of a seed is a point of one uninterrupted run. Each point is the run's
//! checkpoint: the agent's state and the replay buffer its minibatches come from.

use crate::output::folder::Lock;
use crate::run::checkpoint;
use crate::run::replay::ReplayBuffer;
use crate::run::spec::{Entry, RunSettings, RunSpec, resolve_entry};
use std::path::Path;

/// One point: a stage of one seed's run.
pub struct Snapshot {
    pub stage: String,
    pub seed: u64,
    pub steps: usize,
    /// The run's last evaluation return at this point.
    pub eval: f64,
    pub spec: RunSpec,
    pub agent: Vec<u8>,
    pub replay: ReplayBuffer,
}

/// Train (or continue) the SAC run of `seed` under `dir` through `stages`, in order.
pub fn train(
    dir: &Path,
    agent: &Entry,
    seed: u64,
    stages: &[(&str, usize)],
) -> Result<Vec<Snapshot>, String> {
    let run_dir = dir.join(format!("seed-{seed}"));
    std::fs::create_dir_all(&run_dir)
        .map_err(|e| format!("cannot create `{}`: {e}", run_dir.display()))?;
    let mut out = Vec::new();
    for &(stage, steps) in stages {
        let settings = RunSettings {
            env: "pendulum".into(),
            steps,
            eval_every: 1000,
            checkpoint_every: 0,
            ..RunSettings::default()
        };
        let spec = resolve_entry(agent, &settings, seed)?;
        let lock = Lock::acquire(&run_dir)?;
        let trainer = crate::run::start(spec.clone(), run_dir.clone(), lock)?;
        let title = format!("SAC on pendulum (seed {seed})");
        let crate::run::Outcome {
            trainer, outcome, ..
        } = crate::run::finish(trainer, &indicatif::ProgressBar::hidden(), &title);
        outcome.map_err(|f| format!("the SAC run of seed {seed}: {}", f.message))?;
        let eval = trainer.last_eval().unwrap_or(f64::NAN);
        drop(trainer);
        let ckpt = checkpoint::load(&run_dir, &checkpoint::spec_digest(&spec))?;
        out.push(Snapshot {
            stage: stage.to_string(),
            seed,
            steps,
            eval,
            spec,
            agent: ckpt.agent,
            replay: ckpt.replay,
        });
    }
    Ok(out)
}
