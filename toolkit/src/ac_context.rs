//! The on-policy core's [`OnPolicyContext`]: what a correction sees of one update — the rollout,
//! the core's returns, advantages, values and plain weights, and exact products with the
//! critic (`toolkit::value`) and the policy.

use super::gram::Gram;
use super::mlp::Mlp;
use super::tensor::{Tensor, from_rows, to_vec};
use super::value::{critic_hvp, critic_jvp, critic_vjp};
use acgap_sdk::onpolicy::{GramTarget, OnPolicyContext, RolloutInfo};
use acgap_sdk::{Batch, PluginResult};

/// What the context needs of the core, which implements it (so the two files do not import
/// each other).
pub(super) trait Core {
    /// Sizes and constants at a batch of `batch_len` transitions.
    fn info(&self, batch_len: usize) -> RolloutInfo;
    fn critic(&self) -> &Mlp;
    fn obs_dim(&self) -> usize;
    /// `sum_t coef_t grad log pi(a_t|s_t)`, flat (the log-std row last).
    fn log_prob_vjp(
        &self,
        obs: &Tensor<2>,
        action: &[f32],
        coef: Vec<f32>,
    ) -> PluginResult<Vec<f32>>;
    /// `log pi(a_t|s_t)`.
    fn log_probs(&self, obs: &Tensor<2>, action: &[f32]) -> PluginResult<Vec<f32>>;
}

/// One update's context; everything is as it was before the update.
pub(super) struct AcContext<'a> {
    pub core: &'a dyn Core,
    pub batch: &'a Batch<'a>,
    pub obs: &'a Tensor<2>,
    pub starts: &'a [bool],
    pub returns: &'a [f32],
    pub advantages: &'a [f32],
    pub values: &'a [f32],
    pub plain: &'a [f32],
}

impl AcContext<'_> {
    /// The states a query names as a tensor (the rollout's own tensor when they are its states).
    fn states(&self, obs: &[f32]) -> PluginResult<Tensor<2>> {
        let d = self.core.obs_dim();
        if !obs.len().is_multiple_of(d) {
            return Err(format!("{} state values are not rows of {d}", obs.len()));
        }
        if obs == self.batch.obs {
            return Ok(self.obs.clone());
        }
        Ok(from_rows(obs, obs.len() / d, d, &self.obs.device()))
    }

    fn check(&self, what: &str, len: usize, want: usize) -> PluginResult<()> {
        if len == want {
            Ok(())
        } else {
            Err(format!("{what} has {len} values, expected {want}"))
        }
    }
}

impl OnPolicyContext for AcContext<'_> {
    fn info(&self) -> RolloutInfo {
        self.core.info(self.batch.len)
    }
    fn batch(&self) -> Batch<'_> {
        *self.batch
    }
    fn episode_starts(&self) -> Vec<bool> {
        self.starts.to_vec()
    }
    fn returns(&self) -> Vec<f32> {
        self.returns.to_vec()
    }
    fn advantages(&self) -> Vec<f32> {
        self.advantages.to_vec()
    }
    fn values(&self) -> Vec<f32> {
        self.values.to_vec()
    }
    fn plain_weights(&self) -> Vec<f32> {
        self.plain.to_vec()
    }
    fn log_probs(&self) -> PluginResult<Vec<f32>> {
        self.core.log_probs(self.obs, self.batch.action)
    }
    fn critic_values(&self, obs: &[f32]) -> PluginResult<Vec<f32>> {
        Ok(to_vec(self.core.critic().forward(self.states(obs)?)))
    }
    fn critic_jvp(&self, obs: &[f32], x: &[f64]) -> PluginResult<Vec<f64>> {
        self.check(
            "critic_jvp direction",
            x.len(),
            self.core.critic().param_count(),
        )?;
        Ok(critic_jvp(self.core.critic(), &self.states(obs)?, x))
    }
    fn critic_vjp(&self, obs: &[f32], z: &[f64]) -> PluginResult<Vec<f64>> {
        self.check(
            "critic_vjp weights",
            z.len(),
            obs.len() / self.core.obs_dim(),
        )?;
        Ok(critic_vjp(self.core.critic(), &self.states(obs)?, z))
    }
    fn critic_gram(&self, obs: &[f32]) -> PluginResult<Vec<f64>> {
        Ok(self
            .core
            .critic()
            .per_sample_gram(self.states(obs)?)
            .to_row_major())
    }
    fn critic_gram_into(&self, obs: &[f32], k: &mut dyn GramTarget) -> PluginResult<()> {
        let states = self.states(obs)?;
        match k.as_any_mut().downcast_mut::<Gram>() {
            // The toolkit's own matrix: filled in place, without the row-major copy.
            Some(gram) => self.core.critic().per_sample_gram_into(states, gram),
            None => {
                let full = self.core.critic().per_sample_gram(states).to_row_major();
                k.set_from_row_major(obs.len() / self.core.obs_dim(), &full);
            }
        }
        Ok(())
    }
    fn critic_hvp(&self, obs: &[f32], targets: &[f32], x: &[f64]) -> PluginResult<Vec<f64>> {
        self.check(
            "critic_hvp targets",
            targets.len(),
            obs.len() / self.core.obs_dim(),
        )?;
        self.check(
            "critic_hvp direction",
            x.len(),
            self.core.critic().param_count(),
        )?;
        Ok(critic_hvp(
            self.core.critic(),
            &self.states(obs)?,
            targets,
            x,
        ))
    }
    fn log_prob_vjp(&self, coef: &[f32]) -> PluginResult<Vec<f32>> {
        self.check("log_prob_vjp weights", coef.len(), self.batch.len)?;
        self.core
            .log_prob_vjp(self.obs, self.batch.action, coef.to_vec())
    }
}
