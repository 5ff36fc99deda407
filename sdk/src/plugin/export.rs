//! Plugin side: the entry points [`crate::export_plugin!`] generates call these.

use super::abi::{AgentBox, CorrectionBox, PluginModule, PluginModuleRef};
use super::adapters::{AgentAdapter, CorrectionAdapter};
use super::guard::guarded;
use super::{ComponentKind, Components};
use crate::agent::AgentInit;
use crate::correction::CorrectionInit;
use abi_stable::prefix_type::PrefixTypeTrait;
use abi_stable::std_types::{RErr, ROk, RResult, RStr, RString};

pub fn describe(components: fn() -> Components) -> RString {
    let info = guarded("describe", || Ok(components().info()));
    match info {
        Ok(info) => serde_json::to_string(&info).unwrap_or_default().into(),
        Err(_) => RString::new(),
    }
}

fn unknown(kind: ComponentKind, name: &str, available: Vec<&str>) -> String {
    format!(
        "no {kind:?} named `{name}` (available: {})",
        available.join(", ")
    )
}

pub fn new_agent(
    components: fn() -> Components,
    name: RStr<'_>,
    init_json: RStr<'_>,
) -> RResult<AgentBox, RString> {
    let built = guarded("agent construction", || {
        let init: AgentInit =
            serde_json::from_str(init_json.as_str()).map_err(|e| format!("bad agent init: {e}"))?;
        let comps = components();
        let entry = comps
            .agents
            .iter()
            .find(|a| a.name == name.as_str())
            .ok_or_else(|| {
                unknown(
                    ComponentKind::Agent,
                    name.as_str(),
                    comps.agents.iter().map(|a| a.name).collect(),
                )
            })?;
        (entry.build)(init)
    });
    match built {
        Ok(agent) => ROk(AgentAdapter::boxed(agent)),
        Err(e) => RErr(e.into()),
    }
}

pub fn new_correction(
    components: fn() -> Components,
    name: RStr<'_>,
    init_json: RStr<'_>,
) -> RResult<CorrectionBox, RString> {
    let built = guarded("correction construction", || {
        let init: CorrectionInit = serde_json::from_str(init_json.as_str())
            .map_err(|e| format!("bad correction init: {e}"))?;
        let comps = components();
        let entry = comps
            .corrections
            .iter()
            .find(|c| c.name == name.as_str())
            .ok_or_else(|| {
                unknown(
                    ComponentKind::Correction,
                    name.as_str(),
                    comps.corrections.iter().map(|c| c.name).collect(),
                )
            })?;
        let built = (entry.build)(init)?;
        if built.family() != entry.family {
            return Err(format!(
                "correction `{}` is declared {} but built {}",
                entry.name,
                entry.family.described(),
                built.family().described()
            ));
        }
        Ok::<_, String>(built)
    });
    match built {
        Ok(c) => ROk(CorrectionAdapter::boxed(c)),
        Err(e) => RErr(e.into()),
    }
}

/// Build the root module from the three generated entry points.
pub fn module(
    describe: extern "C" fn() -> RString,
    new_agent: extern "C" fn(RStr<'_>, RStr<'_>) -> RResult<AgentBox, RString>,
    new_correction: extern "C" fn(RStr<'_>, RStr<'_>) -> RResult<CorrectionBox, RString>,
) -> PluginModuleRef {
    PluginModule {
        describe,
        new_agent,
        new_correction,
    }
    .leak_into_prefix()
}

/// Re-exports the generated code needs, so plugin crates need no `abi_stable` dependency.
#[doc(hidden)]
pub mod __abi {
    pub use abi_stable::library::{
        __call_root_module_loader, CheckTypeLayout, IntoRootModuleResult, LibHeader,
        ROOT_MODULE_LOADER_NAME, RootModuleResult,
    };
    pub use abi_stable::std_types::{RResult, RStr, RString};
}

/// Generates the plugin's entry points and the library header abi_stable looks for.
/// The static's name must equal `abi_stable::library::ROOT_MODULE_LOADER_NAME`
/// (checked by a unit test); `#[export_root_module]` cannot be used because it
/// expands to `::abi_stable` paths that plugin crates do not have.
#[doc(hidden)]
#[macro_export]
macro_rules! __export_root_module {
    ($components:ident) => {
        extern "C" fn __acgap_describe() -> $crate::plugin::export::__abi::RString {
            $crate::plugin::export::describe($components)
        }
        extern "C" fn __acgap_new_agent(
            name: $crate::plugin::export::__abi::RStr<'_>,
            init: $crate::plugin::export::__abi::RStr<'_>,
        ) -> $crate::plugin::export::__abi::RResult<$crate::plugin::abi::AgentBox, $crate::plugin::export::__abi::RString> {
            $crate::plugin::export::new_agent($components, name, init)
        }
        extern "C" fn __acgap_new_correction(
            name: $crate::plugin::export::__abi::RStr<'_>,
            init: $crate::plugin::export::__abi::RStr<'_>,
        ) -> $crate::plugin::export::__abi::RResult<
            $crate::plugin::abi::CorrectionBox,
            $crate::plugin::export::__abi::RString,
        > {
            $crate::plugin::export::new_correction($components, name, init)
        }
        fn __acgap_root_module() -> $crate::plugin::abi::PluginModuleRef {
            $crate::plugin::export::module(__acgap_describe, __acgap_new_agent, __acgap_new_correction)
        }
        #[unsafe(no_mangle)]
        pub static _1as_0lib_1header_0root_bmodule_bloader: $crate::plugin::export::__abi::LibHeader = {
            pub extern "C" fn _sabi_erased_module() -> $crate::plugin::export::__abi::RootModuleResult {
                $crate::plugin::export::__abi::__call_root_module_loader(__acgap_root_module)
            }
            type __SabiModule = <$crate::plugin::abi::PluginModuleRef as $crate::plugin::export::__abi::IntoRootModuleResult>::Module;
            unsafe {
                $crate::plugin::export::__abi::LibHeader::from_constructor::<__SabiModule>(
                    _sabi_erased_module,
                    $crate::plugin::export::__abi::CheckTypeLayout::Yes,
                )
            }
        };
    };
}

#[cfg(test)]
mod tests {
    #[test]
    fn exported_header_symbol_is_the_one_abi_stable_looks_up() {
        let src = include_str!("export.rs");
        let name = super::__abi::ROOT_MODULE_LOADER_NAME;
        assert!(
            src.contains(&format!("pub static {name}:")),
            "update the static's name in __export_root_module! to {name}"
        );
    }
}
