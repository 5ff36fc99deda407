//! The on-policy driver (AgC, STAC, the tabular agents): each iteration collects one rollout
//! of `rollout_len` steps from `num_envs` envs stepped together (acting on all of them in one
//! call), hands it to the agent in order for one update, and scores the agent's tables on
//! tabular envs.

use super::failure::RunFailure;
use super::replay::ReplayBuffer;
use super::trainer::Trainer;
use crate::output::run_dir::RunState;
use acgap_sdk::{BatchKind, UpdateStep};

impl Trainer {
    pub(super) fn on_policy_iteration(
        &mut self,
        rollout_len: usize,
        num_envs: usize,
    ) -> Result<(), RunFailure> {
        self.rollout(rollout_len / num_envs, num_envs)?;
        let batch = self.replay.in_order(BatchKind::Rollout);
        let metrics = (self.agent.update(&batch, UpdateStep::Rollout))
            .map_err(|e| self.plugin_failure("update", e))?;
        self.state.window.add(&metrics);
        self.state.updates += 1;
        self.state.iterations += 1;
        self.tabular_diagnostics()
    }

    /// `per_env` steps of every env (fewer at the end of the run) into the replay buffer,
    /// env-major: each env's segment in order.
    fn rollout(&mut self, per_env: usize, num_envs: usize) -> Result<(), RunFailure> {
        let left = self.spec.steps - self.state.step;
        let per_env = per_env.min(left.div_ceil(num_envs));
        let (od, ad) = (self.obs_dim, self.act_dim);
        let mut segments: Vec<ReplayBuffer> = (0..num_envs)
            .map(|_| ReplayBuffer::new(per_env, od, ad))
            .collect();
        for _ in 0..per_env {
            let obs: Vec<f32> = self
                .slots
                .iter()
                .flat_map(|s| s.obs.iter().copied())
                .collect();
            let actions = (self.agent.act(&obs, num_envs, false))
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
                if e == 0 {
                    self.offer_gap_pair(a);
                }
                let ended = self.slots[e].step(a, segment, self.state.step)?;
                self.count_step(ended)?;
            }
        }
        self.replay = ReplayBuffer::new(per_env * num_envs, od, ad);
        for segment in &segments {
            self.replay.append(segment);
        }
        Ok(())
    }
}
