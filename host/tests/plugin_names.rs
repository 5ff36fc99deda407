//! The ways a user names a plugin, each run as a user would: from a folder outside the
//! repository, with no `ACGAP_PLUGIN_PATH`, so the lookup itself is what is tested.

mod common;
use common::*;
use std::path::Path;
use std::process::{Command, Output};

/// A few hundred SAC steps: enough to load, attach a correction, update and evaluate.
const SHORT: [&str; 10] = [
    "--env",
    "pendulum",
    "--steps",
    "300",
    "--set",
    "learning_starts=100",
    "--set",
    "batch_size=32",
    "--eval-episodes",
    "1",
];

/// `program args` run in `cwd`, writing runs to `runs`, with no plugin search path set.
fn run_in(cwd: &Path, program: &Path, args: &[&str], runs: &Path) -> Output {
    workspace_plugins();
    Command::new(program)
        .current_dir(cwd)
        .args(args)
        .args(["--quiet", "--runs", runs.to_str().unwrap()])
        .env_remove("ACGAP_PLUGIN_PATH")
        .output()
        .expect("host runs")
}

/// The run finished and recorded an absolute, canonical path of `file` as what it loaded.
fn assert_trained(out: &Output, runs: &Path, file: &str, key: &str) {
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let dir = find_run_dir(runs);
    assert_eq!(status(&dir)["state"], "finished");
    let run: serde_json::Value = serde_json::from_str(&read(&dir.join("run.json"))).unwrap();
    let loaded = Path::new(run[key].as_str().expect("a recorded plugin path"));
    assert!(
        loaded.is_absolute(),
        "{key} {} is relative",
        loaded.display()
    );
    assert_eq!(
        loaded,
        loaded.canonicalize().unwrap(),
        "{key} not canonical"
    );
    assert!(loaded.ends_with(file), "{key} {}", loaded.display());
}

fn outside() -> tempdir::Dir {
    tempdir::Dir::new()
}

#[test]
fn a_bare_file_name_is_found_next_to_the_host() {
    let cwd = outside();
    let runs = cwd.path().join("runs");
    let mut args = vec!["--plugin", "libressac.so"];
    args.extend(SHORT);
    let out = run_in(cwd.path(), &host_bin(), &args, &runs);
    assert_trained(&out, &runs, "libressac.so", "plugin_path");
}

#[test]
fn a_file_name_with_a_component() {
    let cwd = outside();
    let runs = cwd.path().join("runs");
    let mut args = vec!["--plugin", "libressac.so@ressac"];
    args.extend(SHORT);
    let out = run_in(cwd.path(), &host_bin(), &args, &runs);
    assert_trained(&out, &runs, "libressac.so", "plugin_path");
}

#[test]
fn a_correction_by_file_name_and_component() {
    let cwd = outside();
    let runs = cwd.path().join("runs");
    let mut args = vec![
        "--plugin",
        "sac",
        "--correction",
        "libressac.so@residual",
        "--schedule",
        "1-1",
    ];
    args.extend(SHORT);
    let out = run_in(cwd.path(), &host_bin(), &args, &runs);
    assert_trained(&out, &runs, "libsac.so", "plugin_path");
    let run: serde_json::Value =
        serde_json::from_str(&read(&find_run_dir(&runs).join("run.json"))).unwrap();
    let loaded = run["correction"]["plugin_path"].as_str().unwrap();
    assert!(
        Path::new(loaded).is_absolute() && loaded.ends_with("libressac.so"),
        "{loaded}"
    );
}

#[test]
fn a_relative_path_and_a_file_in_the_working_directory() {
    let root = outside();
    let x = root.path().join("x");
    let y = root.path().join("y");
    std::fs::create_dir_all(&x).unwrap();
    std::fs::create_dir_all(&y).unwrap();
    std::fs::copy(release_dir().join("libressac.so"), x.join("libressac.so")).unwrap();
    let runs = root.path().join("runs");
    let mut args = vec!["--plugin", "../x/libressac.so"];
    args.extend(SHORT);
    let out = run_in(&y, &host_bin(), &args, &runs);
    assert_trained(&out, &runs, "x/libressac.so", "plugin_path");

    // The working directory comes first: the copy in x/ wins over the one next to the host.
    let runs = root.path().join("runs2");
    let mut args = vec!["--plugin", "libressac.so"];
    args.extend(SHORT);
    let out = run_in(&x, &host_bin(), &args, &runs);
    assert_trained(&out, &runs, "x/libressac.so", "plugin_path");
}

