//! MuJoCo tasks end to end: exact resume, gap diagnostics on a task that terminates early,
//! and every bad input the MuJoCo setup can meet. Without MuJoCo set up each test skips with
//! a message (`.ci/run` sets ACGAP_REQUIRE_MUJOCO=1, so there they cannot skip); the tests of
//! a missing setup run everywhere.

mod common;
use acgap_envs::mujoco::{Task, available_for_tests, model_file};
use common::*;
use std::process::Command;

/// SAC at a small size on a MuJoCo task, checkpointing every 300 steps.
fn short_sac(env: &str, steps: &str) -> Vec<String> {
    sac_args(env, steps, &["--set", "hidden=[32,32]"])
}

#[test]
fn kill_9_and_resume_reproduce_an_uninterrupted_halfcheetah_run() {
    if !available_for_tests("kill_9_and_resume_reproduce_an_uninterrupted_halfcheetah_run") {
        return;
    }
    let args = short_sac("halfcheetah", "1200");
    let reference = run_ok(&args);
    let (_runs, dir) = kill_at_first_checkpoint(&args, "halfcheetah/sac");
    assert!(resume_ok(&dir).contains("resuming at step 300"));
    let want = reference.run_dir();
    for f in ["eval.csv", "episodes.csv", "train.csv"] {
        let cut = |d: &std::path::Path| {
            // train.csv's last column is the wall-clock update rate.
            read(&d.join(f))
                .lines()
                .map(|l| match f {
                    "train.csv" => l.rsplit_once(',').map_or(l, |(a, _)| a).to_string(),
                    _ => l.to_string(),
                })
                .collect::<Vec<_>>()
        };
        assert_eq!(
            cut(&dir),
            cut(&want),
            "{f} differs after kill -9 and resume"
        );
    }
    assert_eq!(metrics_without_timing(&dir), metrics_without_timing(&want));
    assert_eq!(status(&dir)["state"], "finished");
}

#[test]
fn gap_diagnostics_run_on_hopper_whose_episodes_end_early() {
    if !available_for_tests("gap_diagnostics_run_on_hopper_whose_episodes_end_early") {
        return;
    }
    let mut args = short_sac("hopper", "900");
    args.extend(
        [
            "--gap-every",
            "300",
            "--gap-pairs",
            "4",
            "--gap-rollouts",
            "2",
            "--gap-horizon",
            "200",
        ]
        .map(String::from),
    );
    let r = run_ok(&args);
    let dir = r.run_dir();
    let episodes = read(&dir.join("episodes.csv"));
    // Random and early policies fall within a few dozen steps: episodes end by termination.
    assert!(
        episodes
            .lines()
            .skip(1)
            .any(|l| l.split(',').nth(2).unwrap().parse::<usize>().unwrap() < 1000),
        "no early termination:\n{episodes}"
    );
    let gap = read(&dir.join("gap.csv"));
    assert!(gap.lines().count() > 1, "no gap rows:\n{gap}");
    assert!(!gap.contains("NaN") && !gap.contains("inf"), "{gap}");
    assert!(dir.join("gap.svg").is_file());
}

/// `host` with MuJoCo looked for in `home`.
fn host_with_home(home: &std::path::Path, args: &[&str]) -> Run {
    let runs = tempdir::Dir::new();
    let out = Command::new(host_bin())
        .args(args)
        .args(["--quiet", "--runs", runs.path().to_str().unwrap()])
        .env("ACGAP_PLUGIN_PATH", workspace_plugins())
        .env("ACGAP_MUJOCO_HOME", home)
        .output()
        .unwrap();
    Run { out, runs }
}

#[test]
fn a_mujoco_task_without_mujoco_names_the_setup_command() {
    let home = tempdir::Dir::new();
    let r = host_with_home(
        home.path(),
        &["--plugin", "sac", "--env", "hopper", "--steps", "10"],
    );
    assert_clear_error(
        &r,
        &["hopper", "MuJoCo is not set up", "scripts/setup-mujoco"],
    );
    let out = Command::new(host_bin())
        .arg("envs")
        .env("ACGAP_MUJOCO_HOME", home.path())
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("not available") && text.contains("scripts/setup-mujoco"),
        "{text}"
    );
}

#[test]
fn a_session_needing_mujoco_fails_before_any_run_starts() {
    let home = tempdir::Dir::new();
    let r = host_with_home(
        home.path(),
        &[
            "--plugin", "sac", "--plugin", "ressac", "--env", "reacher", "--steps", "10",
        ],
    );
    assert_clear_error(&r, &["reacher", "scripts/setup-mujoco"]);
    let made: Vec<_> = files_under(r.runs.path())
        .into_iter()
        .filter(|p| p.ends_with("run.json"))
        .collect();
    assert!(made.is_empty(), "runs were started: {made:?}");
}

