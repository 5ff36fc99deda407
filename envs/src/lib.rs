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
//! time limit. Tabular tasks ([`TabularEnv`]: FourRoom, random MDPs) sample their exact
//! [`TabularModel`], which they also hand to plugins and to the exact DP code. Not here: replay buffers, vectorised stepping, the training loop
//! (all in `host`).

mod cartpole;
pub mod gym;
mod install_home;
mod mountain_car;
pub mod mujoco;
mod options;
mod pendulum;
mod tabular;
mod time_limit;

pub use cartpole::CartPole;
pub use install_home::install_home;
pub use mountain_car::MountainCarContinuous;
pub use options::{Options, split_top_level};
pub use pendulum::{Pendulum, PendulumVersion};
pub use tabular::{FOUR_ROOMS, FourRoom, TabularEnv, fourroom, random_mdp};
pub use time_limit::{Dynamics, TimeLimited};

pub use acgap_sdk::spec::{EnvSpec, Space, TabularModel};

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
    fn restore(&mut self, snapshot: &serde_json::Value) -> Result<Restored, String>;
    /// Why the last reset or step cannot be trusted, if it cannot. The host checks it after
    /// every call and ends the run `diverged` or `failed` accordingly.
    fn fault(&self) -> Option<Fault> {
        None
    }
    /// An independent copy in the same state.
    fn clone_env(&self) -> Box<dyn Env>;
}

/// What went wrong in an environment.
#[derive(Clone, Debug, PartialEq)]
pub enum Fault {
    /// The simulation blew up (non-finite state or observation): the learning did it.
    Diverged(String),
    /// The environment itself failed (its worker process died or hung, it raised).
    Failed(String),
}

impl std::fmt::Display for Fault {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Fault::Diverged(m) | Fault::Failed(m) => f.write_str(m),
        }
    }
}

/// How far [`Env::restore`] got.
#[derive(Clone, Debug, PartialEq)]
pub enum Restored {
    /// The env is exactly in the saved state.
    Exact,
    /// The saved state could not be recreated (`why`): the env started a new episode, whose
    /// first observation is `obs`; the episode in progress is lost.
    Restarted { obs: Vec<f32>, why: String },
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
        "cartpole-v0",
        "CartPole-v0: as v1 with episodes of 200 steps",
    ),
    (
        "mountaincar-continuous",
        "MountainCarContinuous-v0: 999 steps, continuous force",
    ),
    (
        "fourroom",
        "FourRoom (tabular, exact model): 104 cells, 4 moves, reward 1 at the goal, gamma 0.9, 300 steps; options slip, goal=[r,c], layout=FILE, gamma, steps",
    ),
    (
        "random-mdp",
        "Garnet random MDP (tabular, exact model); options states, actions, branching, seed, gamma, steps",
    ),
    (
        "halfcheetah",
        "HalfCheetah-v5 (MuJoCo): run forward, 1000 steps, 6 torques; option xml=FILE",
    ),
    (
        "hopper",
        "Hopper-v5 (MuJoCo): hop forward, ends when unhealthy, 1000 steps, 3 torques; option xml=FILE",
    ),
    (
        "walker2d",
        "Walker2d-v5 (MuJoCo): walk forward, ends when unhealthy, 1000 steps, 6 torques; option xml=FILE",
    ),
    (
        "reacher",
        "Reacher-v5 (MuJoCo): reach a random target, 50 steps, 2 torques; option xml=FILE",
    ),
];

/// A bad environment id or option.
#[derive(Debug, Clone, PartialEq)]
pub enum EnvError {
    Unknown(String),
    Options {
        id: String,
        message: String,
    },
    /// The task exists but cannot run here (MuJoCo not set up, model file unreadable).
    Unavailable {
        id: String,
        message: String,
    },
}

impl std::fmt::Display for EnvError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            EnvError::Unknown(id) => {
                let known: Vec<&str> = ENV_IDS.iter().map(|(id, _)| *id).collect();
                write!(
                    f,
                    "unknown environment id `{id}`; valid ids are: {}",
                    known.join(", ")
                )
            }
            EnvError::Options { id, message } | EnvError::Unavailable { id, message } => {
                write!(f, "environment `{id}`: {message}")
            }
        }
    }
}

impl std::error::Error for EnvError {}

