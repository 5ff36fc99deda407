//! Finding plugin libraries by name, resolving configs into run specs, loading agents.

use acgap_sdk::plugin::{ComponentKind, Plugin};
use std::path::{Path, PathBuf};

/// Folders searched for a bare plugin name or file name, in order: the working directory,
/// `$ACGAP_PLUGIN_PATH` (colon-separated), the folder of the `host` executable (cargo puts
/// the plugins there), then `./target/release`.
fn search_dirs() -> Vec<PathBuf> {
    let mut dirs = vec![PathBuf::from(".")];
    if let Ok(p) = std::env::var("ACGAP_PLUGIN_PATH") {
        dirs.extend(std::env::split_paths(&p).filter(|d| !d.as_os_str().is_empty()));
    }
    if let Some(dir) = std::env::current_exe()
        .ok()
        .and_then(|e| e.parent().map(Path::to_path_buf))
    {
        dirs.push(dir);
    }
    dirs.push(PathBuf::from("target/release"));
    dirs
}

/// A plugin argument with a `/` is a path; anything else is looked up in the search folders.
fn is_path(lib: &str) -> bool {
    lib.contains('/')
}

/// The file a bare argument names: `sac` -> `libsac.so`; a file name (`libsac.so`) stays.
fn file_name(lib: &str) -> String {
    if Path::new(lib).extension().is_some() {
        lib.to_string()
    } else {
        format!(
            "{}{}{}",
            std::env::consts::DLL_PREFIX,
            lib.replace('-', "_"),
            std::env::consts::DLL_SUFFIX
        )
    }
}

/// The library a plugin argument names: a path as given, or the first search folder that
/// holds the file. `Err` lists where a bare argument was looked for.
pub fn resolve(lib: &str) -> Result<PathBuf, String> {
    if is_path(lib) {
        return Ok(PathBuf::from(lib));
    }
    let file = file_name(lib);
    search_dirs()
        .iter()
        .map(|d| d.join(&file))
        .find(|c| c.is_file())
        .ok_or_else(|| not_found(&format!("no plugin file `{file}`")))
}

/// "`what` (searched ...). What to do." for a plugin argument found nowhere.
fn not_found(what: &str) -> String {
    let looked: Vec<String> = search_dirs().iter().map(|d| describe_dir(d)).collect();
    format!(
        "{what} (searched {}). Build the plugins with `cargo build --release`, set ACGAP_PLUGIN_PATH, or pass a path.",
        looked.join(", ")
    )
}

