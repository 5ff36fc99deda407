//! What every env step shares, whichever driver takes it: counting it and logging an episode
//! that ended, offering the step to the gap diagnostics, random warm-up actions, and the checks
//! on every action a plugin returns.

use super::failure::{RunFailure, io_failure};
use super::slot::Ended;
use super::trainer::Trainer;
use crate::output::run_dir::RunState;
use acgap_envs::Space;
use rand::Rng;

impl Trainer {
    /// One env step was taken: count it, and log the episode it ended, if any.
    pub(super) fn count_step(&mut self, ended: Ended) -> Result<(), RunFailure> {
        self.state.step += 1;
        match ended {
            Some((ret, len)) => (self.logs.episode(self.state.step, ret, len)).map_err(io_failure),
            None => Ok(()),
        }
    }

    /// The training env's state and the action about to be taken, as a candidate pair of
    /// the Monte-Carlo gap diagnostics (`--gap-every`).
    pub(super) fn offer_gap_pair(&mut self, action: &[f32]) {
        if self.spec.gap.every > 0 {
            let slot = &self.slots[0];
            (self.state.gap).offer(self.spec.gap.pairs, slot.env.as_ref(), &slot.obs, action);
        }
    }

    pub(super) fn random_action(&mut self) -> Vec<f32> {
        let rng = &mut self.state.action_rng;
        match &self.action_space {
            Space::Box { low, high } => low
                .iter()
                .zip(high)
                .map(|(l, h)| rng.random_range(*l..=*h))
                .collect(),
            Space::Discrete { n } => vec![rng.random_range(0..*n) as f32],
        }
    }

    /// A plugin's action must have the env's dimension, be finite, and for discrete
    /// spaces be a valid index.
    pub(super) fn check_action(&self, a: &[f32]) -> Result<(), RunFailure> {
        let step = self.state.step;
        if a.len() != self.act_dim {
            return Err(RunFailure {
                state: RunState::Failed,
                message: format!(
                    "the plugin returned an action of dimension {} at step {step}; `{}` expects {}",
                    a.len(),
                    self.spec.env,
                    self.act_dim
                ),
            });
        }
        if let Some(x) = a.iter().find(|x| !x.is_finite()) {
            return Err(RunFailure {
                state: RunState::Diverged,
                message: format!(
                    "diverged: the plugin returned a non-finite action ({x}) at step {step}"
                ),
            });
        }
        if let Space::Discrete { n } = self.action_space
            && (a[0] < 0.0 || a[0] >= n as f32 || a[0].fract() != 0.0)
        {
            return Err(RunFailure {
                state: RunState::Failed,
                message: format!(
                    "the plugin returned action {} at step {step}; `{}` has actions 0..{}",
                    a[0], self.spec.env, n
                ),
            });
        }
        Ok(())
    }
}
