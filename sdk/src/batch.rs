//! The data an agent learns from: a borrowed, columnar batch of transitions.

/// How the rows of a [`Batch`] were drawn.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum BatchKind {
    /// An i.i.d. minibatch sampled uniformly from the replay buffer.
    Minibatch = 0,
    /// An in-order on-policy rollout; episode boundaries are where
    /// `terminated` or `truncated` is 1.
    Rollout = 1,
}

/// `len` transitions as row-major `f32` columns. `action` holds the action
/// index as an `f32` for discrete spaces; `terminated`/`truncated` are 0 or 1.
///
/// ```
/// use acgap_sdk::batch::{Batch, BatchKind};
/// let (obs, act, r, next, z) = ([0.0_f32; 6], [1.0_f32; 2], [0.5_f32; 2], [0.0_f32; 6], [0.0_f32; 2]);
/// let b = Batch { kind: BatchKind::Minibatch, len: 2, obs: &obs, action: &act, reward: &r,
///                 next_obs: &next, terminated: &z, truncated: &z };
/// assert_eq!(b.obs_dim(), 3);
/// ```
#[derive(Clone, Copy, Debug)]
pub struct Batch<'a> {
    pub kind: BatchKind,
    pub len: usize,
    pub obs: &'a [f32],
    pub action: &'a [f32],
    pub reward: &'a [f32],
    pub next_obs: &'a [f32],
    pub terminated: &'a [f32],
    pub truncated: &'a [f32],
}

impl Batch<'_> {
    pub fn obs_dim(&self) -> usize {
        self.obs.len() / self.len.max(1)
    }
    pub fn act_dim(&self) -> usize {
        self.action.len() / self.len.max(1)
    }
}

/// A [`Batch`] that owns its columns: a minibatch kept past the call that lent it (a core that
/// reuses one for several steps, a tool that draws its own).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct OwnedBatch {
    pub obs: Vec<f32>,
    pub action: Vec<f32>,
    pub reward: Vec<f32>,
    pub next_obs: Vec<f32>,
    pub terminated: Vec<f32>,
    pub truncated: Vec<f32>,
}

impl OwnedBatch {
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

    pub fn len(&self) -> usize {
        self.reward.len()
    }

    pub fn is_empty(&self) -> bool {
        self.reward.is_empty()
    }

    /// The six columns in order: obs, action, reward, next obs, terminated, truncated.
    pub fn columns(&self) -> [&Vec<f32>; 6] {
        [
            &self.obs,
            &self.action,
            &self.reward,
            &self.next_obs,
            &self.terminated,
            &self.truncated,
        ]
    }

    /// The six columns in the order of [`OwnedBatch::columns`], to grow or overwrite.
    pub fn columns_mut(&mut self) -> [&mut Vec<f32>; 6] {
        [
            &mut self.obs,
            &mut self.action,
            &mut self.reward,
            &mut self.next_obs,
            &mut self.terminated,
            &mut self.truncated,
        ]
    }

    /// The batch as a minibatch view.
    pub fn view(&self) -> Batch<'_> {
        self.view_as(BatchKind::Minibatch)
    }

    /// The batch as a view of the given kind.
    pub fn view_as(&self, kind: BatchKind) -> Batch<'_> {
        Batch {
            kind,
            len: self.len(),
            obs: &self.obs,
            action: &self.action,
            reward: &self.reward,
            next_obs: &self.next_obs,
            terminated: &self.terminated,
            truncated: &self.truncated,
        }
    }
}

/// Which part of the "Algo-x-y" schedule an `update` call performs
/// (docs/algorithms.md §3: per iteration x critic steps, y correction steps, one actor step).
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[repr(u8)]
#[serde(rename_all = "snake_case")]
pub enum UpdateStep {
    /// One critic gradient step (and its target-network Polyak step).
    Critic = 0,
    /// One step of the correction estimator's own networks (e.g. Res-SAC's res-critic).
    Correction = 1,
    /// One actor (and temperature) step along `grad J + correction`.
    Actor = 2,
    /// A whole on-policy update from an in-order rollout.
    Rollout = 3,
}

impl UpdateStep {
    pub fn from_u8(v: u8) -> Option<Self> {
        Some(match v {
            0 => Self::Critic,
            1 => Self::Correction,
            2 => Self::Actor,
            3 => Self::Rollout,
            _ => return None,
        })
    }
}
