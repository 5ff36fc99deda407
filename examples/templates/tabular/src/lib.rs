//! A template gap estimator for the tabular family: Monte-Carlo returns in place of the critic.
//! Actor^g ascends `mean_b q(s_b, a_b) grad log pi(a_b|s_b)`; adding the per-sample weight
//! `c_b = scale * (G_b - q(s_b, a_b))`, with `G_b` the discounted return from transition `b` to
//! its episode's end within the batch (bootstrapped with the critic where the batch cuts it),
//! moves each sample's value towards its return: at `scale = 1` the actor follows
//! `mean_b G_b grad log pi`, REINFORCE on the batch. Returned as a `Term::Mean` (the core
//! averages). `scale = 0` is the plain actor-critic. Replace `update` with your estimator;
//! docs/plugins.md lists what the context offers and the one convention every family's term
//! follows.

use acgap_sdk::{
    Correction, CorrectionEntry, CorrectionInit, Family, PluginResult, TabularContext,
    TabularCorrection, TabularUpdate, Term,
};
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    pub scale: f64,
}

impl Default for Config {
    fn default() -> Self {
        Self { scale: 0.5 }
    }
}

pub struct MyCorrection {
    pub scale: f64,
}

/// `G_b = r_b + gamma G_(b+1)` along the batch; an episode's end stops the sum, and where the
/// batch cuts an episode (no next action) the critic's expected value at `s'` bootstraps it.
pub fn returns(ctx: &TabularContext) -> Vec<f64> {
    let mut g = vec![0.0; ctx.batch.len()];
    let mut next = 0.0;
    for (t, tr) in ctx.batch.iter().enumerate().rev() {
        if tr.terminated || tr.next_a.is_none() {
            next = ctx.next_value(t, &ctx.critic);
        }
        g[t] = tr.r + ctx.gamma * next;
        next = g[t];
    }
    g
}

impl TabularCorrection for MyCorrection {
    fn update(&mut self, ctx: &TabularContext) -> PluginResult<TabularUpdate> {
        let g = returns(ctx);
        let weights: Vec<f64> = ctx
            .batch
            .iter()
            .zip(&g)
            .map(|(tr, g)| self.scale * (g - ctx.critic[tr.s * ctx.actions + tr.a]))
            .collect();
        let mean = weights.iter().sum::<f64>() / weights.len().max(1) as f64;
        Ok(TabularUpdate {
            term: Term::Mean(weights),
            metrics: vec![("my_correction/mean_weight".into(), mean)],
            critic_correction: None,
        })
    }
}

pub fn build(init: CorrectionInit) -> PluginResult<Correction> {
    let cfg: Config =
        serde_json::from_value(init.config).map_err(|e| format!("invalid config: {e}"))?;
    Ok(Correction::tabular(MyCorrection { scale: cfg.scale }))
}

acgap_sdk::export_plugin! {
    agents: [],
    corrections: [CorrectionEntry {
        name: "my-correction",
        description: "Template: Monte-Carlo returns in place of the critic, weights scale (G - q)",
        family: Family::Tabular,
        default_config: || serde_json::to_value(Config::default()).expect("serialises"),
        build,
    }],
}

#[cfg(test)]
mod tests {
    use super::*;
    use acgap_sdk::tabular::{Base, softmax_table};
    use acgap_sdk::testing::random_tabular;

    /// At scale 1 the corrected Actor^g direction is `mean_b G_b grad log pi(a_b|s_b)`, with
    /// `grad log pi` by central finite differences of the softmax (closed form on the SDK's
    /// tabular context).
    #[test]
    fn at_scale_one_the_actor_follows_the_returns() {
        let ctx = random_tabular(4, 3, 20, Base::ActorG, 1);
        let u = MyCorrection { scale: 1.0 }.update(&ctx).unwrap();
        let direction = ctx.actor_direction(&u.term).unwrap();
        let g = returns(&ctx);
        // theta reproduces the context's policy (logits of log pi are a valid choice).
        let theta: Vec<f64> = ctx.policy.iter().map(|p| p.ln()).collect();
        let n = ctx.batch.len() as f64;
        let mut want = vec![0.0; theta.len()];
        for (tr, gb) in ctx.batch.iter().zip(&g) {
            for (i, w) in want.iter_mut().enumerate() {
                let h = 1e-6;
                let (mut up, mut down) = (theta.clone(), theta.clone());
                up[i] += h;
                down[i] -= h;
                let logp =
                    |th: &[f64]| softmax_table(th, ctx.actions)[tr.s * ctx.actions + tr.a].ln();
                *w += gb * (logp(&up) - logp(&down)) / (2.0 * h) / n;
            }
        }
        for (d, w) in direction.iter().zip(&want) {
            assert!((d - w).abs() < 1e-6, "{d} vs {w}");
        }
    }

    #[test]
    fn returns_stop_at_terminal_states() {
        let ctx = random_tabular(4, 3, 10, Base::ActorG, 2);
        let g = returns(&ctx);
        assert_eq!(g[4], ctx.batch[4].r, "transition 4 is terminal");
        assert!((g[3] - (ctx.batch[3].r + ctx.gamma * g[4])).abs() < 1e-12);
    }

    #[test]
    fn scale_zero_adds_nothing() {
        let ctx = random_tabular(4, 3, 10, Base::ActorG, 3);
        let u = MyCorrection { scale: 0.0 }.update(&ctx).unwrap();
        assert_eq!(ctx.actor_direction(&u.term).unwrap(), ctx.base_direction);
    }
}
