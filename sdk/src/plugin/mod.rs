//! Plugins: what a library exports, how the host loads it, and the adapters
//! that turn plain-Rust [`Agent`]s and [`Correction`]s into stable-ABI objects
//! and back.
//!
//! A plugin author writes plain Rust and one [`crate::export_plugin!`] call;
//! nothing here needs to be read to write a plugin.

pub mod abi;
mod adapters;
mod context;
#[doc(hidden)]
pub mod export;
mod guard;
mod load;
mod onpolicy_context;
mod ops;
mod tabular;

pub use adapters::{LoadedAgent, LoadedCorrection};
pub use load::{LoadError, Plugin};

use crate::agent::{Agent, AgentInit, PluginResult};
use crate::correction::{Correction, CorrectionInit, Family};
use serde::{Deserialize, Serialize};

/// The SDK crate version a plugin was built against (informative: compatibility is the
/// ABI's, [`ABI_VERSION`]).
pub const SDK_VERSION: &str = env!("CARGO_PKG_VERSION");

/// The plugin ABI, `major.minor`, versioned apart from the SDK crate. Within a major version
/// the ABI is append-only (docs/plugins.md, "Compatibility"): a host loads every plugin of its
/// major version with a minor up to its own, and refuses a newer plugin naming both versions.
/// `ACGAP_TEST_ABI_VERSION` at build time overrides it (the host's tests build plugins that
/// claim other versions).
pub const ABI_VERSION: &str = match option_env!("ACGAP_TEST_ABI_VERSION") {
    Some(v) => v,
    None => "1.3",
};

/// `(major, minor)` of an ABI version string.
pub fn parse_abi_version(v: &str) -> Option<(u32, u32)> {
    let (major, minor) = v.split_once('.')?;
    Some((major.parse().ok()?, minor.parse().ok()?))
}
/// The compiler that built the SDK (and, in the same build, the plugin).
pub const RUSTC_VERSION: &str = env!("ACGAP_RUSTC_VERSION");

/// Agent or correction.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ComponentKind {
    Agent,
    Correction,
}

/// One component as `host inspect` shows it.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ComponentInfo {
    pub kind: ComponentKind,
    pub name: String,
    pub description: String,
    pub default_config: serde_json::Value,
    /// Corrections: the hook they implement, `"sac"`, `"onpolicy"` or `"tabular"` (absent: `"sac"`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub family: Option<String>,
}

/// How a library was built.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct BuildInfo {
    pub sdk_version: String,
    /// [`ABI_VERSION`] of the SDK the plugin was built with.
    #[serde(default)]
    pub abi_version: String,
    pub crate_name: String,
    pub crate_version: String,
    pub rustc: String,
    /// `"unwind"` or `"abort"`; the host refuses `"abort"` (a panic could not be contained).
    pub panic_strategy: String,
}

impl BuildInfo {
    /// Called by [`crate::export_plugin!`] in the plugin crate, so that the crate
    /// name and panic strategy are the plugin's own.
    pub fn new(crate_name: &str, crate_version: &str, panic_unwind: bool) -> Self {
        Self {
            sdk_version: SDK_VERSION.into(),
            abi_version: ABI_VERSION.into(),
            crate_name: crate_name.into(),
            crate_version: crate_version.into(),
            rustc: RUSTC_VERSION.into(),
            panic_strategy: if panic_unwind { "unwind" } else { "abort" }.into(),
        }
    }
}

/// Everything `describe` reports: build info and the components.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct PluginInfo {
    pub build: BuildInfo,
    pub components: Vec<ComponentInfo>,
}

/// An agent a library provides.
pub struct AgentEntry {
    pub name: &'static str,
    pub description: &'static str,
    pub default_config: fn() -> serde_json::Value,
    pub build: fn(AgentInit) -> PluginResult<Box<dyn Agent>>,
}

/// A correction a library provides, of any family.
pub struct CorrectionEntry {
    pub name: &'static str,
    pub description: &'static str,
    /// The family `build` returns (shown by `host inspect` before anything is built; a
    /// mismatch is an error at construction).
    pub family: Family,
    pub default_config: fn() -> serde_json::Value,
    pub build: fn(CorrectionInit) -> PluginResult<Correction>,
}

