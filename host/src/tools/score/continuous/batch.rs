//! A minibatch the scorecard owns (drawn from a snapshot's replay buffer or from the policy's
//! state distribution), lent to the agent as a [`Batch`].

use acgap_sdk::{Batch, BatchKind};

#[derive(Clone, Debug, Default)]
pub struct OwnedBatch {
    pub obs: Vec<f32>,
    pub action: Vec<f32>,
    pub reward: Vec<f32>,
    pub next_obs: Vec<f32>,
    pub terminated: Vec<f32>,
    pub truncated: Vec<f32>,
}

impl OwnedBatch {
    pub fn len(&self) -> usize {
        self.reward.len()
    }

    pub fn view(&self) -> Batch<'_> {
        Batch {
            kind: BatchKind::Minibatch,
            len: self.len(),
            obs: &self.obs,
            action: &self.action,
            reward: &self.reward,
            next_obs: &self.next_obs,
            terminated: &self.terminated,
            truncated: &self.truncated,
        }
    }

    /// A copy of a borrowed batch.
    pub fn of(b: &Batch<'_>) -> Self {
        Self {
            obs: b.obs.to_vec(),
            action: b.action.to_vec(),
            reward: b.reward.to_vec(),
            next_obs: b.next_obs.to_vec(),
            terminated: b.terminated.to_vec(),
            truncated: b.truncated.to_vec(),
        }
    }
}
