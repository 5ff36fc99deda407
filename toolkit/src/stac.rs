//! STAC's implicit term (docs/algorithms.md §4, Zheng et al. 2022 eq. 19 and Prop. 1), an
//! on-policy correction ([`Stac`]): the actor of the on-policy actor-critic adds
//!
//! ```text
//! -(d2L/dtheta dw) (d2L/dw2 + lambda I)^-1 dJ/dw,   L = mean_k (V_w(s_k) - G_k)^2,
//! dJ/dw = mean_k grad_w V_w(s_k)
//! ```
//!
//! to its policy gradient, in three steps:
//! 1. solve `(d2L/dw2 + lambda I) v = dJ/dw`: the Gauss-Newton Hessian `2/N J^T J` exactly in the
//!    N x N Gram space ([`gauss_newton_solve`]), or the full Hessian through exact
//!    Hessian-vector products and conjugate gradient ([`full_hessian_solve`]);
//! 2. `c_k = grad_w V(s_k) . v`, one number per batch state;
//! 3. the cross term of Prop. 1, `(d2L/dtheta dw) v = -2 mean_k c_k sum_{t >= k, same episode}
//!    gamma^(t-k) grad log pi(a_t|s_t) G_t`, as per-transition coefficients of `log pi`
//!    ([`cross_term_coefficients`], one pass with a discounted cumulative sum).

use super::gram::Gram;
use super::implicit::{conjugate_gradient, conjugate_gradient_unchecked, extreme_eigenvalues};
use super::mlp::Mlp;
use super::tensor::Tensor;
use super::value::{critic_hvp, critic_jvp, critic_vjp};
use acgap_sdk::correction::{OnPolicyContext, OnPolicyCorrection};
use acgap_sdk::{Metrics, PluginResult};
use serde::{Deserialize, Serialize};

/// Which critic Hessian `d2L/dw2` the solve uses.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Hessian {
    /// `2 mean_k grad V grad V^T`, solved exactly (minimum-norm at lambda = 0).
    GaussNewton,
    /// The exact Hessian (adds `2 mean_k (V - G) d2V/dw2`), by Hessian-vector products and CG.
    Full,
}

/// Which implicit term STAC adds to the policy gradient.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Term {
    /// Zheng et al. (2022) eq. 19 with Prop. 1's cross term (docs/algorithms.md, STAC).
    Exact,
    /// As the authors' code computes it (`spinup/algos/pytorch/stac/stac.py`): its critic-side
    /// surrogate `2 mean_t(log pi_t A_t) (G_0 - V_w(s_0))` differentiates to the term
    /// `2 (grad_w V(s_0) . v) mean_t A_t grad log pi(a_t|s_t)`, with
    /// `v = (d2L/dw2 + lambda I)^-1 mean_k grad_w V(s_k)` from at most 10 SciPy-style CG steps
    /// on the full Hessian of `L = mean_k (V(s_k) - G_k)^2`. It is the plain policy gradient
    /// times the scalar `2 grad_w V(s_0) . v` (s_0 = the rollout's first state): AC with an
    /// adaptive step size.
    AuthorsCode,
}

/// STAC's settings: the `stac` correction's config (the `stac` agent's adds the actor-critic's
/// [`super::ac::AcConfig`]).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct StacConfig {
    /// Regularisation of the critic Hessian; 0 (the paper's CartPole) takes the minimum-norm
    /// solution of the Gauss-Newton system.
    pub lambda: f64,
    /// The exact term (default) or the authors' code's.
    pub term: Term,
    /// Decay `lambda_t = lambda * exp(-t / lambda_decay_updates)` over updates t (0: constant);
    /// the paper's stated future work.
    pub lambda_decay_updates: f64,
    pub hessian: Hessian,
    /// Conditioning-driven lambda (0: off): each update raises lambda to the smallest value
    /// with `cond(d2L/dw2 + lambda I) <= max_condition`, from the Hessian's extreme eigenvalues
    /// (Lanczos; Gauss-Newton: its nonzero spectrum).
    pub max_condition: f64,
    /// Subtract the critic's `V_w(s_t)` from `G_t` in the cross term: the same expectation
    /// (a state baseline of a score-function estimator), lower variance. Not in the paper.
    pub cross_term_baseline: bool,
    /// Conjugate-gradient stopping rule of the full Hessian: relative residual and steps.
    pub cg_tolerance: f64,
    pub cg_max_iterations: usize,
    /// Log the critic Hessian's extreme eigenvalues every this many updates (0: never). (The
    /// term's norm and cosine with the plain gradient are the core's
    /// `correction_diagnostics_every`.)
    pub diagnostics_every: u64,
}

impl Default for StacConfig {
    fn default() -> Self {
        Self {
            lambda: 0.0,
            term: Term::Exact,
            lambda_decay_updates: 0.0,
            hessian: Hessian::GaussNewton,
            max_condition: 0.0,
            cross_term_baseline: false,
            cg_tolerance: 1e-6,
            cg_max_iterations: 200,
            diagnostics_every: 10,
        }
    }
}

impl StacConfig {
    /// The keys this adds to an actor-critic config.
    pub const KEYS: [&'static str; 9] = [
        "lambda",
        "term",
        "lambda_decay_updates",
        "hessian",
        "max_condition",
        "cross_term_baseline",
        "cg_tolerance",
        "cg_max_iterations",
        "diagnostics_every",
    ];

    /// The `stac` correction's default config: these keys alone.
    pub fn correction_config() -> serde_json::Value {
        serde_json::to_value(Self::default()).expect("config serialises")
    }

