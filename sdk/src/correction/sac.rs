//! The SAC family: a gap estimator for the SAC core (`SacCore`; docs/algorithms.md §3).
//!
//! The actor of the SAC core ascends `grad_theta J_pi + term`. A [`SacCorrection`] is called by
//! the core at every correction step (to train its own networks, [`SacCorrection::train`]) and
//! at every actor step (to return its [`Term`]). It sees the base algorithm only through
//! [`SacContext`]: plain `f32` data and products with the base's networks, so the same
//! estimator works compiled into a plugin or loaded from its own library
//! (`host --correction libmygap.so`).
//!
//! Both kinds of estimator in the papers fit (the units of each [`Term`] form are in
//! docs/plugins.md, "One convention"):
//! - **action-space** (Res-SAC): per-sample gradients `g_b` with respect to the reparameterised
//!   action `a~_b` ([`Term::Mean`] or [`Term::Sum`]); the core maps them through the actor
//!   (`sum_b g_b . d a~_b / d theta`, what [`SacContext::actor_vjp`] computes).
//! - **parameter-space** (Stack-SAC): combine [`SacContext::critic_vjp`],
//!   [`SacContext::critic_jvp`] and [`SacContext::target_vjp`] and return
//!   [`Term::Direction`], a direction in the actor's flat parameter space.
//!
//! Flat parameter vectors list each network's layers in order, every layer's
//! weight matrix (row-major, `in x out`) followed by its bias.

use super::Term;
use crate::batch::Batch;
use crate::result::{Metrics, PluginResult};
use serde::{Deserialize, Serialize};

/// Sizes and constants of the base algorithm at this update.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ContextInfo {
    pub obs_dim: usize,
    pub act_dim: usize,
    pub batch_len: usize,
    pub gamma: f32,
    /// The entropy temperature at this update.
    pub alpha: f32,
    pub actor_params: usize,
    /// Parameters of one critic (Q1 and Q2 have the same shape); flat critic vectors
    /// hold Q1's parameters followed by Q2's.
    pub critic_params: usize,
    /// Hidden layer sizes of the base's networks, so an estimator can build networks of the same shape.
    pub hidden: Vec<usize>,
}

/// Actions drawn from the policy with their log-probabilities.
#[derive(Clone, Debug, PartialEq)]
pub struct Sampled {
    /// `B x act_dim`, squashed to `[-1, 1]`.
    pub actions: Vec<f32>,
    /// `B`, including the tanh correction.
    pub log_prob: Vec<f32>,
}

