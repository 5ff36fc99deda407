//! `libstac.so`: STAC (docs/algorithms.md §4): the on-policy Actor^g-Critic of `libagc.so` whose
//! actor follows the Stackelberg total derivative
//! `dJ/dtheta|_w - (d2L/dtheta dw) (d2L/dw2 + lambda I)^-1 dJ/dw`, with the critic Hessian in
//! Gauss-Newton form solved exactly (minimum-norm at lambda = 0) and the cross term of the
//! paper's Proposition 1 computed in one pass with a discounted cumulative sum over each episode.
//!
//! The implicit term is an on-policy correction ([`Stac`]), exported as `stac`
//! (`host --plugin agc --correction stac`); the agent `stac` is the SDK's [`AcCore`] with it
//! attached, and the two are the same run bit for bit.

use acgap_sdk::{AgentEntry, AgentInit, Correction, CorrectionEntry, Family};
use acgap_toolkit::ac::AcCore;
use acgap_toolkit::stac::{Stac, StacConfig};

fn build_agent(init: AgentInit) -> acgap_sdk::PluginResult<Box<dyn acgap_sdk::Agent>> {
    let (base, stac) = StacConfig::split(&init.config)?;
    let init = AgentInit {
        config: base,
        ..init
    };
    Ok(Box::new(AcCore::with_correction(
        &init,
        Correction::onpolicy(Stac::new(stac)),
    )?))
}

acgap_sdk::export_plugin! {
    agents: [AgentEntry {
        name: "stac",
        description: "Stackelberg actor-critic: AgC plus the exact Gauss-Newton implicit term (Prop. 1 cross term)",
        default_config: StacConfig::default_config,
        build: build_agent,
    }],
    corrections: [CorrectionEntry {
        name: "stac",
        description: "STAC's implicit term (Zheng et al. 2022 eq. 19, Prop. 1) for the on-policy actor-critic",
        family: Family::OnPolicy,
        default_config: StacConfig::correction_config,
        build: |init| Ok(Correction::onpolicy(Stac::from_config(&init.config)?)),
    }],
}
