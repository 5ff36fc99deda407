//! Helpers for the host's end-to-end tests: build the plugins, run `host`, read run dirs.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;

pub fn host_bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_host"))
}

pub fn release_dir() -> PathBuf {
    host_bin().parent().unwrap().to_path_buf()
}

pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

fn cargo(args: &[&str], dir: &Path, envs: &[(&str, &str)]) {
    let mut cmd = Command::new(env!("CARGO"));
    cmd.args(args).current_dir(dir);
    for (k, v) in envs {
        cmd.env(k, v);
    }
    let out = cmd.output().expect("cargo runs");
    assert!(
        out.status.success(),
        "cargo {args:?} failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The workspace's plugins next to the host binary (`cargo test` does not
/// build cdylibs of other packages by itself).
pub fn workspace_plugins() -> &'static Path {
    static BUILT: OnceLock<PathBuf> = OnceLock::new();
    BUILT.get_or_init(|| {
        let profile = if release_dir().ends_with("release") {
            "--release"
        } else {
            "--profile=dev"
        };
        // Every library of the workspace: the plugins and the example correction.
        cargo(
            &["build", profile, "--workspace", "--lib"],
            &workspace_root(),
            &[],
        );
        release_dir()
    })
}

/// The misbehaving fixture plugin in four builds: normal, `panic = "abort"`, and two that
/// claim ABI versions this host cannot serve. Returns their paths.
pub struct Fixtures {
    pub normal: PathBuf,
    pub abort: PathBuf,
    /// Claims plugin ABI 0.9 (another major version).
    pub other_major: PathBuf,
    /// Claims plugin ABI 1.99 (newer than the host).
    pub newer_abi: PathBuf,
}

pub fn fixtures() -> &'static Fixtures {
    static BUILT: OnceLock<Fixtures> = OnceLock::new();
    BUILT.get_or_init(|| {
        let root = workspace_root();
        let dir = root.join("host/tests/fixture-plugin");
        let target = root.join("target/fixture-plugin");
        let target_s = target.to_str().unwrap();
        let lib = target.join("release/libfixture.so");
        let keep = |name: &str| {
            let to = target.join(name);
            std::fs::copy(&lib, &to).unwrap();
            to
        };
        let build = |extra: &[&str], envs: &[(&str, &str)]| {
            let mut args = vec!["rustc", "--release", "--lib", "--target-dir", target_s];
            args.extend_from_slice(extra);
            cargo(&args, &dir, envs);
        };
        build(&[], &[]);
        let normal = keep("libfixture_normal.so");
        build(&["--", "-C", "panic=abort"], &[]);
        let abort = keep("libfixture_abort.so");
        build(&[], &[("ACGAP_TEST_ABI_VERSION", "0.9")]);
        let other_major = keep("libfixture_abi_0_9.so");
        build(&[], &[("ACGAP_TEST_ABI_VERSION", "1.99")]);
        let newer_abi = keep("libfixture_abi_1_99.so");
        Fixtures {
            normal,
            abort,
            other_major,
            newer_abi,
        }
    })
}

pub struct Run {
    pub out: Output,
    pub runs: tempdir::Dir,
}

impl Run {
    pub fn stderr(&self) -> String {
        String::from_utf8_lossy(&self.out.stderr).into_owned()
    }
    pub fn stdout(&self) -> String {
        String::from_utf8_lossy(&self.out.stdout).into_owned()
    }
    /// The one run directory under the runs folder.
    pub fn run_dir(&self) -> PathBuf {
        find_run_dir(self.runs.path())
    }
}

/// Every run folder (one holding `run.json`) under `root`.
pub fn run_dirs(root: &Path) -> Vec<PathBuf> {
    let mut found = Vec::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(d) = stack.pop() {
        if d.join("run.json").is_file() {
            found.push(d);
            continue;
        }
        for e in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            if e.path().is_dir() {
                stack.push(e.path());
            }
        }
    }
    found
}

/// The one run folder under `root`.
pub fn find_run_dir(root: &Path) -> PathBuf {
    let mut found = run_dirs(root);
    assert_eq!(
        found.len(),
        1,
        "expected one run directory under {}, found {found:?}",
        root.display()
    );
    found.pop().unwrap()
}

/// Every file and folder under `dir`.
pub fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let p = e.path();
        if p.is_dir() {
            out.extend(files_under(&p));
        }
        out.push(p);
    }
    out
}

/// Run `host` with `args` in a fresh runs folder, quietly.
pub fn host(args: &[&str]) -> Run {
    let runs = tempdir::Dir::new();
    let out = Command::new(host_bin())
        .args(args)
        .args(["--quiet", "--runs", runs.path().to_str().unwrap()])
        .env("ACGAP_PLUGIN_PATH", workspace_plugins())
        .output()
        .expect("host runs");
    Run { out, runs }
}

/// A failed run's message must be one clear paragraph: no panic trace, non-zero exit.
pub fn assert_clear_error(run: &Run, needles: &[&str]) {
    let err = run.stderr();
    assert!(
        !run.out.status.success(),
        "expected failure, got success; stderr:\n{err}"
    );
    assert!(err.contains("error: "), "no error line:\n{err}");
    assert!(
        !err.contains("stack backtrace")
            && !err.contains("RUST_BACKTRACE")
            && !err.contains("thread '"),
        "panic trace leaked:\n{err}"
    );
    for n in needles {
        assert!(err.contains(n), "stderr lacks {n:?}:\n{err}");
    }
}

