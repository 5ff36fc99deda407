//! A template gap estimator for the SAC family: it adds `scale` times the critics' mean action
//! gradient at the policy's actions, `scale * mean_b (dQ1 + dQ2)/2 / da~`, as an action-space
//! term (the core maps it through the actor). `scale = 0` is SAC exactly. Replace `actor_term`
//! with your estimator; docs/plugins.md lists what the context offers.

use acgap_sdk::{
    Correction, CorrectionEntry, CorrectionInit, CorrectionTerm, Metrics, PluginResult, SacContext,
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

impl Correction for MyCorrection {
    fn actor_term(&mut self, ctx: &dyn SacContext) -> PluginResult<(CorrectionTerm, Metrics)> {
        let (obs, b) = (ctx.batch().obs.to_vec(), ctx.info().batch_len);
        let actions = ctx.policy_actions()?.actions;
        // Weights 1/(2B) on both critics: the mean over the batch of (Q1 + Q2) / 2.
        let w = vec![0.5 / b as f32; 2 * b];
        let out = ctx.critic_action_gradient(&obs, &actions, &w)?;
        let (g1, g2) = out[2 * b..].split_at(actions.len());
        let term: Vec<f32> = g1
            .iter()
            .zip(g2)
            .map(|(x, y)| self.scale * (x + y))
            .collect();
        let norm = term.iter().map(|x| (*x as f64).powi(2)).sum::<f64>().sqrt();
        Ok((
            CorrectionTerm::ActionGrad(term),
            vec![("my_correction/term_norm".into(), norm)],
        ))
    }
}

pub fn build(init: CorrectionInit) -> PluginResult<Box<dyn Correction>> {
    let cfg: Config =
        serde_json::from_value(init.config).map_err(|e| format!("invalid config: {e}"))?;
    Ok(Box::new(MyCorrection {
        scale: cfg.scale as f32,
    }))
}

acgap_sdk::export_plugin! {
    agents: [],
    corrections: [CorrectionEntry {
        name: "my-correction",
        description: "Template: scale times the critics' mean action gradient",
        default_config: || serde_json::to_value(Config::default()).expect("serialises"),
        build,
    }],
}

#[cfg(test)]
mod tests {
    use super::*;
    use acgap_sdk::spec::{EnvSpec, Space};
    use acgap_sdk::toolkit::sac::{SacConfig, SacCore};
    use acgap_sdk::{AgentInit, Batch, BatchKind};

    /// The estimator against the real SAC core: its term has one action gradient per sample,
    /// is zero at scale 0, and scales linearly.
    #[test]
    fn the_term_against_a_real_sac_context() {
        let init = AgentInit {
            config: serde_json::to_value(SacConfig::default()).unwrap(),
            env: EnvSpec {
                id: "test".into(),
                observation: Space::Box {
                    low: vec![-1.0; 3],
                    high: vec![1.0; 3],
                },
                action: Space::Box {
                    low: vec![-2.0],
                    high: vec![2.0],
                },
                max_episode_steps: None,
                tabular: None,
            },
            seed: 0,
            device: "cpu".into(),
        };
        let mut core = SacCore::new(&init, None).unwrap();
        let n = 4;
        let obs: Vec<f32> = (0..3 * n).map(|i| (i as f32 * 0.37).sin()).collect();
        let (act, rew, zeros) = (vec![0.5f32; n], vec![1.0f32; n], vec![0.0f32; n]);
        let batch = Batch {
            kind: BatchKind::Minibatch,
            len: n,
            obs: &obs,
            action: &act,
            reward: &rew,
            next_obs: &obs,
            terminated: &zeros,
            truncated: &zeros,
        };
        let mut term = |scale: f32| {
            core.with_context(&batch, 7, |ctx| {
                MyCorrection { scale }.actor_term(ctx).unwrap().0
            })
            .unwrap()
        };
        let (CorrectionTerm::ActionGrad(one), CorrectionTerm::ActionGrad(zero)) =
            (term(1.0), term(0.0))
        else {
            panic!("an action-space term");
        };
        assert_eq!(one.len(), n);
        assert!(zero.iter().all(|&x| x == 0.0));
        let CorrectionTerm::ActionGrad(two) = term(2.0) else {
            panic!()
        };
        for (a, b) in one.iter().zip(&two) {
            assert!((2.0 * a - b).abs() <= 1e-6 * b.abs().max(1e-6));
        }
    }
}
