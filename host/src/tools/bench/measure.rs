//! The measurements of `host bench`: the machine's SGEMM peak, the SAC update's FLOPs, a run's
//! iterations per second (the host driving a plugin, as a user would), the exact tabular
//! evaluation, and a session's throughput over workers.

use super::*;

pub(super) fn tabular(seconds: f64) -> Result<Tabular, String> {
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
pub(super) struct Scaling {
    pub(super) runs: u64,
    pub(super) steps_per_run: usize,
    pub(super) jobs: usize,
    pub(super) env_steps_per_s_jobs_1: f64,
    pub(super) env_steps_per_s_jobs_n: f64,
    pub(super) speedup: f64,
}

/// Total env steps/s of a session of `runs` SAC runs (one update per step) on `jobs` workers.
pub(super) fn session_throughput(
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
        envs: Vec::new(),
    };
    let opts = crate::session::Options {
        jobs,
        shard: None,
        quiet: true,
        print_report: false,
        retry_failed: false,
    };
    let t = Instant::now();
    crate::session::start(&spec, Some(dir.to_path_buf()), dir, &opts)?;
    Ok((runs as usize * steps) as f64 / t.elapsed().as_secs_f64())
}

/// Best-of-5 single-threaded SGEMM, n x n x n, in GFLOP/s, with each kernel available here:
/// `gemm` (what burn-flex multiplies with; AVX-512 where the CPU has it) and `faer`'s. The
/// machine's peak is the best of them.
pub(super) fn sgemm_kernels(n: usize) -> Vec<(String, f64)> {
    let a = vec![1.0_f32; n * n];
    let b = vec![0.5_f32; n * n];
    let mut c = vec![0.0_f32; n * n];
    let best_of_5 = |f: &mut dyn FnMut()| {
        let mut best = f64::INFINITY;
        for _ in 0..5 {
            let t = Instant::now();
            f();
            best = best.min(t.elapsed().as_secs_f64());
        }
        2.0 * (n as f64).powi(3) / best / 1e9
    };
    let gemm = best_of_5(&mut || {
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
        std::hint::black_box(&c);
    });
    let fa = faer::Mat::<f32>::from_fn(n, n, |_, _| 1.0);
    let fb = faer::Mat::<f32>::from_fn(n, n, |_, _| 0.5);
    let mut fc = faer::Mat::<f32>::zeros(n, n);
    let faer_rate = best_of_5(&mut || {
        faer::linalg::matmul::matmul(
            fc.as_mut(),
            faer::Accum::Replace,
            fa.as_ref(),
            fb.as_ref(),
            1.0,
            faer::Par::Seq,
        );
        std::hint::black_box(&fc);
    });
    let simd = if cfg!(target_arch = "x86_64") && std::is_x86_feature_detected!("avx512f") {
        "AVX-512"
    } else {
        "no AVX-512"
    };
    vec![
        (format!("gemm ({simd}; burn-flex's)"), gemm),
        ("faer".into(), faer_rate),
    ]
}

/// Matmul FLOPs of one SAC-1-0 update. The critic step is an actor forward on s', two
/// target forwards, two online forwards and their backward (2x); the actor step is an
/// actor forward and backward (3x), two critic forwards and their input-gradient
/// backward (2x). In forward units: 4 F_actor + 12 F_critic.
pub(super) fn sac_update_flops(obs: usize, act: usize, hidden: usize, batch: usize) -> f64 {
    let fwd = |sizes: &[usize]| {
        2.0 * batch as f64 * sizes.windows(2).map(|w| (w[0] * w[1]) as f64).sum::<f64>()
    };
    let actor = fwd(&[obs, hidden, hidden, 2 * act]);
    let critic = fwd(&[obs + act, hidden, hidden, 1]);
    4.0 * actor + 12.0 * critic
}

/// Iterations per second of `agent` from `plugin` (`hidden` x 2 nets, `batch` rows) on
/// `device`, on a fixed random Pendulum-shaped batch:
/// one iteration = the agent's own schedule (x critic, y correction, 1 actor step).
pub(super) fn iterations_per_s(
    plugin: &Plugin,
    agent: &str,
    (hidden, batch): (usize, usize),
    device: &str,
    seconds: f64,
) -> Result<Rate, String> {
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
        device: device.into(),
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
    let rate = n as f64 / t.elapsed().as_secs_f64();
    Ok(Rate {
        iterations_per_s: rate,
        steps_per_iteration: critic_steps + correction_steps + actor_steps,
        kernels: agent.kernels(),
    })
}

/// What [`iterations_per_s`] measured, and on which kernels.
pub(super) struct Rate {
    pub iterations_per_s: f64,
    pub steps_per_iteration: usize,
    /// The agent's CPU kernels, as it reports them (`run.json`'s `kernels`).
    pub kernels: Option<String>,
}

/// Runs `host` itself (same code path as a user's run) and returns its run directory.
/// Flags of a run measured for time only: no evaluation, no checkpoints.
pub(super) const TIMING_ONLY: [&str; 6] = [
    "--eval-every",
    "0",
    "--eval-episodes",
    "1",
    "--checkpoint-every",
    "0",
];

pub(super) fn run_host(
    args: &[&str],
    runs: &std::path::Path,
) -> Result<std::path::PathBuf, String> {
    let mut argv = vec!["host"];
    argv.extend_from_slice(args);
    let runs_s = runs.to_str().ok_or("temp path is not UTF-8")?;
    argv.extend_from_slice(&["--quiet", "--runs", runs_s]);
    /// The run flags alone, parsed as the command line parses them.
    #[derive(clap::Parser)]
    struct Flags {
        #[command(flatten)]
        train: crate::run::args::TrainArgs,
    }
    let flags = Flags::try_parse_from(&argv).map_err(|e| e.to_string())?;
    crate::run::single(&flags.train)?;
    find_status(runs).ok_or_else(|| "bench run left no run directory".to_string())
}

pub(super) fn find_status(dir: &std::path::Path) -> Option<std::path::PathBuf> {
    if dir.join("status.json").is_file() {
        return Some(dir.to_path_buf());
    }
    std::fs::read_dir(dir)
        .ok()?
        .flatten()
        .filter(|e| e.path().is_dir())
        .find_map(|e| find_status(&e.path()))
}
