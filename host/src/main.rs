//! `host`: loads acgap plugins and runs them. One module per concept:
//! `cli` (arguments), `plugins` (finding libraries, configs), `train` (the loop),
//! `replay`, `window` (metric aggregation), `run_dir` (logs), `checkpoint`,
//! `plot`, `bench`.

mod bench;
mod checkpoint;
mod cli;
mod gap;
mod plot;
mod plugins;
mod replay;
mod run_dir;
mod train;
mod window;

use acgap_sdk::plugin::ComponentKind;
use acgap_sdk::seeds;
use acgap_sdk::{AgentInit, CorrectionInit};
use clap::Parser;
use cli::{Cli, Command, TrainArgs};
use indicatif::ProgressBar;
use std::process::ExitCode;
use train::{CorrectionSpec, RunSpec, Trainer};

fn main() -> ExitCode {
    // One compute thread per run: parallel runs must not fight over cores. Set before
    // any plugin (each with its own thread pools) is loaded.
    if std::env::var_os("RAYON_NUM_THREADS").is_none() {
        // SAFETY: no other thread exists yet.
        unsafe { std::env::set_var("RAYON_NUM_THREADS", "1") };
    }
    let cli = Cli::parse();
    let result = match cli.command {
        Some(Command::Inspect { plugin }) => inspect(&plugin),
        Some(Command::Envs) => {
            for (id, about) in acgap_envs::ENV_IDS {
                println!("{id:26} {about}");
            }
            Ok(())
        }
        Some(Command::Plot { runs, out, title }) => {
            plot::runs_curve(&runs, &out, &title).map(|()| println!("wrote {}", out.display()))
        }
        Some(Command::Bench { quick, json }) => bench::run(quick).and_then(|report| {
            bench::print(&report);
            match json {
                Some(path) => run_dir::write_json(&path, &report),
                None => Ok(()),
            }
        }),
        None => train(&cli.train).map(|done| {
            println!(
                "finished {} steps; final eval return {:.2}",
                done.steps, done.final_eval
            );
            if let Some(td) = done.td_abs_max {
                // Wen et al. 2021, Fig. 6: Res-SAC's clip c = the largest |TD error| plain SAC sees.
                println!(
                    "largest |TD error| seen: {td:.2} (suggested Res-SAC clip: --set clip={td:.2})"
                );
            }
            match done.curve {
                Ok(path) => println!("learning curve: {}", path.display()),
                Err(e) => eprintln!("warning: {e}"),
            }
        }),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("error: {message}");
            ExitCode::from(2)
        }
    }
}

fn inspect(spec: &str) -> Result<(), String> {
    let (lib, _) = plugins::split_spec(spec);
    let plugin =
        acgap_sdk::plugin::Plugin::open(&plugins::resolve(lib)).map_err(|e| e.to_string())?;
    let b = &plugin.info.build;
    println!("plugin      {}", plugin.path.display());
    println!("crate       {} {}", b.crate_name, b.crate_version);
    println!(
        "sdk         {} (host {})",
        b.sdk_version,
        acgap_sdk::plugin::SDK_VERSION
    );
    println!("rustc       {}", b.rustc);
    println!("panic       {}", b.panic_strategy);
    for c in &plugin.info.components {
        println!("\n{:?} `{}`: {}", c.kind, c.name, c.description);
        println!(
            "default config: {}",
            serde_json::to_string_pretty(&c.default_config).unwrap_or_default()
        );
    }
    Ok(())
}

/// What a finished run reports.
pub(crate) struct Finished {
    pub steps: usize,
    pub final_eval: f64,
    /// The largest |TD error| of the critic seen in the run (SAC-family agents).
    pub td_abs_max: Option<f64>,
    pub curve: Result<std::path::PathBuf, String>,
}

pub(crate) fn train(args: &TrainArgs) -> Result<Finished, String> {
    let (spec, dir, resuming) = match &args.resume {
        Some(dir) => {
            let text = std::fs::read_to_string(dir.join("run.json")).map_err(|e| {
                format!(
                    "`{}` is not a run directory (no readable run.json: {e})",
                    dir.display()
                )
            })?;
            let spec: RunSpec = serde_json::from_str(&text)
                .map_err(|e| format!("`{}/run.json` is corrupt: {e}", dir.display()))?;
            (spec, dir.clone(), true)
        }
        None => {
            let spec = new_run_spec(args)?;
            let plugin_name = spec.agent.clone();
            let dir = args.runs.join(&spec.env).join(plugin_name).join(format!(
                "{}-{}",
                spec.seed,
                run_dir::timestamp()
            ));
            (spec, dir, false)
        }
    };
    let agent = build_agent(&spec)?;
    let mut trainer = if resuming {
        Trainer::resume(spec, dir, agent)?
    } else {
        Trainer::new(spec, dir, agent)?
    };
    let progress = if args.quiet {
        ProgressBar::hidden()
    } else {
        ProgressBar::new(0)
    };
    if !args.quiet || resuming {
        eprintln!("run directory: {}", trainer.dir.display());
    }
    if resuming {
        eprintln!("resuming at step {}", trainer.step());
    }
    let outcome = trainer.run(&progress);
    progress.finish_and_clear();
    let title = format!(
        "{} on {} (seed {})",
        trainer.spec.agent, trainer.spec.env, trainer.spec.seed
    );
    let curve = plot::learning_curve(&trainer.dir, &title);
    if let Some(Err(e)) = plot::gap_curve(&trainer.dir, &format!("critic bias, {title}")) {
        eprintln!("warning: {e}");
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
        td_abs_max: run_dir::train_column_max(&trainer.dir, "train/td_abs_max"),
        curve,
    })
}

