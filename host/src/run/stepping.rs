//! Stepping the envs: one off-policy step (random actions while warming up), an on-policy
//! rollout over `num_envs` envs stepped together, and the checks on every action a plugin
//! returns.

use super::replay::ReplayBuffer;
use super::trainer::{RunFailure, Trainer, env_fault, io_failure};
use crate::output::run_dir::RunState;
use acgap_envs::Space;
use rand::Rng;

impl Trainer {
    /// One env step of an off-policy agent (random actions while warming up).
    pub(super) fn env_step(&mut self, random: bool) -> Result<(), RunFailure> {
        let action = if random {
            self.random_action()
        } else {
            let a = self
                .agent
                .act(&self.state.obs, 1, false)
                .map_err(|e| self.plugin_failure("act", e))?;
            self.check_action(&a)?;
            a
        };
        // The replay buffer is moved out for the step: `step_env` borrows the trainer.
        let mut replay = std::mem::replace(&mut self.replay, ReplayBuffer::new(0, 0, 0));
        let ended = self.step_env(0, &action, &mut replay);
        self.replay = replay;
        // Off-policy agents are scored at episode ends (on-policy ones after each update).
        if ended? {
            self.tabular_diagnostics()?;
        }
        Ok(())
    }

    /// One on-policy rollout from `num_envs` envs (one or more), `per_env` steps each (fewer at
    /// the end of the run), acting on all envs in one call; the batch is env-major.
    pub(super) fn vector_rollout(
        &mut self,
        per_env: usize,
        num_envs: usize,
    ) -> Result<(), RunFailure> {
        let left = self.spec.steps - self.state.step;
        let per_env = per_env.min(left.div_ceil(num_envs));
        let (od, ad) = (self.obs_dim, self.act_dim);
        let mut segments: Vec<ReplayBuffer> = (0..num_envs)
            .map(|_| ReplayBuffer::new(per_env, od, ad))
            .collect();
        for _ in 0..per_env {
            let obs: Vec<f32> = std::iter::once(&self.state.obs)
                .chain(self.state.extra_envs.iter().map(|s| &s.obs))
                .flatten()
                .copied()
                .collect();
            let actions = self
                .agent
                .act(&obs, num_envs, false)
                .map_err(|e| self.plugin_failure("act", e))?;
            if actions.len() != num_envs * ad {
                return Err(RunFailure {
                    state: RunState::Failed,
                    message: format!(
                        "the plugin returned {} action values for {num_envs} envs of action dimension {ad}",
                        actions.len()
                    ),
                });
            }
            for (e, segment) in segments.iter_mut().enumerate() {
                let a = &actions[e * ad..(e + 1) * ad];
                self.check_action(a)?;
                self.step_env(e, a, segment)?;
            }
        }
        self.replay = ReplayBuffer::new(per_env * num_envs, od, ad);
        for segment in &segments {
            self.replay.append(segment);
        }
        Ok(())
    }

    /// Step env `e` (env 0 or one of `extra_envs`), record the transition in `into`, and keep
    /// its episode bookkeeping; returns whether its episode ended.
    pub(super) fn step_env(
        &mut self,
        e: usize,
        action: &[f32],
        into: &mut ReplayBuffer,
    ) -> Result<bool, RunFailure> {
        if e == 0 && self.spec.gap.every > 0 {
            self.state.gap.offer(
                self.spec.gap.pairs,
                self.env.as_ref(),
                &self.state.obs,
                action,
            );
        }
        let (env, slot_obs, ret, len) = match e {
            0 => (
                &mut self.env,
                &mut self.state.obs,
                &mut self.state.episode_return,
                &mut self.state.episode_len,
            ),
            i => {
                let s = &mut self.state.extra_envs[i - 1];
                (
                    &mut self.extra_envs[i - 1],
                    &mut s.obs,
                    &mut s.episode_return,
                    &mut s.episode_len,
                )
            }
        };
        let s = env.step(action);
        if let Some(why) = env.fault() {
            return Err(env_fault(why, self.state.step));
        }
        into.push(
            slot_obs,
            action,
            s.reward as f32,
            &s.obs,
            s.terminated,
            s.truncated,
        );
        *ret += s.reward;
        *len += 1;
        let finished = (s.terminated || s.truncated).then_some((*ret, *len));
        if finished.is_some() {
            *slot_obs = env.reset();
            if let Some(fault) = env.fault() {
                return Err(env_fault(fault, self.state.step));
            }
            *ret = 0.0;
            *len = 0;
        } else {
            *slot_obs = s.obs;
        }
        self.state.step += 1;
        if let Some((r, l)) = finished {
            self.logs
                .episode(self.state.step, r, l)
                .map_err(io_failure)?;
        }
        Ok(finished.is_some())
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
