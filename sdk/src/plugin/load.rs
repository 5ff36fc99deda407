//! Host side: open a plugin library, check it, build its components.

use super::abi::PluginModuleRef;
use super::adapters::{LoadedAgent, LoadedCorrection};
use super::{ComponentKind, PluginInfo};
use crate::agent::AgentInit;
use crate::correction::CorrectionInit;
use crate::correction::{Correction, Repr};
use abi_stable::library::{LibraryError, lib_header_from_path};
use std::path::{Path, PathBuf};

/// Why a plugin could not be used. Each message names the file and what to do.
#[derive(Debug)]
pub enum LoadError {
    NotFound(PathBuf),
    /// The path exists (or is a symlink) but is no regular file: a directory, a symlink loop, ...
    NotAFile(PathBuf, String),
    NotALibrary(PathBuf, String),
    NotAPlugin(PathBuf, String),
    IncompatibleSdk(PathBuf, String),
    /// The plugin's ABI version, when this host cannot serve it.
    IncompatibleAbi(PathBuf, String),
    PanicAbort(PathBuf, String),
    UnknownComponent {
        path: PathBuf,
        kind: ComponentKind,
        name: String,
        available: Vec<String>,
    },
    Build {
        path: PathBuf,
        name: String,
        message: String,
    },
}

impl std::fmt::Display for LoadError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            LoadError::NotFound(p) => write!(
                f,
                "plugin file `{}` does not exist. Build the plugins with `cargo build --release` or pass the path of a `lib<name>.so`.",
                p.display()
            ),
            LoadError::NotAFile(p, e) => write!(
                f,
                "plugin path `{}` is not a file ({e}). Pass the path of a `lib<name>.so`.",
                p.display()
            ),
            LoadError::NotALibrary(p, e) => write!(
                f,
                "`{}` is not a shared library that can be loaded ({e}). Pass a `lib<name>.so` built as a cdylib.",
                p.display()
            ),
            LoadError::NotAPlugin(p, e) => write!(
                f,
                "`{}` is a shared library but not an acgap plugin: it exports no acgap root module ({e}). Plugins are built with `acgap_sdk::export_plugin!`.",
                p.display()
            ),
            LoadError::IncompatibleSdk(p, e) => write!(
                f,
                "`{}` was built against an SDK incompatible with this host (plugin ABI {}): {e}. Rebuild the plugin against an SDK of ABI {}.",
                p.display(),
                super::ABI_VERSION,
                super::ABI_VERSION
            ),
            LoadError::IncompatibleAbi(p, plugin) => {
                let (host, (hm, _)) = (
                    super::ABI_VERSION,
                    super::parse_abi_version(super::ABI_VERSION).unwrap_or((0, 0)),
                );
                let what = match super::parse_abi_version(plugin) {
                    Some((m, _)) if m == hm => format!(
                        "is newer than this host's ABI {host}: update the host, or rebuild the plugin against an SDK of ABI {host}"
                    ),
                    Some(_) => format!(
                        "is of another major version than this host's ABI {host}: rebuild the plugin against an SDK of ABI {hm}.x"
                    ),
                    None => format!("is unreadable; this host speaks ABI {host}"),
                };
                write!(
                    f,
                    "`{}` was built against plugin ABI {plugin}, which {what}.",
                    p.display()
                )
            }
            LoadError::PanicAbort(p, c) => write!(
                f,
                "`{}` (crate `{c}`) was built with `panic = \"abort\"`: a panic in it would kill the host and lose the run. Rebuild it with `panic = \"unwind\"` (the default).",
                p.display()
            ),
            LoadError::UnknownComponent {
                path,
                kind,
                name,
                available,
            } => {
                let kind = match kind {
                    ComponentKind::Agent => "agent",
                    ComponentKind::Correction => "correction",
                };
                write!(
                    f,
                    "`{}` provides no {kind} named `{name}`; it provides: {}",
                    path.display(),
                    if available.is_empty() {
                        "none".into()
                    } else {
                        available.join(", ")
                    }
                )
            }
            LoadError::Build {
                path,
                name,
                message,
            } => write!(
                f,
                "`{name}` from `{}` could not be built: {message}",
                path.display()
            ),
        }
    }
}

impl std::error::Error for LoadError {}

/// A loaded plugin library. Libraries stay loaded for the life of the process.
pub struct Plugin {
    pub path: PathBuf,
    pub info: PluginInfo,
    module: PluginModuleRef,
}

