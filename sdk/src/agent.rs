//! The [`Agent`] trait a plugin author implements, and what the host needs to drive it.

use crate::batch::{Batch, UpdateStep};
use crate::correction::Correction;
use crate::spec::EnvSpec;
use serde::{Deserialize, Serialize};

pub use crate::result::{Metrics, PluginResult};

/// Everything an agent is built from.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct AgentInit {
    /// The agent's config: its defaults merged with the user's overrides (validated by the agent).
    pub config: serde_json::Value,
    pub env: EnvSpec,
    /// Seed of the plugin's own RNG stream (derived by the host from the master seed).
    pub seed: u64,
    /// Compute device, e.g. `"cpu"` (later `"cuda:0"`).
    pub device: String,
}

/// How the host must feed an agent: off-policy from a replay buffer, or on-policy rollouts.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "mode", rename_all = "snake_case")]
pub enum Training {
    /// Per iteration: `env_steps_per_iter` env steps, then `critic_steps` critic
    /// updates, `correction_steps` correction updates and `actor_steps` actor updates,
    /// each on a fresh uniform minibatch of `batch_size`. Random actions for the
    /// first `learning_starts` steps; no updates before that.
    OffPolicy {
        batch_size: usize,
        buffer_size: usize,
        learning_starts: usize,
        env_steps_per_iter: usize,
        critic_steps: usize,
        correction_steps: usize,
        actor_steps: usize,
    },
    /// Collect `rollout_len` env steps in total with the current policy, from `num_envs`
    /// parallel envs (`rollout_len / num_envs` each, acting on all of them in one `act`
    /// call), then one `UpdateStep::Rollout`. The batch is env-major: each env's steps in
    /// order, one segment after the other; a segment's last step is flagged only if its
    /// episode ended there (otherwise bootstrap from its `next_obs`).
    OnPolicy {
        rollout_len: usize,
        #[serde(default = "one")]
        num_envs: usize,
    },
}

fn one() -> usize {
    1
}

/// Policy samples for soft-return rollouts.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SoftSample {
    /// `n x act_dim`, env units.
    pub actions: Vec<f32>,
    /// `log pi(a|s)` of each row (of the policy's own action variable).
    pub log_prob: Vec<f32>,
    /// The entropy temperature that weighs `log pi` in the soft return.
    pub alpha: f32,
}

/// A tabular agent's tables, for the host's exact diagnostics (state-major, `s * actions + a`).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct TabularView {
    /// `pi(a|s)` for every pair.
    pub policy: Vec<f64>,
    /// The ascent direction of the last actor update in the softmax logits' coordinates
    /// (comparable with the exact policy gradient), if there was one.
    pub actor_direction: Option<Vec<f64>>,
    /// The critic's table `q_phi(s, a)`, if the agent has one.
    pub critic: Option<Vec<f64>>,
    /// A correction to the critic (Res-AC's res-critic `w`), if any.
    pub res_critic: Option<Vec<f64>>,
}

/// An algorithm. The host calls it through the stable ABI; a plugin author
/// writes plain Rust and exports it with [`crate::export_plugin!`].
pub trait Agent: Send {
    /// How the host must schedule env steps and updates.
    fn training(&self) -> Training;

    /// Actions for `n` observations stored row-major in `obs`; returns `n * act_dim` values.
    fn act(&mut self, obs: &[f32], n: usize, deterministic: bool) -> PluginResult<Vec<f32>>;

    /// One step of the schedule on `batch`.
    fn update(&mut self, batch: &Batch<'_>, step: UpdateStep) -> PluginResult<Metrics>;

    /// The complete learner state (networks, optimiser moments, temperature,
    /// targets, RNG, counters) so that `load` continues bit-exactly.
    fn save(&self) -> PluginResult<Vec<u8>>;

    /// Restore a state produced by `save`.
    fn load(&mut self, bytes: &[u8]) -> PluginResult<()>;

    /// Named estimates of the soft action value `Q(s, a)` at `n` pairs (env-unit actions,
    /// row-major), e.g. `("q", min(Q1, Q2))` and, with Res-SAC, `("q+w", ...)`. The host
    /// compares them with Monte-Carlo returns (gap diagnostics). Default: none.
    fn value_estimates(
        &mut self,
        obs: &[f32],
        act: &[f32],
        n: usize,
    ) -> PluginResult<Vec<(String, Vec<f32>)>> {
        let _ = (obs, act, n);
        Ok(Vec::new())
    }

    /// Stochastic actions with their log-probabilities and the entropy temperature, drawn
    /// with a generator seeded by `seed`, never the training RNG (gap diagnostics).
    fn sample_for_diagnostics(
        &mut self,
        obs: &[f32],
        n: usize,
        seed: u64,
    ) -> PluginResult<SoftSample> {
        let _ = (obs, n, seed);
        Err("this agent does not support Monte-Carlo gap diagnostics".into())
    }

    /// The discount `gamma` the agent optimises, which the host's diagnostics use (the gap
    /// diagnostics' Monte-Carlo returns). Default: not reported. (ABI 1.1.)
    fn discount(&mut self) -> Option<f64> {
        None
    }

    /// The compute kernels the agent's CPU path runs on, e.g. `gemm+avx2` (the toolkit's
    /// `kernels` module chooses them by measuring), which the host records in `run.json`: a
    /// run resumed on other kernels continues in distribution, not bit for bit. Default: not
    /// reported. (ABI 1.3.)
    fn kernels(&mut self) -> Option<String> {
        None
    }

    /// Tabular agents: the policy and critic tables and the last actor direction, which the
    /// host compares with the exact quantities of the env's model every update. Default: none.
    fn tabular(&mut self) -> PluginResult<Option<TabularView>> {
        Ok(None)
    }
    /// Attach a gap estimator (the correction hook). The family travels with the value:
    /// a core takes its own family (`correction.into_sac()`, `into_onpolicy()`,
    /// `into_tabular()`, which refuse the others naming both families). Agents without a hook
    /// keep this default, which refuses.
    fn attach(&mut self, correction: Correction) -> PluginResult<()> {
        Err(crate::correction::Family::refusal(
            None,
            correction.family(),
        ))
    }
}