    /// The `stac` agent's default config: the actor-critic's plus these keys.
    pub fn default_config() -> serde_json::Value {
        let mut v =
            serde_json::to_value(super::ac::AcConfig::default()).expect("config serialises");
        let extra = serde_json::to_value(Self::default()).expect("config serialises");
        if let (Some(m), Some(e)) = (v.as_object_mut(), extra.as_object()) {
            m.extend(e.clone());
        }
        v
    }

    /// Split a `stac` config into the actor-critic's part and these settings, validated.
    pub fn split(config: &serde_json::Value) -> PluginResult<(serde_json::Value, Self)> {
        let mut base = config.clone();
        let mut own = serde_json::Map::new();
        if let Some(m) = base.as_object_mut() {
            for k in Self::KEYS {
                if let Some(v) = m.remove(k) {
                    own.insert(k.into(), v);
                }
            }
        }
        let cfg: Self = serde_json::from_value(serde_json::Value::Object(own))
            .map_err(|e| format!("invalid config: {e}"))?;
        if !(cfg.lambda >= 0.0 && cfg.lambda.is_finite()) {
            return Err(format!("lambda must be >= 0, got {}", cfg.lambda));
        }
        if cfg.lambda_decay_updates.is_nan() || cfg.lambda_decay_updates < 0.0 {
            return Err("lambda_decay_updates must be >= 0".into());
        }
        if cfg.max_condition.is_nan() || (cfg.max_condition != 0.0 && cfg.max_condition <= 1.0) {
            return Err(format!(
                "max_condition must be 0 (off) or > 1, got {}",
                cfg.max_condition
            ));
        }
        if cfg.cg_tolerance.is_nan() || cfg.cg_tolerance <= 0.0 || cfg.cg_max_iterations == 0 {
            return Err("cg_tolerance must be > 0 and cg_max_iterations >= 1".into());
        }
        Ok((base, cfg))
    }

    /// Whether update `t` logs the diagnostics (Hessian spectrum, the implicit term's norm and
    /// cosine with the plain gradient).
    pub fn diagnostics_due(&self, t: u64) -> bool {
        self.diagnostics_every > 0 && t.is_multiple_of(self.diagnostics_every)
    }

    /// The regularisation at update `t`.
    pub fn lambda_at(&self, t: u64) -> f64 {
        if self.lambda_decay_updates > 0.0 {
            self.lambda * (-(t as f64) / self.lambda_decay_updates).exp()
        } else {
            self.lambda
        }
    }
}

/// STAC's implicit term as an on-policy correction (`host --plugin agc --correction stac`;
/// the `stac` agent is the core with this attached).
pub struct Stac {
    cfg: StacConfig,
    /// The Gram matrix's buffers, kept across updates.
    gram: Gram,
}

impl Stac {
    pub fn new(cfg: StacConfig) -> Self {
        Self {
            cfg,
            gram: Gram::default(),
        }
    }

    /// From a correction config (only [`StacConfig::KEYS`]), validated.
    pub fn from_config(config: &serde_json::Value) -> PluginResult<Self> {
        let (rest, cfg) = StacConfig::split(config)?;
        if let Some(k) = rest.as_object().and_then(|m| m.keys().next()) {
            return Err(format!("unknown config key `{k}` for the STAC correction"));
        }
        Ok(Self::new(cfg))
    }
}

impl OnPolicyCorrection for Stac {
    fn actor_term(
        &mut self,
        ctx: &dyn OnPolicyContext,
    ) -> PluginResult<(acgap_sdk::correction::Term<f32>, Metrics)> {
        let info = ctx.info();
        let b = ctx.batch();
        let products = ContextProducts {
            ctx,
            obs: b.obs,
            params: info.critic_params,
        };
        let (ret, values, starts, plain) = (
            ctx.returns(),
            ctx.values(),
            ctx.episode_starts(),
            ctx.plain_weights(),
        );
        let batch = StacBatch {
            ret: &ret,
            values: &values,
            starts: &starts,
            gamma: info.gamma,
            plain: &plain,
        };
        let (coef, metrics) =
            implicit_coefficients(&self.cfg, &products, &batch, info.update, &mut self.gram)?;
        // The weights carry the batch's 1/N (the products' seeds): summed as they are.
        Ok((acgap_sdk::correction::Term::Sum(coef), metrics))
    }
}

/// The critic products STAC's solves need, at the rollout's states.
pub trait CriticProducts {
    fn param_count(&self) -> usize;
    /// `J x`.
    fn jvp(&self, x: &[f64]) -> PluginResult<Vec<f64>>;
    /// `J^T z`.
    fn vjp(&self, z: &[f64]) -> PluginResult<Vec<f64>>;
    /// `H x` of `mean_k (V(s_k) - targets_k)^2`.
    fn hvp(&self, targets: &[f32], x: &[f64]) -> PluginResult<Vec<f64>>;
    /// `K = J J^T`.
    fn gram_into(&self, k: &mut Gram) -> PluginResult<()>;
}

/// Through a correction's context (compiled in or loaded: the same numbers).
struct ContextProducts<'a> {
    ctx: &'a dyn OnPolicyContext,
    obs: &'a [f32],
    params: usize,
}

impl CriticProducts for ContextProducts<'_> {
    fn param_count(&self) -> usize {
        self.params
    }
    fn jvp(&self, x: &[f64]) -> PluginResult<Vec<f64>> {
        self.ctx.critic_jvp(self.obs, x)
    }
    fn vjp(&self, z: &[f64]) -> PluginResult<Vec<f64>> {
        self.ctx.critic_vjp(self.obs, z)
    }
    fn hvp(&self, targets: &[f32], x: &[f64]) -> PluginResult<Vec<f64>> {
        self.ctx.critic_hvp(self.obs, targets, x)
    }
    fn gram_into(&self, k: &mut Gram) -> PluginResult<()> {
        self.ctx.critic_gram_into(self.obs, k)
    }
}

