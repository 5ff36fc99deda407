//! `host bench`: measured throughput on one thread, with the machine's own fp32
//! peak (the best large single-threaded SGEMM of the kernels available: burn-flex's `gemm`, `faer`)
//! baseline measured in the same run.
//!
//! - SAC updates/s (one update = one critic step + one actor step, SAC-1-0) for the
//!   paper's net (2 x 128, batch 128) and Stable-Baselines3's default (2 x 256, batch 256),
//!   their matmul GFLOP/s and the fraction of the peak;
//! - env steps/s of a whole training run with one update per step (Pendulum);
//! - peak memory (VmHWM) of a 20k-step Pendulum run with a 1M-transition buffer;
//! - session scaling: total env steps/s of a 4-run SAC session with `--jobs N` (N = the
//!   cores) against `--jobs 1`, measured in the same run;
//! - MuJoCo env steps/s per task against Gymnasium's own loop (`mujoco.rs`);
//! - Gymnasium bridge env steps/s against native envs and Gymnasium's own loop (`gym.rs`).

mod cpu;
mod gym;
mod measure;
mod mujoco;
mod peers;
mod print;

use measure::*;
pub use print::print;

use acgap_sdk::plugin::Plugin;
use acgap_sdk::{AgentInit, Batch, BatchKind, UpdateStep};
use clap::Parser;
use rand::{Rng, SeedableRng};
use serde::Serialize;
use std::time::Instant;

#[derive(Serialize)]
struct NetResult {
    name: String,
    hidden: usize,
    batch: usize,
    updates_per_s: f64,
    mflop_per_update: f64,
    gflops: f64,
    fraction_of_peak: f64,
}

#[derive(Serialize)]
struct CorrectionResult {
    agent: String,
    iterations_per_s: f64,
    relative_to_sac: f64,
    /// Gradient steps (critic + correction + actor) per second relative to SAC's (2 per iteration).
    gradient_steps_relative_to_sac: f64,
}

/// One SAC run on several threads (`--threads N`, the device `cpu:N`) against one thread.
#[derive(Serialize)]
struct ThreadsResult {
    net: String,
    threads: usize,
    updates_per_s_one_thread: f64,
    updates_per_s: f64,
    speedup: f64,
}

/// How the agent's CPU kernels were chosen, as `host bench` states it beside them.
fn kernels_source() -> &'static str {
    if std::env::var_os("ACGAP_KERNELS").is_some() {
        "forced by ACGAP_KERNELS"
    } else {
        "chosen by measuring on this CPU, or cached from that"
    }
}

/// The update measurements (`host bench --updates` alone).
#[derive(Serialize)]
pub struct Updates {
    /// The CPU every figure here was measured on.
    cpu: cpu::Cpu,
    /// The best single-thread SGEMM rate of the kernels in `sgemm_kernels`: every fraction of
    /// peak is of this.
    sgemm_peak_gflops: f64,
    sgemm_kernels: Vec<(String, f64)>,
    /// The kernels SAC's fused CPU path ran on (chosen by measuring, or `ACGAP_KERNELS`).
    fused_kernels: Option<String>,
    sac: Vec<NetResult>,
    /// Res-SAC-1-1 and Stack-SAC at the paper's net, against SAC-1-0 measured in the same run.
    corrections: Vec<CorrectionResult>,
    /// SAC at 2 x 256 with as many threads as cores (none on a one-core machine).
    threads: Option<ThreadsResult>,
}

#[derive(Serialize)]
pub struct BenchReport {
    #[serde(flatten)]
    updates: Updates,
    env_steps_per_s_one_update_per_step: f64,
    peak_rss_mib_20k_pendulum: Option<f64>,
    session_scaling: Scaling,
    tabular: Tabular,
    /// AgC and STAC on CartPole, whole runs (rollouts of 1,024 steps).
    on_policy_cartpole: Vec<OnPolicyRow>,
    /// `None` without MuJoCo set up.
    mujoco: Option<Vec<mujoco::MujocoRow>>,
    /// `None` without a Python with Gymnasium.
    gym: Option<Vec<gym::GymRow>>,
}

#[derive(Serialize)]
struct OnPolicyRow {
    agent: String,
    /// `--set` options beyond rollout_len, num_envs and critic_steps.
    options: String,
    envs: usize,
    k: usize,
    env_steps_per_s: f64,
    /// Against AgC with the same envs and k, measured in the same run.
    relative_to_agc: f64,
}

#[derive(Serialize)]
struct Tabular {
    /// FourRoom steps/s with uniformly random actions (the env alone).
    fourroom_env_steps_per_s: f64,
    /// One exact evaluation on FourRoom (416 pairs): q, d, J, the policy gradient, the
    /// Actor^o and Actor^g gradients and the critic loss for a given critic.
    fourroom_exact_ms: f64,
    /// The Stackelberg gradient (full Hessian) on top of an evaluation.
    fourroom_stackelberg_ms: f64,
}

