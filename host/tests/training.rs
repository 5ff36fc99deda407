//! End-to-end runs: correction hook from a separate library, exact resume after
//! `kill -9`, on-policy rollouts, `inspect`, and the SAC learning check.

mod common;
use common::*;
use std::process::Command;

/// Short SAC runs: 150 random steps, batch 32, frequent logs.
fn short_sac(steps: &str, extra: &[&str]) -> Vec<String> {
    sac_args("pendulum", steps, extra)
}

#[test]
fn correction_from_its_own_library_is_applied() {
    let plain = run_ok(&short_sac("600", &[]));
    let zero = run_ok(&short_sac(
        "600",
        &[
            "--correction",
            "actionpenalty",
            "--correction-set",
            "scale=0",
        ],
    ));
    let zero_param = run_ok(&short_sac(
        "600",
        &[
            "--correction",
            "actionpenalty",
            "--correction-set",
            "scale=0",
            "--correction-set",
            "mode=\"param\"",
        ],
    ));
    let strong = run_ok(&short_sac(
        "600",
        &[
            "--correction",
            "actionpenalty",
            "--correction-set",
            "scale=5",
            "--set",
            "schedule=\"1-1\"",
        ],
    ));
    let eval = |r: &Run| read(&r.run_dir().join("eval.csv"));
    // A zero term, in either form, leaves SAC bit-identical; a real term changes the run.
    assert_eq!(eval(&plain), eval(&zero));
    assert_eq!(eval(&plain), eval(&zero_param));
    assert_ne!(eval(&plain), eval(&strong));
    let train = read(&strong.run_dir().join("train.csv"));
    let header: Vec<&str> = train.lines().next().unwrap().split(',').collect();
    for col in [
        "correction/action_penalty/calls",
        "correction/action_penalty/train_calls",
        "correction/action_penalty/mean_half_sq_action",
    ] {
        assert!(header.contains(&col), "train.csv lacks {col}: {header:?}");
    }
    let paper = run_ok(&short_sac(
        "300",
        &["--schedule", "2-0", "--env-steps-per-iter", "10"],
    ));
    let run_json = read(&paper.run_dir().join("run.json"));
    assert!(
        run_json.contains("\"schedule\": \"2-0\"")
            && run_json.contains("\"env_steps_per_iter\": 10"),
        "{run_json}"
    );
    let run_json = read(&strong.run_dir().join("run.json"));
    assert!(
        run_json.contains("action-penalty") && run_json.contains("\"scale\": 5"),
        "{run_json}"
    );
}

/// `libressac.so`/`libstacksac.so` compile their correction into the SAC core; the same
/// correction loaded next to `libsac.so` must give a bit-identical run.
#[test]
fn compiled_in_corrections_equal_the_loaded_ones() {
    let common = [
        "--env",
        "pendulum",
        "--steps",
        "1000",
        "--seed",
        "1",
        "--set",
        "learning_starts=400",
        "--set",
        "batch_size=32",
    ];
    let cadence = [
        "--eval-every",
        "500",
        "--eval-episodes",
        "2",
        "--log-every",
        "250",
    ];
    let args = |extra: &[&str]| -> Vec<String> {
        extra
            .iter()
            .chain(&common)
            .chain(&cadence)
            .map(|s| s.to_string())
            .collect()
    };
    let cases: [(&[&str], &[&str], &[&str]); 2] = [
        (
            &["--plugin", "ressac"],
            &[
                "--plugin",
                "sac",
                "--set",
                "schedule=\"1-1\"",
                "--correction",
                "residual",
            ],
            &[
                "correction/residual/w_loss",
                "correction/residual/clipped_fraction",
            ],
        ),
        (
            &["--plugin", "stacksac"],
            &["--plugin", "sac", "--correction", "stackelberg"],
            &[
                "correction/stackelberg/implicit_norm",
                "correction/stackelberg/cosine_with_plain",
                "correction/stackelberg/solver_residual_max",
            ],
        ),
    ];
    for (compiled, loaded, columns) in cases {
        let (a, b) = (run_ok(&args(compiled)), run_ok(&args(loaded)));
        let (a, b) = (a.run_dir(), b.run_dir());
        assert_eq!(
            read(&a.join("eval.csv")),
            read(&b.join("eval.csv")),
            "{compiled:?}"
        );
        assert_eq!(
            metrics_without_timing(&a),
            metrics_without_timing(&b),
            "{compiled:?}"
        );
        let train = read(&a.join("train.csv"));
        for col in columns {
            assert!(
                train.lines().next().unwrap().contains(col),
                "train.csv lacks {col}"
            );
        }
    }
}

