//! Where `scripts/setup-mujoco` put MuJoCo, and what it installed.

use serde::Deserialize;
use std::path::PathBuf;

/// The MuJoCo release the adaptor is built against (the `mujoco-rs` bindings are generated
/// per release), and the Gymnasium release whose v5 model files and step functions the tasks
/// follow. `scripts/setup-mujoco` installs exactly these.
pub const MUJOCO_VERSION: &str = "3.17.0";
pub const GYMNASIUM_VERSION: &str = "1.4.0";

/// The one command that makes the MuJoCo tasks available.
pub const SETUP_COMMAND: &str = "scripts/setup-mujoco";

/// What the setup wrote to `<home>/mujoco.json`.
#[derive(Clone, Debug, Deserialize)]
pub struct Install {
    pub mujoco: String,
    pub gymnasium: String,
    /// The adaptor library (`libacgap_mujoco.so`), next to `libmujoco.so.<version>`.
    pub adaptor: PathBuf,
    /// Gymnasium's `envs/mujoco/assets` folder (the MJCF files are loaded from there).
    pub assets: PathBuf,
    /// The Python with the pinned `mujoco` and `gymnasium` (parity recording, benchmarks).
    #[serde(default)]
    pub python: Option<PathBuf>,
}

/// `$ACGAP_MUJOCO_HOME`, else `$XDG_DATA_HOME/acgap/mujoco`, else `~/.local/share/acgap/mujoco`.
pub fn home() -> PathBuf {
    crate::install_home("ACGAP_MUJOCO_HOME", "mujoco")
}

/// The installation, or a message naming what is missing and the command that fixes it.
pub fn find() -> Result<Install, String> {
    let manifest = home().join("mujoco.json");
    let text = std::fs::read_to_string(&manifest).map_err(|e| {
        format!(
            "MuJoCo is not set up ({}: {e}). MuJoCo tasks need MuJoCo {MUJOCO_VERSION} and Gymnasium {GYMNASIUM_VERSION}'s model files: run `{SETUP_COMMAND}` from the acgap repository (or set ACGAP_MUJOCO_HOME to where it installed them).",
            manifest.display()
        )
    })?;
    let install: Install = serde_json::from_str(&text).map_err(|e| {
        format!(
            "`{}` is unreadable ({e}); run `{SETUP_COMMAND}` again.",
            manifest.display()
        )
    })?;
    if install.mujoco != MUJOCO_VERSION || install.gymnasium != GYMNASIUM_VERSION {
        return Err(format!(
            "`{}` records MuJoCo {} and Gymnasium {}, but this acgap needs MuJoCo {MUJOCO_VERSION} and Gymnasium {GYMNASIUM_VERSION}: run `{SETUP_COMMAND}` again.",
            manifest.display(),
            install.mujoco,
            install.gymnasium
        ));
    }
    Ok(install)
}