#[test]
fn the_users_command_from_the_release_folder() {
    let runs = outside();
    let mut args = vec!["--plugin", "libressac.so"];
    args.extend(SHORT);
    let out = run_in(&release_dir(), Path::new("./host"), &args, runs.path());
    assert_trained(&out, runs.path(), "libressac.so", "plugin_path");
}

#[test]
fn a_session_file_naming_plugins_by_file_name() {
    let cwd = outside();
    let file = cwd.path().join("names.json");
    std::fs::write(
        &file,
        r#"{
  "name": "names",
  "seeds": 1,
  "settings": {"env": "pendulum", "steps": 300, "eval_every": 300, "eval_episodes": 1},
  "plugins": [
    {"plugin": "libressac.so", "label": "Res-SAC", "set": {"learning_starts": 100, "batch_size": 32}},
    {"plugin": "libsac.so@sac", "label": "SAC+residual", "correction": "libressac.so@residual",
     "set": {"learning_starts": 100, "batch_size": 32, "schedule": "1-1"}}
  ]
}"#,
    )
    .unwrap();
    workspace_plugins();
    let out = Command::new(host_bin())
        .current_dir(cwd.path())
        .args(["session", "names.json", "--quiet", "--out", "out"])
        .env_remove("ACGAP_PLUGIN_PATH")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for label in ["Res-SAC", "SAC+residual"] {
        let dir = cwd.path().join("out").join(label).join("seed-0");
        assert_eq!(status(&dir)["state"], "finished", "{label}");
    }
}

#[test]
fn a_file_name_found_nowhere_lists_where_it_looked() {
    let cwd = outside();
    let runs = cwd.path().join("runs");
    let out = run_in(
        cwd.path(),
        &host_bin(),
        &["--plugin", "libnothing.so", "--steps", "10"],
        &runs,
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("no plugin file `libnothing.so`"), "{err}");
    // Every search folder is named: the working directory, next to the host, target/release.
    assert!(err.contains(&cwd.path().display().to_string()), "{err}");
    assert!(err.contains(&release_dir().display().to_string()), "{err}");
    assert!(err.contains("target/release"), "{err}");
}

#[test]
fn a_directory_or_a_symlink_loop_is_not_a_missing_file() {
    let cwd = outside();
    let runs = cwd.path().join("runs");
    let dir = cwd.path().join("libdir.so");
    std::fs::create_dir(&dir).unwrap();
    let out = run_in(
        cwd.path(),
        &host_bin(),
        &["--plugin", "./libdir.so", "--steps", "10"],
        &runs,
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("is a directory"), "{err}");
    let a = cwd.path().join("liba.so");
    let b = cwd.path().join("libb.so");
    std::os::unix::fs::symlink(&b, &a).unwrap();
    std::os::unix::fs::symlink(&a, &b).unwrap();
    let out = run_in(
        cwd.path(),
        &host_bin(),
        &["--plugin", "./liba.so", "--steps", "10"],
        &runs,
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains("not a file") && err.contains("symbolic links"),
        "{err}"
    );
}

#[test]
fn a_library_shadowing_a_bare_name_is_named_and_inspect_checks_the_component() {
    let cwd = tempdir::Dir::new();
    let runs = tempdir::Dir::new();
    // A `libsac.so` in the working directory that is really Res-SAC.
    std::fs::copy(
        workspace_plugins().join("libressac.so"),
        cwd.path().join("libsac.so"),
    )
    .unwrap();
    let mut args = vec!["--plugin", "sac"];
    args.extend(SHORT);
    let out = run_in(cwd.path(), &host_bin(), &args, runs.path());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    assert!(
        err.contains("plugin `sac` was found as") && err.contains("built from crate `ressac`"),
        "{err}"
    );
    // The real one says nothing.
    let mut args = vec!["--plugin", "ressac"];
    args.extend(SHORT);
    let out = run_in(cwd.path(), &host_bin(), &args, runs.path());
    assert!(out.status.success());
    assert!(!String::from_utf8_lossy(&out.stderr).contains("note:"));
    // `inspect lib@component` shows that component, and refuses one the plugin lacks.
    let inspect = |spec: &str| {
        Command::new(host_bin())
            .args(["inspect", spec])
            .env("ACGAP_PLUGIN_PATH", workspace_plugins())
            .output()
            .unwrap()
    };
    let out = inspect("ressac@residual");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && text.contains("`residual`"),
        "{text}"
    );
    let out = inspect("sac@nosuch");
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("no component `nosuch`") && err.contains("it has: sac"),
        "{err}"
    );
}