/// What [`crate::export_plugin!`] collects.
pub struct Components {
    pub build: BuildInfo,
    pub agents: Vec<AgentEntry>,
    pub corrections: Vec<CorrectionEntry>,
}

impl Components {
    pub fn info(&self) -> PluginInfo {
        let agents = self.agents.iter().map(|a| ComponentInfo {
            kind: ComponentKind::Agent,
            name: a.name.into(),
            description: a.description.into(),
            default_config: (a.default_config)(),
            family: None,
        });
        let corrections = self.corrections.iter().map(|c| ComponentInfo {
            kind: ComponentKind::Correction,
            name: c.name.into(),
            description: c.description.into(),
            default_config: (c.default_config)(),
            family: Some(c.family.name().into()),
        });
        PluginInfo {
            build: self.build.clone(),
            components: agents.chain(corrections).collect(),
        }
    }
}

/// Merge user overrides into a component's default config, refusing unknown keys
/// (with the list of valid ones) and values whose JSON type differs from the default's.
pub fn merge_config(
    component: &str,
    defaults: &serde_json::Value,
    overrides: &serde_json::Map<String, serde_json::Value>,
) -> Result<serde_json::Value, String> {
    let mut merged = defaults.clone();
    let Some(fields) = merged.as_object_mut() else {
        return Err(format!("`{component}` has no config object"));
    };
    for (key, value) in overrides {
        let Some(default) = fields.get(key) else {
            let mut valid: Vec<&String> = fields.keys().collect();
            valid.sort();
            let valid: Vec<&str> = valid.iter().map(|s| s.as_str()).collect();
            return Err(format!(
                "unknown config key `{key}` for `{component}`; valid keys are: {}",
                valid.join(", ")
            ));
        };
        if !same_json_type(default, value) {
            return Err(format!(
                "config key `{key}` of `{component}` expects {} (default {default}), got {value}",
                json_type(default)
            ));
        }
        fields.insert(key.clone(), value.clone());
    }
    Ok(merged)
}

fn json_type(v: &serde_json::Value) -> &'static str {
    use serde_json::Value::*;
    match v {
        Null => "null",
        Bool(_) => "a boolean",
        Number(_) => "a number",
        String(_) => "a string",
        Array(_) => "a list",
        Object(_) => "an object",
    }
}

fn same_json_type(default: &serde_json::Value, value: &serde_json::Value) -> bool {
    // `null` defaults mean "optional": any value (or null) is accepted.
    default.is_null() || json_type(default) == json_type(value)
}

/// Export this crate's agents and corrections (of any family) as an acgap plugin. Use once
/// per library.
///
/// ```ignore
/// acgap_sdk::export_plugin! {
///     agents: [acgap_sdk::AgentEntry {
///         name: "sac",
///         description: "Soft actor-critic",
///         default_config: || serde_json::json!({}),
///         build: |init| Ok(Box::new(MySac::new(init)?)),
///     }],
///     corrections: [acgap_sdk::CorrectionEntry {
///         name: "my-gap",
///         description: "My gap estimator",
///         family: acgap_sdk::Family::Sac,
///         default_config: || serde_json::json!({}),
///         build: |init| Ok(acgap_sdk::Correction::sac(MyGap::new(&init)?)),
///     }],
/// }
/// ```
#[macro_export]
macro_rules! export_plugin {
    (agents: [$($agent:expr),* $(,)?], corrections: [$($correction:expr),* $(,)?] $(,)?) => {
        #[doc(hidden)]
        pub fn __acgap_components() -> $crate::plugin::Components {
            $crate::plugin::Components {
                build: $crate::plugin::BuildInfo::new(
                    env!("CARGO_PKG_NAME"),
                    env!("CARGO_PKG_VERSION"),
                    cfg!(panic = "unwind"),
                ),
                agents: vec![$($agent),*],
                corrections: vec![$($correction),*],
            }
        }
        $crate::__export_root_module!(__acgap_components);
    };
}
