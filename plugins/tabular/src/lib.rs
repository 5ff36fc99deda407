//! `libtabular.so`: the tabular actor-critics of Wen et al. 2021 (docs/algorithms.md §2) —
//! agents `aoc` (Actor^o-Critic), `agc` (Actor^g-Critic), `res-ac` (= `agc` with the `res-ac`
//! correction) and `stack-ac` (= `aoc` with the `stack-ac` correction, eta 0.5) — and those two
//! gap estimators as tabular-family corrections, for any tabular agent and for `host score`.

mod core;
mod estimators;

pub use core::{Config, Sampling, TabularAc, Variant, default_config};
pub use estimators::{ResCritic, ResCriticConfig, Stackelberg};

use acgap_sdk::{AgentEntry, Correction, CorrectionEntry, Family};

macro_rules! entry {
    ($name:literal, $variant:expr, $about:literal) => {
        AgentEntry {
            name: $name,
            description: $about,
            default_config: || default_config($variant),
            build: |init| Ok(Box::new(TabularAc::new($variant, &init)?)),
        }
    };
}

acgap_sdk::export_plugin! {
    agents: [
        entry!("aoc", Variant::ActorO, "Actor^o-Critic (tabular): actor ascends mean over start states of sum_a pi q"),
        entry!("agc", Variant::ActorG, "Actor^g-Critic (tabular): actor ascends mean log pi(a|s) q(s,a) on-policy"),
        entry!("res-ac", Variant::Residual, "Res-AC (tabular): Actor^g on q + w, w a res-critic of the critic's TD error"),
        entry!("stack-ac", Variant::Stackelberg, "Stack-AC (tabular): Actor^o plus the semi-gradient Stackelberg term, eta-regularised"),
    ],
    corrections: [
        CorrectionEntry {
            name: "res-ac",
            description: "Res-AC's estimator: a res-critic w of the critic's TD error; the actor's value per sample becomes q + w",
            family: Family::Tabular,
            default_config: || serde_json::to_value(ResCriticConfig::default()).expect("serialises"),
            build: |init| Ok(Correction::tabular(ResCritic::from_init(&init)?)),
        },
        CorrectionEntry {
            name: "stack-ac",
            description: "Stack-AC's estimator: the semi-gradient Stackelberg term with the batch's pair frequencies, eta-regularised",
            family: Family::Tabular,
            default_config: || serde_json::to_value(Stackelberg::default()).expect("serialises"),
            build: |init| Ok(Correction::tabular(Stackelberg::from_init(&init)?)),
        },
    ],
}
