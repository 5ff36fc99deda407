//! An env the run trains on, with its episode in progress: slot 0 is the training env; an
//! on-policy agent stepping `num_envs` envs together has slots 1.. too. One value per env, so
//! nothing has to be kept in step across parallel collections.

use super::checkpoint::EnvSlot;
use super::failure::{RunFailure, env_fault};
use super::replay::ReplayBuffer;
use acgap_envs::Env;

pub(super) struct Slot {
    pub env: Box<dyn Env>,
    /// The observation the next step acts on.
    pub obs: Vec<f32>,
    pub episode_return: f64,
    pub episode_len: usize,
}

/// An episode that ended: its return and length.
pub(super) type Ended = Option<(f64, usize)>;

impl Slot {
    /// `env` with its episode as a checkpoint recorded it (or a fresh one).
    pub fn new(env: Box<dyn Env>, saved: EnvSlot) -> Slot {
        Slot {
            env,
            obs: saved.obs,
            episode_return: saved.episode_return,
            episode_len: saved.episode_len,
        }
    }

    /// What a checkpoint keeps of it.
    pub fn saved(&self) -> EnvSlot {
        EnvSlot {
            obs: self.obs.clone(),
            episode_return: self.episode_return,
            episode_len: self.episode_len,
            env: self.env.snapshot(),
        }
    }

    /// Step with `action`, record the transition in `into`, and reset when the episode ends
    /// (its return and length are returned). `step` is the run's, for messages.
    pub fn step(
        &mut self,
        action: &[f32],
        into: &mut ReplayBuffer,
        step: usize,
    ) -> Result<Ended, RunFailure> {
        let s = self.env.step(action);
        if let Some(why) = self.env.fault() {
            return Err(env_fault(why, step));
        }
        into.push(
            &self.obs,
            action,
            s.reward as f32,
            &s.obs,
            s.terminated,
            s.truncated,
        );
        self.episode_return += s.reward;
        self.episode_len += 1;
        if !(s.terminated || s.truncated) {
            self.obs = s.obs;
            return Ok(None);
        }
        let ended = (self.episode_return, self.episode_len);
        self.obs = self.env.reset();
        if let Some(fault) = self.env.fault() {
            return Err(env_fault(fault, step));
        }
        (self.episode_return, self.episode_len) = (0.0, 0);
        Ok(Some(ended))
    }
}
