//! `libagc.so`: on-policy Actor^g-Critic (docs/algorithms.md §4), the baseline "AC" of the STAC
//! paper: N-step rollouts, a 2 x 64 tanh critic fitted to Monte-Carlo returns with k steps, one
//! actor ascent step on the GAE(lambda) policy gradient; categorical or Gaussian policy.
//! `objective = "o"` gives Actor^o-Critic. The whole algorithm is the SDK's [`AcCore`].

use acgap_sdk::AgentEntry;
use acgap_toolkit::ac::{AcConfig, AcCore};

acgap_sdk::export_plugin! {
    agents: [AgentEntry {
        name: "agc",
        description: "On-policy Actor^g-Critic: GAE policy gradient, Monte-Carlo critic with k steps per rollout",
        default_config: || serde_json::to_value(AcConfig::default()).expect("config serialises"),
        build: |init| Ok(Box::new(AcCore::new(&init)?)),
    }],
    corrections: [],
}