/// Directly on a critic network at states `obs`.
pub struct NetworkProducts<'a> {
    pub critic: &'a Mlp,
    pub obs: &'a Tensor<2>,
}

impl CriticProducts for NetworkProducts<'_> {
    fn param_count(&self) -> usize {
        self.critic.param_count()
    }
    fn jvp(&self, x: &[f64]) -> PluginResult<Vec<f64>> {
        Ok(critic_jvp(self.critic, self.obs, x))
    }
    fn vjp(&self, z: &[f64]) -> PluginResult<Vec<f64>> {
        Ok(critic_vjp(self.critic, self.obs, z))
    }
    fn hvp(&self, targets: &[f32], x: &[f64]) -> PluginResult<Vec<f64>> {
        Ok(critic_hvp(self.critic, self.obs, targets, x))
    }
    fn gram_into(&self, k: &mut Gram) -> PluginResult<()> {
        self.critic.per_sample_gram_into(self.obs.clone(), k);
        Ok(())
    }
}

/// One rollout as the implicit term needs it.
pub struct StacBatch<'a> {
    /// Monte-Carlo returns `G_t` (bootstrapped at truncations and the rollout's end).
    pub ret: &'a [f32],
    /// The critic's values `V_w(s_t)` before this update (the optional cross-term baseline).
    pub values: &'a [f32],
    /// `starts[t]`: transition t begins an episode within this rollout.
    pub starts: &'a [bool],
    pub gamma: f64,
    /// The plain policy gradient's coefficients of `log pi(a_t|s_t)` (the authors' term scales them).
    pub plain: &'a [f32],
}

/// STAC's per-transition coefficients of `log pi(a_t|s_t)` whose gradient is the implicit term,
/// with the solve's diagnostics (`stac/...` metrics). `update` is the number of updates so far;
/// `k` is the Gram matrix's workspace, kept by the caller across updates.
pub fn implicit_coefficients(
    cfg: &StacConfig,
    critic: &dyn CriticProducts,
    batch: &StacBatch<'_>,
    update: u64,
    k: &mut Gram,
) -> PluginResult<(Vec<f32>, Metrics)> {
    if cfg.term == Term::AuthorsCode {
        return authors_code_coefficients(cfg, critic, batch, update);
    }
    let n = batch.ret.len();
    let mut metrics = Metrics::new();
    let spectrum_wanted = cfg.max_condition > 0.0 || cfg.diagnostics_due(update);
    let c = match cfg.hessian {
        Hessian::GaussNewton => {
            critic.gram_into(k)?;
            // The nonzero eigenvalues of 2/N J^T J are those of 2/N J J^T (N x N).
            let apply = |x: &[f64]| Ok(k.times(x).iter().map(|v| 2.0 * v / n as f64).collect());
            let spectrum = spectrum_wanted
                .then(|| extreme_eigenvalues(apply, n, 60))
                .transpose()?;
            let lambda = regularisation(cfg, update, spectrum, &mut metrics);
            let gn = gauss_newton_solve(k, lambda)?;
            metrics.push(("stac/ridge".into(), gn.ridge));
            metrics.push(("stac/solver_residual".into(), gn.residual));
            gn.c
        }
        Hessian::Full => {
            let hvp = |x: &[f64]| critic.hvp(batch.ret, x);
            let spectrum = spectrum_wanted
                .then(|| extreme_eigenvalues(hvp, critic.param_count(), 60))
                .transpose()?;
            let lambda = regularisation(cfg, update, spectrum, &mut metrics);
            let full = full_hessian_solve(critic, batch.ret, lambda, cfg)?;
            if full.lambda > lambda {
                metrics.push(("stac/lambda_raised_to".into(), full.lambda));
            }
            metrics.push(("stac/solver_residual".into(), full.relative_residual));
            metrics.push(("stac/cg_iterations".into(), full.iterations as f64));
            full.c
        }
    };
    let q: Vec<f32> = if cfg.cross_term_baseline {
        batch
            .ret
            .iter()
            .zip(batch.values)
            .map(|(g, v)| g - v)
            .collect()
    } else {
        batch.ret.to_vec()
    };
    let coef = cross_term_coefficients(&c, &q, batch.starts, batch.gamma);
    Ok((coef.into_iter().map(|x| x as f32).collect(), metrics))
}

/// [`Term::AuthorsCode`]: the plain coefficients times `2 grad_w V(s_0) . v`.
fn authors_code_coefficients(
    cfg: &StacConfig,
    critic: &dyn CriticProducts,
    batch: &StacBatch<'_>,
    update: u64,
) -> PluginResult<(Vec<f32>, Metrics)> {
    let n = batch.ret.len();
    let lambda = cfg.lambda_at(update);
    let djdw = critic.vjp(&vec![1.0 / n as f64; n])?;
    let apply = |x: &[f64]| {
        let hx = critic.hvp(batch.ret, x)?;
        Ok(hx.iter().zip(x).map(|(h, xi)| h + lambda * xi).collect())
    };
    // SciPy's default tolerance (relative residual 1e-5) and the code's `maxiter=10`.
    let solve = conjugate_gradient_unchecked(apply, &djdw, 1e-5, 10)?;
    let scale = 2.0 * critic.jvp(&solve.x)?[0];
    let metrics = vec![
        ("stac/lambda".into(), lambda),
        ("stac/authors_code_scale".into(), scale),
        ("stac/solver_residual".into(), solve.relative_residual),
        ("stac/cg_iterations".into(), solve.iterations as f64),
    ];
    let coef = batch
        .plain
        .iter()
        .map(|p| (scale * *p as f64) as f32)
        .collect();
    Ok((coef, metrics))
}

