//! `libstac.so`: STAC (docs/algorithms.md §4): the on-policy Actor^g-Critic of `libagc.so` whose
//! actor follows the Stackelberg total derivative
//! `dJ/dtheta|_w - (d2L/dtheta dw) (d2L/dw2 + lambda I)^-1 dJ/dw`, with the critic Hessian in
//! Gauss-Newton form solved exactly (minimum-norm at lambda = 0) and the cross term of the
//! paper's Proposition 1 computed in one pass with a discounted cumulative sum over each episode.
//! The whole algorithm is the SDK's [`AcCore`] with [`StacConfig`].

use acgap_sdk::AgentEntry;
use acgap_sdk::toolkit::ac::AcCore;
use acgap_sdk::toolkit::stac::StacConfig;

acgap_sdk::export_plugin! {
    agents: [AgentEntry {
        name: "stac",
        description: "Stackelberg actor-critic: AgC plus the exact Gauss-Newton implicit term (Prop. 1 cross term)",
        default_config: StacConfig::default_config,
        build: |init| Ok(Box::new(AcCore::new_stac(&init)?)),
    }],
    corrections: [],
}
