//! Native environments against trajectories recorded from Gymnasium 1.4
//! (`envs/scripts/gymnasium_reference.py` wrote `tests/data/gymnasium_reference.json`).
//! Every step starts from Gymnasium's float64 physical state before that step and applies
//! the recorded action; observations, rewards, `terminated` and `truncated` must match.
//! The step counter runs through the episode, so truncation is checked too.

use acgap_envs::{CartPole, Env, MountainCarContinuous, Pendulum, PendulumVersion, TimeLimited};

use serde_json::Value;

/// The three envs under test, with a way to set their physical state.
enum Reference {
    Pendulum(TimeLimited<Pendulum>),
    CartPole(TimeLimited<CartPole>),
    MountainCar(TimeLimited<MountainCarContinuous>),
}

impl Reference {
    fn new(id: &str) -> Self {
        let mut r = match id {
            "pendulum" => {
                Reference::Pendulum(TimeLimited::new(Pendulum::new(PendulumVersion::V1), 0))
            }
            "cartpole" => Reference::CartPole(TimeLimited::new(CartPole::default(), 0)),
            "mountaincar-continuous" => {
                Reference::MountainCar(TimeLimited::new(MountainCarContinuous::default(), 0))
            }
            other => panic!("no reference env {other}"),
        };
        r.env().reset();
        r
    }

    fn env(&mut self) -> &mut dyn Env {
        match self {
            Reference::Pendulum(e) => e,
            Reference::CartPole(e) => e,
            Reference::MountainCar(e) => e,
        }
    }

    /// Gymnasium's state `s`: as `reset` left it (`after_step` false), or after a step.
    fn set_state(&mut self, s: &[f64], after_step: bool) {
        match self {
            Reference::Pendulum(e) => {
                let d = e.dynamics_mut();
                (d.th, d.thdot) = (s[0], s[1]);
            }
            Reference::CartPole(e) => e.dynamics_mut().state.copy_from_slice(s),
            Reference::MountainCar(e) => {
                let d = e.dynamics_mut();
                d.state.copy_from_slice(s);
                d.float32 = after_step;
            }
        }
    }
}

fn floats(v: &Value) -> Vec<f64> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_f64().unwrap())
        .collect()
}

#[test]
fn trajectories_match_gymnasium() {
    let data: Value = serde_json::from_str(include_str!("data/gymnasium_reference.json")).unwrap();
    let mut checked = 0;
    let mut worst: f64 = 0.0;
    for ep in data["episodes"].as_array().unwrap() {
        let id = ep["env"].as_str().unwrap();
        let mut r = Reference::new(id);
        let mut state = floats(&ep["initial_state"]);
        for (t, s) in ep["steps"].as_array().unwrap().iter().enumerate() {
            r.set_state(&state, t > 0);
            let action: Vec<f32> = floats(&s["action"]).iter().map(|&a| a as f32).collect();
            let step = r.env().step(&action);
            let want = floats(&s["obs"]);
            for (got, want) in step.obs.iter().zip(&want) {
                let err = (*got as f64 - want).abs() / want.abs().max(1.0);
                worst = worst.max(err);
                assert!(err < 1e-6, "{id} step {t}: obs {:?} vs {want:?}", step.obs);
            }
            state = floats(&s["state"]);
            let reward = s["reward"].as_f64().unwrap();
            assert!(
                (step.reward - reward).abs() <= 1e-5 * reward.abs().max(1.0),
                "{id} step {t}: reward {} vs {reward}",
                step.reward
            );
            assert_eq!(
                step.terminated,
                s["terminated"].as_bool().unwrap(),
                "{id} step {t}: terminated"
            );
            assert_eq!(
                step.truncated,
                s["truncated"].as_bool().unwrap(),
                "{id} step {t}: truncated"
            );
            checked += 1;
        }
    }
    assert!(checked > 2000, "reference data covers {checked} steps");
    eprintln!("{checked} steps match Gymnasium; worst relative obs error {worst:.2e}");
}

/// MountainCarContinuous run free through whole episodes (never reset to Gymnasium's state):
/// its arithmetic follows NumPy 2's float32 promotion exactly, so observations and rewards
/// agree exactly, and any drift over hundreds of steps would show.
#[test]
fn mountain_car_runs_free_through_whole_episodes_exactly() {
    let data: Value = serde_json::from_str(include_str!("data/gymnasium_reference.json")).unwrap();
    let mut steps = 0;
    let mut episodes = 0;
    for ep in data["episodes"].as_array().unwrap() {
        if ep["env"] != "mountaincar-continuous" {
            continue;
        }
        let mut r = Reference::new("mountaincar-continuous");
        r.set_state(&floats(&ep["initial_state"]), false);
        for (t, s) in ep["steps"].as_array().unwrap().iter().enumerate() {
            let action: Vec<f32> = floats(&s["action"]).iter().map(|&a| a as f32).collect();
            let step = r.env().step(&action);
            let want: Vec<f32> = floats(&s["obs"]).iter().map(|&x| x as f32).collect();
            assert_eq!(step.obs, want, "step {t} of a free-running episode");
            assert_eq!(
                step.reward,
                s["reward"].as_f64().unwrap(),
                "step {t}: reward"
            );
            assert_eq!(
                step.terminated,
                s["terminated"].as_bool().unwrap(),
                "step {t}"
            );
            assert_eq!(
                step.truncated,
                s["truncated"].as_bool().unwrap(),
                "step {t}"
            );
            steps += 1;
        }
        episodes += 1;
    }
    assert!(
        episodes >= 6 && steps >= 3000,
        "{episodes} episodes, {steps} steps"
    );
    eprintln!("{episodes} MountainCarContinuous episodes, {steps} steps, exact");
}

/// Pendulum-v0 (not in Gymnasium 1.4): one step by hand. v0 integrates the angle with
/// the *unclipped* velocity and clips afterwards; v1 clips first.
#[test]
fn pendulum_v0_integrates_unclipped_velocity() {
    for (version, expect_th) in [
        (
            PendulumVersion::V0,
            0.5 + (7.9 + 0.05 * (15.0 * 0.5f64.sin() + 3.0 * 2.0)) * 0.05,
        ),
        (PendulumVersion::V1, 0.5 + 8.0 * 0.05),
    ] {
        let mut e = TimeLimited::new(Pendulum::new(version), 0);
        e.reset();
        let d = e.dynamics_mut();
        (d.th, d.thdot) = (0.5, 7.9);
        let s = e.step(&[2.0]);
        assert!(
            (s.obs[2] as f64 - 8.0).abs() < 1e-6,
            "velocity is clipped to 8 in both versions"
        );
        let th = e.dynamics_mut().th;
        assert!(
            (th - expect_th).abs() < 1e-12,
            "{version:?}: th {th} vs {expect_th}"
        );
    }
}
