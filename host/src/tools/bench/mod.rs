//! `host bench`: measured throughput on one thread, with the machine's own fp32
//! peak (a large single-threaded SGEMM with the GEMM kernels burn-flex uses) as the
//! baseline measured in the same run.
//!
//! - SAC updates/s (one update = one critic step + one actor step, SAC-1-0) for the
//!   paper's net (2 x 128, batch 128) and Stable-Baselines3's default (2 x 256, batch 256),
//!   their matmul GFLOP/s and the fraction of the peak;
//! - env steps/s of a whole training run with one update per step (Pendulum);
//! - peak memory (VmHWM) of a 20k-step Pendulum run with a 1M-transition buffer;
//! - session scaling: total env steps/s of a 4-run SAC session with `--jobs N` (N = the
//!   cores) against `--jobs 1`, measured in the same run;
//! - MuJoCo env steps/s per task against Gymnasium's own loop (`mujoco.rs`).

mod mujoco;

use crate::cli::Cli;
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

#[derive(Serialize)]
pub struct BenchReport {
    sgemm_peak_gflops: f64,
    sac: Vec<NetResult>,
    /// Res-SAC-1-1 and Stack-SAC at the paper's net, against SAC-1-0 measured in the same run.
    corrections: Vec<CorrectionResult>,
    env_steps_per_s_one_update_per_step: f64,
    peak_rss_mib_20k_pendulum: Option<f64>,
    session_scaling: Scaling,
    tabular: Tabular,
    /// AgC and STAC on CartPole, whole runs (rollouts of 1,024 steps).
    on_policy_cartpole: Vec<OnPolicyRow>,
    /// `None` without MuJoCo set up.
    mujoco: Option<Vec<mujoco::MujocoRow>>,
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

fn tabular(seconds: f64) -> Result<Tabular, String> {
    let mut env = acgap_envs::make("fourroom", 0).map_err(|e| e.to_string())?;
    let model = env.spec().tabular.clone().ok_or("fourroom has no model")?;
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(0);
    env.reset();
    let (t, mut n) = (Instant::now(), 0u64);
    while t.elapsed().as_secs_f64() < seconds {
        for _ in 0..10_000 {
            let a = [rng.random_range(0..4) as f32];
            std::hint::black_box(env.step(&a));
        }
        n += 10_000;
    }
    let steps = n as f64 / t.elapsed().as_secs_f64();
    let mdp = acgap_exact::Mdp::new(&model)?;
    let theta: Vec<f64> = (0..mdp.pairs())
        .map(|_| rng.random_range(-1.0..1.0))
        .collect();
    let q = acgap_exact::Vector::from_fn(mdp.pairs(), |_, _| rng.random_range(0.0..1.0));
    let time = |f: &dyn Fn()| {
        let (t, mut n) = (Instant::now(), 0u32);
        while t.elapsed().as_secs_f64() < seconds / 2.0 {
            f();
            n += 1;
        }
        1e3 * t.elapsed().as_secs_f64() / n as f64
    };
    let eval = time(&|| {
        let e = acgap_exact::Exact::new(&mdp, &theta);
        std::hint::black_box((
            e.policy_gradient(),
            e.actor_o(&q),
            e.actor_g(&q),
            e.critic_loss(&q),
        ));
    });
    let e = acgap_exact::Exact::new(&mdp, &theta);
    let stack = time(&|| {
        std::hint::black_box(e.stackelberg_full(&q));
    });
    Ok(Tabular {
        fourroom_env_steps_per_s: steps,
        fourroom_exact_ms: eval,
        fourroom_stackelberg_ms: stack,
    })
}

#[derive(Serialize)]
struct Scaling {
    runs: u64,
    steps_per_run: usize,
    jobs: usize,
    env_steps_per_s_jobs_1: f64,
    env_steps_per_s_jobs_n: f64,
    speedup: f64,
}

/// Total env steps/s of a session of `runs` SAC runs (one update per step) on `jobs` workers.
fn session_throughput(
    jobs: usize,
    runs: u64,
    steps: usize,
    dir: &std::path::Path,
) -> Result<f64, String> {
    use crate::run::spec::Entry;
    use crate::session::spec::SessionSpec;
    let mut set = serde_json::Map::new();
    set.insert("learning_starts".into(), 128.into());
    let spec = SessionSpec {
        name: Some("bench".into()),
        description: None,
        plugins: vec![Entry {
            plugin: "sac".into(),
            set,
            ..Entry::default()
        }],
        seeds: runs,
        seed: 0,
        threshold: None,
        settings: crate::run::spec::RunSettings {
            env: "pendulum".into(),
            steps,
            eval_every: 0,
            eval_episodes: 1,
            checkpoint_every: 0,
            ..Default::default()
        },
    };
    let opts = crate::session::Options {
        jobs,
        shard: None,
        quiet: true,
        print_report: false,
    };
    let t = Instant::now();
    crate::session::start(&spec, Some(dir.to_path_buf()), dir, &opts)?;
    Ok((runs as usize * steps) as f64 / t.elapsed().as_secs_f64())
}

/// Best-of-5 single-threaded SGEMM, n x n x n.
fn sgemm_peak(n: usize) -> f64 {
    let a = vec![1.0_f32; n * n];
    let b = vec![0.5_f32; n * n];
    let mut c = vec![0.0_f32; n * n];
    let mut best = f64::INFINITY;
    for _ in 0..5 {
        let t = Instant::now();
        // SAFETY: the three buffers hold n x n row-major matrices.
        unsafe {
            gemm::gemm(
                n,
                n,
                n,
                c.as_mut_ptr(),
                1,
                n as isize,
                false,
                a.as_ptr(),
                1,
                n as isize,
                b.as_ptr(),
                1,
                n as isize,
                0.0,
                1.0,
                false,
                false,
                false,
                gemm::Parallelism::None,
            );
        }
        best = best.min(t.elapsed().as_secs_f64());
    }
    std::hint::black_box(&c);
    2.0 * (n as f64).powi(3) / best / 1e9
}

/// Matmul FLOPs of one SAC-1-0 update. The critic step is an actor forward on s', two
/// target forwards, two online forwards and their backward (2x); the actor step is an
/// actor forward and backward (3x), two critic forwards and their input-gradient
/// backward (2x). In forward units: 4 F_actor + 12 F_critic.
fn sac_update_flops(obs: usize, act: usize, hidden: usize, batch: usize) -> f64 {
    let fwd = |sizes: &[usize]| {
        2.0 * batch as f64 * sizes.windows(2).map(|w| (w[0] * w[1]) as f64).sum::<f64>()
    };
    let actor = fwd(&[obs, hidden, hidden, 2 * act]);
    let critic = fwd(&[obs + act, hidden, hidden, 1]);
    4.0 * actor + 12.0 * critic
}

/// Iterations per second of `agent` from `plugin` on a fixed random Pendulum-shaped batch:
/// one iteration = the agent's own schedule (x critic, y correction, 1 actor step).
fn iterations_per_s(
    plugin: &Plugin,
    agent: &str,
    hidden: usize,
    batch: usize,
    seconds: f64,
) -> Result<(f64, usize), String> {
    use acgap_sdk::{Agent, Training};
    let env = acgap_envs::make("pendulum", 0).map_err(|e| e.to_string())?;
    let defaults = plugin
        .default_config(acgap_sdk::plugin::ComponentKind::Agent, agent)
        .map_err(|e| e.to_string())?;
    let overrides = serde_json::json!({"hidden": [hidden, hidden], "batch_size": batch});
    let config =
        acgap_sdk::plugin::merge_config(agent, &defaults, overrides.as_object().expect("object"))?;
    let init = AgentInit {
        config,
        env: env.spec().clone(),
        seed: 0,
        device: "cpu".into(),
    };
    let mut agent = plugin.new_agent(agent, &init).map_err(|e| e.to_string())?;
    let Training::OffPolicy {
        critic_steps,
        correction_steps,
        actor_steps,
        ..
    } = agent.training()
    else {
        return Err("bench: an off-policy agent is expected".into());
    };
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(0);
    let mut u = |n: usize| {
        (0..n)
            .map(|_| rng.random_range(-1.0..1.0))
            .collect::<Vec<f32>>()
    };
    let (obs, action, reward, next_obs) = (u(batch * 3), u(batch), u(batch), u(batch * 3));
    let zeros = vec![0.0_f32; batch];
    let b = Batch {
        kind: BatchKind::Minibatch,
        len: batch,
        obs: &obs,
        action: &action,
        reward: &reward,
        next_obs: &next_obs,
        terminated: &zeros,
        truncated: &zeros,
    };
    let schedule = [
        (UpdateStep::Critic, critic_steps),
        (UpdateStep::Correction, correction_steps),
        (UpdateStep::Actor, actor_steps),
    ];
    let mut one = || -> Result<(), String> {
        for (step, count) in schedule {
            for _ in 0..count {
                agent.update(&b, step)?;
            }
        }
        Ok(())
    };
    for _ in 0..20 {
        one()?;
    }
    let (t, mut n) = (Instant::now(), 0);
    while t.elapsed().as_secs_f64() < seconds {
        one()?;
        n += 1;
    }
    let steps_per_iteration = critic_steps + correction_steps + actor_steps;
    Ok((n as f64 / t.elapsed().as_secs_f64(), steps_per_iteration))
}

/// Runs `host` itself (same code path as a user's run) and returns its run directory.
/// Flags of a run measured for time only: no evaluation, no checkpoints.
const TIMING_ONLY: [&str; 6] = [
    "--eval-every",
    "0",
    "--eval-episodes",
    "1",
    "--checkpoint-every",
    "0",
];

fn run_host(args: &[&str], runs: &std::path::Path) -> Result<std::path::PathBuf, String> {
    let mut argv = vec!["host"];
    argv.extend_from_slice(args);
    let runs_s = runs.to_str().ok_or("temp path is not UTF-8")?;
    argv.extend_from_slice(&["--quiet", "--runs", runs_s]);
    let cli = Cli::try_parse_from(&argv).map_err(|e| e.to_string())?;
    crate::run::single(&cli.train)?;
    find_status(runs).ok_or_else(|| "bench run left no run directory".to_string())
}

fn find_status(dir: &std::path::Path) -> Option<std::path::PathBuf> {
    if dir.join("status.json").is_file() {
        return Some(dir.to_path_buf());
    }
    std::fs::read_dir(dir)
        .ok()?
        .flatten()
        .filter(|e| e.path().is_dir())
        .find_map(|e| find_status(&e.path()))
}

/// `host bench`'s arguments.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// Shorter timings, no memory run.
    #[arg(long)]
    quick: bool,
    /// Only the MuJoCo env rates (native vs Gymnasium's loop).
    #[arg(long)]
    mujoco: bool,
    /// Also write the figures as JSON here.
    #[arg(long)]
    json: Option<std::path::PathBuf>,
}