/// This update's lambda: the configured (decaying) value, raised where `max_condition` asks to
/// the smallest value that bounds the regularised Hessian's condition number:
/// `(hi + lambda) / (lo + lambda) <= kappa` iff `lambda >= (hi - kappa lo) / (kappa - 1)`, which
/// also makes an indefinite full Hessian definite. Logs the spectrum `(hi, lo)` when computed.
fn regularisation(
    cfg: &StacConfig,
    update: u64,
    spectrum: Option<(f64, f64)>,
    metrics: &mut Metrics,
) -> f64 {
    let mut lambda = cfg.lambda_at(update);
    if let Some((hi, lo)) = spectrum {
        metrics.push(("stac/hessian_eig_max".into(), hi));
        metrics.push(("stac/hessian_eig_min".into(), lo));
        if cfg.max_condition > 0.0 {
            let kappa = cfg.max_condition;
            lambda = lambda.max((hi - kappa * lo) / (kappa - 1.0));
        }
    }
    metrics.push(("stac/lambda".into(), lambda));
    lambda
}

/// The cross term of Prop. 1 applied to the solve: the coefficients `coef_t` such that
/// `sum_t coef_t grad log pi(a_t|s_t) = -(d2L/dtheta dw) v
/// = 2/N sum_k c_k sum_{t >= k, same episode} gamma^(t-k) grad log pi(a_t|s_t) G_t`,
/// i.e. `coef_t = 2/N C_t G_t` with the forward discounted cumulative sum
/// `C_t = sum_{k <= t, same episode} gamma^(t-k) c_k`.
///
/// Why: Prop. 1 differentiates `L = E_{s~rho}[(V_w(s) - V^pi(s))^2]` with the state distribution
/// `rho` held fixed, so `dL/dtheta = -2 E_rho[(V_w(s) - V^pi(s)) dV^pi(s)/dtheta]`, and each batch
/// state `s_k` contributes the policy gradient of the episode's remainder started from it.
pub fn cross_term_coefficients(c: &[f64], ret: &[f32], starts: &[bool], gamma: f64) -> Vec<f64> {
    let n = c.len();
    assert!(ret.len() == n && starts.len() == n, "batch lengths differ");
    let mut acc = 0.0;
    (0..n)
        .map(|t| {
            acc = c[t] + if starts[t] { 0.0 } else { gamma * acc };
            2.0 / n as f64 * acc * ret[t] as f64
        })
        .collect()
}

/// The Gauss-Newton solve of one update.
pub(crate) struct GaussNewton {
    #[cfg_attr(not(test), allow(dead_code))] // the tests rebuild v = J^T z from it
    pub z: Vec<f64>,
    /// `c_k = grad_w V(s_k) . v` with `v = J^T z`.
    pub c: Vec<f64>,
    pub ridge: f64,
    pub residual: f64,
}

/// `(2/N J^T J + lambda I) v = J^T y`, `y = 1/N` (so `J^T y = dJ/dw`), solved through the
/// N x N side: `v = J^T z` with `(2/N K + lambda I) z = y`, `K = J J^T` (computed layer by
/// layer, exact), and `c = J v = K z` — no product with the parameters is needed. At
/// lambda = 0 with K invertible this gives `c = 1/2` exactly; a numerically singular K
/// (near-duplicate states) gets the smallest ridge, relative to its mean diagonal, that makes
/// it definite.
pub(crate) fn gauss_newton_solve(k: &mut Gram, lambda: f64) -> PluginResult<GaussNewton> {
    let n = k.n();
    let a = 2.0 / n as f64;
    let scale = a * k.mean_diagonal();
    let y = vec![1.0 / n as f64; n];
    // The first ridge, 1e-12 of the mean diagonal, is far below the error K carries from the
    // network's f32 activations (~1e-7 relative); it spares the refactorisation that a
    // numerically singular K (near-duplicate states, the usual case at N = 1,024) needs.
    let mut ridge = 1e-12;
    let z = loop {
        match k.solve_shifted(a, lambda + ridge * scale, &y) {
            Some(z) => break z,
            None if ridge < 1e-2 => ridge *= 100.0,
            None => {
                return Err("the critic's Gauss-Newton matrix is singular: set lambda > 0".into());
            }
        }
    };
    let c = k.times(&z);
    let residual = (0..n)
        .map(|i| (a * c[i] + lambda * z[i] - y[i]).powi(2))
        .sum::<f64>()
        .sqrt()
        / (y[0] * (n as f64).sqrt());
    Ok(GaussNewton {
        z,
        c,
        ridge,
        residual,
    })
}

/// The full-Hessian solve of one update.
pub(crate) struct FullSolve {
    pub c: Vec<f64>,
    pub iterations: usize,
    pub relative_residual: f64,
    pub lambda: f64,
}

