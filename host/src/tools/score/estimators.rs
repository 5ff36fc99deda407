//! The rows of a scorecard: a base actor (Actor^g or Actor^o) and, except for the plain
//! rows, an estimator — a tabular correction loaded from a plugin like `--correction`, or
//! one of the model-based references built in here (they read the exact model, which no
//! sample-based estimator can).

use super::suite::{Point, Task};
use acgap_exact::{Exact, Vector};
use acgap_sdk::Term;
use acgap_sdk::plugin::ComponentKind;
use acgap_sdk::tabular::{Base, TabularContext, TabularCorrection, TabularUpdate};
use acgap_sdk::{Correction, CorrectionInit, PluginResult};

/// A reference estimator that reads the exact model at the point (no sample-based
/// estimator can): built from the point's exact quantities and critic.
#[derive(Clone, Copy)]
pub struct ModelEstimator {
    pub name: &'static str,
    pub build: fn(&Exact, &Vector) -> Box<dyn TabularCorrection>,
}

impl std::fmt::Debug for ModelEstimator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name)
    }
}

/// The built-in references.
pub const MODEL_ESTIMATORS: [ModelEstimator; 4] = [
    // `PG - base` on every batch: bias 0, variance 0 (the scorer's own check).
    ModelEstimator {
        name: "oracle",
        build: |e, _| Box::new(Oracle(e.policy_gradient().as_slice().to_vec())),
    },
    // The exact implicit term with the full critic Hessian (Theorem 3): on Actor^o it gives
    // the policy gradient for any critic.
    ModelEstimator {
        name: "exact-stackelberg",
        build: |e, q| constant(e.stackelberg_full(q) - e.actor_o(q)),
    },
    // The same with the semi-gradient Hessian (eqs. 40–46): what Stack-AC's samples estimate,
    // plus the part through d_theta that samples cannot see.
    ModelEstimator {
        name: "exact-stackelberg-semi",
        build: |e, q| constant(e.stackelberg_semi(q) - e.actor_o(q)),
    },
    // Only the part of the semi-gradient term that does not differentiate through d_theta:
    // what Stack-AC's sample estimator converges to as eta -> 0 under d_theta sampling
    // (Wen et al. section 5.3; plugins/tabular/tests/estimators.rs checks that limit).
    ModelEstimator {
        name: "exact-stackelberg-visible",
        build: |e, q| {
            let ones = Vector::from_element(e.d.len(), 1.0);
            constant(-e.mixed_semi_transpose_times(q, &ones, false))
        },
    },
];

fn constant(d: Vector) -> Box<dyn TabularCorrection> {
    Box::new(Constant(d.as_slice().to_vec()))
}

/// What a row adds to its base.
#[derive(Clone, Debug)]
pub enum Estimator {
    /// Plain actor-critic.
    None,
    Model(ModelEstimator),
    /// A tabular correction from a plugin.
    Plugin(PluginSpec),
}

/// A correction from a plugin as a scorecard row names it (`name`, `lib.so`, `lib.so@name`, as
/// for `--correction`) with config overrides: the tabular rows' and the continuous ones'.
#[derive(Clone, Debug)]
pub struct PluginSpec {
    pub spec: String,
    pub overrides: serde_json::Map<String, serde_json::Value>,
}

/// `NAME[:key=value,...]`: the name and the overrides, if any.
pub fn split(spec: &str) -> (&str, Option<&str>) {
    match spec.split_once(':') {
        Some((n, sets)) => (n, Some(sets)),
        None => (spec, None),
    }
}

impl PluginSpec {
    pub fn parse(name: &str, sets: Option<&str>) -> Result<Self, String> {
        let list: Vec<String> = sets
            .map(|s| s.split(',').map(String::from).collect())
            .unwrap_or_default();
        Ok(Self {
            spec: name.into(),
            overrides: crate::plugins::parse_sets(&list)?,
        })
    }

    /// Whether a plugin provides it: a name that finds none is a typo, refused before any work.
    pub fn check(&self) -> Result<(), String> {
        crate::plugins::open_component(&self.spec, ComponentKind::Correction).map(|_| ())
    }

