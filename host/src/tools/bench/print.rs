//! `host bench`'s table.

use super::{BenchReport, Updates, gym, mujoco};

pub fn updates(r: &Updates) {
    let kernels: Vec<String> = r
        .sgemm_kernels
        .iter()
        .map(|(k, g)| format!("{k} {g:.1}"))
        .collect();
    println!("CPU: {}", r.cpu);
    println!(
        "single-thread SGEMM peak (1024^3): {:.1} GFLOP/s, the best of: {}",
        r.sgemm_peak_gflops,
        kernels.join(", ")
    );
    if let Some(k) = &r.fused_kernels {
        println!(
            "SAC's fused CPU path ran on: {k} ({})",
            super::kernels_source()
        );
    }
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
    if let Some(t) = &r.threads {
        println!(
            "{:34} {:>10.0}   ({:.2}x one thread's {:.0}; --threads {})",
            format!("{}, {} threads", t.net, t.threads),
            t.updates_per_s,
            t.speedup,
            t.updates_per_s_one_thread,
            t.threads
        );
    }
}

pub fn print(r: &BenchReport) {
    updates(&r.updates);
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
    if let Some(rows) = &r.gym {
        gym::print(rows);
    }
    if let Some(rows) = &r.mujoco {
        mujoco::print(rows);
    }
}
