//! Gymnasium bridge env steps/s (`--env gym:<Id>`: a Python worker over pipes) against acgap's
//! native env where there is one and against Gymnasium's own `env.step` loop in the same
//! Python, timed one after the other in the same run.

use acgap_envs::Env;
use acgap_sdk::spec::Space;
use rand::{Rng, SeedableRng};
use serde::Serialize;
use std::time::Instant;

#[derive(Serialize)]
pub struct GymRow {
    env: String,
    /// acgap's own implementation (`None` where acgap has none).
    native_steps_per_s: Option<f64>,
    bridge_steps_per_s: f64,
    gymnasium_steps_per_s: Option<f64>,
    /// Bridge over Gymnasium's own loop.
    bridge_vs_gymnasium: Option<f64>,
}

/// (Gymnasium id, acgap's native id).
const ENVS: [(&str, Option<&str>); 3] = [
    ("Pendulum-v1", Some("pendulum")),
    ("CartPole-v1", Some("cartpole")),
    ("Acrobot-v1", None),
];

/// Steps/s with uniformly random actions, resetting at episode ends.
fn steps_per_s(env: &mut dyn Env, steps: usize) -> Result<f64, String> {
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(0);
    let space = env.spec().action.clone();
    let mut action = vec![0.0_f32; space.flat_dim()];
    env.reset();
    let start = Instant::now();
    for _ in 0..steps {
        match &space {
            Space::Box { low, high } => {
                for (a, (l, h)) in action.iter_mut().zip(low.iter().zip(high)) {
                    *a = rng.random_range(*l..=*h);
                }
            }
            Space::Discrete { n } => action[0] = rng.random_range(0..*n) as f32,
        }
        let s = env.step(&action);
        if s.terminated || s.truncated {
            env.reset();
        }
        if let Some(f) = env.fault() {
            return Err(f.to_string());
        }
    }
    Ok(steps as f64 / start.elapsed().as_secs_f64())
}

fn gymnasium(id: &str, steps: usize) -> Option<f64> {
    let out = std::process::Command::new(acgap_envs::gym::python())
        .args([
            "-c",
            include_str!("../../../../scripts/bench/gym_step_rate.py"),
        ])
        .args([id, &steps.to_string()])
        .output()
        .ok()?;
    String::from_utf8_lossy(&out.stdout).trim().parse().ok()
}

/// Every env, native, bridge, Gymnasium; `None` without a Python with Gymnasium.
pub fn measure(quick: bool) -> Option<Vec<GymRow>> {
    let steps = if quick { 10_000 } else { 50_000 };
    let mut rows = Vec::new();
    for (gym_id, native_id) in ENVS {
        let mut bridge = match acgap_envs::make(&format!("gym:{gym_id}"), 0) {
            Ok(e) => e,
            Err(e) => {
                eprintln!("Gymnasium bridge steps/s: skipped ({e})");
                return None;
            }
        };
        eprintln!("measuring {gym_id} env steps/s: native, bridge, Gymnasium ...");
        let native = native_id.and_then(|id| {
            let mut env = acgap_envs::make(id, 0).ok()?;
            steps_per_s(env.as_mut(), steps * 4).ok()
        });
        let bridged = match steps_per_s(bridge.as_mut(), steps) {
            Ok(r) => r,
            Err(e) => {
                eprintln!("  {e}");
                continue;
            }
        };
        let gym = gymnasium(gym_id, steps);
        rows.push(GymRow {
            env: gym_id.into(),
            native_steps_per_s: native,
            bridge_steps_per_s: bridged,
            gymnasium_steps_per_s: gym,
            bridge_vs_gymnasium: gym.map(|g| bridged / g),
        });
    }
    Some(rows)
}

pub fn print(rows: &[GymRow]) {
    println!(
        "Gymnasium bridge env steps/s (random actions; gym:<Id> vs native vs Gymnasium's own loop):"
    );
    for r in rows {
        let native = r
            .native_steps_per_s
            .map_or("native: none".into(), |n| format!("native {n:>9.0}"));
        let gym = match (r.gymnasium_steps_per_s, r.bridge_vs_gymnasium) {
            (Some(g), Some(x)) => format!("Gymnasium {g:>8.0}  bridge/Gymnasium {x:.2}x"),
            _ => "Gymnasium: not measured".into(),
        };
        println!(
            "  {:12} {native}  bridge {:>8.0}  {gym}",
            r.env, r.bridge_steps_per_s
        );
    }
}