/// `host bench`'s arguments.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// Shorter timings, no memory run.
    #[arg(long)]
    quick: bool,
    /// Only the MuJoCo env rates (native vs Gymnasium's loop).
    #[arg(long, conflicts_with_all = ["gym", "peers"])]
    mujoco: bool,
    /// Only SAC's training loop against SBX (JAX) and Stable-Baselines3, one core each, timed
    /// in turn (needs scripts/setup-peers).
    #[arg(long, conflicts_with_all = ["gym", "updates"])]
    peers: bool,
    /// Only the GEMM peak and the SAC family's update rates (in process, no env).
    #[arg(long, conflicts_with = "gym")]
    updates: bool,
    /// Only the Gymnasium bridge's env rates (gym:<Id> vs native vs Gymnasium's loop).
    #[arg(long)]
    gym: bool,
    /// Also write the figures as JSON here.
    #[arg(long)]
    json: Option<std::path::PathBuf>,
}

/// `host bench`: measure, print, and optionally write the figures as JSON.
pub fn command(a: &Args) -> Result<(), String> {
    if let Some(path) = &a.json {
        crate::output::folder::check_output_file("`--json`", path)?;
    }
    if a.mujoco {
        return mujoco_only(a.quick, a.json.as_deref());
    }
    if a.updates {
        let u = updates(a.quick)?;
        print::updates(&u);
        return match &a.json {
            Some(path) => crate::output::run_dir::write_json(path, &u),
            None => Ok(()),
        };
    }
    if a.peers {
        let r = peers::measure(a.quick)?;
        peers::print(&r);
        return match &a.json {
            Some(path) => crate::output::run_dir::write_json(path, &r),
            None => Ok(()),
        };
    }
    if a.gym {
        let rows = gym::measure(a.quick).ok_or(format!(
            "Gymnasium is not available (run {})",
            acgap_envs::gym::SETUP_COMMAND
        ))?;
        gym::print(&rows);
        return match &a.json {
            Some(path) => crate::output::run_dir::write_json(path, &rows),
            None => Ok(()),
        };
    }
    let report = run(a.quick)?;
    print(&report);
    match &a.json {
        Some(path) => crate::output::run_dir::write_json(path, &report),
        None => Ok(()),
    }
}

/// The GEMM peak, SAC's updates/s at both nets, and the corrections' iterations/s.
pub fn updates(quick: bool) -> Result<Updates, String> {
    let seconds = if quick { 1.0 } else { 4.0 };
    eprintln!("measuring the single-thread SGEMM peak ...");
    let kernels = sgemm_kernels(1024);
    let peak = kernels.iter().map(|k| k.1).fold(0.0, f64::max);
    let plugin = Plugin::open(&crate::plugins::resolve("sac")?).map_err(|e| e.to_string())?;
    let open =
        |name: &str| Plugin::open(&crate::plugins::resolve(name)?).map_err(|e| e.to_string());
    let mut sac = Vec::new();
    let mut fused_kernels = None;
    for (name, hidden, batch) in [
        ("paper (2x128, batch 128)", 128, 128),
        ("SB3 default (2x256, batch 256)", 256, 256),
    ] {
        eprintln!("measuring SAC updates/s, {name} ...");
        let rate = iterations_per_s(&plugin, "sac", (hidden, batch), "cpu", seconds)?;
        let ups = rate.iterations_per_s;
        fused_kernels = rate.kernels;
        let mflop = sac_update_flops(3, 1, hidden, batch) / 1e6;
        let gflops = ups * mflop / 1e3;
        sac.push(NetResult {
            name: name.into(),
            hidden,
            batch,
            updates_per_s: ups,
            mflop_per_update: mflop,
            gflops,
            fraction_of_peak: gflops / peak,
        });
    }
    let mut corrections = Vec::new();
    let sac_paper = sac[0].updates_per_s;
    for name in ["ressac", "stacksac"] {
        eprintln!("measuring {name} iterations/s, paper net ...");
        let rate = iterations_per_s(&open(name)?, name, (128, 128), "cpu", seconds)?;
        let (its, steps) = (rate.iterations_per_s, rate.steps_per_iteration);
        corrections.push(CorrectionResult {
            agent: name.into(),
            iterations_per_s: its,
            relative_to_sac: its / sac_paper,
            gradient_steps_relative_to_sac: its * steps as f64 / (2.0 * sac_paper),
        });
    }
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let threads = if cores > 1 {
        eprintln!("measuring SAC updates/s, 2x256, with {cores} threads ...");
        let device = format!("cpu:{cores}");
        let ups = iterations_per_s(&plugin, "sac", (256, 256), &device, seconds)?.iterations_per_s;
        let one = sac[1].updates_per_s;
        Some(ThreadsResult {
            net: sac[1].name.clone(),
            threads: cores,
            updates_per_s_one_thread: one,
            updates_per_s: ups,
            speedup: ups / one,
        })
    } else {
        None
    };
    Ok(Updates {
        cpu: cpu::Cpu::here(),
        sgemm_peak_gflops: peak,
        sgemm_kernels: kernels,
        fused_kernels,
        sac,
        corrections,
        threads,
    })
}

