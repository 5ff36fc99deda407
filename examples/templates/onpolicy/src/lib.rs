//! A template gap estimator for the on-policy family: a log-probability penalty that keeps the
//! policy from sharpening too fast, `-scale * grad_theta mean_t log pi(a_t|s_t)^2 / 2`. Per
//! transition that is the weight `c_t = -scale * log pi(a_t|s_t)` on `grad log pi(a_t|s_t)`,
//! returned as a `Term::Mean` (the core divides by the rollout's length and adds the weights to
//! its own before its one backward pass). `scale = 0` is the plain actor-critic. Replace
//! `actor_term` with your estimator; docs/plugins.md lists what the context offers and the one
//! convention every family's term follows.

use acgap_sdk::{
    Correction, CorrectionEntry, CorrectionInit, Family, Metrics, OnPolicyContext,
    OnPolicyCorrection, PluginResult, Term,
};
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    pub scale: f64,
}

impl Default for Config {
    fn default() -> Self {
        Self { scale: 0.01 }
    }
}

pub struct MyCorrection {
    pub scale: f32,
}

impl OnPolicyCorrection for MyCorrection {
    fn actor_term(&mut self, ctx: &dyn OnPolicyContext) -> PluginResult<(Term<f32>, Metrics)> {
        let logp = ctx.log_probs()?;
        let weights = logp.iter().map(|l| -self.scale * l).collect();
        let mean_sq =
            logp.iter().map(|&l| (l as f64).powi(2)).sum::<f64>() / logp.len().max(1) as f64;
        Ok((
            Term::Mean(weights),
            vec![("my_correction/mean_sq_log_prob".into(), mean_sq)],
        ))
    }
}

pub fn build(init: CorrectionInit) -> PluginResult<Correction> {
    let cfg: Config =
        serde_json::from_value(init.config).map_err(|e| format!("invalid config: {e}"))?;
    Ok(Correction::onpolicy(MyCorrection {
        scale: cfg.scale as f32,
    }))
}

acgap_sdk::export_plugin! {
    agents: [],
    corrections: [CorrectionEntry {
        name: "my-correction",
        description: "Template: a log-probability penalty, weights -scale log pi on log pi, averaged",
        family: Family::OnPolicy,
        default_config: || serde_json::to_value(Config::default()).expect("serialises"),
        build,
    }],
}

#[cfg(test)]
mod tests {
    use super::*;
    use acgap_sdk::testing::{Draws, LinearOnPolicy, central, dot};

    /// The direction the core ascends with the term, minus the plain one, is the gradient of
    /// `-scale * mean_t log pi_theta(a_t|s_t)^2 / 2` (finite differences on the SDK's
    /// closed-form on-policy context).
    #[test]
    fn the_term_is_the_gradient_of_the_penalty() {
        let ctx = LinearOnPolicy::random(3, 2, 16, 1);
        let scale = 0.3;
        let (term, _) = MyCorrection { scale }.actor_term(&ctx).unwrap();
        let with = ctx.ascent(&term).unwrap();
        let plain = ctx.ascent(&Term::Zero).unwrap();
        let v = Draws::new(2).uniform(ctx.actor.len(), 1.0);
        let penalty = |actor: &[f32]| {
            let logp = ctx.log_probs_at(actor);
            -(scale as f64) * logp.iter().map(|l| l * l).sum::<f64>() / 2.0 / logp.len() as f64
        };
        let fd = central(&ctx.actor, &v, penalty);
        let diff: Vec<f32> = with.iter().zip(&plain).map(|(w, p)| w - p).collect();
        let along = dot(&diff, v.iter().map(|&x| x as f64));
        assert!(
            (along - fd).abs() < 1e-3 * (1.0 + fd.abs()),
            "{along} vs {fd}"
        );
    }

    #[test]
    fn scale_zero_adds_nothing() {
        let ctx = LinearOnPolicy::random(3, 2, 16, 3);
        let (term, _) = MyCorrection { scale: 0.0 }.actor_term(&ctx).unwrap();
        assert_eq!(ctx.ascent(&term).unwrap(), ctx.ascent(&Term::Zero).unwrap());
    }
}
