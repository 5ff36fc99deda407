//! `host eval RUN_DIR`: load a run's latest verified checkpoint, run deterministic episodes on
//! a freshly seeded env, print their mean ± std, and optionally render the first one to an
//! animated GIF (classic-control tasks, `render`).

mod render;

use crate::run::checkpoint;
use crate::run::spec::{RunSpec, build_agent};
use acgap_sdk::seeds;
use std::path::PathBuf;

/// `host eval`'s arguments.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// A run directory (holds `run.json` and `checkpoints/`).
    pub run: PathBuf,
    /// Deterministic episodes to run.
    #[arg(long, default_value_t = 10, value_parser = crate::cli::count::<1, 1_000_000, usize>)]
    pub episodes: usize,
    /// Seed of the evaluation env (episodes differ by their initial states).
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Render the first episode to this animated GIF (pendulum, cartpole, mountaincar).
    #[arg(long, value_name = "OUT.gif")]
    pub render: Option<PathBuf>,
}

/// The returns of the episodes, and the first episode's observations when asked.
pub struct Evaluation {
    pub step: usize,
    pub returns: Vec<f64>,
    pub frames: Vec<Vec<f32>>,
}

/// Run the episodes of `host eval`.
pub fn evaluate(a: &Args) -> Result<Evaluation, String> {
    if a.episodes == 0 {
        return Err("--episodes must be at least 1".into());
    }
    let text = std::fs::read_to_string(a.run.join("run.json")).map_err(|e| {
        format!(
            "`{}` is not a run directory (no readable run.json: {e})",
            a.run.display()
        )
    })?;
    let spec: RunSpec = serde_json::from_str(&text)
        .map_err(|e| format!("`{}/run.json` is corrupt: {e}", a.run.display()))?;
    let ckpt = checkpoint::load(&a.run, &checkpoint::spec_digest(&spec))?;
    let mut agent = build_agent(&spec)?;
    agent
        .load(&ckpt.agent)
        .map_err(|e| format!("plugin `{}` cannot load its checkpoint: {e}", spec.agent))?;
    if let Some(out) = &a.render {
        render::check(&spec.env)?;
        crate::output::folder::check_output_file("the GIF", out)?;
    }
    let mut env = acgap_envs::make(&spec.env, seeds::derive(a.seed, "host_eval"))
        .map_err(|e| e.to_string())?;
    let (mut returns, mut frames) = (Vec::new(), Vec::new());
    for episode in 0..a.episodes {
        let mut obs = env.reset();
        let mut ret = 0.0;
        if let Some(fault) = env.fault() {
            return Err(fault.to_string());
        }
        loop {
            if episode == 0 && a.render.is_some() {
                frames.push(obs.clone());
            }
            let action = agent
                .act(&obs, 1, true)
                .map_err(|e| format!("plugin `{}` failed to act: {e}", spec.agent))?;
            let step = env.step(&action);
            if let Some(fault) = env.fault() {
                return Err(fault.to_string());
            }
            ret += step.reward;
            obs = step.obs;
            if step.terminated || step.truncated {
                break;
            }
        }
        returns.push(ret);
    }
    Ok(Evaluation {
        step: ckpt.host.step,
        returns,
        frames,
    })
}

/// `host eval`: evaluate, print, render.
pub fn command(a: &Args) -> Result<(), String> {
    let e = evaluate(a)?;
    let n = e.returns.len() as f64;
    let mean = e.returns.iter().sum::<f64>() / n;
    let std = (e.returns.iter().map(|r| (r - mean).powi(2)).sum::<f64>() / n).sqrt();
    println!(
        "{} (checkpoint at step {}), {} deterministic episodes, env seed {}:",
        a.run.display(),
        e.step,
        e.returns.len(),
        a.seed
    );
    println!("return {mean:.2} ± {std:.2}");
    let list: Vec<String> = e.returns.iter().map(|r| format!("{r:.2}")).collect();
    println!("episodes: {}", list.join(", "));
    if let Some(out) = &a.render {
        let text = std::fs::read_to_string(a.run.join("run.json")).unwrap_or_default();
        let env_id = serde_json::from_str::<RunSpec>(&text)
            .map(|s| s.env)
            .unwrap_or_default();
        render::gif(&env_id, &e.frames, out)?;
        println!("wrote {} ({} frames)", out.display(), e.frames.len());
    }
    Ok(())
}
