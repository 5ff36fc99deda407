//! Records the compiler version so that a plugin's build info can name it
//! (`host inspect` prints it; a mismatch with the host is reported).
use std::process::Command;

fn main() {
    let rustc = std::env::var("RUSTC").unwrap_or_else(|_| "rustc".into());
    let version = Command::new(rustc)
        .arg("--version")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .map(|s| s.trim().to_string())
        .unwrap_or_else(|| "unknown".into());
    println!("cargo:rustc-env=ACGAP_RUSTC_VERSION={version}");
    println!("cargo:rerun-if-changed=build.rs");
}