impl Plugin {
    /// Open the library at `path`. The loader is handed the canonical absolute path, so a
    /// bare file name is never looked up on the system's library path, and `Plugin::path` is
    /// the file that was really loaded.
    pub fn open(path: &Path) -> Result<Plugin, LoadError> {
        let path = canonical_file(path)?;
        // A first open with libloading gives the OS's own reason when the file is no library.
        // SAFETY: loading runs the library's initialisers; acgap plugins have none besides Rust statics.
        unsafe { libloading::Library::new(&path) }
            .map_err(|e| LoadError::NotALibrary(path.clone(), e.to_string()))?;
        // `lib_header_from_path` + `init_root_module`, not `RootModule::load_from_file`: the latter
        // caches one module per type, so a second, different plugin would silently return the first.
        let header = lib_header_from_path(&path).map_err(|e| match e {
            LibraryError::OpenError { .. } => LoadError::NotALibrary(path.clone(), e.to_string()),
            LibraryError::GetSymbolError { .. } => {
                LoadError::NotAPlugin(path.clone(), "no `acgap` root-module symbol".into())
            }
            other => LoadError::IncompatibleSdk(path.clone(), other.to_string()),
        })?;
        let module = header
            .init_root_module::<PluginModuleRef>()
            .map_err(|e| match e {
                LibraryError::RootModule { .. } => {
                    LoadError::NotAPlugin(path.clone(), e.to_string())
                }
                other => LoadError::IncompatibleSdk(path.clone(), first_line(&other.to_string())),
            })?;
        let json = (module.describe())();
        let info: PluginInfo = serde_json::from_str(&json).map_err(|e| {
            LoadError::IncompatibleSdk(path.clone(), format!("unreadable plugin description: {e}"))
        })?;
        let (host_major, host_minor) =
            super::parse_abi_version(super::ABI_VERSION).expect("the SDK's ABI version parses");
        match super::parse_abi_version(&info.build.abi_version) {
            Some((major, minor)) if major == host_major && minor <= host_minor => {}
            _ => return Err(LoadError::IncompatibleAbi(path, info.build.abi_version)),
        }
        if info.build.panic_strategy != "unwind" {
            return Err(LoadError::PanicAbort(path, info.build.crate_name));
        }
        Ok(Plugin { path, info, module })
    }

    fn names(&self, kind: ComponentKind) -> Vec<String> {
        self.info
            .components
            .iter()
            .filter(|c| c.kind == kind)
            .map(|c| c.name.clone())
            .collect()
    }

    /// The default config of a component, or an error listing what the plugin provides.
    pub fn default_config(
        &self,
        kind: ComponentKind,
        name: &str,
    ) -> Result<serde_json::Value, LoadError> {
        self.info
            .components
            .iter()
            .find(|c| c.kind == kind && c.name == name)
            .map(|c| c.default_config.clone())
            .ok_or_else(|| LoadError::UnknownComponent {
                path: self.path.clone(),
                kind,
                name: name.into(),
                available: self.names(kind),
            })
    }

    /// The only agent of a plugin, or the first if there are several.
    pub fn agent_names(&self) -> Vec<String> {
        self.names(ComponentKind::Agent)
    }

    pub fn correction_names(&self) -> Vec<String> {
        self.names(ComponentKind::Correction)
    }

    pub fn new_agent(&self, name: &str, init: &AgentInit) -> Result<LoadedAgent, LoadError> {
        self.default_config(ComponentKind::Agent, name)?;
        let json = serde_json::to_string(init).expect("init serialises");
        (self.module.new_agent())(name.into(), json.as_str().into())
            .into_result()
            .map(LoadedAgent::new)
            .map_err(|e| LoadError::Build {
                path: self.path.clone(),
                name: name.into(),
                message: e.into_string(),
            })
    }

    pub fn new_correction(
        &self,
        name: &str,
        init: &CorrectionInit,
    ) -> Result<Correction, LoadError> {
        self.default_config(ComponentKind::Correction, name)?;
        let json = serde_json::to_string(init).expect("init serialises");
        (self.module.new_correction())(name.into(), json.as_str().into())
            .into_result()
            .map(|c| Correction(Repr::Loaded(LoadedCorrection::new(c))))
            .map_err(|e| LoadError::Build {
                path: self.path.clone(),
                name: name.into(),
                message: e.into_string(),
            })
    }
}

/// The canonical absolute path of a regular file, or why there is none.
fn canonical_file(path: &Path) -> Result<PathBuf, LoadError> {
    if std::fs::symlink_metadata(path).is_err() {
        return Err(LoadError::NotFound(path.to_path_buf()));
    }
    let canonical = std::fs::canonicalize(path)
        .map_err(|e| LoadError::NotAFile(path.to_path_buf(), e.to_string()))?;
    if canonical.is_dir() {
        return Err(LoadError::NotAFile(
            path.to_path_buf(),
            "it is a directory".into(),
        ));
    }
    if !canonical.is_file() {
        return Err(LoadError::NotAFile(
            path.to_path_buf(),
            "not a regular file".into(),
        ));
    }
    Ok(canonical)
}

fn first_line(s: &str) -> String {
    let lines: Vec<&str> = s.lines().filter(|l| !l.trim().is_empty()).take(6).collect();
    lines.join(" / ")
}
