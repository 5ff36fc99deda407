//! The SAC core (docs/algorithms.md §3) with the correction hook.
//!
//! One implementation serves SAC, Res-SAC and Stack-SAC: a plugin builds a
//! [`SacCore`] with or without a [`acgap_sdk::correction::SacCorrection`]. The core
//! implements [`acgap_sdk::agent::Agent`] itself.

mod config;
mod context;
mod core;
mod host_steps;
mod nets;

pub use config::SacConfig;
pub use core::SacCore;

use acgap_sdk::agent::{Agent, AgentInit, PluginResult};
use acgap_sdk::correction::{Correction, CorrectionInit, SacCorrection};

/// The default config of "SAC core + a compiled-in correction": the SAC keys and the
/// correction's keys in one flat object (so `--set clip=4` and `--set tau=0.01` both work).
pub fn defaults_with_correction(
    sac: SacConfig,
    correction_defaults: serde_json::Value,
) -> serde_json::Value {
    let mut v = serde_json::to_value(sac).expect("SAC config serialises");
    if let (Some(all), Some(own)) = (v.as_object_mut(), correction_defaults.as_object()) {
        all.extend(own.clone());
    }
    v
}

/// Build "SAC core + a compiled-in correction" from a flat config made by
/// [`defaults_with_correction`]: the keys of `correction_defaults` go to the correction
/// (which gets the agent's seed, exactly as a `--correction` loaded next to `libsac.so`
/// would), the rest to the SAC core.
pub fn build_with_correction<C: SacCorrection + 'static>(
    init: AgentInit,
    correction_defaults: &serde_json::Value,
    build: impl FnOnce(&CorrectionInit) -> PluginResult<C>,
) -> PluginResult<Box<dyn Agent>> {
    let mut sac = init
        .config
        .as_object()
        .cloned()
        .ok_or("the agent config must be an object")?;
    let own: serde_json::Map<String, serde_json::Value> = correction_defaults
        .as_object()
        .into_iter()
        .flat_map(|d| d.keys())
        .filter_map(|k| sac.remove(k).map(|v| (k.clone(), v)))
        .collect();
    let cinit = CorrectionInit {
        config: serde_json::Value::Object(own),
        env: init.env.clone(),
        seed: init.seed,
        device: init.device.clone(),
    };
    let correction = build(&cinit)?;
    Ok(Box::new(SacCore::new(
        &AgentInit {
            config: serde_json::Value::Object(sac),
            ..init
        },
        Some(Correction::sac(correction)),
    )?))
}

#[cfg(test)]
mod tests;