/// Build an environment by id (`name` or `name:key=value,...`) with its own RNG seeded from `seed`.
pub fn make(id: &str, seed: u64) -> Result<Box<dyn Env>, EnvError> {
    if id.starts_with("gym:") {
        return gym::make(id, seed);
    }
    let (name, opts) = match id.split_once(':') {
        Some((n, o)) => (n, o),
        None => (id, ""),
    };
    let bad = |message: String| EnvError::Options {
        id: id.to_string(),
        message,
    };
    let mut opts = Options::parse(opts).map_err(bad)?;
    let env: Box<dyn Env> = match name {
        "pendulum" | "Pendulum-v1" => {
            Box::new(TimeLimited::new(Pendulum::new(PendulumVersion::V1), seed))
        }
        "pendulum-v0" | "Pendulum-v0" => {
            Box::new(TimeLimited::new(Pendulum::new(PendulumVersion::V0), seed))
        }
        "cartpole" | "CartPole-v1" => Box::new(TimeLimited::new(CartPole::default(), seed)),
        "cartpole-v0" | "CartPole-v0" => Box::new(TimeLimited::new(CartPole::v0(), seed)),
        "mountaincar-continuous" | "MountainCarContinuous-v0" => {
            Box::new(TimeLimited::new(MountainCarContinuous::default(), seed))
        }
        "fourroom" => {
            let d = FourRoom::default();
            let layout = match opts.take_str("layout").map_err(bad)? {
                Some(path) => std::fs::read_to_string(&path)
                    .map_err(|e| bad(format!("cannot read layout `{path}`: {e}")))?,
                None => d.layout,
            };
            let goal = match opts.take_list("goal").map_err(bad)? {
                Some(g) if g.len() == 2 => (g[0] as usize, g[1] as usize),
                Some(_) => return Err(bad("`goal` must be [row, column]".into())),
                None => d.goal,
            };
            let model = fourroom(&FourRoom {
                layout,
                goal,
                slip: opts.take_f64("slip").map_err(bad)?.unwrap_or(d.slip),
                gamma: opts.take_f64("gamma").map_err(bad)?.unwrap_or(d.gamma),
            })
            .map_err(bad)?;
            let steps = opts.take_f64("steps").map_err(bad)?.unwrap_or(300.0) as usize;
            Box::new(TabularEnv::new(id, model, steps, seed))
        }
        "random-mdp" => {
            let mut get = |k: &str, default: f64| -> Result<f64, EnvError> {
                Ok(opts.take_f64(k).map_err(bad)?.unwrap_or(default))
            };
            let model = random_mdp(
                get("states", 20.0)? as usize,
                get("actions", 4.0)? as usize,
                get("branching", 3.0)? as usize,
                get("gamma", 0.9)?,
                get("seed", 0.0)? as u64,
            )
            .map_err(bad)?;
            let steps = get("steps", 300.0)? as usize;
            Box::new(TabularEnv::new(id, model, steps, seed))
        }
        other => match mujoco::Task::from_id(other) {
            Some(task) => mujoco::make(task, id, &mut opts, seed)?,
            None => return Err(EnvError::Unknown(other.to_string())),
        },
    };
    opts.finish().map_err(bad)?;
    Ok(env)
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
        let with_mujoco = mujoco::available_for_tests("snapshot test of the MuJoCo tasks");
        for (id, _) in ENV_IDS {
            if mujoco::Task::from_id(id).is_some() && !with_mujoco {
                continue;
            }
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

    /// A balancing controller keeps the pole up past 200 steps: v0 truncates there, v1 does not.
    #[test]
    fn cartpole_v0_truncates_at_200_steps() {
        for (id, limit) in [("cartpole-v0", 200), ("cartpole", 500)] {
            let mut env = make(id, 3).unwrap();
            assert_eq!(env.spec().max_episode_steps, Some(limit));
            let mut obs = env.reset();
            let mut steps = 0;
            loop {
                let push_right = obs[2] + 0.5 * obs[3] + 0.01 * obs[0] + 0.1 * obs[1] > 0.0;
                let s = env.step(&[if push_right { 1.0 } else { 0.0 }]);
                steps += 1;
                obs = s.obs;
                if s.terminated || s.truncated {
                    assert!(s.truncated && !s.terminated, "{id}: fell at step {steps}");
                    break;
                }
            }
            assert_eq!(steps, limit, "{id}");
        }
    }

    #[test]
    fn restore_rejects_a_foreign_snapshot() {
        let cart = make("cartpole", 0).unwrap();
        let mut pend = make("pendulum", 0).unwrap();
        assert!(pend.restore(&cart.snapshot()).is_err());
    }
}
