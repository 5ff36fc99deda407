//! `host`: loads acgap plugins and runs them. This file only dispatches; the layers, each a
//! folder, from the bottom up:
//! - `plugins`: finding plugin libraries by name, resolving configs, loading agents;
//! - `run/`: the run model (`spec`) and the loop of one run — stepping, replay, evaluation,
//!   checkpoints, signals — with the one path single runs and sessions take (`start`, `finish`);
//! - `diagnostics/`: the gap and exact tabular diagnostics a run logs;
//! - `output/`: run and session folders, their logs and status, plots;
//! - `session/`: comparisons over plugins and seeds, with their statistics and reports;
//! - `tools/`: `bench`, `exact` (dynamic programming), `score`, `inspect`;
//! - `cli`: the command line.

mod cli;
mod diagnostics;
#[cfg(test)]
mod fuzz;
mod output;
mod plugins;
mod run;
mod session;
mod tools;

use clap::{CommandFactory, FromArgMatches};
use cli::{Cli, Command};
use session::spec::SessionSpec;
use std::process::ExitCode;

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
    let result = run::interrupt::install()
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
            match run::interrupt::requested() {
                Some(sig) => ExitCode::from(128 + sig as u8),
                None => ExitCode::from(2),
            }
        }
    }
}

fn dispatch(cli: Cli) -> Result<(), String> {
    match cli.command {
        Some(Command::Inspect { plugin }) => tools::inspect::run(&plugin),
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
        Some(Command::Plot { runs, out, title }) => output::plot::runs_curve(&runs, &out, &title)
            .map(|()| println!("wrote {}", out.display())),
        Some(Command::Exact {
            env,
            actor,
            critic,
            iterations,
            actor_lr,
            critic_lr,
            runs,
        }) => tools::exact_dp::run(
            &tools::exact_dp::Options {
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
        }) => tools::score::run(
            &tools::score::Options {
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
        }) => tools::bench::mujoco_only(quick, json.as_deref()),
        Some(Command::Bench { quick, json, .. }) => tools::bench::run(quick).and_then(|report| {
            tools::bench::print(&report);
            match json {
                Some(path) => output::run_dir::write_json(&path, &report),
                None => Ok(()),
            }
        }),
        Some(Command::Report { session, threshold }) => session::read(&session)
            .and_then(|s| session::summary::write(&session, &s, threshold).map(|_| ()))
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
        None if session::wanted(&cli.train) => session::from_cli(&cli.train),
        None => run::single(&cli.train).map(|done| {
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
