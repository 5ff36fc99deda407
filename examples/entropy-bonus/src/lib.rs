//! A third-party on-policy correction, written from the SDK's docs alone: an entropy bonus.
//! The on-policy actor ascends `sum_t w_t grad log pi(a_t|s_t)`; adding `scale * H(pi)` with
//! `H = -E[log pi]` adds the score-function estimate of its gradient,
//! `-scale / N sum_t log pi(a_t|s_t) grad log pi(a_t|s_t)` (the `-1` of `grad (pi log pi)` has
//! mean zero and is left out), i.e. the per-transition weights `-scale log pi(a_t|s_t) / N`.
//!
//! ```text
//! host --plugin agc --env cartpole --correction libentropybonus.so --correction-set scale=0.01
//! ```

use acgap_sdk::onpolicy::{OnPolicyContext, OnPolicyCorrection, OnPolicyTerm};
use acgap_sdk::{CorrectionInit, Metrics, OnPolicyCorrectionEntry, PluginResult};
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
struct Config {
    /// The bonus's weight (0: plain actor-critic, bit for bit).
    scale: f64,
}

impl Default for Config {
    fn default() -> Self {
        Self { scale: 0.01 }
    }
}

struct EntropyBonus {
    scale: f32,
}

impl OnPolicyCorrection for EntropyBonus {
    fn actor_term(&mut self, ctx: &dyn OnPolicyContext) -> PluginResult<(OnPolicyTerm, Metrics)> {
        let logp = ctx.log_probs()?;
        let n = logp.len().max(1) as f32;
        let weights = logp.iter().map(|l| -self.scale * l / n).collect();
        let entropy = -logp.iter().map(|&l| l as f64).sum::<f64>() / n as f64;
        Ok((
            OnPolicyTerm::LogPiWeights(weights),
            vec![("entropy_bonus/entropy_estimate".into(), entropy)],
        ))
    }
}

fn build(init: CorrectionInit) -> PluginResult<Box<dyn OnPolicyCorrection>> {
    let cfg: Config =
        serde_json::from_value(init.config).map_err(|e| format!("invalid config: {e}"))?;
    if !cfg.scale.is_finite() {
        return Err(format!("scale must be finite, got {}", cfg.scale));
    }
    Ok(Box::new(EntropyBonus {
        scale: cfg.scale as f32,
    }))
}

acgap_sdk::export_plugin! {
    agents: [],
    corrections: [],
    tabular_corrections: [],
    onpolicy_corrections: [OnPolicyCorrectionEntry {
        name: "entropy-bonus",
        description: "Entropy bonus on the on-policy actor: weights -scale log pi / N on log pi",
        default_config: || serde_json::to_value(Config::default()).expect("serialises"),
        build,
    }],
}