#[test]
fn a_wrong_mujoco_version_is_named() {
    let home = tempdir::Dir::new();
    std::fs::write(
        home.path().join("mujoco.json"),
        r#"{"mujoco": "2.2.2", "gymnasium": "1.4.0", "adaptor": "/x", "assets": "/y"}"#,
    )
    .unwrap();
    let r = host_with_home(
        home.path(),
        &["--plugin", "sac", "--env", "halfcheetah", "--steps", "10"],
    );
    assert_clear_error(
        &r,
        &[
            "MuJoCo 2.2.2",
            "needs MuJoCo 3.17.0",
            "scripts/setup-mujoco",
        ],
    );
}

#[test]
fn a_missing_or_broken_model_file_is_named() {
    if !available_for_tests("a_missing_or_broken_model_file_is_named") {
        return;
    }
    let r = host(&[
        "--plugin",
        "sac",
        "--env",
        "hopper:xml=/nonexistent/hopper.xml",
        "--steps",
        "10",
    ]);
    assert_clear_error(&r, &["/nonexistent/hopper.xml", "does not exist"]);
    let dir = tempdir::Dir::new();
    let broken = dir.path().join("broken.xml");
    std::fs::write(
        &broken,
        "<mujoco><worldbody><body><geom type='nonsense'/></body></mujoco>",
    )
    .unwrap();
    let env = format!("hopper:xml={}", broken.display());
    let r = host(&["--plugin", "sac", "--env", &env, "--steps", "10"]);
    assert_clear_error(&r, &["MuJoCo cannot load", "broken.xml"]);
    // Another task's model is refused, whichever pair: by its sizes, or (HalfCheetah and
    // Walker2d, which share them) by its bodies.
    for task in Task::ALL {
        for other in Task::ALL.into_iter().filter(|o| *o != task) {
            let model = model_file(other).unwrap();
            let env = format!("{}:xml={}", task.ids().0, model.display());
            let r = host(&["--plugin", "sac", "--env", &env, "--steps", "10"]);
            assert_clear_error(&r, &[&format!("is not a {} model", task.ids().1)]);
            assert!(
                run_dirs(r.runs.path()).is_empty(),
                "{env}: a run folder was made"
            );
        }
        // Its own model, given explicitly, is accepted.
        let env = format!(
            "{}:xml={}",
            task.ids().0,
            model_file(task).unwrap().display()
        );
        let r = host(&["--plugin", "sac", "--env", &env, "--steps", "10"]);
        assert!(r.out.status.success(), "{env}: {}", r.stderr());
    }
}

/// HalfCheetah with a time step 100x too large: MuJoCo's accelerations blow up.
fn exploding_cheetah(dir: &std::path::Path) -> String {
    let xml = read(&model_file(Task::HalfCheetah).unwrap());
    let assert_has = |s: &str| assert!(xml.contains(s), "half_cheetah.xml changed: no `{s}`");
    assert_has("timestep=\"0.01\"");
    let path = dir.join("exploding_cheetah.xml");
    std::fs::write(&path, xml.replace("timestep=\"0.01\"", "timestep=\"1.0\"")).unwrap();
    format!("halfcheetah:xml={}", path.display())
}

#[test]
fn physics_that_blow_up_mark_runs_diverged_alone_and_in_a_session() {
    if !available_for_tests("physics_that_blow_up_mark_runs_diverged_alone_and_in_a_session") {
        return;
    }
    let dir = tempdir::Dir::new();
    let env = exploding_cheetah(dir.path());
    let r = host(&[
        "--plugin",
        "sac",
        "--env",
        &env,
        "--steps",
        "300",
        "--set",
        "learning_starts=100",
        "--set",
        "batch_size=32",
    ]);
    assert_clear_error(&r, &["diverged", "physics blew up", "HalfCheetah-v5"]);
    assert_eq!(status(&r.run_dir())["state"], "diverged");

    // In a session each exploding run is marked, the session completes its report and
    // exits naming the runs.
    let out = dir.path().join("session");
    let o = Command::new(host_bin())
        .args([
            "--plugin", "sac", "--env", &env, "--seeds", "2", "--steps", "300",
        ])
        .args([
            "--set",
            "learning_starts=100",
            "--set",
            "batch_size=32",
            "--quiet",
        ])
        .args(["--out", out.to_str().unwrap()])
        .env("ACGAP_PLUGIN_PATH", workspace_plugins())
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(!err.contains("panicked"), "{err}");
    for seed in 0..2 {
        assert_eq!(
            status(&out.join(format!("sac/seed-{seed}")))["state"],
            "diverged"
        );
    }
    assert!(out.join("summary.md").is_file());
}

#[test]
fn a_nan_action_on_a_mujoco_task_marks_the_run_diverged() {
    if !available_for_tests("a_nan_action_on_a_mujoco_task_marks_the_run_diverged") {
        return;
    }
    let plugin = format!("{}@nan-action", fixtures().normal.display());
    let r = host(&["--plugin", &plugin, "--env", "hopper", "--steps", "100"]);
    assert_clear_error(&r, &["non-finite action"]);
    assert_eq!(status(&r.run_dir())["state"], "diverged");
}
