//! TensorBoard event files read back by the real `tensorboard` package (installed by
//! `scripts/setup-tensorboard`; the test skips with a message without it, and fails instead
//! with `ACGAP_REQUIRE_TENSORBOARD=1`, as `.ci/run` sets).

mod common;
use common::*;
use std::path::PathBuf;
use std::process::Command;

fn tensorboard_python() -> Option<PathBuf> {
    let home = std::env::var_os("ACGAP_TENSORBOARD_HOME")
        .map(PathBuf::from)
        .or_else(|| {
            let data = std::env::var_os("XDG_DATA_HOME")
                .map(PathBuf::from)
                .or_else(|| {
                    std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".local/share"))
                })?;
            Some(data.join("acgap/tensorboard"))
        })?;
    let py = home.join("bin/python");
    let ok = Command::new(&py)
        .args(["-c", "import tensorboard"])
        .output()
        .is_ok_and(|o| o.status.success());
    ok.then_some(py)
}

/// `{run: {tag: [[step, value], ...]}}` of every event file under `dir`, as TensorBoard reads it.
fn read_back(py: &PathBuf, dir: &std::path::Path) -> serde_json::Value {
    const SCRIPT: &str = r#"
import json, sys
from tensorboard.backend.event_processing.event_multiplexer import EventMultiplexer
m = EventMultiplexer()
m.AddRunsFromDirectory(sys.argv[1])
m.Reload()
print(json.dumps({run: {t: [[e.step, e.value] for e in m.Scalars(run, t)] for t in tags["scalars"]}
                  for run, tags in m.Runs().items()}))
"#;
    let out = Command::new(py)
        .args(["-c", SCRIPT])
        .arg(dir)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

#[test]
fn event_files_read_back_with_tensorboard() {
    let Some(py) = tensorboard_python() else {
        assert!(
            std::env::var_os("ACGAP_REQUIRE_TENSORBOARD").is_none(),
            "ACGAP_REQUIRE_TENSORBOARD is set but the tensorboard package is missing: run scripts/setup-tensorboard"
        );
        eprintln!(
            "skipped: the tensorboard Python package is not installed (scripts/setup-tensorboard)"
        );
        return;
    };
    let out = tempdir::Dir::new();
    let session = out.path().join("s");
    let r = Command::new(host_bin())
        .args([
            "--plugin",
            "sac",
            "--plugin",
            "sac:schedule=2-0,label=SAC-2-0",
            "--seeds",
            "1",
            "--env",
            "pendulum",
            "--steps",
            "1200",
            "--eval-every",
            "400",
            "--eval-episodes",
            "2",
            "--log-every",
            "400",
            "--gap-every",
            "600",
            "--set",
            "learning_starts=300",
            "--set",
            "hidden=[32,32]",
            "--quiet",
            "--out",
        ])
        .arg(&session)
        .env("ACGAP_PLUGIN_PATH", workspace_plugins())
        .output()
        .unwrap();
    assert!(r.status.success(), "{}", String::from_utf8_lossy(&r.stderr));
    let runs = read_back(&py, &session);
    // One TensorBoard run per (label, seed).
    let names: Vec<&String> = runs.as_object().unwrap().keys().collect();
    assert_eq!(names.len(), 2, "{names:?}");
    let run = &runs["sac/seed-0"];
    let eval: Vec<Vec<f64>> = serde_json::from_value(run["eval/mean_return"].clone()).unwrap();
    let csv = read(&session.join("sac/seed-0/eval.csv"));
    let rows: Vec<Vec<f64>> = csv
        .lines()
        .skip(1)
        .map(|l| l.split(',').take(2).map(|c| c.parse().unwrap()).collect())
        .collect();
    assert_eq!(eval.len(), rows.len());
    for (e, r) in eval.iter().zip(&rows) {
        assert_eq!(e[0], r[0], "step");
        assert!(
            (e[1] - r[1]).abs() <= 1e-6 * r[1].abs().max(1.0),
            "{e:?} vs {r:?}"
        );
    }
    let episodes = read(&session.join("sac/seed-0/episodes.csv"))
        .lines()
        .count()
        - 1;
    assert_eq!(run["episode/return"].as_array().unwrap().len(), episodes);
    for tag in ["train/critic_loss", "gap/q/bias_mean"] {
        assert!(
            run[tag].as_array().is_some_and(|v| !v.is_empty()),
            "no {tag}: {run}"
        );
    }
}
