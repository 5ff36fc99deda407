//! An example correction written as a third party would: it depends only on the
//! SDK's plugin interface (no burn) and is loaded next to `libsac.so` with
//!
//! ```text
//! host --plugin sac --correction actionpenalty --env pendulum
//! ```
//!
//! The term is the gradient of an action-magnitude penalty,
//! `scale * grad_theta mean_s [ -|a~(s)|^2 / 2 ]`, with `a~` the actor's
//! reparameterised action in `[-1, 1]` units. Its per-sample action gradient is
//! `g_b = -scale * a~_b / B`, and it can be handed to the SAC core in either form:
//! - `mode = "action"`: return `g` as a `Term::Sum` (the `1/B` is in it) and let the core
//!   backpropagate it through the actor;
//! - `mode = "param"`: turn `g` into a parameter direction with the base's actor
//!   vector-Jacobian product (`ctx.actor_vjp(g)`) and return that.
//!
//! Both must move the actor identically, which the host's tests check. On every
//! call it also checks that the context's shapes are consistent and counts its
//! calls (its checkpointed state).

use acgap_sdk::{
    Correction, CorrectionEntry, Family, Metrics, PluginResult, SacContext, SacCorrection, Term,
};
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct Config {
    /// Weight of the penalty; 0 makes the correction a no-op (SAC exactly).
    scale: f64,
    /// "action" or "param": which kind of term to return.
    mode: String,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            scale: 0.1,
            mode: "action".into(),
        }
    }
}

struct ActionPenalty {
    cfg: Config,
    calls: u64,
}

impl ActionPenalty {
    fn new(cfg: Config) -> PluginResult<Self> {
        if !["action", "param"].contains(&cfg.mode.as_str()) {
            return Err(format!(
                "action-penalty: `mode` must be \"action\" or \"param\", got {:?}",
                cfg.mode
            ));
        }
        Ok(Self { cfg, calls: 0 })
    }

    fn check_shapes(ctx: &dyn SacContext) -> PluginResult<()> {
        let info = ctx.info();
        let b = ctx.batch();
        let sampled = ctx.policy_actions()?;
        let consistent = b.len == info.batch_len
            && b.obs.len() == b.len * info.obs_dim
            && b.action.len() == b.len * info.act_dim
            && sampled.actions.len() == b.len * info.act_dim
            && sampled.log_prob.len() == b.len;
        if consistent {
            Ok(())
        } else {
            Err(format!("context shapes are inconsistent: {info:?}"))
        }
    }
}

impl SacCorrection for ActionPenalty {
    fn train(&mut self, ctx: &dyn SacContext) -> PluginResult<Metrics> {
        // Nothing to learn; the check shows the correction step reaches the estimator.
        Self::check_shapes(ctx)?;
        Ok(vec![("action_penalty/train_calls".into(), 1.0)])
    }

    fn actor_term(&mut self, ctx: &dyn SacContext) -> PluginResult<(Term<f32>, Metrics)> {
        Self::check_shapes(ctx)?;
        self.calls += 1;
        let n = ctx.info().batch_len as f32;
        let actions = ctx.policy_actions()?.actions;
        let g: Vec<f32> = actions
            .iter()
            .map(|&a| -(self.cfg.scale as f32) * a / n)
            .collect();
        let term = if self.cfg.mode == "param" {
            Term::Direction(ctx.actor_vjp(&g)?)
        } else {
            Term::Sum(g)
        };
        let penalty = actions.iter().map(|a| a * a).sum::<f32>() / (2.0 * n);
        Ok((
            term,
            vec![
                ("action_penalty/mean_half_sq_action".into(), penalty as f64),
                ("action_penalty/calls".into(), self.calls as f64),
            ],
        ))
    }

    fn save(&self) -> PluginResult<Vec<u8>> {
        Ok(self.calls.to_le_bytes().to_vec())
    }

    fn load(&mut self, bytes: &[u8]) -> PluginResult<()> {
        let arr: [u8; 8] = bytes
            .try_into()
            .map_err(|_| "action-penalty: bad checkpoint state".to_string())?;
        self.calls = u64::from_le_bytes(arr);
        Ok(())
    }
}

acgap_sdk::export_plugin! {
    agents: [],
    corrections: [CorrectionEntry {
        name: "action-penalty",
        description: "Example: adds scale * grad mean(-|a~|^2/2) to the actor's ascent direction",
        family: Family::Sac,
        default_config: || serde_json::to_value(Config::default()).expect("config serialises"),
        build: |init| {
            let cfg: Config = serde_json::from_value(init.config).map_err(|e| format!("action-penalty config: {e}"))?;
            Ok(Correction::sac(ActionPenalty::new(cfg)?))
        },
    }],
}
