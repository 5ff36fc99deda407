//! An example gap estimator written as a third party would: it depends only on
//! the SDK's plugin interface and is loaded next to `libsac.so` with
//! `host --plugin sac --correction examples/libentropybonus.so`.
//!
//! The term: `scale * grad_theta mean_s [ -log pi(a~|s) ]`, an extra entropy
//! bonus. It shows both kinds of term a correction can return:
//! - `mode = "param"` builds the parameter-space direction itself with the
//!   base's actor vector-Jacobian product ([`SacContext::actor_vjp`]);
//! - `mode = "action"` returns a per-sample action gradient and lets the SAC
//!   core backpropagate it. For the entropy only the path through `a~` is
//!   expressible that way, so this mode returns `scale * d(-log pi)/d a~` at fixed
//!   Gaussian parameters, approximated by the tanh term `2 tanh(u)`; it exists to
//!   exercise the hook.
//!
//! It also checks on every call that the context has the shapes it promises,
//! so a test can show the hook is wired correctly.

use acgap_sdk::{Correction, CorrectionEntry, CorrectionTerm, Metrics, PluginResult, SacContext};
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct Config {
    /// Multiplies the term; 0 makes the correction a no-op (SAC exactly).
    scale: f64,
    /// "param" or "action".
    mode: String,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            scale: 0.1,
            mode: "param".into(),
        }
    }
}

struct EntropyBonus {
    cfg: Config,
    calls: u64,
}

impl EntropyBonus {
    fn check_shapes(&self, ctx: &dyn SacContext) -> PluginResult<()> {
        let info = ctx.info();
        let b = ctx.batch();
        let sampled = ctx.policy_actions()?;
        let ok = b.len == info.batch_len
            && b.obs.len() == b.len * info.obs_dim
            && b.action.len() == b.len * info.act_dim
            && sampled.actions.len() == b.len * info.act_dim
            && sampled.log_prob.len() == b.len;
        if ok {
            Ok(())
        } else {
            Err(format!("context shapes are inconsistent: {info:?}"))
        }
    }
}

impl Correction for EntropyBonus {
    fn train(&mut self, ctx: &dyn SacContext) -> PluginResult<Metrics> {
        self.check_shapes(ctx)?;
        Ok(vec![("entropy_bonus/train_calls".into(), 1.0)])
    }

    fn actor_term(&mut self, ctx: &dyn SacContext) -> PluginResult<(CorrectionTerm, Metrics)> {
        self.check_shapes(ctx)?;
        self.calls += 1;
        let info = ctx.info();
        let n = info.batch_len as f32;
        let a = ctx.policy_actions()?.actions;
        // d(-log pi)/d a~ through the tanh Jacobian alone: d/da [ log(1 - a^2) ] = -2a / (1 - a^2);
        // expressed in u-space that is -2 tanh(u) = -2a per unit of u. We use -2a / B.
        let action_grad: Vec<f32> = a
            .iter()
            .map(|&x| -(self.cfg.scale as f32) * 2.0 * x / n)
            .collect();
        let term = match self.cfg.mode.as_str() {
            "action" => CorrectionTerm::ActionGrad(action_grad),
            "param" => CorrectionTerm::ParamGrad(ctx.actor_vjp(&action_grad)?),
            other => {
                return Err(format!(
                    "entropy-bonus: `mode` must be \"param\" or \"action\", got {other:?}"
                ));
            }
        };
        let norm = match &term {
            CorrectionTerm::ParamGrad(p) | CorrectionTerm::ActionGrad(p) => {
                p.iter().map(|x| x * x).sum::<f32>().sqrt()
            }
            CorrectionTerm::Zero => 0.0,
        };
        Ok((
            term,
            vec![
                ("entropy_bonus/term_norm".into(), norm as f64),
                ("entropy_bonus/calls".into(), self.calls as f64),
            ],
        ))
    }

    fn save(&self) -> PluginResult<Vec<u8>> {
        Ok(self.calls.to_le_bytes().to_vec())
    }

    fn load(&mut self, bytes: &[u8]) -> PluginResult<()> {
        let arr: [u8; 8] = bytes
            .try_into()
            .map_err(|_| "entropy-bonus: bad state".to_string())?;
        self.calls = u64::from_le_bytes(arr);
        Ok(())
    }
}

acgap_sdk::export_plugin! {
    agents: [],
    corrections: [CorrectionEntry {
        name: "entropy-bonus",
        description: "Example: adds scale * (an entropy-gradient term) to the actor's ascent direction",
        default_config: || serde_json::to_value(Config::default()).expect("config serialises"),
        build: |init| {
            let cfg: Config = serde_json::from_value(init.config).map_err(|e| format!("entropy-bonus config: {e}"))?;
            Ok(Box::new(EntropyBonus { cfg, calls: 0 }))
        },
    }],
}
