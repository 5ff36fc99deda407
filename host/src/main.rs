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

mod bounded;
mod cli;
mod diagnostics;
#[cfg(test)]
mod fuzz;
mod output;
mod plugins;
mod run;
mod session;
mod tools;

use cli::{Cli, Command};
use std::process::ExitCode;

fn main() -> ExitCode {
    keep_large_blocks_in_the_heap();
    // One compute thread per run: parallel runs must not fight over cores. Set before
    // any plugin (each with its own thread pools) is loaded.
    if std::env::var_os("RAYON_NUM_THREADS").is_none() {
        // SAFETY: no other thread exists yet.
        unsafe { std::env::set_var("RAYON_NUM_THREADS", "1") };
    }
    let result = run::interrupt::install()
        .and_then(|()| cli::parse())
        .and_then(dispatch);
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
            tools::inspect::envs();
            Ok(())
        }
        Some(Command::Plot { runs, out, title }) => output::plot::runs_curve(&runs, &out, &title)
            .map(|()| println!("wrote {}", out.display())),
        Some(Command::Exact(o)) => tools::exact_dp::command(&o),
        Some(Command::Score(o)) => tools::score::command(&o),
        Some(Command::Bench(a)) => tools::bench::command(&a),
        Some(Command::Eval(a)) => tools::eval::command(&a),
        Some(Command::Report { session, threshold }) => {
            session::report_command(&session, threshold)
        }
        Some(Command::Session(a)) => session::command(a),
        None if session::wanted(&cli.train) => session::from_cli(&cli.train),
        None => run::command(&cli.train),
    }
}

/// glibc serves blocks above 128 KiB (a 256 x 256 f32 activation is 256 KiB) with a fresh
/// `mmap` and unmaps them on free, so every network operation of a 2 x 256 SAC update paid page
/// faults and page clearing (perf: ~5% of the update in the kernel, 0.3 s of system time in a
/// 2,000-step run). With these thresholds they stay in the heap and are reused: the same run
/// spent 0.02 s in the kernel and was 6% faster (docs/performance.md). Plugins share this
/// allocator (they are loaded into this process), so it covers them too.
fn keep_large_blocks_in_the_heap() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only sets allocator parameters; called before any other thread exists.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 64 << 20);
        libc::mallopt(libc::M_TRIM_THRESHOLD, 256 << 20);
    }
}
