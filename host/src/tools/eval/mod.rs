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
    /// Deterministic episodes to run (default: the run's own `eval_episodes` when repeating
    /// its evaluation, else 10).
    #[arg(long, value_parser = crate::bounded::count::<1, 1_000_000, usize>)]
    pub episodes: Option<usize>,
    /// Seed of a fresh evaluation env (episodes differ by their initial states). Without it,
    /// the run's own evaluation stream: the checkpoint's last evaluation is repeated exactly.
    #[arg(long)]
    pub seed: Option<u64>,
    /// Render the first episode to this animated GIF (pendulum, cartpole, mountaincar).
    #[arg(long, value_name = "OUT.gif")]
    pub render: Option<PathBuf>,
}

/// The returns of the episodes, and the first episode's observations when asked.
pub struct Evaluation {
    /// The run's env id (what a render draws).
    pub env: String,
    pub step: usize,
    /// Where the episodes' initial states came from, in words.
    pub source: String,
    /// The mean the run itself logged for these very episodes, when they repeat its last
    /// evaluation.
    pub logged_mean: Option<f64>,
    pub returns: Vec<f64>,
    pub frames: Vec<Vec<f32>>,
}

/// Run the episodes of `host eval`.
pub fn evaluate(a: &Args) -> Result<Evaluation, String> {
    if let Some(out) = &a.render {
        crate::output::folder::check_output_file("the GIF", out)?;
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
    if a.render.is_some() {
        render::check(&spec.env)?;
    }
    // The one env this evaluation needs; the agent is built from its spec.
    let seed = a.seed.map_or(0, |s| seeds::derive(s, "host_eval"));
    let mut env = acgap_envs::make(&spec.env, seed).map_err(|e| e.to_string())?;
    let mut agent = build_agent(&spec, env.spec())?;
    agent
        .load(&ckpt.agent)
        .map_err(|e| format!("plugin `{}` cannot load its checkpoint: {e}", spec.agent))?;
    let host = &ckpt.host;
    let step = host.step;
    let (source, logged_mean, episodes) = match a.seed {
        Some(seed) => (
            format!("a fresh env, seed {seed}"),
            None,
            a.episodes.unwrap_or(10),
        ),
        None => {
            let repeat =
                host.last_eval_step == Some(step) && !host.eval_env_before_last_eval.is_null();
            let (snapshot, source) = if repeat {
                let source = format!(
                    "the run's own evaluation stream, as before its evaluation at step {step}"
                );
                (&host.eval_env_before_last_eval, source)
            } else {
                let source = format!(
                    "the run's own evaluation stream, as at the checkpoint (step {step}; its last evaluation was not at this step)"
                );
                (&host.eval_env, source)
            };
            env.restore(snapshot)?;
            let logged = if repeat { host.last_eval } else { None };
            let episodes = a
                .episodes
                .unwrap_or(if repeat { spec.eval_episodes } else { 10 });
            (
                source,
                logged.filter(|_| episodes == spec.eval_episodes),
                episodes,
            )
        }
    };
    let (mut returns, mut frames) = (Vec::new(), Vec::new());
    for episode in 0..episodes {
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
        env: spec.env,
        step,
        source,
        logged_mean,
        returns,
        frames,
    })
}

/// `host eval`: evaluate, print, render.
pub fn command(a: &Args) -> Result<(), String> {
    let e = evaluate(a)?;
    let s = crate::output::run_dir::summary(&e.returns);
    println!(
        "{} (checkpoint at step {}), {} deterministic episodes on {}:",
        a.run.display(),
        e.step,
        e.returns.len(),
        e.source
    );
    println!("return {:.2} ± {:.2}", s.mean, s.std);
    if let Some(logged) = e.logged_mean {
        let same = if logged.to_bits() == s.mean.to_bits() {
            "the same"
        } else {
            "DIFFERENT"
        };
        println!(
            "the run logged {logged} for this evaluation; this one is {}: {same}",
            s.mean
        );
    }
    let list: Vec<String> = e.returns.iter().map(|r| format!("{r:.2}")).collect();
    println!("episodes: {}", list.join(", "));
    if let Some(out) = &a.render {
        render::gif(&e.env, &e.frames, out)?;
        println!("wrote {} ({} frames)", out.display(), e.frames.len());
    }
    Ok(())
}
