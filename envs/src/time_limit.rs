//! [`TimeLimited`]: seeding, step counting and the time limit for any [`Dynamics`].

use crate::{Env, EnvSpec, Fault, Restored, Step};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

/// The physics of a task, without episode bookkeeping.
pub trait Dynamics: Clone + Send + 'static {
    /// Spaces and time limit.
    fn spec(&self) -> EnvSpec;
    /// Draw an initial state.
    fn reset(&mut self, rng: &mut ChaCha8Rng);
    /// Apply an action; returns `(reward, terminated)`.
    fn step(&mut self, action: &[f32]) -> (f64, bool);
    /// The observation of the current state.
    fn observe(&self) -> Vec<f32>;
    /// The complete physics state, for snapshots (`serde_state!` for serde types).
    fn save(&self) -> serde_json::Value;
    /// Restore a state written by [`Dynamics::save`].
    fn load(&mut self, state: &serde_json::Value) -> Result<(), String>;
    /// Why the last step cannot be trusted (the simulation blew up), if it cannot.
    fn fault(&self) -> Option<String> {
        None
    }
}

/// [`Dynamics::save`] and [`Dynamics::load`] for dynamics whose state is their serde form.
#[macro_export]
macro_rules! serde_state {
    () => {
        fn save(&self) -> serde_json::Value {
            serde_json::to_value(self).expect("plain data serialises")
        }
        fn load(&mut self, state: &serde_json::Value) -> Result<(), String> {
            *self = serde_json::from_value(state.clone()).map_err(|e| e.to_string())?;
            Ok(())
        }
    };
}

/// A [`Dynamics`] with its own RNG and Gymnasium's `TimeLimit` semantics.
#[derive(Clone)]
pub struct TimeLimited<D> {
    dynamics: D,
    rng: ChaCha8Rng,
    steps: usize,
    spec: EnvSpec,
}

impl<D: Dynamics> TimeLimited<D> {
    pub fn new(dynamics: D, seed: u64) -> Self {
        let spec = dynamics.spec();
        Self {
            dynamics,
            rng: ChaCha8Rng::seed_from_u64(seed),
            steps: 0,
            spec,
        }
    }

    /// The physics, e.g. to set a state directly in tests.
    pub fn dynamics_mut(&mut self) -> &mut D {
        &mut self.dynamics
    }
}

impl<D: Dynamics> Env for TimeLimited<D> {
    fn spec(&self) -> &EnvSpec {
        &self.spec
    }

    fn reset(&mut self) -> Vec<f32> {
        self.steps = 0;
        self.dynamics.reset(&mut self.rng);
        self.dynamics.observe()
    }

    fn step(&mut self, action: &[f32]) -> Step {
        let (reward, terminated) = self.dynamics.step(action);
        self.steps += 1;
        // As Gymnasium's TimeLimit: truncation is reported even on a terminal step.
        let truncated = self
            .spec()
            .max_episode_steps
            .is_some_and(|limit| self.steps >= limit);
        Step {
            obs: self.dynamics.observe(),
            reward,
            terminated,
            truncated,
        }
    }

    fn snapshot(&self) -> serde_json::Value {
        let state = serde_json::json!({
            "dynamics": self.dynamics.save(),
            "rng": self.rng,
            "steps": self.steps,
        });
        serde_json::json!({ "env": self.spec().id, "state": state })
    }

    fn restore(&mut self, snapshot: &serde_json::Value) -> Result<Restored, String> {
        let id = snapshot.get("env").and_then(|v| v.as_str()).unwrap_or("?");
        if id != self.spec().id {
            return Err(format!(
                "snapshot is of env `{id}`, not `{}`",
                self.spec().id
            ));
        }
        let state = snapshot.get("state").ok_or("snapshot has no `state`")?;
        let field = |k: &str| state.get(k).ok_or(format!("snapshot has no `state.{k}`"));
        let rng = serde_json::from_value(field("rng")?.clone()).map_err(|e| e.to_string())?;
        let steps = serde_json::from_value(field("steps")?.clone()).map_err(|e| e.to_string())?;
        self.dynamics.load(field("dynamics")?)?;
        self.rng = rng;
        self.steps = steps;
        Ok(Restored::Exact)
    }

    fn fault(&self) -> Option<Fault> {
        self.dynamics.fault().map(Fault::Diverged)
    }

    fn clone_env(&self) -> Box<dyn Env> {
        Box::new(self.clone())
    }
}
