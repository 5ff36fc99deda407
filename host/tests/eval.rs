//! `host eval`: a run's checkpoint evaluated on a freshly seeded env (repeatable, seed-dependent),
//! the first episode rendered to a GIF for the classic-control tasks, bad inputs refused.

mod common;
use common::*;
use std::process::Command;

fn eval(args: &[&str]) -> std::process::Output {
    Command::new(host_bin())
        .arg("eval")
        .args(args)
        .env("ACGAP_PLUGIN_PATH", workspace_plugins())
        .output()
        .unwrap()
}

fn gif_frames(path: &std::path::Path) -> usize {
    let mut decoder = gif::DecodeOptions::new()
        .read_info(std::fs::File::open(path).unwrap())
        .unwrap();
    let mut n = 0;
    while decoder.read_next_frame().unwrap().is_some() {
        n += 1;
    }
    n
}

#[test]
fn host_eval_scores_and_renders_a_checkpoint() {
    let run = host(&[
        "--plugin", "sac", "--env", "pendulum", "--steps", "1200", "--seed", "2",
    ]);
    assert!(run.out.status.success(), "{}", run.stderr());
    let dir = run.run_dir();
    let d = dir.to_str().unwrap();
    let gif = run.runs.path().join("pendulum.gif");
    let first = eval(&[d, "--episodes", "3", "--render", gif.to_str().unwrap()]);
    let text = String::from_utf8_lossy(&first.stdout).into_owned();
    assert!(
        first.status.success(),
        "{}",
        String::from_utf8_lossy(&first.stderr)
    );
    assert!(
        text.contains("checkpoint at step 1200") && text.contains("return "),
        "{text}"
    );
    // Pendulum-v1 episodes are 200 steps: one frame per observation.
    assert_eq!(gif_frames(&gif), 200);
    let again = String::from_utf8_lossy(&eval(&[d, "--episodes", "3"]).stdout).into_owned();
    let returns = |t: &str| {
        t.lines()
            .find(|l| l.starts_with("episodes:"))
            .unwrap()
            .to_string()
    };
    assert_eq!(
        returns(&text),
        returns(&again),
        "the same seed repeats the episodes"
    );
    let other =
        String::from_utf8_lossy(&eval(&[d, "--episodes", "3", "--seed", "9"]).stdout).into_owned();
    assert_ne!(
        returns(&text),
        returns(&other),
        "another seed, other initial states"
    );

    let cart = host(&[
        "--plugin",
        "agc",
        "--env",
        "cartpole",
        "--steps",
        "1000",
        "--set",
        "rollout_len=500",
        "--set",
        "critic_steps=2",
    ]);
    assert!(cart.out.status.success(), "{}", cart.stderr());
    let gif = cart.runs.path().join("cartpole.gif");
    let out = eval(&[
        cart.run_dir().to_str().unwrap(),
        "--episodes",
        "1",
        "--render",
        gif.to_str().unwrap(),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(gif_frames(&gif) >= 1);
}

/// Without `--seed`, `host eval` runs on the run's own evaluation stream and repeats the
/// checkpoint's last evaluation exactly, on or off the evaluation grid.
#[test]
fn host_eval_repeats_the_runs_own_last_evaluation() {
    for steps in ["1000", "1100"] {
        let run = host(&[
            "--plugin",
            "sac",
            "--env",
            "pendulum",
            "--steps",
            steps,
            "--seed",
            "4",
            "--eval-every",
            "500",
            "--eval-episodes",
            "4",
        ]);
        assert!(run.out.status.success(), "{}", run.stderr());
        let dir = run.run_dir();
        let out = eval(&[dir.to_str().unwrap()]);
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(
            text.contains("4 deterministic episodes on the run's own evaluation stream"),
            "{text}"
        );
        assert!(
            text.contains("this one is") && text.contains(": the same"),
            "{text}"
        );
        // The episodes are the run's own, as metrics.jsonl logged them.
        let last: serde_json::Value = read(&dir.join("metrics.jsonl"))
            .lines()
            .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
            .rfind(|r| r["type"] == "eval")
            .unwrap();
        let logged: Vec<String> = (last["returns"].as_array().unwrap().iter())
            .map(|r| format!("{:.2}", r.as_f64().unwrap()))
            .collect();
        assert!(
            text.contains(&format!("episodes: {}", logged.join(", "))),
            "{text}\n{logged:?}"
        );
        // A fresh env says its seed.
        let fresh = eval(&[dir.to_str().unwrap(), "--seed", "7"]);
        let text = String::from_utf8_lossy(&fresh.stdout).into_owned();
        assert!(
            text.contains("10 deterministic episodes on a fresh env, seed 7"),
            "{text}"
        );
    }
}

#[test]
fn host_eval_refuses_what_it_cannot_do() {
    let nowhere = tempdir::Dir::new();
    let out = eval(&[nowhere.path().to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("is not a run directory"));

    let run = host(&[
        "--plugin",
        "tabular@agc",
        "--env",
        "fourroom",
        "--steps",
        "600",
    ]);
    assert!(run.out.status.success(), "{}", run.stderr());
    let d = run.run_dir();
    let gif = run.runs.path().join("x.gif");
    let out = eval(&[d.to_str().unwrap(), "--render", gif.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("--render draws the classic-control tasks")
    );
    assert!(!gif.exists());
    let out = eval(&[d.to_str().unwrap(), "--episodes", "0"]);
    assert_eq!(out.status.code(), Some(2));
    // Without --render a tabular run evaluates fine.
    assert!(
        eval(&[d.to_str().unwrap(), "--episodes", "2"])
            .status
            .success()
    );
}
