//! MuJoCo env steps/s per task, native, against Gymnasium's own `env.step` loop on the same
//! MuJoCo build (the Python that `scripts/setup-mujoco` installed), timed in the same run.

use acgap_envs::mujoco::Task;
use rand::{Rng, SeedableRng};
use serde::Serialize;
use std::time::Instant;

#[derive(Serialize)]
pub struct MujocoRow {
    task: String,
    /// MuJoCo alone: `frame_skip` physics steps per env step under random controls, no task
    /// logic; the ceiling any loop over this MuJoCo build can reach.
    physics_only_steps_per_s: f64,
    native_steps_per_s: f64,
    /// `None` when no Python with Gymnasium is installed.
    gymnasium_steps_per_s: Option<f64>,
    ratio: Option<f64>,
}

/// Native steps/s with uniformly random actions, resetting at episode ends.
fn native(task: Task, steps: usize) -> Result<f64, String> {
    let mut env = acgap_envs::make(task.ids().0, 0).map_err(|e| e.to_string())?;
    let (low, high) = match &env.spec().action {
        acgap_sdk::spec::Space::Box { low, high } => (low.clone(), high.clone()),
        _ => return Err("MuJoCo tasks have box actions".into()),
    };
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(0);
    let mut action = vec![0.0_f32; low.len()];
    env.reset();
    let start = Instant::now();
    for _ in 0..steps {
        for (a, (l, h)) in action.iter_mut().zip(low.iter().zip(&high)) {
            *a = rng.random_range(*l..=*h);
        }
        let s = env.step(&action);
        if s.terminated || s.truncated {
            env.reset();
        }
    }
    Ok(steps as f64 / start.elapsed().as_secs_f64())
}

/// The physics alone: the same random controls straight into the simulation.
fn physics_only(task: Task, steps: usize) -> Result<f64, String> {
    let xml = acgap_envs::mujoco::model_file(task)?;
    let mut env = acgap_envs::mujoco::Mujoco::load(task, &xml)?;
    let (sim, frame_skip) = env.sim_mut();
    let nu = sim.info.nu as usize;
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(0);
    let mut ctrl = vec![0.0; nu];
    let start = Instant::now();
    for _ in 0..steps {
        for c in ctrl.iter_mut() {
            *c = rng.random_range(-1.0..=1.0);
        }
        sim.step(&ctrl, frame_skip);
    }
    Ok(steps as f64 / start.elapsed().as_secs_f64())
}

/// Gymnasium's loop, by the embedded script.
fn gymnasium(task: Task, steps: usize) -> Option<f64> {
    let python = acgap_envs::mujoco::python()?;
    let out = std::process::Command::new(python)
        .args([
            "-c",
            include_str!("../../../../scripts/bench/gym_step_rate.py"),
        ])
        .args([task.ids().1, &steps.to_string()])
        .env("MUJOCO_GL", "disable")
        .output()
        .ok()?;
    String::from_utf8_lossy(&out.stdout).trim().parse().ok()
}

/// Every task, native then Gymnasium, one after the other; `None` without MuJoCo.
pub fn measure(quick: bool) -> Option<Vec<MujocoRow>> {
    if let Err(why) = acgap_envs::mujoco::availability() {
        eprintln!("MuJoCo env steps/s: skipped ({why})");
        return None;
    }
    let steps = if quick { 20_000 } else { 100_000 };
    let mut rows = Vec::new();
    for task in Task::ALL {
        eprintln!(
            "measuring {} env steps/s, native and Gymnasium ...",
            task.ids().1
        );
        let native = match native(task, steps) {
            Ok(n) => n,
            Err(e) => {
                eprintln!("  {e}");
                continue;
            }
        };
        let gym = gymnasium(task, steps);
        rows.push(MujocoRow {
            task: task.ids().1.into(),
            physics_only_steps_per_s: physics_only(task, steps).unwrap_or(f64::NAN),
            native_steps_per_s: native,
            gymnasium_steps_per_s: gym,
            ratio: gym.map(|g| native / g),
        });
    }
    Some(rows)
}

pub fn print(rows: &[MujocoRow]) {
    println!(
        "MuJoCo env steps/s (random actions, one thread; Gymnasium's loop on the same MuJoCo build):"
    );
    for r in rows {
        let gym = match (r.gymnasium_steps_per_s, r.ratio) {
            (Some(g), Some(x)) => format!("Gymnasium {g:>8.0}  native/Gymnasium {x:.1}x"),
            _ => "Gymnasium: not installed".into(),
        };
        println!(
            "  {:15} physics alone {:>9.0}  native {:>9.0} ({:.0}% of physics alone)  {gym}",
            r.task,
            r.physics_only_steps_per_s,
            r.native_steps_per_s,
            100.0 * r.native_steps_per_s / r.physics_only_steps_per_s
        );
    }
}
