//! Comparison sessions end to end: the grid, the report, fault tolerance, kill -9 and
//! `--resume`, session files, shards merged by `host report`, and their bad inputs.

mod common;
use common::*;
use std::path::Path;
use std::process::{Command, Output};
use std::time::{Duration, Instant};

/// Small, fast SAC overrides (for every plugin of a session) and run settings.
const SAC_SETS: &[&str] = &[
    "--set",
    "learning_starts=300",
    "--set",
    "batch_size=32",
    "--set",
    "hidden=[32,32]",
];
const SMALL: &[&str] = &[
    "--env",
    "pendulum",
    "--eval-every",
    "300",
    "--eval-episodes",
    "2",
    "--log-every",
    "300",
    "--checkpoint-every",
    "300",
];

fn host_raw(args: &[&str]) -> Output {
    Command::new(host_bin())
        .args(args)
        .env("ACGAP_PLUGIN_PATH", workspace_plugins())
        .output()
        .expect("host runs")
}

fn session(out: &Path, plugins: &[&str], extra: &[&str]) -> Output {
    let mut args: Vec<&str> = Vec::new();
    for p in plugins {
        args.extend(["--plugin", p]);
    }
    args.extend(SMALL);
    args.extend(SAC_SETS);
    args.extend(extra);
    args.extend(["--out", out.to_str().unwrap(), "--quiet"]);
    host_raw(&args)
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn assert_ok(o: &Output) {
    assert!(o.status.success(), "host failed:\n{}", stderr(o));
}

/// Two rows of one agent that differ in their schedule and in one other setting (`tau`).
const TWO: &[&str] = &["sac", "sac:schedule=2-0,tau=0.01,label=SAC-2-0"];

#[test]
fn a_session_runs_the_grid_and_writes_the_report() {
    let dir = tempdir::Dir::new();
    let out = dir.path().join("s");
    let o = session(
        &out,
        TWO,
        &["--seeds", "2", "--jobs", "2", "--threshold", "-1500"],
    );
    assert_ok(&o);
    for label in ["sac", "SAC-2-0"] {
        for seed in [0, 1] {
            let run = out.join(format!("{label}/seed-{seed}"));
            assert_eq!(status(&run)["state"], "finished", "{}", run.display());
        }
    }
    // The same seed index gives every plugin the same env and warm-up actions: the first
    // episode (all 200 steps before learning starts) is identical across plugins.
    let first_episode = |label: &str, seed: u64| {
        read(&out.join(format!("{label}/seed-{seed}/episodes.csv")))
            .lines()
            .nth(1)
            .unwrap()
            .to_string()
    };
    assert_eq!(first_episode("sac", 0), first_episode("SAC-2-0", 0));
    assert_ne!(first_episode("sac", 0), first_episode("sac", 1));
    // Speed is counted in iterations: SAC-2-0 makes 3 update calls per iteration, SAC-1-0 two,
    // over the same number of iterations.
    let counts = |label: &str| {
        let s = status(&out.join(format!("{label}/seed-0")));
        (
            s["updates"].as_u64().unwrap(),
            s["iterations"].as_u64().unwrap(),
        )
    };
    let ((u1, i1), (u2, i2)) = (counts("sac"), counts("SAC-2-0"));
    assert!(i1 > 0 && i1 == i2, "{i1} vs {i2}");
    assert_eq!((u1, u2), (2 * i1, 3 * i2));

    let csv = read(&out.join("summary.csv"));
    let rows: Vec<&str> = csv.lines().collect();
    assert_eq!(rows.len(), 3, "{csv}");
    assert!(rows[0].starts_with("label,planned,finished,final_mean"));
    assert!(rows[0].ends_with(",wall_secs_mean,iterations_per_sec_mean"));
    assert!(rows[1].starts_with("sac,2,2,") && rows[2].starts_with("SAC-2-0,2,2,"));
    // The final mean in the summary is the mean of the runs' last evaluations.
    let last_eval = |seed: u64| last_eval_mean(&out.join(format!("sac/seed-{seed}")));
    let mean: f64 = rows[1].split(',').nth(3).unwrap().parse().unwrap();
    assert!((mean - (last_eval(0) + last_eval(1)) / 2.0).abs() < 1e-9);

    let md = read(&out.join("summary.md"));
    for needle in [
        "IQM [95% CI]",
        "Probability of improvement",
        "steps to -1500",
        "| SAC-2-0 |",
        // Two seeds: the report says its intervals cannot support a claim.
        "**Fewer than 5 runs:** sac (n = 2), SAC-2-0 (n = 2)",
        // What each row ran, from session.json: the schedule, and the other settings that
        // tell the rows apart.
        "| sac | `sac` from `sac` | schedule 1-0, env_steps_per_iter 1 | tau 0.005 | none |",
        "| SAC-2-0 | `sac` from `sac` | schedule 2-0, env_steps_per_iter 1 | tau 0.01 | none |",
    ] {
        assert!(md.contains(needle), "summary.md lacks {needle:?}:\n{md}");
    }
    let png = std::fs::read(out.join("curves.png")).unwrap();
    assert_eq!(&png[1..4], b"PNG");
    assert!(read(&out.join("curves.svg")).contains("SAC-2-0 (n=2)"));
    // The training returns: per run, the mean return of the training episodes that ended
    // after the second-to-last evaluation (computed here from the run's own files); with two
    // runs the IQM is their mean.
    let last_window = |seed: u64| -> f64 {
        let run = out.join(format!("sac/seed-{seed}"));
        let evals: Vec<f64> = read(&run.join("eval.csv"))
            .lines()
            .skip(1)
            .map(|l| l.split(',').next().unwrap().parse().unwrap())
            .collect();
        let from = evals[evals.len() - 2];
        let to = evals[evals.len() - 1];
        let window: Vec<f64> = read(&run.join("episodes.csv"))
            .lines()
            .skip(1)
            .map(|l| {
                l.split(',')
                    .map(|c| c.parse::<f64>().unwrap())
                    .collect::<Vec<_>>()
            })
            .filter(|e| e[0] > from && e[0] <= to)
            .map(|e| e[1])
            .collect();
        window.iter().sum::<f64>() / window.len() as f64
    };
    let iqm = (last_window(0) + last_window(1)) / 2.0;
    let row = format!("| sac | 2 | {iqm:.1} [");
    assert!(
        md.contains("## Training returns") && md.contains(&row),
        "{row}\n{md}"
    );
    let png = std::fs::read(out.join("curves_training.png")).unwrap();
    assert_eq!(&png[1..4], b"PNG");
    // stdout shows the summary.
    assert!(String::from_utf8_lossy(&o.stdout).contains("| sac | 2/2 |"));

    // `host report` rewrites the same report from the run directories.
    let before = summary_without_timing(&out);
    std::fs::remove_file(out.join("summary.csv")).unwrap();
    assert_ok(&host_raw(&["report", out.to_str().unwrap()]));
    assert_eq!(summary_without_timing(&out), before);
}

#[test]
fn a_failing_run_does_not_stop_the_others_and_is_reported() {
    let dir = tempdir::Dir::new();
    let out = dir.path().join("s");
    let broken = format!("{}@panics-in-update", fixtures().normal.display());
    let mut args = vec![
        "--plugin",
        "sac:learning_starts=300,batch_size=32,hidden=[32,32]",
        "--plugin",
        &broken,
        "--seeds",
        "2",
        "--jobs",
        "2",
        "--steps",
        "900",
        "--out",
        out.to_str().unwrap(),
        "--quiet",
    ];
    args.extend(SMALL);
    let o = host_raw(&args);
    assert!(!o.status.success());
    let err = stderr(&o);
    assert!(err.contains("2 of 4 runs have no result"), "{err}");
    assert!(err.contains("FAILED"), "{err}");
    assert!(!err.contains("stack backtrace"), "{err}");
    for seed in [0, 1] {
        assert_eq!(
            status(&out.join(format!("sac/seed-{seed}")))["state"],
            "finished"
        );
        assert_eq!(
            status(&out.join(format!("panics-in-update/seed-{seed}")))["state"],
            "failed"
        );
    }
    let md = read(&out.join("summary.md"));
    assert!(md.contains("## Runs without a result"), "{md}");
    assert!(md.contains("panics-in-update seed 0: **failed**"), "{md}");
    assert!(md.contains("panicked"), "the reason is reported:\n{md}");
    assert!(read(&out.join("summary.csv")).contains("\nsac,2,2,"));
}

#[test]
fn kill_9_and_resume_give_the_report_of_an_uninterrupted_session() {
    let dir = tempdir::Dir::new();
    let extra = ["--seeds", "2", "--jobs", "2", "--steps", "3000"];
    let reference = dir.path().join("reference");
    assert_ok(&session(&reference, TWO, &extra));

    let out = dir.path().join("killed");
    let mut args: Vec<&str> = Vec::new();
    for p in TWO {
        args.extend(["--plugin", p]);
    }
    args.extend(SMALL);
    args.extend(SAC_SETS);
    args.extend(extra);
    args.extend(["--out", out.to_str().unwrap(), "--quiet"]);
    let mut child = Command::new(host_bin())
        .args(&args)
        .env("ACGAP_PLUGIN_PATH", workspace_plugins())
        .stderr(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let start = Instant::now();
    let checkpoint = out.join("sac/seed-0/checkpoints/latest/host.json");
    while !checkpoint.is_file() {
        assert!(
            start.elapsed() < Duration::from_secs(120),
            "no checkpoint appeared"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    assert!(!out.join("summary.csv").exists(), "killed before the end");
    assert_eq!(status(&out.join("sac/seed-0"))["state"], "running");

    let o = host_raw(&["--resume", out.to_str().unwrap(), "--quiet", "--jobs", "2"]);
    assert_ok(&o);
    assert_eq!(
        summary_without_timing(&out),
        summary_without_timing(&reference)
    );
    for run in [
        "sac/seed-0",
        "sac/seed-1",
        "SAC-2-0/seed-0",
        "SAC-2-0/seed-1",
    ] {
        for f in ["eval.csv", "episodes.csv"] {
            assert_eq!(
                read(&out.join(run).join(f)),
                read(&reference.join(run).join(f)),
                "{run}/{f}"
            );
        }
    }
    // Resuming a finished session runs nothing and reports the same.
    let o = host_raw(&["--resume", out.to_str().unwrap(), "--quiet"]);
    assert_ok(&o);
    assert!(
        stderr(&o).contains("4 runs here (4 already done)"),
        "{}",
        stderr(&o)
    );
}

fn write_session_file(dir: &Path, body: &str) -> std::path::PathBuf {
    let f = dir.join("spec.json");
    std::fs::write(&f, body).unwrap();
    f
}

const FILE: &str = r#"{
  "name": "small",
  "seeds": 2,
  "settings": {"env": "pendulum", "steps": 900, "eval_every": 300, "eval_episodes": 2,
               "log_every": 300, "checkpoint_every": 300},
  "plugins": [
    {"plugin": "sac", "label": "SAC-1-0",
     "set": {"learning_starts": 300, "batch_size": 32, "hidden": [32, 32]}},
    {"plugin": "sac", "label": "SAC+penalty", "correction": "actionpenalty",
     "set": {"learning_starts": 300, "batch_size": 32, "hidden": [32, 32], "schedule": "1-1"}}
  ]
}"#;

#[test]
fn shards_of_a_session_file_merge_into_the_unsharded_report() {
    let dir = tempdir::Dir::new();
    let file = write_session_file(dir.path(), FILE);
    let whole = dir.path().join("whole");
    let f = file.to_str().unwrap();
    assert_ok(&host_raw(&[
        "session",
        f,
        "--out",
        whole.to_str().unwrap(),
        "--quiet",
    ]));
    let sharded = dir.path().join("sharded");
    let s = sharded.to_str().unwrap();
    // Another shard starting at the same moment may have left only its temporary file so far.
    std::fs::create_dir_all(&sharded).unwrap();
    std::fs::write(sharded.join(".session.json.999999.tmp"), "{").unwrap();
    for shard in ["0/3", "1/3", "2/3"] {
        // A shard succeeds on its own runs; its report lists the others' as not run yet.
        assert_ok(&host_raw(&[
            "session", f, "--out", s, "--shard", shard, "--quiet",
        ]));
        if shard == "0/3" {
            let md = read(&sharded.join("summary.md"));
            assert!(md.contains("**not run**"), "{md}");
        }
    }
    assert_ok(&host_raw(&["report", s]));
    assert_eq!(
        summary_without_timing(&sharded),
        summary_without_timing(&whole)
    );
    assert!(read(&sharded.join("summary.md")).contains("| SAC+penalty | 2/2 |"));
}

#[test]
fn bad_session_inputs_get_clear_errors() {
    let dir = tempdir::Dir::new();
    let check = |o: Output, needles: &[&str]| {
        let err = stderr(&o);
        assert!(!o.status.success(), "expected failure:\n{err}");
        assert!(
            err.contains("error: ") && !err.contains("thread '"),
            "{err}"
        );
        for n in needles {
            assert!(err.contains(n), "stderr lacks {n:?}:\n{err}");
        }
    };
    let unknown = write_session_file(
        dir.path(),
        &FILE.replace("\"seeds\"", "\"seedz\": 1, \"seeds\""),
    );
    check(
        host_raw(&["session", unknown.to_str().unwrap()]),
        &["unknown field `seedz`", "spec.json"],
    );
    let nested = write_session_file(
        dir.path(),
        &FILE.replace("\"steps\"", "\"stepz\": 1, \"steps\""),
    );
    check(
        host_raw(&["session", nested.to_str().unwrap()]),
        &["unknown field `stepz`"],
    );
    let out = dir.path().join("x");
    check(
        host_raw(&[
            "--plugin",
            "sac",
            "--plugin",
            "sac:gamma=0.9",
            "--seeds",
            "2",
            "--shard",
            "3/2",
            "--out",
            out.to_str().unwrap(),
        ]),
        &["--shard 3/2", "0 <= I < N"],
    );
    check(
        host_raw(&["--plugin", "sac", "--seeds", "2", "--shard", "0/2"]),
        &["`--shard` needs `--out DIR`"],
    );
    check(
        host_raw(&["report", dir.path().to_str().unwrap()]),
        &["is not a session directory"],
    );
    // Another session into an existing session directory is refused, and nothing there is touched.
    let file = write_session_file(dir.path(), FILE);
    let s = dir.path().join("s");
    let shard = host_raw(&[
        "session",
        file.to_str().unwrap(),
        "--out",
        s.to_str().unwrap(),
        "--shard",
        "0/4",
        "--quiet",
    ]);
    assert!(s.join("session.json").is_file(), "{}", stderr(&shard));
    let before = read(&s.join("session.json"));
    check(
        host_raw(&[
            "--plugin",
            "sac",
            "--seeds",
            "1",
            "--out",
            s.to_str().unwrap(),
        ]),
        &["already holds a different session", "--resume"],
    );
    assert_eq!(read(&s.join("session.json")), before);
    // A per-plugin override with an unknown key names it before anything runs.
    check(
        host_raw(&[
            "--plugin",
            "sac",
            "--plugin",
            "sac:gama=0.9",
            "--out",
            out.to_str().unwrap(),
        ]),
        &["`gama`"],
    );
    assert!(!out.exists());
}

#[test]
fn session_runs_draw_the_gap_plot_when_diagnostics_run() {
    let dir = tempdir::Dir::new();
    let out = dir.path().join("s");
    let o = host_raw(&[
        "--plugin",
        "sac",
        "--seeds",
        "1",
        "--env",
        "pendulum",
        "--steps",
        "600",
        "--set",
        "learning_starts=200",
        "--set",
        "batch_size=32",
        "--eval-episodes",
        "1",
        "--gap-every",
        "300",
        "--gap-pairs",
        "2",
        "--gap-rollouts",
        "2",
        "--quiet",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert_ok(&o);
    assert!(out.join("sac/seed-0/gap.svg").is_file());
}

/// A list in a session file's `set` sweeps that key: one configuration per value, labelled by
/// it, recorded in session.json, and a sensitivity plot in the report; a list for a key whose
/// default is a list (`hidden`) is one value, not a sweep.
#[test]
fn a_list_of_values_sweeps_the_key() {
    let dir = tempdir::Dir::new();
    let file = dir.path().join("sweep.json");
    std::fs::write(
        &file,
        r#"{"plugins": [{"plugin": "sac", "label": "SAC",
              "set": {"tau": [0.005, 0.02], "hidden": [32, 32], "learning_starts": 300, "batch_size": 32}}],
            "seeds": 2,
            "settings": {"env": "pendulum", "steps": 600, "eval_every": 300, "eval_episodes": 2}}"#,
    )
    .unwrap();
    let out = dir.path().join("s");
    let o = host_raw(&[
        "session",
        file.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
        "--quiet",
    ]);
    assert_ok(&o);
    for label in ["SAC_tau=0.005", "SAC_tau=0.02"] {
        for seed in [0, 1] {
            let run = out.join(format!("{label}/seed-{seed}"));
            assert_eq!(status(&run)["state"], "finished", "{}", run.display());
        }
    }
    let session: serde_json::Value =
        serde_json::from_str(&read(&out.join("session.json"))).unwrap();
    let runs = session["runs"].as_array().unwrap();
    assert_eq!(runs.len(), 4, "2 values x 2 seeds");
    assert_eq!(runs[1]["sweep"], serde_json::json!([["tau", 0.02]]));
    assert_eq!(runs[1]["spec"]["agent_config"]["tau"], 0.02);
    assert_eq!(
        runs[1]["spec"]["agent_config"]["hidden"],
        serde_json::json!([32, 32])
    );
    assert!(read(&out.join("summary.md")).contains("## Sensitivity"));
    for f in ["sensitivity_tau_final.png", "sensitivity_tau_auc.svg"] {
        assert!(out.join(f).is_file(), "{f}");
    }
}

/// `"envs"` (or a repeated `--env` on `host session`) runs every plugin on every task; the
/// report normalises each task's scores and aggregates them with stratified CIs, and draws
/// performance profiles.
#[test]
fn a_multi_task_session_aggregates_normalised_scores() {
    let dir = tempdir::Dir::new();
    let file = dir.path().join("tasks.json");
    std::fs::write(
        &file,
        r#"{"plugins": [{"plugin": "agc", "set": {"rollout_len": 500, "critic_steps": 2}},
                        {"plugin": "agc", "label": "agc-fast", "set": {"rollout_len": 500, "critic_steps": 2, "actor_lr": 0.05}}],
            "seeds": 2,
            "settings": {"env": "pendulum", "steps": 1000, "eval_every": 500, "eval_episodes": 2}}"#,
    )
    .unwrap();
    let out = dir.path().join("s");
    let o = host_raw(&[
        "session",
        file.to_str().unwrap(),
        "--env",
        "pendulum",
        "--env",
        "cartpole",
        "--out",
        out.to_str().unwrap(),
        "--quiet",
    ]);
    assert_ok(&o);
    for label in ["agc@pendulum", "agc@cartpole"] {
        for seed in [0, 1] {
            let run = out.join(format!("{label}/seed-{seed}"));
            assert_eq!(status(&run)["state"], "finished", "{}", run.display());
        }
    }
    let session: serde_json::Value =
        serde_json::from_str(&read(&out.join("session.json"))).unwrap();
    let runs = session["runs"].as_array().unwrap();
    assert_eq!(runs.len(), 8);
    let cartpole = runs.iter().find(|r| r["label"] == "agc@cartpole").unwrap();
    assert_eq!(cartpole["spec"]["env"], "cartpole");
    let md = read(&out.join("summary.md"));
    assert!(md.contains("## Across tasks"), "{md}");
    assert!(md.contains("| agc | 2 | 4 |"), "{md}");
    // P(improvement) pairs runs of one task only, and averages over tasks in the tasks section.
    let p = md.split("## Probability of improvement").nth(1).expect(&md);
    let per_task = p.split("## Across tasks").next().unwrap();
    assert!(
        per_task.contains("`pendulum`:") && per_task.contains("`cartpole`:"),
        "{md}"
    );
    for table in per_task.split("`:").skip(1) {
        let header = table
            .lines()
            .find(|l| l.starts_with("| P(row > col)"))
            .unwrap();
        assert_eq!(
            header.matches('@').count(),
            2,
            "one task per table: {header}"
        );
        let task = header.split('@').nth(1).unwrap().split(' ').next().unwrap();
        assert!(!header.contains(if task == "pendulum" {
            "@cartpole"
        } else {
            "@pendulum"
        }));
    }
    assert!(md.contains("Average probability of improvement"), "{md}");
    assert!(md.contains("| agc-fast | "), "{md}");
    assert!(out.join("performance_profile.png").is_file());
}

