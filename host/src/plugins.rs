//! Finding plugin libraries by name and merging configs.

use acgap_sdk::plugin::{ComponentKind, Plugin, merge_config};
use std::path::{Path, PathBuf};

/// Folders searched for `lib<name>.so`: `$ACGAP_PLUGIN_PATH` (colon-separated), then the
/// folder of the `host` executable (cargo puts plugins there), then `./target/release`.
fn search_dirs() -> Vec<PathBuf> {
    let mut dirs: Vec<PathBuf> = std::env::var("ACGAP_PLUGIN_PATH")
        .map(|p| std::env::split_paths(&p).collect())
        .unwrap_or_default();
    if let Some(dir) = std::env::current_exe()
        .ok()
        .and_then(|e| e.parent().map(Path::to_path_buf))
    {
        dirs.push(dir);
    }
    dirs.push(PathBuf::from("target/release"));
    dirs
}

/// `sac` -> the first `libsac.so` in the search folders; anything with a `/` or
/// an extension is taken as a path.
pub fn resolve(name_or_path: &str) -> PathBuf {
    let p = Path::new(name_or_path);
    if name_or_path.contains('/') || p.extension().is_some() {
        return p.to_path_buf();
    }
    let file = format!(
        "{}{}{}",
        std::env::consts::DLL_PREFIX,
        name_or_path.replace('-', "_"),
        std::env::consts::DLL_SUFFIX
    );
    search_dirs()
        .into_iter()
        .map(|d| d.join(&file))
        .find(|c| c.is_file())
        .unwrap_or_else(|| PathBuf::from(file))
}

/// A plugin spec `path-or-name[@component]`.
pub fn split_spec(spec: &str) -> (&str, Option<&str>) {
    match spec.rsplit_once('@') {
        Some((lib, comp)) if !comp.is_empty() && !comp.contains('/') => (lib, Some(comp)),
        _ => (spec, None),
    }
}

/// A plugin in the search folders that provides a component of this kind and name
/// (so `--correction residual` finds the `residual` correction inside `libressac.so`).
fn find_by_component(name: &str, kind: ComponentKind) -> Option<Plugin> {
    let suffix = std::env::consts::DLL_SUFFIX;
    let candidates = search_dirs().into_iter().flat_map(|d| {
        std::fs::read_dir(d)
            .into_iter()
            .flatten()
            .flatten()
            .map(|e| e.path())
    });
    candidates
        .filter(|p| {
            p.extension()
                .is_some_and(|e| suffix.ends_with(&*e.to_string_lossy()))
        })
        .filter_map(|p| Plugin::open(&p).ok())
        .find(|p| {
            p.info
                .components
                .iter()
                .any(|c| c.kind == kind && c.name == name)
        })
}

/// Open a plugin and pick the component: the named one, else the only one of that kind.
/// A bare name that is no library's file name may name a component instead.
pub fn open_component(spec: &str, kind: ComponentKind) -> Result<(Plugin, String), String> {
    let (lib, comp) = split_spec(spec);
    let path = resolve(lib);
    if !path.is_file()
        && comp.is_none()
        && !lib.contains('/')
        && let Some(plugin) = find_by_component(lib, kind)
    {
        return Ok((plugin, lib.to_string()));
    }
    if !path.is_file() && !lib.contains('/') && Path::new(lib).extension().is_none() {
        let dirs: Vec<String> = search_dirs()
            .iter()
            .map(|d| d.display().to_string())
            .collect();
        let what = if kind == ComponentKind::Agent {
            "an agent"
        } else {
            "a correction"
        };
        return Err(format!(
            "no plugin file `{}` and no plugin provides {what} named `{lib}` (searched {}). Build the plugins with `cargo build --release`, set ACGAP_PLUGIN_PATH, or pass a path.",
            path.display(),
            dirs.join(", ")
        ));
    }
    let plugin = Plugin::open(&path).map_err(|e| e.to_string())?;
    let names = match kind {
        ComponentKind::Agent => plugin.agent_names(),
        ComponentKind::Correction => plugin.correction_names(),
    };
    let what = if kind == ComponentKind::Agent {
        "agent"
    } else {
        "correction"
    };
    let name = match comp {
        Some(c) => c.to_string(),
        None => match names.as_slice() {
            [one] => one.clone(),
            [] => {
                return Err(format!(
                    "`{}` provides no {what}; it provides: {}",
                    path.display(),
                    describe_components(&plugin)
                ));
            }
            many => {
                return Err(format!(
                    "`{}` provides several {what}s ({}); pick one with `{lib}@<name>`",
                    path.display(),
                    many.join(", ")
                ));
            }
        },
    };
    plugin
        .default_config(kind, &name)
        .map_err(|e| e.to_string())?;
    Ok((plugin, name))
}

fn describe_components(p: &Plugin) -> String {
    let list: Vec<String> = p
        .info
        .components
        .iter()
        .map(|c| format!("{:?} `{}`", c.kind, c.name).to_lowercase())
        .collect();
    if list.is_empty() {
        "nothing".into()
    } else {
        list.join(", ")
    }
}

/// Parse `key=value` overrides; the value is JSON if it parses, else a string.
pub fn parse_sets(sets: &[String]) -> Result<serde_json::Map<String, serde_json::Value>, String> {
    let mut map = serde_json::Map::new();
    for s in sets {
        let (k, v) = s
            .split_once('=')
            .ok_or_else(|| format!("`--set {s}`: expected KEY=VALUE"))?;
        let value =
            serde_json::from_str(v).unwrap_or_else(|_| serde_json::Value::String(v.to_string()));
        map.insert(k.trim().to_string(), value);
    }
    Ok(map)
}

/// Read a config file: a JSON object of overrides.
pub fn read_config_file(path: &Path) -> Result<serde_json::Map<String, serde_json::Value>, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("config file `{}`: {e}", path.display()))?;
    match serde_json::from_str::<serde_json::Value>(&text) {
        Ok(serde_json::Value::Object(m)) => Ok(m),
        Ok(_) => Err(format!(
            "config file `{}` must hold a JSON object of config keys",
            path.display()
        )),
        Err(e) => Err(format!(
            "config file `{}` is not valid JSON: {e}",
            path.display()
        )),
    }
}

/// Defaults <- file <- `--set`, with unknown keys and wrong types refused.
pub fn resolve_config(
    plugin: &Plugin,
    kind: ComponentKind,
    name: &str,
    file: Option<&Path>,
    sets: &[String],
) -> Result<serde_json::Value, String> {
    let defaults = plugin
        .default_config(kind, name)
        .map_err(|e| e.to_string())?;
    let mut overrides = match file {
        Some(f) => read_config_file(f)?,
        None => serde_json::Map::new(),
    };
    overrides.extend(parse_sets(sets)?);
    merge_config(name, &defaults, &overrides).map_err(|e| match file {
        Some(f) => format!("{e} (from `--set` or `{}`)", f.display()),
        None => e,
    })
}
