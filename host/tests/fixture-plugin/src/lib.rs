//! Agents that fail in the ways the host must survive, plus a minimal on-policy agent.
//! Every agent acts with valid zero actions unless its failure is in `act`.

use acgap_sdk::{
    Agent, AgentEntry, AgentInit, Batch, BatchKind, Correction, CorrectionEntry, Family, Metrics,
    PluginResult, SacContext, SacCorrection, Term, Training, UpdateStep,
};

/// Corrections that misbehave: a parameter direction of the wrong length, or a panic.
struct BadCorrection {
    panics: bool,
}

impl SacCorrection for BadCorrection {
    fn actor_term(&mut self, _ctx: &dyn SacContext) -> PluginResult<(Term<f32>, Metrics)> {
        if self.panics {
            panic!("fixture: deliberate panic in a correction");
        }
        Ok((Term::Direction(vec![0.0; 3]), vec![]))
    }
}

/// A tabular correction that panics in its update (`host score` and tabular agents survive it).
struct PanickingTabular;

impl acgap_sdk::TabularCorrection for PanickingTabular {
    fn update(&mut self, _: &acgap_sdk::TabularContext) -> PluginResult<acgap_sdk::TabularUpdate> {
        panic!("fixture: deliberate panic in a tabular correction");
    }
}

#[derive(Clone, Copy, PartialEq)]
enum Fault {
    PanicInUpdate,
    PanicInTraining,
    NanAction,
    WrongDim,
    None,
}

struct Fixture {
    fault: Fault,
    act_dim: usize,
    discrete: bool,
    on_policy: bool,
    updates: u64,
}

impl Fixture {
    fn new(init: AgentInit, fault: Fault, on_policy: bool) -> PluginResult<Box<dyn Agent>> {
        Ok(Box::new(Fixture {
            fault,
            act_dim: init.env.act_dim(),
            discrete: !init.env.action.is_continuous(),
            on_policy,
            updates: 0,
        }))
    }
}

impl Agent for Fixture {
    fn training(&self) -> Training {
        if self.fault == Fault::PanicInTraining {
            panic!("fixture: deliberate panic in training()");
        }
        if self.on_policy {
            Training::OnPolicy {
                rollout_len: 64,
                num_envs: 1,
            }
        } else {
            Training::OffPolicy {
                batch_size: 4,
                buffer_size: 1000,
                learning_starts: 20,
                env_steps_per_iter: 1,
                critic_steps: 1,
                correction_steps: 0,
                actor_steps: 1,
            }
        }
    }

    fn act(&mut self, _obs: &[f32], n: usize, _deterministic: bool) -> PluginResult<Vec<f32>> {
        Ok(match self.fault {
            Fault::NanAction => vec![f32::NAN; n * self.act_dim],
            Fault::WrongDim => vec![0.0; n * (self.act_dim + 1)],
            _ if self.discrete => vec![(self.updates % 2) as f32; n],
            _ => vec![0.0; n * self.act_dim],
        })
    }

    fn update(&mut self, batch: &Batch<'_>, step: UpdateStep) -> PluginResult<Metrics> {
        self.updates += 1;
        if self.fault == Fault::PanicInUpdate {
            panic!("fixture: deliberate panic in update");
        }
        if self.on_policy {
            // An on-policy rollout arrives in order: each next_obs is the following obs
            // unless the episode ended there.
            if step != UpdateStep::Rollout || batch.kind != BatchKind::Rollout {
                return Err(format!(
                    "expected an on-policy rollout, got {step:?} / {:?}",
                    batch.kind
                ));
            }
            let d = batch.obs_dim();
            for i in 0..batch.len - 1 {
                let ended = batch.terminated[i] == 1.0 || batch.truncated[i] == 1.0;
                if !ended
                    && batch.next_obs[i * d..(i + 1) * d] != batch.obs[(i + 1) * d..(i + 2) * d]
                {
                    return Err(format!("rollout out of order at row {i}"));
                }
            }
            return Ok(vec![("rollout/len".into(), batch.len as f64)]);
        }
        Ok(vec![("fixture/updates".into(), self.updates as f64)])
    }

    fn save(&self) -> PluginResult<Vec<u8>> {
        Ok(self.updates.to_le_bytes().to_vec())
    }

    fn load(&mut self, bytes: &[u8]) -> PluginResult<()> {
        self.updates = u64::from_le_bytes(bytes.try_into().map_err(|_| "bad state")?);
        Ok(())
    }
}

fn no_config() -> serde_json::Value {
    serde_json::json!({})
}

acgap_sdk::export_plugin! {
    agents: [
        AgentEntry { name: "panics-in-update", description: "panics in its first update", default_config: no_config, build: |i| Fixture::new(i, Fault::PanicInUpdate, false) },
        AgentEntry { name: "panics-in-training", description: "panics when asked how it trains", default_config: no_config, build: |i| Fixture::new(i, Fault::PanicInTraining, false) },
        AgentEntry { name: "nan-action", description: "acts with NaN", default_config: no_config, build: |i| Fixture::new(i, Fault::NanAction, false) },
        AgentEntry { name: "wrong-dim", description: "acts with one value too many", default_config: no_config, build: |i| Fixture::new(i, Fault::WrongDim, false) },
        AgentEntry { name: "on-policy", description: "checks that rollouts arrive in order", default_config: no_config, build: |i| Fixture::new(i, Fault::None, true) },
    ],
    corrections: [
        CorrectionEntry { name: "wrong-length", description: "returns 3 values", family: Family::Sac, default_config: no_config, build: |_| Ok(Correction::sac(BadCorrection { panics: false })) },
        CorrectionEntry { name: "panics", description: "panics in actor_term", family: Family::Sac, default_config: no_config, build: |_| Ok(Correction::sac(BadCorrection { panics: true })) },
        CorrectionEntry { name: "tabular-panics", description: "panics in update", family: Family::Tabular, default_config: no_config, build: |_| Ok(Correction::tabular(PanickingTabular)) },
    ],
}