/// `(d2L/dw2 + lambda I) v = dJ/dw` by conjugate gradient on exact Hessian-vector products, then
/// `c = J v` (forward mode). Away from a critic optimum the full Hessian is indefinite: when CG
/// meets a direction of non-positive curvature `q = p^T A p / p^T p`, lambda is raised past it
/// (to `max(lambda - 2 q, 4 lambda)`) and the solve restarts, at most 12 times; `lambda` in the
/// result is the one used.
pub(crate) fn full_hessian_solve(
    critic: &dyn CriticProducts,
    ret: &[f32],
    mut lambda: f64,
    cfg: &StacConfig,
) -> PluginResult<FullSolve> {
    let n = ret.len();
    let djdw = critic.vjp(&vec![1.0 / n as f64; n])?;
    for _ in 0..=12 {
        let lowest = std::cell::Cell::new(f64::INFINITY);
        let apply = |x: &[f64]| {
            let hx = critic.hvp(ret, x)?;
            let ax: Vec<f64> = hx.iter().zip(x).map(|(h, xi)| h + lambda * xi).collect();
            let q = ax.iter().zip(x).map(|(a, b)| a * b).sum::<f64>()
                / x.iter().map(|v| v * v).sum::<f64>().max(1e-300);
            lowest.set(lowest.get().min(q));
            Ok(ax)
        };
        match conjugate_gradient(apply, &djdw, cfg.cg_tolerance, cfg.cg_max_iterations) {
            Ok(solve) => {
                return Ok(FullSolve {
                    c: critic.jvp(&solve.x)?,
                    iterations: solve.iterations,
                    relative_residual: solve.relative_residual,
                    lambda,
                });
            }
            Err(e) if lowest.get() <= 0.0 && e.contains("not positive definite") => {
                // Past the curvature seen, and at least 4x: CG's directions see only part of
                // the spectrum, so their lowest Rayleigh quotient can be far from lambda_min.
                lambda = (lambda - 2.0 * lowest.get()).max(4.0 * lambda) + 1e-6 * (1.0 + lambda);
            }
            Err(e) => return Err(e),
        }
    }
    Err(format!(
        "the critic's full Hessian stayed indefinite up to lambda = {lambda}; set a larger lambda or max_condition"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tensor::to_vec;
    use nalgebra::{DMatrix, DVector};

    fn net<'a>(critic: &'a Mlp, obs: &'a Tensor<2>) -> NetworkProducts<'a> {
        NetworkProducts { critic, obs }
    }

    /// Paper Prop. 1, checked by brute force: on a small finite-horizon MDP (state = (time, x),
    /// so `V^pi` is well defined per batch state) whose trajectories can all be enumerated,
    /// the expectation of `sum_t coef_t grad log pi(a_t|s_t)` over all trajectories equals
    /// `-d/dtheta [dL/dw . v]` by central differences of `L(theta, w) = sum_s rho(s) (w_s -
    /// V^pi_theta(s))^2`, `rho` the batch-state distribution held fixed (the batch is one whole
    /// episode), `V^pi` by exhaustive enumeration of the remaining trajectory, tabular critic
    /// (`c_k = v_{s_k}`). Policy: softmax over `theta[x][a]`, shared across time.
    #[test]
    fn prop1_cross_term_matches_a_brute_force_derivative() {
        type Coefficients<'a> = dyn Fn(&[f64], &[f32], &[f32], &[bool]) -> Vec<f64> + 'a;
        const X: usize = 3; // states per time step
        const A: usize = 2;
        const H: usize = 4; // episode length (terminates after H steps)
        let gamma = 0.9;
        // A fixed random MDP from a tiny LCG (no extra crates in the test).
        let mut seed = 12345u64;
        let mut uniform = || {
            seed = seed
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (seed >> 11) as f64 / (1u64 << 53) as f64
        };
        let mut p = [[[0.0; X]; A]; X];
        let mut r = [[0.0; A]; X];
        for x in 0..X {
            for a in 0..A {
                let raw: Vec<f64> = (0..X).map(|_| uniform() + 0.1).collect();
                let sum: f64 = raw.iter().sum();
                for y in 0..X {
                    p[x][a][y] = raw[y] / sum;
                }
                r[x][a] = 2.0 * uniform() - 1.0;
            }
        }
        let mu = [0.5, 0.3, 0.2];
        let theta0: Vec<f64> = (0..X * A).map(|_| uniform() - 0.5).collect();
        let w: Vec<f64> = (0..H * X).map(|_| uniform()).collect(); // critic V_w(t, x) = w[t X + x]
        let v: Vec<f64> = (0..H * X).map(|_| uniform() - 0.5).collect(); // the solve's v
        let b: Vec<f64> = (0..H * X).map(|_| 2.0 * uniform()).collect(); // a state baseline
        let pi = |th: &[f64], x: usize| -> [f64; A] {
            let m = th[x * A..x * A + A]
                .iter()
                .cloned()
                .fold(f64::MIN, f64::max);
            let e: Vec<f64> = (0..A).map(|a| (th[x * A + a] - m).exp()).collect();
            let s: f64 = e.iter().sum();
            [e[0] / s, e[1] / s]
        };
        // V^pi(t, x) by enumerating the rest of the episode.
        fn value(
            t: usize,
            x: usize,
            pi: &dyn Fn(usize) -> [f64; A],
            p: &[[[f64; X]; A]; X],
            r: &[[f64; A]; X],
            gamma: f64,
        ) -> f64 {
            if t == H {
                return 0.0;
            }
            let probs = pi(x);
            (0..A)
                .map(|a| {
                    let next: f64 = (0..X)
                        .map(|y| p[x][a][y] * value(t + 1, y, pi, p, r, gamma))
                        .sum();
                    probs[a] * (r[x][a] + gamma * next)
                })
                .sum()
        }
        // rho: the fixed batch-state distribution (one whole episode per batch) under theta0.
        let mut rho = [0.0; H * X];
        let mut dist = mu.to_vec();
        for t in 0..H {
            let probs: Vec<[f64; A]> = (0..X).map(|x| pi(&theta0, x)).collect();
            let mut next = vec![0.0; X];
            for x in 0..X {
                rho[t * X + x] = dist[x] / H as f64;
                for a in 0..A {
                    for y in 0..X {
                        next[y] += dist[x] * probs[x][a] * p[x][a][y];
                    }
                }
            }
            dist = next;
        }
        // dL/dw . v = 2 sum_s rho(s) (w_s - V^pi_theta(s)) v_s, as a function of theta.
        let dl_dw_v = |th: &[f64]| -> f64 {
            let pol = |x: usize| pi(th, x);
            (0..H * X)
                .map(|s| {
                    let vpi = value(s / X, s % X, &pol, &p, &r, gamma);
                    2.0 * rho[s] * (w[s] - vpi) * v[s]
                })
                .sum()
        };
        let h = 1e-5;
        let brute: Vec<f64> = (0..X * A)
            .map(|i| {
                let (mut up, mut down) = (theta0.clone(), theta0.clone());
                up[i] += h;
                down[i] -= h;
                -(dl_dw_v(&up) - dl_dw_v(&down)) / (2.0 * h)
            })
            .collect();
        // The estimator's exact expectation: every trajectory, weighted by its probability.
        let expectation = |coefficients: &Coefficients<'_>| {
            let mut total = vec![0.0; X * A];
            let paths = (A * X).pow(H as u32) * X;
            for code in 0..paths {
                let (mut c, mut prob, mut x) = (code, 0.0, code % X);
                c /= X;
                prob += mu[x];
                let (mut states, mut actions, mut rewards) = (vec![], vec![], vec![]);
                for _ in 0..H {
                    let (a, y) = (c % A, (c / A) % X);
                    c /= A * X;
                    prob *= pi(&theta0, x)[a] * p[x][a][y];
                    states.push(x);
                    actions.push(a);
                    rewards.push(r[x][a]);
                    x = y;
                }
                let mut ret = vec![0.0f32; H];
                let mut g = 0.0;
                for t in (0..H).rev() {
                    g = rewards[t] + gamma * g;
                    ret[t] = g as f32;
                }
                let ck: Vec<f64> = (0..H).map(|t| v[t * X + states[t]]).collect();
                let mut starts = vec![false; H];
                starts[0] = true;
                let baseline: Vec<f32> = (0..H).map(|t| b[t * X + states[t]] as f32).collect();
                let coef = coefficients(&ck, &ret, &baseline, &starts);
                for t in 0..H {
                    let probs = pi(&theta0, states[t]);
                    for b in 0..A {
                        let score = f64::from(b == actions[t]) - probs[b];
                        total[states[t] * A + b] += prob * coef[t] * score;
                    }
                }
            }
            total
        };
        let rel = |a: &[f64]| {
            let d: f64 = a.iter().zip(&brute).map(|(x, y)| (x - y).powi(2)).sum();
            (d / brute.iter().map(|y| y * y).sum::<f64>()).sqrt()
        };
        let ours = expectation(&|c, ret, _, starts| cross_term_coefficients(c, ret, starts, gamma));
        assert!(rel(&ours) < 1e-5, "{ours:?} vs {brute:?}: {}", rel(&ours));
        // A state baseline (`cross_term_baseline`: G_t - V_w(s_t)) leaves the expectation as is.
        let with_baseline = expectation(&|c, ret, base, starts| {
            let q: Vec<f32> = ret.iter().zip(base).map(|(g, b)| g - b).collect();
            cross_term_coefficients(c, &q, starts, gamma)
        });
        assert!(rel(&with_baseline) < 1e-5, "{}", rel(&with_baseline));
        // The check can fail: weighting each log pi by its own c_t (no cumulative sum), or
        // summing the future instead of the past, misses.
        let own_only = expectation(&|c, ret, _, _| {
            (0..H)
                .map(|t| 2.0 / H as f64 * c[t] * ret[t] as f64)
                .collect()
        });
        assert!(rel(&own_only) > 1e-2, "{}", rel(&own_only));
        let reversed = expectation(&|c, ret, _, starts| {
            let (rc, rr, rs): (Vec<f64>, Vec<f32>, Vec<bool>) = (
                c.iter().rev().copied().collect(),
                ret.iter().rev().copied().collect(),
                std::iter::once(true)
                    .chain(starts[1..].iter().copied())
                    .collect(),
            );
            let mut out = cross_term_coefficients(&rc, &rr, &rs, gamma);
            out.reverse();
            out
        });
        assert!(rel(&reversed) > 1e-2, "{}", rel(&reversed));
    }

    /// The conditioning-driven lambda bounds the condition number exactly, also for an
    /// indefinite spectrum, and never lowers the configured lambda.
    #[test]
    fn max_condition_sets_the_smallest_sufficient_lambda() {
        let cfg = StacConfig {
            lambda: 0.05,
            max_condition: 100.0,
            ..StacConfig::default()
        };
        let mut m = Metrics::new();
        for (hi, lo) in [(10.0, -2.0), (10.0, 1e-6)] {
            let lambda = regularisation(&cfg, 0, Some((hi, lo)), &mut m);
            assert!(
                ((hi + lambda) / (lo + lambda) - 100.0).abs() < 1e-9,
                "{hi} {lo}"
            );
        }
        assert_eq!(regularisation(&cfg, 0, Some((10.0, 5.0)), &mut m), 0.05);
        assert_eq!(regularisation(&cfg, 0, None, &mut m), 0.05);
    }

    /// Episodes inside a rollout do not share their sums: two episodes in one batch give the
    /// coefficients of each alone (rescaled by the batch size).
    #[test]
    fn cross_term_restarts_at_each_episode() {
        let (c, ret) = ([0.5, -1.0, 2.0, 0.25, 1.5], [1.0f32, 2.0, -1.0, 3.0, 0.5]);
        let both = cross_term_coefficients(&c, &ret, &[true, false, false, true, false], 0.8);
        let first = cross_term_coefficients(&c[..3], &ret[..3], &[true, false, false], 0.8);
        let second = cross_term_coefficients(&c[3..], &ret[3..], &[true, false], 0.8);
        for (t, want) in first
            .iter()
            .map(|x| x * 3.0 / 5.0)
            .chain(second.iter().map(|x| x * 2.0 / 5.0))
            .enumerate()
        {
            assert!((both[t] - want).abs() < 1e-12, "t = {t}");
        }
        // By hand for the first episode: C = 0.5, -1 + 0.4, 2 - 0.48.
        let by_hand = [0.5 * 1.0, -0.6 * 2.0, -1.52].map(|x| 2.0 / 5.0 * x);
        for t in 0..3 {
            assert!((both[t] - by_hand[t]).abs() < 1e-12);
        }
    }

    fn critic_and_batch(n: usize, hidden: usize) -> (Mlp, Tensor<2>, Vec<f32>) {
        use super::super::mlp::Activation;
        use super::super::tensor::{device_from_name, from_rows};
        use rand::{Rng, SeedableRng};
        let device = device_from_name("cpu").unwrap();
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(4);
        let critic = Mlp::with_activation(&[2, hidden, 1], Activation::Tanh, &mut rng, &device);
        let x: Vec<f32> = (0..2 * n).map(|_| rng.random_range(-1.0..1.0)).collect();
        let ret: Vec<f32> = (0..n).map(|_| rng.random_range(-2.0..2.0)).collect();
        (critic, from_rows(&x, n, 2, &device), ret)
    }

    fn rel(a: &[f64], b: &[f64]) -> f64 {
        let d: f64 = a.iter().zip(b).map(|(x, y)| (x - y).powi(2)).sum();
        (d / b.iter().map(|y| y * y).sum::<f64>().max(1e-300)).sqrt()
    }

    /// The Gauss-Newton solve, checked with explicit products: `v = J^T z` satisfies
    /// `(2/N J^T J + lambda I) v = mean_k grad_w V(s_k)`, and `c = K z` equals `J v`; at
    /// lambda = 0 (N < P), `c = 1/2`.
    #[test]
    fn gauss_newton_solve_is_exact() {
        let n = 10;
        let (critic, obs, _) = critic_and_batch(n, 8);
        for lambda in [0.0, 0.3] {
            let gn = gauss_newton_solve(&mut critic.per_sample_gram(obs.clone()), lambda).unwrap();
            assert_eq!(gn.ridge, 1e-12, "the floor ridge suffices");
            let v = critic_vjp(&critic, &obs, &gn.z);
            let jv = critic_jvp(&critic, &obs, &v);
            assert!(rel(&gn.c, &jv) < 1e-4, "c = K z vs J v");
            let jtjv = critic_vjp(&critic, &obs, &jv);
            let lhs: Vec<f64> = (0..v.len())
                .map(|i| 2.0 / n as f64 * jtjv[i] + lambda * v[i])
                .collect();
            let rhs = critic_vjp(&critic, &obs, &vec![1.0 / n as f64; n]);
            assert!(
                rel(&lhs, &rhs) < 1e-4,
                "lambda {lambda}: {}",
                rel(&lhs, &rhs)
            );
            if lambda == 0.0 {
                assert!(gn.c.iter().all(|c| (c - 0.5).abs() < 1e-6), "{:?}", gn.c);
            }
        }
    }

    /// `H x` against central differences of the gradient `dL/dw` (autodiff), and its
    /// Gauss-Newton part: with targets equal to the critic's outputs the residual term vanishes
    /// and `H x = 2/N J^T J x`.
    #[test]
    fn hessian_vector_products_match_finite_differences() {
        use super::super::tensor::from_vec;
        let n = 12;
        let (critic, obs, ret) = critic_and_batch(n, 6);
        let device = obs.device();
        let grad = |net: &Mlp, targets: &[f32]| -> Vec<f64> {
            let tracked = net.tracked();
            let g = from_vec(targets.to_vec(), n, 1, &device);
            let loss = (tracked.forward(obs.clone()) - g).square().mean();
            tracked
                .grads(&loss.backward())
                .into_iter()
                .flat_map(to_vec)
                .map(f64::from)
                .collect()
        };
        let p = critic.param_count();
        let x: Vec<f64> = (0..p)
            .map(|i| ((i * 7919) % 13) as f64 / 6.0 - 1.0)
            .collect();
        let w0 = critic.to_flat();
        let shifted = |eps: f64| {
            let mut net = critic.clone();
            let w: Vec<f32> = w0
                .iter()
                .zip(&x)
                .map(|(w, d)| (*w as f64 + eps * d) as f32)
                .collect();
            net.set_flat(&w, &device).unwrap();
            grad(&net, &ret)
        };
        let eps = 1e-2;
        let (up, down) = (shifted(eps), shifted(-eps));
        let fd: Vec<f64> = up
            .iter()
            .zip(&down)
            .map(|(u, d)| (u - d) / (2.0 * eps))
            .collect();
        let hx = critic_hvp(&critic, &obs, &ret, &x);
        assert!(
            rel(&hx, &fd) < 2e-3,
            "H x vs finite differences: {}",
            rel(&hx, &fd)
        );
        let outputs = to_vec(critic.forward(obs.clone()));
        let gn_x = critic_vjp(&critic, &obs, &critic_jvp(&critic, &obs, &x));
        let gn_x: Vec<f64> = gn_x.iter().map(|v| 2.0 / n as f64 * v).collect();
        let hx_fit = critic_hvp(&critic, &obs, &outputs, &x);
        assert!(rel(&hx_fit, &gn_x) < 1e-4, "{}", rel(&hx_fit, &gn_x));
        assert!(rel(&hx, &gn_x) > 1e-2, "the residual term is present");
    }

    /// The full-Hessian CG solve agrees with a dense solve of the Hessian assembled column by
    /// column from the products.
    /// [`Term::AuthorsCode`] on a hand-made batch: the coefficients are the plain ones times
    /// `2 grad_w V(s_0) . v`, `v = (H + lambda I)^-1 mean_k grad_w V(s_k)` with the full Hessian
    /// H of `mean_k (V(s_k) - G_k)^2`, solved densely here (9 critic parameters, so SciPy-style CG
    /// converges within its 10 steps).
    #[test]
    fn authors_code_term_is_the_plain_gradient_times_the_documented_scalar() {
        let n = 12;
        let (critic, obs, ret) = critic_and_batch(n, 2);
        let p = critic.param_count();
        assert!(p <= 10, "{p} parameters");
        let mut h = DMatrix::<f64>::zeros(p, p);
        for j in 0..p {
            let mut e = vec![0.0; p];
            e[j] = 1.0;
            h.set_column(j, &DVector::from_vec(critic_hvp(&critic, &obs, &ret, &e)));
        }
        let h = (&h + h.transpose()) * 0.5;
        let lambda = 0.5 - h.clone().symmetric_eigen().eigenvalues.min().min(0.0);
        let djdw = critic_vjp(&critic, &obs, &vec![1.0 / n as f64; n]);
        let v = (h + DMatrix::<f64>::identity(p, p) * lambda)
            .lu()
            .solve(&DVector::from_column_slice(&djdw))
            .unwrap();
        let mut first = vec![0.0; n];
        first[0] = 1.0;
        let grad_v0 = critic_vjp(&critic, &obs, &first);
        let scale = 2.0
            * grad_v0
                .iter()
                .zip(v.iter())
                .map(|(a, b)| a * b)
                .sum::<f64>();
        let plain: Vec<f32> = (0..n).map(|t| (t as f32 - 5.5) / 10.0).collect();
        let (values, starts) = (vec![0.0; n], vec![false; n]);
        let cfg = StacConfig {
            lambda,
            term: Term::AuthorsCode,
            ..StacConfig::default()
        };
        let batch = StacBatch {
            ret: &ret,
            values: &values,
            starts: &starts,
            gamma: 0.99,
            plain: &plain,
        };
        let (coef, metrics) =
            implicit_coefficients(&cfg, &net(&critic, &obs), &batch, 0, &mut Gram::default())
                .unwrap();
        let want: Vec<f64> = plain.iter().map(|&x| scale * x as f64).collect();
        let got: Vec<f64> = coef.iter().map(|&x| x as f64).collect();
        assert!(rel(&got, &want) < 1e-3, "{got:?} vs {want:?}");
        let logged = metrics
            .iter()
            .find(|(k, _)| k == "stac/authors_code_scale")
            .unwrap()
            .1;
        assert!(
            (logged - scale).abs() < 1e-3 * scale.abs().max(1e-3),
            "{logged} vs {scale}"
        );
        // Not the exact term: Prop. 1's cross term is no multiple of the plain coefficients.
        let exact = StacConfig {
            lambda,
            hessian: Hessian::Full,
            ..StacConfig::default()
        };
        let (other, _) =
            implicit_coefficients(&exact, &net(&critic, &obs), &batch, 0, &mut Gram::default())
                .unwrap();
        let ratio: Vec<f64> = other
            .iter()
            .zip(&plain)
            .map(|(o, p)| *o as f64 / *p as f64)
            .collect();
        let spread = ratio.iter().cloned().fold(f64::MIN, f64::max)
            - ratio.iter().cloned().fold(f64::MAX, f64::min);
        assert!(
            spread > 1e-3,
            "exact term looks like a multiple of plain: {ratio:?}"
        );
    }

    #[test]
    fn full_hessian_cg_solve_matches_a_dense_solve() {
        let n = 12;
        let (critic, obs, ret) = critic_and_batch(n, 4);
        let p = critic.param_count();
        let mut h = DMatrix::<f64>::zeros(p, p);
        for j in 0..p {
            let mut e = vec![0.0; p];
            e[j] = 1.0;
            let col = critic_hvp(&critic, &obs, &ret, &e);
            for i in 0..p {
                h[(i, j)] = col[i];
            }
        }
        let h = (&h + h.transpose()) * 0.5;
        // Away from a critic optimum the full Hessian is indefinite; lambda makes it definite.
        let min_eig = h.clone().symmetric_eigen().eigenvalues.min();
        assert!(
            min_eig < 0.0,
            "the test covers an indefinite Hessian ({min_eig})"
        );
        let lambda = 0.5 - min_eig;
        let h = h + DMatrix::<f64>::identity(p, p) * lambda;
        let djdw = critic_vjp(&critic, &obs, &vec![1.0 / n as f64; n]);
        let dense = h
            .clone()
            .lu()
            .solve(&DVector::from_column_slice(&djdw))
            .unwrap();
        let cfg = StacConfig {
            lambda,
            hessian: Hessian::Full,
            ..StacConfig::default()
        };
        let full = full_hessian_solve(&net(&critic, &obs), &ret, lambda, &cfg).unwrap();
        let want = critic_jvp(&critic, &obs, dense.as_slice());
        assert!(rel(&full.c, &want) < 1e-3, "{}", rel(&full.c, &want));
        assert!(full.relative_residual <= 1e-6);
        assert_eq!(full.lambda, lambda);
        // Asked for lambda = 0 on this indefinite Hessian, the solve raises lambda until CG
        // succeeds; the result is the dense solve at the lambda it reports.
        let raised = full_hessian_solve(&net(&critic, &obs), &ret, 0.0, &cfg).unwrap();
        assert!(
            raised.lambda >= -min_eig,
            "{} vs {}",
            raised.lambda,
            -min_eig
        );
        let h0 = &h - DMatrix::<f64>::identity(p, p) * (lambda - raised.lambda);
        let dense = h0.lu().solve(&DVector::from_column_slice(&djdw)).unwrap();
        let want = critic_jvp(&critic, &obs, dense.as_slice());
        assert!(rel(&raised.c, &want) < 1e-3, "{}", rel(&raised.c, &want));
    }
}
