//! `libsac.so`: SAC (docs/algorithms.md §3) with the paper's defaults
//! (Adam 3e-4, gamma 0.99, buffer 1e6, 2 x 128 ReLU, batch 128, tau 0.005,
//! auto alpha with target -dim(A)), schedule SAC-1-0 unless `schedule` and
//! `env_steps_per_iter` say otherwise.
//!
//! The whole algorithm is the SDK's [`SacCore`]; a correction can be attached
//! at run time with `host --correction`.

use acgap_sdk::AgentEntry;
use acgap_toolkit::sac::{SacConfig, SacCore};

acgap_sdk::export_plugin! {
    agents: [AgentEntry {
        name: "sac",
        description: "Soft actor-critic with twin critics and auto-tuned temperature; accepts a --correction",
        default_config: || serde_json::to_value(SacConfig::default()).expect("config serialises"),
        build: |init| Ok(Box::new(SacCore::new(&init, None)?)),
    }],
    corrections: [],
}
