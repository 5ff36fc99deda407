//! `host`: loads acgap plugins and runs them. One module per concept:
//! `cli` (arguments), `plugins` (finding libraries, configs), `train` (the loop),
//! `replay`, `window` (metric aggregation), `run_dir` (logs), `checkpoint`,
//! `session` (comparisons over plugins and seeds), `plot`, `bench`.

mod bench;
mod checkpoint;
mod cli;
mod dp;
mod folder;
#[cfg(test)]
mod fuzz;
mod gap;
mod interrupt;
mod plot;
mod plugins;
mod replay;
mod run_dir;
mod score;
mod session;
mod tabular;
mod train;
mod window;

use clap::{CommandFactory, FromArgMatches};
use cli::{Cli, Command, TrainArgs};
use indicatif::ProgressBar;
use session::spec::{Entry, SessionSpec};
use std::process::ExitCode;
use train::{RunSpec, Trainer};

fn main() -> ExitCode {
    // One compute thread per run: parallel runs must not fight over cores. Set before
    // any plugin (each with its own thread pools) is loaded.
    if std::env::var_os("RAYON_NUM_THREADS").is_none() {
        // SAFETY: no other thread exists yet.
        unsafe { std::env::set_var("RAYON_NUM_THREADS", "1") };
    }
    let matches = Cli::command().get_matches();
    let mut cli = Cli::from_arg_matches(&matches).unwrap_or_else(|e| e.exit());
    if matches.value_source("steps") == Some(clap::parser::ValueSource::CommandLine) {
        cli.train.resume_steps = Some(cli.train.settings.steps);
    }
    let result = interrupt::install()
        .and_then(|()| match &cli.train.resume {
            Some(dir) if cli.command.is_none() => cli::check_resume_flags(&matches, dir),
            _ => Ok(()),
        })
        .and_then(|()| dispatch(cli));
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("error: {message}");
            // An interrupted run or session exits 128 + the signal, as shells expect.
            match interrupt::requested() {
                Some(sig) => ExitCode::from(128 + sig as u8),
                None => ExitCode::from(2),
            }
        }
    }
}

fn dispatch(cli: Cli) -> Result<(), String> {
    match cli.command {
        Some(Command::Inspect { plugin }) => inspect(&plugin),
        Some(Command::Envs) => {
            for (id, about) in acgap_envs::ENV_IDS {
                println!("{id:26} {about}");
            }
            let mujoco = acgap_envs::mujoco::availability();
            println!(
                "\nMuJoCo tasks (halfcheetah, hopper, walker2d, reacher): {}",
                match &mujoco {
                    Ok(()) => format!(
                        "available (MuJoCo {}, Gymnasium {} models)",
                        acgap_envs::mujoco::MUJOCO_VERSION,
                        acgap_envs::mujoco::GYMNASIUM_VERSION
                    ),
                    Err(why) => format!("not available. {why}"),
                }
            );
            Ok(())
        }
        Some(Command::Plot { runs, out, title }) => {
            plot::runs_curve(&runs, &out, &title).map(|()| println!("wrote {}", out.display()))
        }
        Some(Command::Exact {
            env,
            actor,
            critic,
            iterations,
            actor_lr,
            critic_lr,
            runs,
        }) => dp::run(
            &dp::Options {
                env,
                actors: actor,
                critics: critic,
                iterations,
                actor_lr,
                critic_lr,
            },
            &runs,
        )
        .map(|dir| println!("wrote {}/dp.csv, dp_J.png, dp_Jq.png", dir.display())),
        Some(Command::Score {
            estimators,
            suite,
            batches,
            warmup,
            seed,
            sampling,
            quiet,
            runs,
        }) => score::run(
            &score::Options {
                estimators,
                suite,
                batches,
                warmup,
                seed,
                sampling,
                quiet,
            },
            &runs,
        )
        .map(|dir| {
            println!(
                "\nwrote {0}/scorecard.md, scorecard.csv, bias_variance.svg",
                dir.display()
            )
        }),
        Some(Command::Bench {
            quick,
            mujoco: true,
            json,
        }) => bench::mujoco_only(quick, json.as_deref()),
        Some(Command::Bench { quick, json, .. }) => bench::run(quick).and_then(|report| {
            bench::print(&report);
            match json {
                Some(path) => run_dir::write_json(&path, &report),
                None => Ok(()),
            }
        }),
        Some(Command::Report { session, threshold }) => session::read(&session)
            .and_then(|s| session::report::write(&session, &s, threshold).map(|_| ()))
            .map(|()| {
                print!("{}", run_dir_text(&session.join("summary.md")));
                println!(
                    "wrote {}/summary.md, summary.csv, curves.svg, curves.png",
                    session.display()
                );
            }),
        Some(Command::Session {
            file,
            jobs,
            shard,
            out,
            steps,
            env,
            seeds,
            quiet,
        }) => SessionSpec::read(&file).and_then(|mut spec| {
            spec.settings.steps = steps.unwrap_or(spec.settings.steps);
            spec.settings.env = env.unwrap_or(spec.settings.env);
            spec.seeds = seeds.unwrap_or(spec.seeds);
            spec.check()?;
            let opts = session::Options::new(jobs, shard.as_deref(), quiet)?;
            session::start(&spec, out, std::path::Path::new("runs"), &opts).map(|_| ())
        }),
        None if is_session(&cli.train) => run_session(&cli.train),
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
    }
}