/// `host bench`: measure, print, and optionally write the figures as JSON.
pub fn command(a: &Args) -> Result<(), String> {
    if a.mujoco {
        return mujoco_only(a.quick, a.json.as_deref());
    }
    let report = run(a.quick)?;
    print(&report);
    match &a.json {
        Some(path) => crate::output::run_dir::write_json(path, &report),
        None => Ok(()),
    }
}

pub fn run(quick: bool) -> Result<BenchReport, String> {
    let seconds = if quick { 1.0 } else { 4.0 };
    eprintln!("measuring the single-thread SGEMM peak ...");
    let peak = sgemm_peak(1024);
    let plugin = Plugin::open(&crate::plugins::resolve("sac")?).map_err(|e| e.to_string())?;
    let open =
        |name: &str| Plugin::open(&crate::plugins::resolve(name)?).map_err(|e| e.to_string());
    let mut sac = Vec::new();
    for (name, hidden, batch) in [
        ("paper (2x128, batch 128)", 128, 128),
        ("SB3 default (2x256, batch 256)", 256, 256),
    ] {
        eprintln!("measuring SAC updates/s, {name} ...");
        let (ups, _) = iterations_per_s(&plugin, "sac", hidden, batch, seconds)?;
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
        let (its, steps) = iterations_per_s(&open(name)?, name, 128, 128, seconds)?;
        corrections.push(CorrectionResult {
            agent: name.into(),
            iterations_per_s: its,
            relative_to_sac: its / sac_paper,
            gradient_steps_relative_to_sac: its * steps as f64 / (2.0 * sac_paper),
        });
    }
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
    Ok(BenchReport {
        mujoco,
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
        sgemm_peak_gflops: peak,
        sac,
        corrections,
        env_steps_per_s_one_update_per_step: steps_per_s,
        peak_rss_mib_20k_pendulum: peak_rss,
    })
}

