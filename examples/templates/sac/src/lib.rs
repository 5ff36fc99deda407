//! A template gap estimator for the SAC family: it adds `scale` times the gradient of the
//! critics' mean value at the policy's actions, `scale * grad_theta mean_b (Q1 + Q2)(s_b, a~_b) / 2`.
//! Per sample that is the action gradient `g_b = scale (dQ1 + dQ2) / 2 / da~` at `a~_b`,
//! returned as a `Term::Mean` (the core averages over the batch and maps it through the actor).
//! `scale = 0` is SAC exactly. Replace `actor_term` with your estimator; docs/plugins.md lists
//! what the context offers and the one convention every family's term follows.

use acgap_sdk::{
    Correction, CorrectionEntry, CorrectionInit, Family, Metrics, PluginResult, SacContext,
    SacCorrection, Term,
};
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    pub scale: f64,
}

impl Default for Config {
    fn default() -> Self {
        Self { scale: 0.1 }
    }
}

pub struct MyCorrection {
    pub scale: f32,
}

impl SacCorrection for MyCorrection {
    fn actor_term(&mut self, ctx: &dyn SacContext) -> PluginResult<(Term<f32>, Metrics)> {
        let (obs, b) = (ctx.batch().obs.to_vec(), ctx.info().batch_len);
        let actions = ctx.policy_actions()?.actions;
        // Weights 1/2 on both critics: each sample's (dQ1 + dQ2) / 2 / da~.
        let out = ctx.critic_action_gradient(&obs, &actions, &vec![0.5; 2 * b])?;
        let (g1, g2) = out[2 * b..].split_at(actions.len());
        let g: Vec<f32> = g1
            .iter()
            .zip(g2)
            .map(|(x, y)| self.scale * (x + y))
            .collect();
        let norm = g.iter().map(|x| (*x as f64).powi(2)).sum::<f64>().sqrt() / b as f64;
        Ok((
            Term::Mean(g),
            vec![("my_correction/term_norm".into(), norm)],
        ))
    }
}

pub fn build(init: CorrectionInit) -> PluginResult<Correction> {
    let cfg: Config =
        serde_json::from_value(init.config).map_err(|e| format!("invalid config: {e}"))?;
    Ok(Correction::sac(MyCorrection {
        scale: cfg.scale as f32,
    }))
}

acgap_sdk::export_plugin! {
    agents: [],
    corrections: [CorrectionEntry {
        name: "my-correction",
        description: "Template: scale times the gradient of the critics' mean value at the policy's actions",
        family: Family::Sac,
        default_config: || serde_json::to_value(Config::default()).expect("serialises"),
        build,
    }],
}

#[cfg(test)]
mod tests {
    use super::*;
    use acgap_sdk::testing::{Draws, LinearSac, central, dot};

    /// The direction the core ascends with the term, minus the plain one, is the gradient of
    /// `scale * mean_b (Q1 + Q2)(s_b, a~_b(theta)) / 2` (finite differences on the SDK's
    /// closed-form SAC context).
    #[test]
    fn the_term_is_the_gradient_of_the_mean_critic_value() {
        let ctx = LinearSac::random(3, 2, 8, 1);
        let scale = 0.7;
        let (term, _) = MyCorrection { scale }.actor_term(&ctx).unwrap();
        let with = ctx.ascent(&term).unwrap();
        let plain = ctx.ascent(&Term::Zero).unwrap();
        let v = Draws::new(2).uniform(ctx.actor.len(), 1.0);
        let objective = |actor: &[f32]| {
            let a: Vec<f32> = ctx.actions_at(actor).iter().map(|&x| x as f32).collect();
            let q = ctx.critic_values(&ctx.obs, &a).unwrap();
            scale as f64 * q.iter().map(|&x| x as f64).sum::<f64>() / 2.0 / ctx.batch_len as f64
        };
        let fd = central(&ctx.actor, &v, objective);
        let diff: Vec<f32> = with.iter().zip(&plain).map(|(w, p)| w - p).collect();
        let along = dot(&diff, v.iter().map(|&x| x as f64));
        assert!(
            (along - fd).abs() < 1e-3 * (1.0 + fd.abs()),
            "{along} vs {fd}"
        );
    }

    #[test]
    fn scale_zero_adds_nothing() {
        let ctx = LinearSac::random(3, 2, 8, 3);
        let (term, _) = MyCorrection { scale: 0.0 }.actor_term(&ctx).unwrap();
        assert_eq!(ctx.ascent(&term).unwrap(), ctx.ascent(&Term::Zero).unwrap());
    }
}