    /// The correction as `--correction` builds it, with the overrides merged into its defaults,
    /// and where it came from (for messages).
    pub fn build(&self, init: &CorrectionInit) -> Result<(Correction, String), String> {
        let (plugin, name) = crate::plugins::open_component(&self.spec, ComponentKind::Correction)?;
        let defaults = plugin
            .default_config(ComponentKind::Correction, &name)
            .map_err(|e| e.to_string())?;
        let config = acgap_sdk::plugin::merge_config(&name, &defaults, &self.overrides)?;
        let init = CorrectionInit {
            config,
            ..init.clone()
        };
        let c = plugin
            .new_correction(&name, &init)
            .map_err(|e| e.to_string())?;
        Ok((c, format!("`{name}` from `{}`", plugin.path.display())))
    }
}

/// One row: a label, a base and an estimator.
#[derive(Clone, Debug)]
pub struct Row {
    pub label: String,
    pub base: Base,
    pub estimator: Estimator,
}

pub fn base_name(b: Base) -> &'static str {
    match b {
        Base::ActorG => "agc",
        Base::ActorO => "aoc",
    }
}

impl Row {
    pub fn plain(base: Base) -> Self {
        Self {
            label: base_name(base).into(),
            base,
            estimator: Estimator::None,
        }
    }

    /// `[agc+|aoc+]ESTIMATOR[:key=value,...]`; without a base, Stackelberg estimators go on
    /// Actor^o (as Stack-AC does) and everything else on Actor^g.
    pub fn parse(spec: &str) -> Result<Self, String> {
        let (base, rest) = match spec.split_once('+') {
            Some(("agc", n)) => (Some(Base::ActorG), n),
            Some(("aoc", n)) => (Some(Base::ActorO), n),
            _ => (None, spec),
        };
        let (name, sets) = split(rest);
        if name.is_empty() {
            return Err(format!("`{spec}` names no estimator"));
        }
        if base.is_none() && sets.is_none() && (name == "agc" || name == "aoc") {
            return Ok(Self::plain(if name == "agc" {
                Base::ActorG
            } else {
                Base::ActorO
            }));
        }
        let estimator = match MODEL_ESTIMATORS.iter().find(|m| m.name == name) {
            Some(m) if sets.is_some() => {
                return Err(format!("`{}` takes no config overrides", m.name));
            }
            Some(m) => Estimator::Model(*m),
            None => Estimator::Plugin(PluginSpec::parse(name, sets)?),
        };
        let base = base.unwrap_or(if name.contains("stack") {
            Base::ActorO
        } else {
            Base::ActorG
        });
        Ok(Self {
            label: format!("{}+{rest}", base_name(base)),
            base,
            estimator,
        })
    }

    /// A row with a model-based estimator of one's own (the scorer's tests).
    #[cfg(test)]
    pub fn model(base: Base, m: ModelEstimator) -> Self {
        Self {
            label: format!("{}+{}", base_name(base), m.name),
            base,
            estimator: Estimator::Model(m),
        }
    }

    /// A fresh estimator for one point of one task (its own state starts from scratch).
    pub fn build(
        &self,
        task: &Task,
        point: &Point,
        seed: u64,
    ) -> Result<Option<Box<dyn TabularCorrection>>, String> {
        Ok(match &self.estimator {
            Estimator::None => None,
            Estimator::Model(m) => Some((m.build)(
                &Exact::new(&task.mdp, &point.theta),
                &Vector::from_column_slice(&point.critic),
            )),
            Estimator::Plugin(p) => Some(load(p, task, seed)?),
        })
    }
}

/// A tabular correction the way `--correction` loads it, with its config overrides.
pub fn load(p: &PluginSpec, task: &Task, seed: u64) -> Result<Box<dyn TabularCorrection>, String> {
    let init = CorrectionInit {
        config: serde_json::Value::Null,
        env: task.spec.clone(),
        seed,
        device: "cpu".into(),
    };
    let (c, from) = p.build(&init)?;
    c.into_tabular().map_err(|e| format!("{from}: {e}"))
}

/// The exact gap, batch by batch.
struct Oracle(Vec<f64>);

impl TabularCorrection for Oracle {
    fn update(&mut self, ctx: &TabularContext) -> PluginResult<TabularUpdate> {
        let d = self
            .0
            .iter()
            .zip(&ctx.base_direction)
            .map(|(p, b)| p - b)
            .collect();
        Ok(TabularUpdate {
            term: Term::Direction(d),
            metrics: Vec::new(),
            critic_correction: None,
        })
    }
}

/// The same direction on every batch.
struct Constant(Vec<f64>);

impl TabularCorrection for Constant {
    fn update(&mut self, _: &TabularContext) -> PluginResult<TabularUpdate> {
        Ok(TabularUpdate {
            term: Term::Direction(self.0.clone()),
            metrics: Vec::new(),
            critic_correction: None,
        })
    }
}