fn run_dir_text(path: &std::path::Path) -> String {
    std::fs::read_to_string(path).unwrap_or_default()
}

/// Several plugins, several seeds, a shard, or resuming a session directory.
fn is_session(args: &TrainArgs) -> bool {
    args.plugin.len() > 1
        || args.seeds.is_some()
        || args.shard.is_some()
        || args
            .resume
            .as_ref()
            .is_some_and(|d| d.join("session.json").is_file())
}

fn run_session(args: &TrainArgs) -> Result<(), String> {
    let opts = session::Options::new(args.jobs, args.shard.as_deref(), args.quiet)?;
    if let Some(dir) = &args.resume {
        return session::resume(dir, &opts).map(|_| ());
    }
    let spec = SessionSpec {
        name: None,
        description: None,
        plugins: cli_entries(args)?,
        seeds: args.seeds.unwrap_or(1),
        seed: args.seed,
        threshold: args.threshold,
        settings: args.settings.clone(),
    };
    session::start(&spec, args.out.clone(), &args.runs, &opts).map(|_| ())
}

/// The `--plugin` flags as session entries: the global overrides (`--config`, `--set`,
/// `--schedule`, `--correction`, ...) apply to every plugin, its own after the colon win.
fn cli_entries(args: &TrainArgs) -> Result<Vec<Entry>, String> {
    if args.plugin.is_empty() {
        return Err(
            "no plugin given: pass `--plugin sac` (a name) or `--plugin path/to/libsac.so`".into(),
        );
    }
    let mut set = match &args.config {
        Some(f) => plugins::read_config_file(f)?,
        None => serde_json::Map::new(),
    };
    set.extend(plugins::parse_sets(&args.set)?);
    if let Some(s) = &args.schedule {
        set.insert("schedule".into(), s.clone().into());
    }
    if let Some(e) = args.env_steps_per_iter {
        set.insert("env_steps_per_iter".into(), e.into());
    }
    let correction_set = plugins::parse_sets(&args.correction_set)?;
    args.plugin
        .iter()
        .map(|typed| {
            let own = session::spec::parse_entry(typed)?;
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

fn inspect(spec: &str) -> Result<(), String> {
    let (lib, _) = plugins::split_spec(spec);
    let plugin =
        acgap_sdk::plugin::Plugin::open(&plugins::resolve(lib)?).map_err(|e| e.to_string())?;
    let b = &plugin.info.build;
    println!("plugin      {}", plugin.path.display());
    println!("crate       {} {}", b.crate_name, b.crate_version);
    println!(
        "abi         {} (host {})",
        b.abi_version,
        acgap_sdk::plugin::ABI_VERSION
    );
    println!(
        "sdk         {} (host {})",
        b.sdk_version,
        acgap_sdk::plugin::SDK_VERSION
    );
    println!("rustc       {}", b.rustc);
    println!("panic       {}", b.panic_strategy);
    for c in &plugin.info.components {
        let family = c
            .family
            .as_deref()
            .map(|f| format!(" ({f} family)"))
            .unwrap_or_default();
        println!("\n{:?} `{}`{family}: {}", c.kind, c.name, c.description);
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
    let (spec, dir, resuming, agent, lock) = match &args.resume {
        Some(dir) => {
            let text = std::fs::read_to_string(dir.join("run.json")).map_err(|e| {
                format!(
                    "`{}` is not a run directory (no readable run.json: {e})",
                    dir.display()
                )
            })?;
            let mut spec: RunSpec = serde_json::from_str(&text)
                .map_err(|e| format!("`{}/run.json` is corrupt: {e}", dir.display()))?;
            let lock = folder::Lock::acquire(dir)?;
            if let Some(steps) = args.resume_steps
                && steps != spec.steps
            {
                // `--resume DIR --steps N`: the one change a resume allows, recorded in run.json.
                spec.extended.push(train::Extension {
                    from_steps: spec.steps,
                    to_steps: steps,
                });
                spec.steps = steps;
            }
            let agent = plugins::build_agent(&spec)?;
            (spec, dir.clone(), true, agent, lock)
        }
        None => {
            // The agent first: a config the plugin refuses leaves no empty run folder behind.
            let spec = new_run_spec(args)?;
            let agent = plugins::build_agent(&spec)?;
            let base = args.runs.join(&spec.env).join(&spec.agent).join(format!(
                "{}-{}",
                spec.seed,
                run_dir::timestamp()
            ));
            let dir = folder::create_unique(&base)?;
            let lock = folder::Lock::acquire(&dir)?;
            (spec, dir, false, agent, lock)
        }
    };
    let mut trainer = if resuming {
        Trainer::resume(spec, dir, agent, lock)?
    } else {
        Trainer::new(spec, dir, agent, lock)?
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
    if let Some(Err(e)) = plot::tabular_values(&trainer.dir, &format!("values, {title}")) {
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
    let entries = cli_entries(args)?;
    plugins::resolve_entry(&entries[0], &args.settings, args.seed)
}