/// A search folder as the user should read it: the working directory and relative folders
/// with their absolute form.
fn describe_dir(d: &Path) -> String {
    match std::path::absolute(d) {
        Ok(abs) if abs != d => format!("{} ({})", d.display(), abs.display()),
        _ => d.display().to_string(),
    }
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
/// A bare name that is no library's file name may name a component instead
/// (`--correction residual` finds the correction inside `libressac.so`).
pub fn open_component(spec: &str, kind: ComponentKind) -> Result<(Plugin, String), String> {
    let (lib, comp) = split_spec(spec);
    let path = match resolve(lib) {
        Ok(path) => path,
        Err(message) => {
            let bare_name = comp.is_none() && Path::new(lib).extension().is_none();
            if bare_name && let Some(plugin) = find_by_component(lib, kind) {
                return Ok((plugin, lib.to_string()));
            }
            let what = match kind {
                ComponentKind::Agent => "an agent",
                ComponentKind::Correction => "a correction",
            };
            return Err(if bare_name {
                not_found(&format!(
                    "no plugin file `{}` and no plugin provides {what} named `{lib}`",
                    file_name(lib)
                ))
            } else {
                message
            });
        }
    };
    let plugin = Plugin::open(&path).map_err(|e| e.to_string())?;
    if !is_path(lib) {
        note_unexpected_crate(lib, &plugin);
    }
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

/// A bare name found as a library built from another crate (a `libsac.so` in the working
/// directory that is really Res-SAC shadows the one next to `host`): said once per file,
/// with where it was found, so the run is not silently another algorithm.
fn note_unexpected_crate(lib: &str, plugin: &Plugin) {
    static SAID: std::sync::Mutex<Vec<PathBuf>> = std::sync::Mutex::new(Vec::new());
    let asked = Path::new(&file_name(lib))
        .file_stem()
        .map(|s| {
            s.to_string_lossy()
                .trim_start_matches("lib")
                .replace('-', "_")
        })
        .unwrap_or_default();
    let built = plugin.info.build.crate_name.replace('-', "_");
    if asked == built {
        return;
    }
    let mut said = SAID.lock().unwrap_or_else(|p| p.into_inner());
    if !said.contains(&plugin.path) {
        eprintln!(
            "note: plugin `{lib}` was found as `{}`, built from crate `{}` (the search order: \
             the working directory, ACGAP_PLUGIN_PATH, the host's folder); pass a path to load \
             another",
            describe_dir(&plugin.path),
            plugin.info.build.crate_name
        );
        said.push(plugin.path.clone());
    }
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

/// A `--set` value: JSON if it parses, else the text as a string.
pub fn parse_value(v: &str) -> serde_json::Value {
    serde_json::from_str(v).unwrap_or_else(|_| serde_json::Value::String(v.to_string()))
}

/// Parse `key=value` overrides.
pub fn parse_sets(sets: &[String]) -> Result<serde_json::Map<String, serde_json::Value>, String> {
    let mut map = serde_json::Map::new();
    for s in sets {
        let (k, v) = s
            .split_once('=')
            .ok_or_else(|| format!("`--set {s}`: expected KEY=VALUE"))?;
        map.insert(k.trim().to_string(), parse_value(v));
    }
    Ok(map)
}

/// Read a config file: a JSON object of overrides.
pub fn read_config_file(path: &Path) -> Result<serde_json::Map<String, serde_json::Value>, String> {
    let text = read_user_file("config file", path)?;
    unique_keys(&text).map_err(|e| format!("config file `{}`: {e}", path.display()))?;
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

/// The most a config or session file may hold: far more than any real one, and a bound on what
/// `--config /dev/zero` (or a mistyped path to a large file) can make the host read.
const MAX_USER_FILE: u64 = 16 << 20;

/// A file the user names as input (a config, a session), read whole if it is at most
/// [`MAX_USER_FILE`] bytes.
pub fn read_user_file(what: &str, path: &Path) -> Result<String, String> {
    use std::io::Read;
    let file =
        std::fs::File::open(path).map_err(|e| format!("{what} `{}`: {e}", path.display()))?;
    let mut bytes = Vec::new();
    (file.take(MAX_USER_FILE + 1))
        .read_to_end(&mut bytes)
        .map_err(|e| format!("{what} `{}`: {e}", path.display()))?;
    if bytes.len() as u64 > MAX_USER_FILE {
        return Err(format!(
            "{what} `{}` is larger than {} MiB; is it the right file?",
            path.display(),
            MAX_USER_FILE >> 20
        ));
    }
    String::from_utf8(bytes).map_err(|_| format!("{what} `{}` is not UTF-8 text", path.display()))
}

/// Refuse JSON in which an object names a key twice (serde_json keeps the last silently, so
/// `{"lr": 1e-3, "lr": 3e-4}` would run with one of two values the user wrote). Invalid JSON
/// passes here and is reported by the parse that follows.
pub fn unique_keys(text: &str) -> Result<(), String> {
    use serde::de::{Deserializer, MapAccess, SeqAccess, Visitor};
    struct Walk;
    impl<'de> Visitor<'de> for Walk {
        type Value = ();
        fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
            f.write_str("JSON")
        }
        fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
            let mut seen = std::collections::BTreeSet::new();
            while let Some(key) = map.next_key::<String>()? {
                if !seen.insert(key.clone()) {
                    return Err(serde::de::Error::custom(format!(
                        "the key `{key}` appears twice in one object"
                    )));
                }
                map.next_value_seed(Walk)?;
            }
            Ok(())
        }
        fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
            while seq.next_element_seed(Walk)?.is_some() {}
            Ok(())
        }
        fn visit_bool<E>(self, _: bool) -> Result<(), E> {
            Ok(())
        }
        fn visit_i64<E>(self, _: i64) -> Result<(), E> {
            Ok(())
        }
        fn visit_u64<E>(self, _: u64) -> Result<(), E> {
            Ok(())
        }
        fn visit_f64<E>(self, _: f64) -> Result<(), E> {
            Ok(())
        }
        fn visit_str<E>(self, _: &str) -> Result<(), E> {
            Ok(())
        }
        fn visit_unit<E>(self) -> Result<(), E> {
            Ok(())
        }
    }
    impl<'de> serde::de::DeserializeSeed<'de> for Walk {
        type Value = ();
        fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
            d.deserialize_any(self)
        }
    }
    let mut de = serde_json::Deserializer::from_str(text);
    match serde::de::DeserializeSeed::deserialize(Walk, &mut de) {
        Err(e) if e.is_data() => Err(e.to_string()),
        _ => Ok(()),
    }
}
