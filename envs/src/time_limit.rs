//! [`TimeLimited`]: seeding, step counting and the time limit for any [`Dynamics`].

use crate::{Env, EnvSpec, Step};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use serde::{Serialize, de::DeserializeOwned};

/// The physics of a task, without episode bookkeeping.
pub trait Dynamics: Clone + Send + Serialize + DeserializeOwned + 'static {
    /// Spaces and time limit.
    fn spec(&self) -> EnvSpec;
    /// Draw an initial state.
    fn reset(&mut self, rng: &mut ChaCha8Rng);
    /// Apply an action; returns `(reward, terminated)`.
    fn step(&mut self, action: &[f32]) -> (f64, bool);
    /// The observation of the current state.
    fn observe(&self) -> Vec<f32>;
}

/// A [`Dynamics`] with its own RNG and Gymnasium's `TimeLimit` semantics.
#[derive(Clone, Serialize, serde::Deserialize)]
pub struct TimeLimited<D> {
    dynamics: D,
    rng: ChaCha8Rng,
    steps: usize,
    #[serde(skip)]
    spec: Option<EnvSpec>,
}

impl<D: Dynamics> TimeLimited<D> {
    pub fn new(dynamics: D, seed: u64) -> Self {
        let spec = Some(dynamics.spec());
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
        self.spec.as_ref().expect("spec is set at construction")
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
        serde_json::json!({ "env": self.spec().id, "state": self })
    }

    fn restore(&mut self, snapshot: &serde_json::Value) -> Result<(), String> {
        let id = snapshot.get("env").and_then(|v| v.as_str()).unwrap_or("?");
        if id != self.spec().id {
            return Err(format!(
                "snapshot is of env `{id}`, not `{}`",
                self.spec().id
            ));
        }
        let state = snapshot.get("state").ok_or("snapshot has no `state`")?;
        let restored: Self = serde_json::from_value(state.clone()).map_err(|e| e.to_string())?;
        self.dynamics = restored.dynamics;
        self.rng = restored.rng;
        self.steps = restored.steps;
        Ok(())
    }

    fn clone_env(&self) -> Box<dyn Env> {
        Box::new(self.clone())
    }
}
