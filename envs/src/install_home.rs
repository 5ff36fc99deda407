//! Where the optional parts' setup scripts install (MuJoCo, Gymnasium, the benchmark peers):
//! one folder each, outside the repository.

use std::path::{Path, PathBuf};

/// `$<override_var>` if set, else `$XDG_DATA_HOME/acgap/<name>`, else
/// `~/.local/share/acgap/<name>` — the rule every `scripts/setup-*` follows.
pub fn install_home(override_var: &str, name: &str) -> PathBuf {
    if let Some(h) = std::env::var_os(override_var).filter(|h| !h.is_empty()) {
        return PathBuf::from(h);
    }
    let data = std::env::var_os("XDG_DATA_HOME")
        .filter(|d| !d.is_empty())
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            Path::new(&std::env::var_os("HOME").unwrap_or_default()).join(".local/share")
        });
    data.join("acgap").join(name)
}