/// A correction that trains networks of its own (Res-SAC's W) under a schedule without
/// correction steps would never learn: refused before any run folder, naming `--schedule x-y`.
#[test]
fn a_correction_that_trains_is_refused_under_a_schedule_without_correction_steps() {
    let r = host(&[
        "--plugin",
        "sac",
        "--correction",
        "residual",
        "--env",
        "pendulum",
        "--steps",
        "300",
    ]);
    assert_clear_error(&r, &["`residual` trains", "1-0", "--schedule 1-1", "x-y"]);
    assert_eq!(r.out.status.code(), Some(2), "{}", r.stderr());
    // A correction that does not train (the action penalty) runs under 1-0 as before.
    let r = host(&[
        "--plugin",
        "sac",
        "--correction",
        "actionpenalty",
        "--env",
        "pendulum",
        "--steps",
        "300",
    ]);
    assert!(r.out.status.success(), "{}", r.stderr());
}

#[test]
fn kill_9_and_resume_reproduce_an_uninterrupted_run() {
    let args = short_sac(
        "2400",
        &["--correction", "actionpenalty", "--set", "schedule=\"1-1\""],
    );
    let reference = run_ok(&args);

    let (_runs, dir) = kill_at_first_checkpoint(&args, "pendulum/sac");
    assert!(resume_ok(&dir).contains("resuming at step 300"));

    let want = reference.run_dir();
    for f in ["eval.csv", "episodes.csv"] {
        assert_eq!(
            read(&dir.join(f)),
            read(&want.join(f)),
            "{f} differs after kill -9 and resume"
        );
    }
    assert_eq!(
        metrics_without_timing(&dir),
        metrics_without_timing(&want),
        "metrics.jsonl differs after resume"
    );
    assert_eq!(status(&dir)["state"], "finished");
}

#[test]
fn gap_diagnostics_compare_every_value_estimate_with_monte_carlo_returns() {
    let r = run_ok(
        &[
            "--plugin",
            "ressac",
            "--env",
            "pendulum",
            "--steps",
            "900",
            "--seed",
            "2",
            "--set",
            "learning_starts=200",
            "--set",
            "batch_size=32",
            "--eval-every",
            "900",
            "--eval-episodes",
            "1",
            "--gap-every",
            "300",
            "--gap-pairs",
            "4",
            "--gap-rollouts",
            "3",
            "--gap-horizon",
            "100",
        ]
        .map(String::from),
    );
    let dir = r.run_dir();
    let gap = read(&dir.join("gap.csv"));
    let rows: Vec<Vec<&str>> = gap
        .lines()
        .skip(1)
        .map(|l| l.split(',').collect())
        .collect();
    let steps: Vec<&str> = rows.iter().map(|r| r[0]).collect();
    assert_eq!(steps, ["300", "300", "600", "600", "900", "900"], "{gap}");
    assert_eq!(
        rows.iter().map(|r| r[1]).collect::<Vec<_>>(),
        ["q", "q+w", "q", "q+w", "q", "q+w"]
    );
    for r in &rows {
        let (q_mc, estimate, bias): (f64, f64, f64) = (
            r[2].parse().unwrap(),
            r[3].parse().unwrap(),
            r[4].parse().unwrap(),
        );
        assert!(
            q_mc.is_finite() && q_mc < 0.0,
            "Pendulum soft returns are negative: {q_mc}"
        );
        assert!((estimate - q_mc - bias).abs() < 1e-6 * q_mc.abs().max(1.0));
    }
    assert!(dir.join("gap.svg").is_file());
}