pub fn run(quick: bool) -> Result<BenchReport, String> {
    let seconds = if quick { 1.0 } else { 4.0 };
    let updates = updates(quick)?;
    let tmp = std::env::temp_dir().join(format!("acgap-bench-{}", std::process::id()));
    let steps = if quick { "1500" } else { "5000" };
    eprintln!("measuring env steps/s with one update per step ({steps} steps) ...");
    let t = Instant::now();
    run_host(
        &[
            "--plugin",
            "sac",
            "--env",
            "pendulum",
            "--steps",
            steps,
            "--set",
            "learning_starts=128",
        ]
        .iter()
        .chain(&TIMING_ONLY)
        .copied()
        .collect::<Vec<_>>(),
        &tmp.join("steps"),
    )?;
    let steps_per_s = steps.parse::<f64>().unwrap_or(0.0) / t.elapsed().as_secs_f64();
    let peak_rss = if quick {
        None
    } else {
        eprintln!("measuring peak memory of a 20k-step Pendulum run (1M-transition buffer) ...");
        let dir = run_host(
            &[
                "--plugin", "sac", "--env", "pendulum", "--steps", "20000", "--seed", "0",
            ],
            &tmp.join("memory"),
        )?;
        let status: serde_json::Value = serde_json::from_str(
            &std::fs::read_to_string(dir.join("status.json")).map_err(|e| e.to_string())?,
        )
        .map_err(|e| e.to_string())?;
        status["peak_rss_mib"].as_f64()
    };
    let on_policy_steps = if quick { 5000 } else { 20000 };
    let mut on_policy_cartpole: Vec<OnPolicyRow> = Vec::new();
    let cases: [(&str, &[&str], usize, usize); 8] = [
        ("agc", &[], 1, 80),
        ("agc", &[], 16, 80),
        ("agc", &[], 1, 1),
        ("agc", &[], 16, 1),
        ("stac", &[], 1, 80),
        ("stac", &[], 1, 1),
        ("stac", &[], 16, 1),
        ("stac", &["hessian=full", "lambda=1"], 1, 80),
    ];
    for (agent, options, envs, k) in cases {
        let label = format!("{agent} {} ({envs} envs, k = {k})", options.join(" "));
        eprintln!("measuring env steps/s on CartPole: {label} ...");
        let envs_set = format!("num_envs={envs}");
        let k_set = format!("critic_steps={k}");
        let steps = on_policy_steps.to_string();
        let mut args = vec![
            "--plugin",
            agent,
            "--env",
            "cartpole",
            "--steps",
            &steps,
            "--set",
            "rollout_len=1024",
            "--set",
            &envs_set,
            "--set",
            &k_set,
        ];
        args.extend(TIMING_ONLY);
        for o in options {
            args.extend(["--set", o]);
        }
        let t = Instant::now();
        let dir = tmp.join(format!("{agent}-{envs}-{k}-{}", on_policy_cartpole.len()));
        run_host(&args, &dir)?;
        let sps = on_policy_steps as f64 / t.elapsed().as_secs_f64();
        let baseline = on_policy_cartpole
            .iter()
            .find(|r| r.agent == "agc" && r.envs == envs && r.k == k)
            .map_or(sps, |r| r.env_steps_per_s);
        on_policy_cartpole.push(OnPolicyRow {
            agent: agent.into(),
            options: options.join(" "),
            envs,
            k,
            env_steps_per_s: sps,
            relative_to_agc: sps / baseline,
        });
    }
    eprintln!("measuring FourRoom env steps/s and exact DP evaluations ...");
    let tabular = tabular(seconds)?;
    let jobs = std::thread::available_parallelism().map_or(1, |n| n.get());
    let (runs, per_run) = if quick { (4, 1500) } else { (4, 4000) };
    eprintln!("measuring session throughput, {runs} SAC runs, --jobs 1 vs --jobs {jobs} ...");
    let one = session_throughput(1, runs, per_run, &tmp.join("jobs-1"))?;
    let many = session_throughput(jobs, runs, per_run, &tmp.join("jobs-n"))?;
    let _ = std::fs::remove_dir_all(&tmp);
    let mujoco = mujoco::measure(quick);
    let gym = gym::measure(quick);
    Ok(BenchReport {
        mujoco,
        gym,
        on_policy_cartpole,
        tabular,
        session_scaling: Scaling {
            runs,
            steps_per_run: per_run,
            jobs,
            env_steps_per_s_jobs_1: one,
            env_steps_per_s_jobs_n: many,
            speedup: many / one,
        },
        updates,
        env_steps_per_s_one_update_per_step: steps_per_s,
        peak_rss_mib_20k_pendulum: peak_rss,
    })
}

/// `host bench --mujoco`: only the MuJoCo env rates.
pub fn mujoco_only(quick: bool, json: Option<&std::path::Path>) -> Result<(), String> {
    let rows =
        mujoco::measure(quick).ok_or("MuJoCo is not available (see `host envs`)".to_string())?;
    mujoco::print(&rows);
    match json {
        Some(path) => crate::output::run_dir::write_json(path, &rows),
        None => Ok(()),
    }
}
