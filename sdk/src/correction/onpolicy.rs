//! The on-policy family's correction hook: how a gap estimator changes the update of the
//! on-policy actor-critic core (`acgap_toolkit::ac::AcCore`; docs/algorithms.md §4).
//!
//! The core's actor ascends `sum_t w_t grad log pi(a_t|s_t)` with the plain weights
//! `w_t = A_t / N` (or over episode starts, `objective = "start"`), plus a correction's
//! [`Term`]:
//! - [`Term::Mean`] / [`Term::Sum`]: extra per-transition weights `c_t` on `log pi` (STAC's
//!   cross term has this form; `Mean`'s are divided by `N`), summed with the plain weights
//!   before the one backward pass;
//! - [`Term::Direction`]: a direction in the actor's flat parameter space, added as is.
//!
//! An estimator sees the core only through [`OnPolicyContext`]: the rollout and what the core
//! computed from it (returns, advantages, values, episode starts, the plain weights) and exact
//! products with the critic `V_w` (values, JVP, VJP, the Gram matrix of per-sample gradients,
//! Hessian-vector products of the value loss) and with the policy (VJP of `log pi`). The same
//! estimator works compiled into a plugin or loaded with `--correction` from its own library.
//!
//! Flat parameter vectors list each network's layers in order, every layer's weight matrix
//! (row-major, `in x out`) followed by its bias; the actor's end with the log-std row (zeros for
//! a categorical policy).

use super::Term;
use crate::batch::Batch;
use crate::result::{Metrics, PluginResult};
use serde::{Deserialize, Serialize};

/// Sizes and constants of the core at this update.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RolloutInfo {
    pub obs_dim: usize,
    /// Values per action row (1 for a categorical policy: the action index).
    pub act_dim: usize,
    pub batch_len: usize,
    pub gamma: f64,
    pub gae_lambda: f64,
    /// Parameters of the critic `V_w` (the length of its flat vectors).
    pub critic_params: usize,
    /// Parameters of the actor, log-std row included.
    pub actor_params: usize,
    pub hidden: Vec<usize>,
    /// Updates done before this one (for schedules).
    pub update: u64,
}

/// What the on-policy core exposes to a correction during one update. The critic and the
/// policy are as they are before the update.
pub trait OnPolicyContext {
    fn info(&self) -> RolloutInfo;
    /// The rollout, in order (env units).
    fn batch(&self) -> Batch<'_>;
    /// `starts[t]`: transition `t` begins an episode within this rollout (also at each env's
    /// segment start).
    fn episode_starts(&self) -> Vec<bool>;
    /// Monte-Carlo returns `G_t`, bootstrapped with `V_w` at truncations and segment ends.
    fn returns(&self) -> Vec<f32>;
    /// The advantages the plain weights use (GAE, normalised if the core normalises).
    fn advantages(&self) -> Vec<f32>;
    /// `V_w(s_t)`.
    fn values(&self) -> Vec<f32>;
    /// The plain policy gradient's weights `w_t` of `log pi(a_t|s_t)`.
    fn plain_weights(&self) -> Vec<f32>;
    /// `log pi(a_t|s_t)` of the rollout's actions under the current policy.
    fn log_probs(&self) -> PluginResult<Vec<f32>>;
    /// `V_w` at `n` states (`obs` row-major).
    fn critic_values(&self, obs: &[f32]) -> PluginResult<Vec<f32>>;
    /// `J x`: per-state `grad_w V_w(s_k) . x` (forward mode, exact).
    fn critic_jvp(&self, obs: &[f32], x: &[f64]) -> PluginResult<Vec<f64>>;
    /// `J^T z = sum_k z_k grad_w V_w(s_k)`.
    fn critic_vjp(&self, obs: &[f32], z: &[f64]) -> PluginResult<Vec<f64>>;
    /// `K = J J^T`, row-major `n x n`: the Gram matrix of per-state critic gradients (exact,
    /// f64), for implicit solves in the `n`-dimensional side.
    fn critic_gram(&self, obs: &[f32]) -> PluginResult<Vec<f64>>;
    /// `H x` with `H` the exact Hessian in `w` of `L(w) = mean_k (V_w(s_k) - targets_k)^2`.
    fn critic_hvp(&self, obs: &[f32], targets: &[f32], x: &[f64]) -> PluginResult<Vec<f64>>;
    /// `sum_t coef_t grad_theta log pi(a_t|s_t)` over the rollout, flat actor parameters.
    fn log_prob_vjp(&self, coef: &[f32]) -> PluginResult<Vec<f32>>;

    /// [`OnPolicyContext::critic_gram`] into a reusable matrix of the caller's (the same values).
    /// The default copies the row-major answer in; a core whose own matrix type `k` is can
    /// fill it directly (the toolkit's on-policy core fills its `Gram` without the `n x n`
    /// row-major copy).
    fn critic_gram_into(&self, obs: &[f32], k: &mut dyn GramTarget) -> PluginResult<()> {
        let full = self.critic_gram(obs)?;
        let n = (full.len() as f64).sqrt().round() as usize;
        if n * n != full.len() {
            return Err(format!(
                "critic_gram returned {} values, not n^2",
                full.len()
            ));
        }
        k.set_from_row_major(n, &full);
        Ok(())
    }
}

/// A symmetric matrix [`OnPolicyContext::critic_gram_into`] can fill.
pub trait GramTarget {
    /// Set the `n x n` matrix from its row-major entries.
    fn set_from_row_major(&mut self, n: usize, k: &[f64]);
    /// The concrete type, for a context that fills its own kind of matrix directly.
    fn as_any_mut(&mut self) -> &mut dyn std::any::Any;
}

/// A gap estimator for the on-policy core. Implement `actor_term`; the rest has defaults.
pub trait OnPolicyCorrection: Send {
    /// The term of this update, with metrics (logged as `correction/<metric>`; name them
    /// `<your-name>/...`).
    fn actor_term(&mut self, ctx: &dyn OnPolicyContext) -> PluginResult<(Term<f32>, Metrics)>;

    /// The estimator's complete state, for exact resume.
    fn save(&self) -> PluginResult<Vec<u8>> {
        Ok(Vec::new())
    }

    fn load(&mut self, bytes: &[u8]) -> PluginResult<()> {
        let _ = bytes;
        Ok(())
    }
}