/// A repeated `--env` on the plugin command line is a multi-task session, as in a file.
#[test]
fn a_repeated_env_on_the_command_line_makes_a_multi_task_session() {
    let dir = tempdir::Dir::new();
    let out = dir.path().join("s");
    let o = host_raw(&[
        "--plugin",
        "agc",
        "--env",
        "pendulum",
        "--env",
        "cartpole",
        "--steps",
        "1000",
        "--set",
        "rollout_len=500",
        "--set",
        "critic_steps=2",
        "--eval-every",
        "500",
        "--out",
        out.to_str().unwrap(),
        "--quiet",
    ]);
    assert_ok(&o);
    for label in ["agc@pendulum", "agc@cartpole"] {
        assert_eq!(status(&out.join(label).join("seed-0"))["state"], "finished");
    }
    assert!(read(&out.join("summary.md")).contains("## Across tasks"));
}

/// A run marked `failed` by a cause that went away (a crashed worker, a full disk) after its
/// first checkpoint is kept failed by `--resume`, and run again from that checkpoint by
/// `--resume --retry-failed`, ending as the same run never interrupted would.
#[test]
fn retry_failed_runs_again_what_failed_for_a_transient_cause() {
    let dir = tempdir::Dir::new();
    let reference = dir.path().join("reference");
    let steps = ["--steps", "1500"];
    assert_ok(&session(&reference, &["sac"], &steps));
    let mut args: Vec<String> = ["--plugin", "sac"]
        .iter()
        .chain(SMALL)
        .chain(SAC_SETS)
        .chain(&steps)
        .map(|s| s.to_string())
        .collect();
    let out = dir.path().join("s");
    args.extend(["--out".into(), out.display().to_string()]);
    // Killed at its first checkpoint; then marked failed, as a crash the host caught leaves it.
    // (An absolute parent: the helper looks under it rather than its own runs folder.)
    let (_runs, run) = kill_at_first_checkpoint(&args, out.join("sac").to_str().unwrap());
    let status_file = run.join("status.json");
    let marked = read(&status_file).replace("\"running\"", "\"failed\"");
    std::fs::write(&status_file, marked).unwrap();
    let d = out.to_str().unwrap();
    let o = host_raw(&["--resume", d, "--quiet"]);
    assert!(
        !o.status.success(),
        "a failed run is kept by a plain resume"
    );
    assert_eq!(status(&run)["state"], "failed");
    assert_ok(&host_raw(&["--resume", d, "--retry-failed", "--quiet"]));
    assert_eq!(status(&run)["state"], "finished");
    for f in ["eval.csv", "episodes.csv"] {
        assert_eq!(
            read(&run.join(f)),
            read(&reference.join("sac/seed-0").join(f)),
            "{f}"
        );
    }
    // Without a session to resume, the flag is refused.
    let o = host_raw(&["--plugin", "sac", "--retry-failed", "--steps", "10"]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
}

#[test]
fn a_session_grows_to_more_seeds_keeping_its_runs() {
    let dir = tempdir::Dir::new();
    let extra = ["--jobs", "2", "--steps", "900"];
    let reference = dir.path().join("reference");
    let mut with_two = vec!["--seeds", "2"];
    with_two.extend(extra);
    assert_ok(&session(&reference, TWO, &with_two));

    let out = dir.path().join("grown");
    let mut with_one = vec!["--seeds", "1"];
    with_one.extend(extra);
    assert_ok(&session(&out, TWO, &with_one));
    let kept = read(&out.join("sac/seed-0/eval.csv"));
    let kept_at = std::fs::metadata(out.join("sac/seed-0/eval.csv"))
        .unwrap()
        .modified()
        .unwrap();
    let o = session(&out, TWO, &with_two);
    assert_refused(&o, &["--resume", "--seeds 2", "first 1 seed"]);

    let d = out.to_str().unwrap();
    let o = host_raw(&["--resume", d, "--seeds", "2", "--jobs", "2", "--quiet"]);
    assert_ok(&o);
    assert!(
        stderr(&o).contains("grown from 1 to 2 seeds (2 new runs)")
            && stderr(&o).contains("4 runs here (2 already done)"),
        "{}",
        stderr(&o)
    );
    // The old runs are untouched; the grown session is the one run with 2 seeds from the start.
    assert_eq!(read(&out.join("sac/seed-0/eval.csv")), kept);
    let now = std::fs::metadata(out.join("sac/seed-0/eval.csv"));
    assert_eq!(now.unwrap().modified().unwrap(), kept_at);
    assert_eq!(
        summary_without_timing(&out),
        summary_without_timing(&reference)
    );
    let grown: serde_json::Value = serde_json::from_str(&read(&out.join("session.json"))).unwrap();
    let planned: serde_json::Value =
        serde_json::from_str(&read(&reference.join("session.json"))).unwrap();
    assert_eq!(grown["runs"], planned["runs"]);
    assert_eq!(grown["spec"]["seeds"], 2);

    // A session only grows.
    let o = host_raw(&["--resume", d, "--seeds", "1", "--quiet"]);
    assert_refused(&o, &["`--seeds 1` is fewer than the 2"]);
}

#[test]
fn a_tabular_session_draws_its_eval_training_and_exact_j_curves() {
    let dir = tempdir::Dir::new();
    let out = dir.path().join("s");
    let o = host_raw(&[
        "--plugin",
        "tabular@agc",
        "--plugin",
        "tabular@aoc",
        "--env",
        "fourroom",
        "--steps",
        "6000",
        "--out",
        out.to_str().unwrap(),
        "--quiet",
    ]);
    assert_ok(&o);
    for name in ["curves", "curves_training", "curves_exact_j"] {
        let png = std::fs::read(out.join(format!("{name}.png"))).unwrap();
        assert_eq!(&png[1..4], b"PNG", "{name}.png");
        let svg = read(&out.join(format!("{name}.svg")));
        assert!(svg.contains("agc (n=1)"), "{name}.svg");
    }
    assert!(read(&out.join("curves_exact_j.svg")).contains("exact J of the policy"));
}

#[test]
fn growing_a_session_past_its_run_limit_is_refused_before_anything_runs() {
    let dir = tempdir::Dir::new();
    let out = dir.path().join("s");
    // 11 rows of 300 steps that never update (learning starts after them): quick.
    let labels: Vec<String> = (0..11).map(|i| format!("sac:label=r{i}")).collect();
    let mut args: Vec<&str> = Vec::new();
    for l in &labels {
        args.extend(["--plugin", l.as_str()]);
    }
    let o = out.to_str().unwrap();
    args.extend([
        "--env",
        "pendulum",
        "--steps",
        "300",
        "--eval-episodes",
        "1",
    ]);
    args.extend(["--set", "learning_starts=1000", "--out", o, "--quiet"]);
    assert_ok(&host_raw(&args));
    let before = read(&out.join("session.json"));
    let g = host_raw(&["--resume", o, "--seeds", "10000", "--quiet"]);
    assert_refused(&g, &["= 110000 runs", "at most 100000"]);
    assert_eq!(read(&out.join("session.json")), before);
    assert!(!out.join("r0/seed-1").exists());
}