pub fn print(r: &BenchReport) {
    println!(
        "single-thread SGEMM peak (1024^3): {:.1} GFLOP/s",
        r.sgemm_peak_gflops
    );
    println!(
        "{:34} {:>10} {:>12} {:>9} {:>9}",
        "SAC-1-0 update (critic + actor)", "updates/s", "MFLOP/upd", "GFLOP/s", "of peak"
    );
    for n in &r.sac {
        println!(
            "{:34} {:>10.0} {:>12.1} {:>9.1} {:>8.1}%",
            n.name,
            n.updates_per_s,
            n.mflop_per_update,
            n.gflops,
            100.0 * n.fraction_of_peak
        );
    }
    for c in &r.corrections {
        println!(
            "{:34} {:>10.0}   ({:.2}x SAC's iterations/s, {:.2}x its gradient steps/s)",
            format!("{} iteration, paper net", c.agent),
            c.iterations_per_s,
            c.relative_to_sac,
            c.gradient_steps_relative_to_sac
        );
    }
    println!(
        "env steps/s, Pendulum, one update per step: {:.0}",
        r.env_steps_per_s_one_update_per_step
    );
    match r.peak_rss_mib_20k_pendulum {
        Some(m) => println!("peak memory, 20k-step Pendulum run with a 1M buffer: {m:.0} MiB"),
        None => println!("peak memory: skipped (--quick)"),
    }
    for row in &r.on_policy_cartpole {
        println!(
            "{:4} {:26} on CartPole, {:2} envs, k = {:2}: {:7.0} env steps/s ({:.2}x AgC)",
            row.agent, row.options, row.envs, row.k, row.env_steps_per_s, row.relative_to_agc
        );
    }
    let t = &r.tabular;
    println!(
        "FourRoom: {:.2}M env steps/s; exact evaluation (q, d, J, PG, Actor^o/g, Jq) {:.3} ms; Stackelberg gradient {:.3} ms",
        t.fourroom_env_steps_per_s / 1e6,
        t.fourroom_exact_ms,
        t.fourroom_stackelberg_ms
    );
    let s = &r.session_scaling;
    println!(
        "session of {} SAC runs x {} steps: {:.0} env steps/s with --jobs 1, {:.0} with --jobs {} ({:.2}x)",
        s.runs,
        s.steps_per_run,
        s.env_steps_per_s_jobs_1,
        s.env_steps_per_s_jobs_n,
        s.jobs,
        s.speedup
    );
    if let Some(rows) = &r.mujoco {
        mujoco::print(rows);
    }
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