fn new_run_spec(args: &TrainArgs) -> Result<RunSpec, String> {
    let plugin_spec = match args.plugin.as_slice() {
        [] => return Err("no plugin given: pass `--plugin sac` (a name) or `--plugin path/to/libsac.so`".into()),
        [one] => one,
        _ => return Err("several `--plugin` flags make a comparison session, which this version does not run yet; pass one `--plugin`".into()),
    };
    acgap_envs::make(&args.env, 0).map_err(|e| e.to_string())?;
    let (plugin, agent) = plugins::open_component(plugin_spec, ComponentKind::Agent)?;
    // `--schedule` and `--env-steps-per-iter` are short for the agent's config keys.
    let mut sets = args.set.clone();
    sets.extend(args.schedule.iter().map(|s| format!("schedule=\"{s}\"")));
    sets.extend(
        args.env_steps_per_iter
            .iter()
            .map(|e| format!("env_steps_per_iter={e}")),
    );
    let agent_config = plugins::resolve_config(
        &plugin,
        ComponentKind::Agent,
        &agent,
        args.config.as_deref(),
        &sets,
    )?;
    let correction = match &args.correction {
        None if !args.correction_set.is_empty() => {
            return Err("`--correction-set` needs a `--correction`".into());
        }
        None => None,
        Some(c) => {
            let (cplugin, name) = plugins::open_component(c, ComponentKind::Correction)?;
            let config = plugins::resolve_config(
                &cplugin,
                ComponentKind::Correction,
                &name,
                None,
                &args.correction_set,
            )?;
            Some(CorrectionSpec {
                plugin: c.clone(),
                plugin_path: cplugin.path.clone(),
                name,
                config,
            })
        }
    };
    Ok(RunSpec {
        plugin: plugin_spec.clone(),
        plugin_path: plugin.path.clone(),
        agent,
        agent_config,
        correction,
        plugin_build: plugin.info.build.clone(),
        env: args.env.clone(),
        steps: args.steps,
        seed: args.seed,
        device: args.device.clone(),
        eval_every: args.eval_every,
        eval_episodes: args.eval_episodes.max(1),
        log_every: args.log_every,
        checkpoint_every: args.checkpoint_every,
        gap: train::GapSpec {
            every: args.gap_every,
            pairs: args.gap_pairs,
            rollouts: args.gap_rollouts,
            horizon: args.gap_horizon,
        },
    })
}

/// Load the agent (and its correction) described by a run spec.
fn build_agent(spec: &RunSpec) -> Result<Box<dyn acgap_sdk::Agent>, String> {
    let env = acgap_envs::make(&spec.env, 0).map_err(|e| e.to_string())?;
    let plugin = acgap_sdk::plugin::Plugin::open(&spec.plugin_path).map_err(|e| e.to_string())?;
    let init = AgentInit {
        config: spec.agent_config.clone(),
        env: env.spec().clone(),
        seed: seeds::derive(spec.seed, "plugin"),
        device: spec.device.clone(),
    };
    let mut agent = plugin
        .new_agent(&spec.agent, &init)
        .map_err(|e| e.to_string())?;
    if let Some(c) = &spec.correction {
        let cplugin = acgap_sdk::plugin::Plugin::open(&c.plugin_path).map_err(|e| e.to_string())?;
        let cinit = CorrectionInit {
            config: c.config.clone(),
            env: env.spec().clone(),
            // The agent's own seed: corrections derive their streams from it (see `acgap_sdk::seeds`).
            seed: init.seed,
            device: spec.device.clone(),
        };
        let correction = cplugin
            .new_correction(&c.name, &cinit)
            .map_err(|e| e.to_string())?;
        agent
            .set_loaded_correction(correction)
            .map_err(|e| format!("cannot attach correction `{}`: {e}", c.name))?;
    }
    Ok(Box::new(agent))
}
