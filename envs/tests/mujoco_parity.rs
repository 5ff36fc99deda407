//! MuJoCo tasks against recorded Gymnasium v5 trajectories (`envs/scripts/mujoco_reference.py`,
//! data in `data/mujoco_v5.json`): from each recorded initial state, the recorded actions give
//! the recorded observations, rewards and flags. No Python at test time; without MuJoCo set up
//! the test skips with a message (`.ci/run` sets ACGAP_REQUIRE_MUJOCO=1 so it cannot skip).

use acgap_envs::mujoco::{Mujoco, Task, available_for_tests, model_file};
use acgap_envs::{Env, TimeLimited};
use serde::Deserialize;

#[derive(Deserialize)]
struct Data {
    trajectories: Vec<Trajectory>,
}

#[derive(Deserialize)]
struct Trajectory {
    task: String,
    seed: u64,
    qpos: Vec<f64>,
    qvel: Vec<f64>,
    obs: Vec<f64>,
    steps: Vec<Row>,
}

#[derive(Deserialize)]
struct Row {
    action: Vec<f32>,
    obs: Vec<f64>,
    reward: f64,
    terminated: bool,
    truncated: bool,
}

/// Observations are f32 here and f64 in Gymnasium: when the physics agrees their difference
/// is f32 rounding, at most 2^-24 relative. Rewards are f64 in both and agree exactly.
const OBS_TOL: f64 = 6e-8;
const REWARD_TOL: f64 = 1e-12;

fn rel_err(a: f64, b: f64) -> f64 {
    (a - b).abs() / b.abs().max(1.0)
}

#[test]
fn mujoco_tasks_match_gymnasium_v5() {
    if !available_for_tests("mujoco_tasks_match_gymnasium_v5") {
        return;
    }
    let text = include_str!("data/mujoco_v5.json");
    let data: Data = serde_json::from_str(text).unwrap();
    let mut worst: Vec<(String, f64, f64, usize)> = Vec::new();
    for t in &data.trajectories {
        let task = Task::from_id(&t.task).unwrap();
        let mut dynamics = Mujoco::load(task, &model_file(task).unwrap()).unwrap();
        dynamics.set_state(&t.qpos, &t.qvel);
        let mut env = TimeLimited::new(dynamics, 0);
        let what = format!("{} seed {}", t.task, t.seed);
        let (mut obs_err, mut reward_err) = (0.0_f64, 0.0_f64);
        let first = env.dynamics_mut().clone();
        let obs0 = acgap_envs::Dynamics::observe(&first);
        for (a, b) in obs0.iter().zip(&t.obs) {
            obs_err = obs_err.max(rel_err(*a as f64, *b));
        }
        for (i, row) in t.steps.iter().enumerate() {
            let s = env.step(&row.action);
            assert_eq!(s.obs.len(), row.obs.len(), "{what}: observation length");
            for (a, b) in s.obs.iter().zip(&row.obs) {
                obs_err = obs_err.max(rel_err(*a as f64, *b));
            }
            reward_err = reward_err.max(rel_err(s.reward, row.reward));
            assert!(
                obs_err <= OBS_TOL && reward_err <= REWARD_TOL,
                "{what} step {i}: observation error {obs_err:e}, reward error {reward_err:e}"
            );
            assert_eq!(s.terminated, row.terminated, "{what} step {i}: terminated");
            assert_eq!(s.truncated, row.truncated, "{what} step {i}: truncated");
            assert!(env.fault().is_none(), "{what} step {i}: {:?}", env.fault());
        }
        worst.push((what, obs_err, reward_err, t.steps.len()));
    }
    for (what, o, r, n) in &worst {
        eprintln!("{what}: {n} steps, worst relative observation error {o:.2e}, reward {r:.2e}");
    }
    for task in Task::ALL {
        let n = worst
            .iter()
            .filter(|w| w.0.starts_with(task.ids().1))
            .map(|w| w.3)
            .sum::<usize>();
        assert!(n >= 200, "{task:?}: only {n} recorded steps");
    }
}
