//! The ABI compatibility promise, tested for real: a plugin built from the tagged release
//! `abi-1.0` (the SDK and the fixture plugin as they were then, extracted with `git archive`)
//! loads and trains in today's host, and a feature added after it gets a message naming the
//! plugin's ABI instead of failing obscurely.

mod common;
use common::*;
use std::path::{Path, PathBuf};
use std::process::Command;

/// The release that froze ABI 1.0 (tag `abi-1.0`); the commit is used if tags were not fetched.
const ABI_1_0: [&str; 2] = ["abi-1.0", "2fc6c7e"];

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// The fixture plugin built against the SDK of `abi-1.0`.
fn old_fixture() -> PathBuf {
    let out = root().join("target/abi-1.0");
    let lib = out.join("build/release/libfixture.so");
    if lib.is_file() {
        return lib;
    }
    let src = out.join("src");
    let _ = std::fs::remove_dir_all(&src);
    std::fs::create_dir_all(&src).unwrap();
    let archive = ABI_1_0
        .iter()
        .find_map(|rev| {
            let o = Command::new("git")
                .args([
                    "archive",
                    "--format=tar",
                    rev,
                    "sdk",
                    "host/tests/fixture-plugin",
                    "Cargo.lock",
                ])
                .current_dir(root())
                .output()
                .ok()?;
            o.status.success().then_some(o.stdout)
        })
        .expect("git archive of the abi-1.0 release (is this a git checkout with its history?)");
    let mut tar = Command::new("tar")
        .args(["-x", "-C"])
        .arg(&src)
        .stdin(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write;
    tar.stdin.take().unwrap().write_all(&archive).unwrap();
    assert!(tar.wait().unwrap().success());
    let built = Command::new(env!("CARGO"))
        .args(["build", "--release", "--lib", "--target-dir"])
        .arg(out.join("build"))
        .current_dir(src.join("host/tests/fixture-plugin"))
        .output()
        .unwrap();
    assert!(
        built.status.success(),
        "the abi-1.0 fixture does not build:\n{}",
        String::from_utf8_lossy(&built.stderr)
    );
    lib
}

#[test]
fn a_plugin_built_against_abi_1_0_loads_and_trains_in_todays_host() {
    let lib = old_fixture();
    let inspect = Command::new(host_bin())
        .args(["inspect", lib.to_str().unwrap()])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&inspect.stdout);
    assert!(
        inspect.status.success(),
        "{}",
        String::from_utf8_lossy(&inspect.stderr)
    );
    assert!(
        text.contains(&format!(
            "abi         1.0 (host {})",
            acgap_sdk::plugin::ABI_VERSION
        )),
        "{text}"
    );
    assert_ne!(
        acgap_sdk::plugin::ABI_VERSION,
        "1.0",
        "the host must be newer for this test to mean anything"
    );

    let plugin = format!("{}@on-policy", lib.display());
    let r = host(&["--plugin", &plugin, "--env", "cartpole", "--steps", "2000"]);
    assert!(r.out.status.success(), "{}", r.stderr());
    assert_eq!(status(&r.run_dir())["state"], "finished");

    // `Agent::discount` came with ABI 1.1: the gap diagnostics that need it say so.
    let r = host(&[
        "--plugin",
        &plugin,
        "--env",
        "pendulum",
        "--steps",
        "2000",
        "--gap-every",
        "1000",
    ]);
    assert_clear_error(&r, &["plugin ABI 1.0", "does not report", "ABI 1.1"]);
}