#[test]
fn on_policy_agents_get_in_order_rollouts() {
    let plugin = format!("{}@on-policy", fixtures().normal.display());
    let r = host(&[
        "--plugin",
        &plugin,
        "--env",
        "cartpole",
        "--steps",
        "640",
        "--eval-every",
        "320",
        "--eval-episodes",
        "1",
        "--log-every",
        "64",
    ]);
    assert!(r.out.status.success(), "{}", r.stderr());
    let train = read(&r.run_dir().join("train.csv"));
    assert!(
        train.lines().next().unwrap().contains("rollout/len"),
        "{train}"
    );
    assert_eq!(
        train.lines().count(),
        11,
        "one window per 64-step rollout:\n{train}"
    );
}

#[test]
fn inspect_describes_the_plugin() {
    let out = Command::new(host_bin())
        .args(["inspect", "sac"])
        .env("ACGAP_PLUGIN_PATH", workspace_plugins())
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success());
    for needle in [
        "crate       sac",
        "panic       unwind",
        "rustc       rustc",
        "Agent `sac`",
        "\"schedule\": \"1-0\"",
        "\"hidden\"",
    ] {
        assert!(
            text.contains(needle),
            "inspect output lacks {needle:?}:\n{text}"
        );
    }
}

#[test]
fn run_directory_has_the_documented_layout() {
    let r = run_ok(&short_sac("600", &[]));
    let dir = r.run_dir();
    for f in [
        "run.json",
        "status.json",
        "metrics.jsonl",
        "episodes.csv",
        "eval.csv",
        "train.csv",
        "learning_curve.svg",
        "checkpoints/latest/agent.safetensors",
        "checkpoints/latest/replay.bin",
        "checkpoints/latest/host.json",
    ] {
        assert!(dir.join(f).is_file(), "{f} missing in {}", dir.display());
    }
    let rel = dir.strip_prefix(r.runs.path()).unwrap();
    let parts: Vec<String> = rel
        .iter()
        .map(|p| p.to_string_lossy().into_owned())
        .collect();
    assert_eq!(&parts[..2], ["pendulum", "sac"]);
    assert!(
        parts[2].starts_with("3-"),
        "seed-timestamp folder: {parts:?}"
    );
    let train = read(&dir.join("train.csv"));
    for col in [
        "train/td_abs_max",
        "train/td_abs_mean",
        "train/alpha",
        "train/critic_loss",
        "time/updates_per_s",
    ] {
        assert!(
            train.lines().next().unwrap().contains(col),
            "train.csv lacks {col}"
        );
    }
    assert!(r.stdout().contains("learning curve: "));
}

/// SAC on Pendulum-v1, 20k steps, seed 0, SAC-1-0 with the paper's defaults:
/// mean deterministic eval return over 10 episodes must reach -250 (RL Zoo: -157 +- 89).
/// About 45 s in release mode on one core.
#[test]
fn sac_learns_pendulum_in_20k_steps() {
    let r = host(&[
        "--plugin",
        "sac",
        "--env",
        "pendulum",
        "--steps",
        "20000",
        "--seed",
        "0",
        "--eval-every",
        "5000",
    ]);
    assert!(r.out.status.success(), "{}", r.stderr());
    let eval = read(&r.run_dir().join("eval.csv"));
    let last: Vec<f64> = eval
        .lines()
        .last()
        .unwrap()
        .split(',')
        .map(|x| x.parse().unwrap())
        .collect();
    assert_eq!(last[0], 20000.0);
    assert_eq!(last[5], 10.0, "10 evaluation episodes");
    assert!(
        last[1] >= -250.0,
        "final eval return {} < -250:\n{eval}",
        last[1]
    );
}

#[test]
fn a_run_without_diagnostics_writes_no_empty_diagnostics_logs() {
    let r = run_ok(&short_sac("300", &[]));
    let dir = r.run_dir();
    assert!(dir.join("eval.csv").is_file());
    assert!(!dir.join("gap.csv").exists(), "gap.csv without --gap-every");
    assert!(
        !dir.join("tabular.csv").exists(),
        "tabular.csv on a non-tabular env"
    );
}