/// What the SAC core exposes to a correction during one update. All actions
/// are in the actor's squashed `[-1, 1]` units (the batch's env actions too:
/// [`SacContext::batch_actions`] gives them rescaled). Within one update the
/// random draws are fixed, so repeated calls return the same samples.
pub trait SacContext {
    fn info(&self) -> ContextInfo;
    /// The minibatch of this update (env units).
    fn batch(&self) -> Batch<'_>;
    /// The batch's actions rescaled to `[-1, 1]`, as the critics see them.
    fn batch_actions(&self) -> PluginResult<Vec<f32>>;
    /// `a~ ~ pi_theta(.|s)` at the batch observations, reparameterised with this update's noise.
    fn policy_actions(&self) -> PluginResult<Sampled>;
    /// `a' ~ pi_theta(.|s')` at the next observations: the sample used in the soft target.
    fn next_actions(&self) -> PluginResult<Sampled>;
    /// The critics' soft TD target `y = r + gamma (1 - terminated)(min_i Qbar_i(s',a') - alpha log pi(a'|s'))`.
    fn td_target(&self) -> PluginResult<Vec<f32>>;
    /// Online critics at `n` pairs `(obs, act)`: `Q1` for all rows, then `Q2` (`2 x n`).
    fn critic_values(&self, obs: &[f32], act: &[f32]) -> PluginResult<Vec<f32>>;
    /// Per-sample Jacobian-vector products of the online critics: for a flat direction
    /// `v = (v1, v2)` over both critics' parameters, returns `grad_phi Q1(s_b,a_b) . v1`
    /// for all rows, then the same for Q2 (`2 x n`). Computed by forward-mode differentiation.
    fn critic_jvp(&self, obs: &[f32], act: &[f32], v: &[f32]) -> PluginResult<Vec<f32>>;
    /// Vector-Jacobian product of the online critics: `sum_b w1_b grad_phi Q1(s_b,a_b)`
    /// followed by `sum_b w2_b grad_phi Q2(s_b,a_b)`, for weights `w = (w1, w2)` (`2 x n`).
    fn critic_vjp(&self, obs: &[f32], act: &[f32], w: &[f32]) -> PluginResult<Vec<f32>>;
    /// Actor vector-Jacobian product through the reparameterised action:
    /// `sum_b g_b . d a~_b / d theta` for `g` of shape `B x act_dim`.
    fn actor_vjp(&self, g: &[f32]) -> PluginResult<Vec<f32>>;
    /// Actor vector-Jacobian product through the soft target:
    /// `sum_b c_b d y_b / d theta`, with `y` depending on `theta` through `a'` and `log pi(a'|s')`.
    fn target_vjp(&self, c: &[f32]) -> PluginResult<Vec<f32>>;
    /// Gram matrices of the online critics' per-sample parameter gradients at `n` pairs:
    /// `K_i[b, c] = grad_phi Q_i(s_b,a_b) . grad_phi Q_i(s_c,a_c)`, Q1's `n x n` block then Q2's.
    /// With [`SacContext::critic_jvp`] and [`SacContext::critic_vjp`] this solves
    /// `(J^T J / n + eta I) v = u` exactly (Woodbury; see `acgap_toolkit::implicit`).
    fn critic_gram(&self, obs: &[f32], act: &[f32]) -> PluginResult<Vec<f32>> {
        let _ = (obs, act);
        Err("this context does not provide critic_gram".into())
    }
    /// `grad_theta J_pi` of this actor step without any correction (flat actor parameters),
    /// e.g. to report the cosine between a correction and the plain actor gradient.
    fn actor_gradient(&self) -> PluginResult<Vec<f32>> {
        Err("this context does not provide actor_gradient".into())
    }
    /// The online critics and their weighted action gradients at `n` pairs, for weights
    /// `w = (w1, w2)` (`2 x n`): `[Q1 (n), Q2 (n), w1_b dQ1(s_b,a_b)/da (n x act_dim),
    /// w2_b dQ2(s_b,a_b)/da (n x act_dim)]`, actions in `[-1, 1]` (appended).
    fn critic_action_gradient(
        &self,
        obs: &[f32],
        act: &[f32],
        w: &[f32],
    ) -> PluginResult<Vec<f32>> {
        let _ = (obs, act, w);
        Err("this context does not provide critic_action_gradient".into())
    }
}

/// A SAC-family gap estimator. Implement `actor_term`; the rest has defaults.
pub trait SacCorrection: Send {
    /// One step of the estimator's own networks (the "y" of "Algo-x-y"). An estimator that
    /// trains also returns `true` from [`SacCorrection::trains`].
    fn train(&mut self, ctx: &dyn SacContext) -> PluginResult<Metrics> {
        let _ = ctx;
        Ok(Vec::new())
    }

    /// Whether [`SacCorrection::train`] does anything. The host refuses to run an estimator
    /// that trains under a schedule with no correction steps (`--schedule x-0`), which would
    /// leave its networks at their initial values.
    fn trains(&self) -> bool {
        false
    }

    /// The term to add to the actor's ascent direction at this actor step, with metrics
    /// (logged as `correction/<metric>`; name them `<your-name>/...`).
    fn actor_term(&mut self, ctx: &dyn SacContext) -> PluginResult<(Term<f32>, Metrics)>;

    /// Additive value terms this estimator contributes at `n` pairs (actions in `[-1, 1]`),
    /// e.g. Res-SAC's `("w", W(s, a))`; the core reports `q+<name>` in its value estimates.
    fn value_terms(
        &mut self,
        obs: &[f32],
        act: &[f32],
        n: usize,
    ) -> PluginResult<Vec<(String, Vec<f32>)>> {
        let _ = (obs, act, n);
        Ok(Vec::new())
    }

    /// The estimator's complete state, for exact resume.
    fn save(&self) -> PluginResult<Vec<u8>> {
        Ok(Vec::new())
    }

    fn load(&mut self, bytes: &[u8]) -> PluginResult<()> {
        let _ = bytes;
        Ok(())
    }
}
