//! The off-policy driver (the SAC family): each iteration steps the env
//! `env_steps_per_iter` times into the replay buffer — random actions until `learning_starts`
//! — then, once learning has started, runs the paper's "Algo-x-y" schedule on minibatches: x
//! critic steps, y correction steps, one actor step (Stable-Baselines3's `collect_rollouts` /
//! `train` split).

use super::failure::RunFailure;
use super::trainer::Trainer;
use acgap_sdk::{Training, UpdateStep};

impl Trainer {
    pub(super) fn off_policy_iteration(&mut self) -> Result<(), RunFailure> {
        let Training::OffPolicy {
            batch_size,
            learning_starts,
            env_steps_per_iter,
            critic_steps,
            correction_steps,
            actor_steps,
            ..
        } = self.training
        else {
            unreachable!("the off-policy driver runs off-policy agents only")
        };
        self.collect(env_steps_per_iter, learning_starts)?;
        if self.state.step >= learning_starts && self.replay.len() >= batch_size {
            let schedule = [
                (UpdateStep::Critic, critic_steps),
                (UpdateStep::Correction, correction_steps),
                (UpdateStep::Actor, actor_steps),
            ];
            self.train(batch_size, schedule)?;
            self.state.iterations += 1;
        }
        Ok(())
    }

    /// Up to `env_steps_per_iter` env steps (the run's budget may end first).
    fn collect(&mut self, env_steps: usize, learning_starts: usize) -> Result<(), RunFailure> {
        for _ in 0..env_steps {
            if self.state.step >= self.spec.steps {
                break;
            }
            let action = if self.state.step < learning_starts {
                self.random_action()
            } else {
                let obs = &self.slots[0].obs;
                let a =
                    (self.agent.act(obs, 1, false)).map_err(|e| self.plugin_failure("act", e))?;
                self.check_action(&a)?;
                a
            };
            self.offer_gap_pair(&action);
            let ended = self.slots[0].step(&action, &mut self.replay, self.state.step)?;
            self.count_step(ended)?;
            // Off-policy agents are scored at episode ends (on-policy ones after each update).
            if ended.is_some() {
                self.tabular_diagnostics()?;
            }
        }
        Ok(())
    }

    /// The schedule's updates, each on a fresh minibatch of `batch_size` transitions.
    fn train(
        &mut self,
        batch_size: usize,
        schedule: [(UpdateStep, usize); 3],
    ) -> Result<(), RunFailure> {
        for (kind, count) in schedule {
            for _ in 0..count {
                (self.replay).sample(batch_size, &mut self.state.replay_rng, &mut self.minibatch);
                let metrics = (self.agent.update(&self.minibatch.view(), kind))
                    .map_err(|e| self.plugin_failure("update", e))?;
                self.state.window.add(&metrics);
                self.state.updates += 1;
            }
        }
        Ok(())
    }
}
