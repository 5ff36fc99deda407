//! The Gymnasium bridge against Gymnasium itself: with the same seed and actions, `gym:<Id>`
//! returns exactly the observations, rewards and flags that Gymnasium's own loop does (the
//! reference is computed by a Python script in the same test), and a snapshot, restore or
//! copy continues exactly. Skips without Gymnasium (scripts/setup-gym) unless
//! ACGAP_REQUIRE_GYM is set.

use acgap_envs::gym::{available_for_tests, python};
use acgap_envs::{Restored, Step, make};

/// Gymnasium's own trajectory: reset(seed), then `actions`, resetting (unseeded) at episode ends.
fn reference(id: &str, seed: u64, actions: &[Vec<f32>]) -> Vec<(Vec<f32>, f64, bool, bool)> {
    let script = r#"
import json, sys
import numpy as np
import gymnasium as gym
id, seed, actions = sys.argv[1], int(sys.argv[2]), json.loads(sys.argv[3])
env = gym.make(id)
obs, _ = env.reset(seed=seed)
rows = [[np.asarray(obs, np.float32).tolist(), 0.0, False, False]]
discrete = isinstance(env.action_space, gym.spaces.Discrete)
for a in actions:
    a = int(a[0]) if discrete else np.clip(np.asarray(a, np.float32), env.action_space.low, env.action_space.high)
    obs, r, te, tr, _ = env.step(a)
    rows.append([np.asarray(obs, np.float32).tolist(), float(r), bool(te), bool(tr)])
    if te or tr:
        obs, _ = env.reset()
        rows.append([np.asarray(obs, np.float32).tolist(), 0.0, False, False])
print(json.dumps(rows))
"#;
    let out = std::process::Command::new(python())
        .args(["-c", script, id, &seed.to_string()])
        .arg(serde_json::to_string(actions).unwrap())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

fn actions(id: &str, n: usize) -> Vec<Vec<f32>> {
    (0..n)
        .map(|i| match id {
            "CartPole-v1" => vec![(i * 7 % 3 % 2) as f32],
            "Acrobot-v1" => vec![(i * 5 % 3) as f32],
            _ => vec![((i as f32) * 0.37).sin() * 2.5], // beyond the box: clipped
        })
        .collect()
}

#[test]
fn the_bridge_steps_exactly_as_gymnasium_does() {
    if !available_for_tests("the_bridge_steps_exactly_as_gymnasium_does") {
        return;
    }
    for (id, n) in [
        ("Pendulum-v1", 450),
        ("CartPole-v1", 300),
        ("Acrobot-v1", 520),
    ] {
        let acts = actions(id, n);
        let want = reference(id, 11, &acts);
        let mut env = make(&format!("gym:{id}"), 11).unwrap();
        let mut got = vec![(env.reset(), 0.0, false, false)];
        for a in &acts {
            let s = env.step(a);
            assert!(env.fault().is_none(), "{id}: {:?}", env.fault());
            let ended = s.terminated || s.truncated;
            got.push((s.obs, s.reward, s.terminated, s.truncated));
            if ended {
                got.push((env.reset(), 0.0, false, false));
            }
        }
        assert_eq!(got, want, "{id}");
        assert!(
            got.iter().any(|r| r.2 || r.3),
            "{id}: no episode ended; test too short"
        );
    }
}

#[test]
fn snapshots_and_copies_continue_exactly() {
    if !available_for_tests("snapshots_and_copies_continue_exactly") {
        return;
    }
    let act = [1.0_f32];
    let mut a = make("gym:Acrobot-v1", 3).unwrap();
    a.reset();
    for _ in 0..40 {
        a.step(&act);
    }
    let snap = a.snapshot();
    let copy = a.clone_env();
    let first: Vec<Step> = (0..30).map(|_| a.step(&act)).collect();
    let reset_a = a.reset();
    let mut b = make("gym:Acrobot-v1", 999).unwrap();
    assert_eq!(b.restore(&snap).unwrap(), Restored::Exact);
    let mut copy = copy;
    for e in [&mut b, &mut copy] {
        let replay: Vec<Step> = (0..30).map(|_| e.step(&act)).collect();
        assert_eq!(first, replay);
        assert_eq!(
            reset_a,
            e.reset(),
            "the NumPy generator is part of the snapshot"
        );
    }
    // A snapshot of another env is refused.
    let mut cart = make("gym:CartPole-v1", 0).unwrap();
    assert!(cart.restore(&snap).unwrap_err().contains("Acrobot"));
}
