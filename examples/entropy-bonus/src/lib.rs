//! A third-party on-policy correction, written from the SDK's docs alone: an entropy bonus.
//! The on-policy actor ascends `sum_t w_t grad log pi(a_t|s_t)`; adding `scale * H(pi)` with
//! `H = -E[log pi]` adds the score-function estimate of its gradient,
//! `-scale / N sum_t log pi(a_t|s_t) grad log pi(a_t|s_t)` (the `-1` of `grad (pi log pi)` has
//! mean zero and is left out), i.e. the per-transition weights `-scale log pi(a_t|s_t)`
//! averaged over the rollout: a `Term::Mean`, whose `1/N` the core applies.
//!
//! ```text
//! host --plugin agc --env cartpole --correction libentropybonus.so --correction-set scale=0.01
//! ```

use acgap_sdk::{
    Correction, CorrectionEntry, CorrectionInit, Family, Metrics, OnPolicyContext,
    OnPolicyCorrection, PluginResult, Term,
};
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
    fn actor_term(&mut self, ctx: &dyn OnPolicyContext) -> PluginResult<(Term<f32>, Metrics)> {
        let logp = ctx.log_probs()?;
        let weights = logp.iter().map(|l| -self.scale * l).collect();
        let entropy = -logp.iter().map(|&l| l as f64).sum::<f64>() / logp.len().max(1) as f64;
        Ok((
            Term::Mean(weights),
            vec![("entropy_bonus/entropy_estimate".into(), entropy)],
        ))
    }
}

fn build(init: CorrectionInit) -> PluginResult<Correction> {
    let cfg: Config =
        serde_json::from_value(init.config).map_err(|e| format!("invalid config: {e}"))?;
    if !cfg.scale.is_finite() {
        return Err(format!("scale must be finite, got {}", cfg.scale));
    }
    Ok(Correction::onpolicy(EntropyBonus {
        scale: cfg.scale as f32,
    }))
}

acgap_sdk::export_plugin! {
    agents: [],
    corrections: [CorrectionEntry {
        name: "entropy-bonus",
        description: "Entropy bonus on the on-policy actor: weights -scale log pi on log pi, averaged",
        family: Family::OnPolicy,
        default_config: || serde_json::to_value(Config::default()).expect("serialises"),
        build,
    }],
}
