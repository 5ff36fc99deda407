//! Native Rust environments with Gymnasium semantics.
//!
//! Every environment is an [`Env`]: `reset`, `step` returning `terminated` and
//! `truncated` separately (a time-limit truncation is *not* a termination, so
//! learners bootstrap through it), and `snapshot`/`restore` of the complete
//! state (physics, RNG, step counter) for exact resume and Monte-Carlo rollouts
//! from a saved state.
//!
//! Classic-control tasks are written as [`Dynamics`] (the physics only) wrapped
//! in [`TimeLimited`], the one place that owns seeding, step counting and the
//! time limit. Not here: replay buffers, vectorised stepping, the training loop
//! (all in `host`).

mod cartpole;
mod mountain_car;
mod pendulum;
mod time_limit;

pub use cartpole::CartPole;
pub use mountain_car::MountainCarContinuous;
pub use pendulum::{Pendulum, PendulumVersion};
pub use time_limit::{Dynamics, TimeLimited};

pub use acgap_sdk::spec::{EnvSpec, Space, TabularSize};

/// The result of one environment step.
#[derive(Clone, Debug, PartialEq)]
pub struct Step {
    pub obs: Vec<f32>,
    pub reward: f64,
    /// The episode reached a terminal state: do not bootstrap.
    pub terminated: bool,
    /// The episode was cut by the time limit: bootstrap from `obs`.
    pub truncated: bool,
}

/// An environment the host can drive.
pub trait Env: Send {
    fn spec(&self) -> &EnvSpec;
    /// Start a new episode; the initial state is drawn from the env's own seeded RNG.
    fn reset(&mut self) -> Vec<f32>;
    /// Advance one step. Continuous actions are clipped to the action box, as Gymnasium does.
    fn step(&mut self, action: &[f32]) -> Step;
    /// The complete state (physics, RNG, step counter) as JSON.
    fn snapshot(&self) -> serde_json::Value;
    /// Restore a state produced by [`Env::snapshot`] of the same environment.
    fn restore(&mut self, snapshot: &serde_json::Value) -> Result<(), String>;
    /// An independent copy in the same state.
    fn clone_env(&self) -> Box<dyn Env>;
}

/// The environment ids [`make`] knows, with a one-line description each.
pub const ENV_IDS: &[(&str, &str)] = &[
    (
        "pendulum",
        "Pendulum-v1: swing up, 200 steps, continuous torque",
    ),
    (
        "pendulum-v0",
        "Pendulum-v0: as v1 but the angle integrates the unclipped velocity",
    ),
    (
        "cartpole",
        "CartPole-v1: balance a pole, 500 steps, 2 discrete actions",
    ),
    (
        "mountaincar-continuous",
        "MountainCarContinuous-v0: 999 steps, continuous force",
    ),
];

/// Unknown environment id.
#[derive(Debug, Clone, PartialEq)]
pub struct UnknownEnv(pub String);

impl std::fmt::Display for UnknownEnv {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let known: Vec<&str> = ENV_IDS.iter().map(|(id, _)| *id).collect();
        write!(
            f,
            "unknown environment id `{}`; valid ids are: {}",
            self.0,
            known.join(", ")
        )
    }
}

impl std::error::Error for UnknownEnv {}

/// Build an environment by id with its own RNG seeded from `seed`.
pub fn make(id: &str, seed: u64) -> Result<Box<dyn Env>, UnknownEnv> {
    Ok(match id {
        "pendulum" | "Pendulum-v1" => {
            Box::new(TimeLimited::new(Pendulum::new(PendulumVersion::V1), seed))
        }
        "pendulum-v0" | "Pendulum-v0" => {
            Box::new(TimeLimited::new(Pendulum::new(PendulumVersion::V0), seed))
        }
        "cartpole" | "CartPole-v1" => Box::new(TimeLimited::new(CartPole::default(), seed)),
        "mountaincar-continuous" | "MountainCarContinuous-v0" => {
            Box::new(TimeLimited::new(MountainCarContinuous::default(), seed))
        }
        other => return Err(UnknownEnv(other.to_string())),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_id_lists_valid_ones() {
        let err = make("pendullum", 0).err().unwrap().to_string();
        assert!(
            err.contains("pendullum") && err.contains("cartpole") && err.contains("pendulum-v0"),
            "{err}"
        );
    }

    #[test]
    fn same_seed_same_episode_and_snapshot_restores_exactly() {
        for (id, _) in ENV_IDS {
            let mut a = make(id, 7).unwrap();
            let mut b = make(id, 7).unwrap();
            assert_eq!(a.reset(), b.reset(), "{id}");
            let act = vec![0.5_f32; a.spec().act_dim()];
            let act = if a.spec().action.is_continuous() {
                act
            } else {
                vec![1.0]
            };
            for _ in 0..5 {
                assert_eq!(a.step(&act), b.step(&act));
            }
            let snap = a.snapshot();
            let first: Vec<Step> = (0..10).map(|_| a.step(&act)).collect();
            let second_reset = a.reset();
            let mut c = make(id, 999).unwrap();
            c.restore(&snap).unwrap();
            let replay: Vec<Step> = (0..10).map(|_| c.step(&act)).collect();
            assert_eq!(first, replay, "{id}");
            assert_eq!(
                second_reset,
                c.reset(),
                "{id}: RNG state must be part of the snapshot"
            );
        }
    }

    #[test]
    fn restore_rejects_a_foreign_snapshot() {
        let cart = make("cartpole", 0).unwrap();
        let mut pend = make("pendulum", 0).unwrap();
        assert!(pend.restore(&cart.snapshot()).is_err());
    }
}