/// Start `host args` in a fresh runs folder and SIGKILL it as soon as the first checkpoint
/// appears under `<runs>/<parent>/`; returns the runs folder and the interrupted run's directory
/// (asserted to be still `running`).
pub fn kill_at_first_checkpoint(args: &[String], parent: &str) -> (tempdir::Dir, PathBuf) {
    let runs = tempdir::Dir::new();
    let mut child = Command::new(host_bin())
        .args(args)
        .args(["--quiet", "--runs", runs.path().to_str().unwrap()])
        .env("ACGAP_PLUGIN_PATH", workspace_plugins())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let start = std::time::Instant::now();
    let dir = loop {
        let found = std::fs::read_dir(runs.path().join(parent))
            .into_iter()
            .flatten()
            .flatten()
            .map(|e| e.path())
            .find(|d| d.join("checkpoints/latest/host.json").is_file());
        if let Some(d) = found {
            break d;
        }
        assert!(start.elapsed().as_secs() < 120, "no checkpoint appeared");
        std::thread::sleep(std::time::Duration::from_millis(2));
    };
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    assert_eq!(
        status(&dir)["state"],
        "running",
        "the run must have been interrupted mid-way"
    );
    (runs, dir)
}

/// `host --resume dir`, which must succeed; returns its stderr.
pub fn resume_ok(dir: &Path) -> String {
    let out = Command::new(host_bin())
        .args(["--resume", dir.to_str().unwrap(), "--quiet"])
        .env("ACGAP_PLUGIN_PATH", workspace_plugins())
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "resume failed:\n{err}");
    err
}

/// A short SAC run (seed 3, small batches, evaluation and checkpoints every 300 steps).
pub fn sac_args(env: &str, steps: &str, extra: &[&str]) -> Vec<String> {
    let mut a: Vec<String> = [
        "--plugin", "sac", "--env", env, "--steps", steps, "--seed", "3",
    ]
    .into_iter()
    .chain(["--set", "learning_starts=150", "--set", "batch_size=32"])
    .chain([
        "--eval-every",
        "300",
        "--eval-episodes",
        "2",
        "--log-every",
        "100",
        "--checkpoint-every",
        "300",
    ])
    .map(String::from)
    .collect();
    a.extend(extra.iter().map(|s| s.to_string()));
    a
}

pub fn run_ok(args: &[String]) -> Run {
    let refs: Vec<&str> = args.iter().map(String::as_str).collect();
    let r = host(&refs);
    assert!(r.out.status.success(), "host failed:\n{}", r.stderr());
    r
}

/// `metrics.jsonl` without wall-clock fields, which legitimately differ between runs.
pub fn metrics_without_timing(dir: &Path) -> Vec<serde_json::Value> {
    read(&dir.join("metrics.jsonl"))
        .lines()
        .map(|l| {
            let mut v: serde_json::Value = serde_json::from_str(l).unwrap();
            v.as_object_mut()
                .unwrap()
                .retain(|k, _| !k.starts_with("time/"));
            v
        })
        .collect()
}

pub fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()))
}

/// A session's `summary.csv` without its wall-clock columns (the last two).
pub fn summary_without_timing(dir: &Path) -> Vec<String> {
    read(&dir.join("summary.csv"))
        .lines()
        .map(|l| {
            let cells: Vec<&str> = l.split(',').collect();
            cells[..cells.len() - 2].join(",")
        })
        .collect()
}

/// The mean return of a run's last evaluation (`eval.csv`).
pub fn last_eval_mean(run_dir: &Path) -> f64 {
    let text = read(&run_dir.join("eval.csv"));
    let last = text.lines().last().expect("eval.csv has rows");
    last.split(',')
        .nth(1)
        .and_then(|m| m.parse().ok())
        .expect("a mean")
}

pub fn status(dir: &Path) -> serde_json::Value {
    serde_json::from_str(&read(&dir.join("status.json"))).unwrap()
}

/// A temporary folder removed on drop (no extra dependency for tests).
pub mod tempdir {
    use std::path::{Path, PathBuf};
    use std::sync::atomic::{AtomicUsize, Ordering};

    pub struct Dir(PathBuf);

    impl Dir {
        pub fn new() -> Self {
            static N: AtomicUsize = AtomicUsize::new(0);
            let p = std::env::temp_dir().join(format!(
                "acgap-test-{}-{}",
                std::process::id(),
                N.fetch_add(1, Ordering::SeqCst)
            ));
            std::fs::create_dir_all(&p).unwrap();
            Dir(p)
        }
        pub fn path(&self) -> &Path {
            &self.0
        }
    }

    impl Default for Dir {
        fn default() -> Self {
            Self::new()
        }
    }

    impl Drop for Dir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
}

/// `o` exited with code 2 (a refusal, not a panic) and its stderr names every needle.
pub fn assert_refused(o: &std::process::Output, needles: &[&str]) {
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "expected exit 2:\n{err}");
    assert!(!err.contains("panicked"), "{err}");
    for n in needles {
        assert!(err.contains(n), "missing `{n}` in:\n{err}");
    }
}
