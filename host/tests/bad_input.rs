//! Every bad input named in the foundation issue gets a clear one-paragraph error,
//! a non-zero exit, no panic trace, and leaves what was written readable.

mod common;
use common::*;

/// Fast off-policy settings for SAC runs in tests.
const FAST: [&str; 6] = [
    "--set",
    "learning_starts=100",
    "--set",
    "batch_size=32",
    "--eval-episodes",
    "1",
];

#[test]
fn plugin_path_that_does_not_exist() {
    let r = host(&["--plugin", "/nonexistent/libnothing.so", "--steps", "10"]);
    assert_clear_error(&r, &["/nonexistent/libnothing.so", "does not exist"]);
}

#[test]
fn plugin_name_that_is_not_found() {
    let r = host(&["--plugin", "nosuchplugin", "--steps", "10"]);
    assert_clear_error(
        &r,
        &[
            "libnosuchplugin.so",
            "no plugin provides an agent named `nosuchplugin`",
            "ACGAP_PLUGIN_PATH",
        ],
    );
}

#[test]
fn file_that_is_not_a_shared_library() {
    let dir = tempdir::Dir::new();
    let fake = dir.path().join("libfake.so");
    std::fs::write(&fake, "this is text, not ELF").unwrap();
    let r = host(&["--plugin", fake.to_str().unwrap(), "--steps", "10"]);
    assert_clear_error(&r, &["libfake.so", "not a shared library"]);
}

#[test]
fn shared_library_that_is_not_an_acgap_plugin() {
    // A real shared library without our root module, compiled on the spot.
    let dir = tempdir::Dir::new();
    let src = dir.path().join("plain.rs");
    std::fs::write(
        &src,
        "#[unsafe(no_mangle)] pub extern \"C\" fn answer() -> i32 { 42 }",
    )
    .unwrap();
    let so = dir.path().join("libplain.so");
    let ok = std::process::Command::new("rustc")
        .args([
            "--edition",
            "2024",
            "--crate-type",
            "cdylib",
            "-o",
            so.to_str().unwrap(),
            src.to_str().unwrap(),
        ])
        .status()
        .unwrap();
    assert!(ok.success());
    let r = host(&["--plugin", so.to_str().unwrap(), "--steps", "10"]);
    assert_clear_error(&r, &["not an acgap plugin"]);
}

/// A plugin of another ABI major version, or of a newer minor than the host's, is refused
/// naming both versions and what to do.
#[test]
fn plugins_of_an_abi_this_host_cannot_serve_are_refused() {
    let host_abi = acgap_sdk::plugin::ABI_VERSION;
    let plugin = format!("{}@nan-action", fixtures().other_major.display());
    let r = host(&["--plugin", &plugin, "--steps", "10"]);
    assert_clear_error(&r, &["plugin ABI 0.9", "another major version", host_abi]);
    let plugin = format!("{}@nan-action", fixtures().newer_abi.display());
    let r = host(&["--plugin", &plugin, "--steps", "10"]);
    assert_clear_error(
        &r,
        &["plugin ABI 1.99", "newer than this host's ABI", host_abi],
    );
}

/// An agent whose `training()` fails is refused when it is built, with the plugin's reason,
/// before any run folder is written.
#[test]
fn an_agent_that_cannot_say_how_it_trains_is_refused() {
    let plugin = format!("{}@panics-in-training", fixtures().normal.display());
    let r = host(&["--plugin", &plugin, "--env", "pendulum", "--steps", "10"]);
    assert_clear_error(
        &r,
        &["cannot say how it trains", "deliberate panic in training()"],
    );
    assert!(run_dirs(r.runs.path()).is_empty(), "no run folder");
}

#[test]
fn panic_abort_plugin_is_refused() {
    let r = host(&[
        "--plugin",
        fixtures().abort.to_str().unwrap(),
        "--steps",
        "10",
    ]);
    assert_clear_error(&r, &["panic = \"abort\"", "unwind"]);
}

#[test]
fn panic_in_update_stops_the_run_and_keeps_its_files() {
    let plugin = format!("{}@panics-in-update", fixtures().normal.display());
    let r = host(&[
        "--plugin",
        &plugin,
        "--env",
        "pendulum",
        "--steps",
        "100",
        "--checkpoint-every",
        "10",
        "--eval-every",
        "10",
        "--eval-episodes",
        "1",
    ]);
    assert_clear_error(
        &r,
        &["panicked", "fixture: deliberate panic in update", "step 20"],
    );
    let dir = r.run_dir();
    assert_eq!(status(&dir)["state"], "failed");
    assert!(
        read(&dir.join("eval.csv")).lines().count() >= 2,
        "the evaluations before the panic are kept"
    );
    assert!(
        dir.join("checkpoints/latest/host.json").is_file(),
        "the last checkpoint is kept"
    );
    assert!(
        read(&dir.join("metrics.jsonl"))
            .lines()
            .all(|l| serde_json::from_str::<serde_json::Value>(l).is_ok())
    );
}

#[test]
fn non_finite_action_marks_the_run_diverged() {
    let plugin = format!("{}@nan-action", fixtures().normal.display());
    let r = host(&["--plugin", &plugin, "--env", "pendulum", "--steps", "100"]);
    assert_clear_error(&r, &["non-finite action", "step 20"]);
    assert_eq!(status(&r.run_dir())["state"], "diverged");
}

#[test]
fn nan_loss_marks_the_run_diverged() {
    // An absurd critic learning rate overflows the critic within a few updates.
    let mut args = vec![
        "--plugin",
        "sac",
        "--env",
        "pendulum",
        "--steps",
        "400",
        "--set",
        "critic_lr=1e30",
    ];
    args.extend(FAST);
    let r = host(&args);
    assert_clear_error(&r, &["diverged", "loss is"]);
    assert_eq!(status(&r.run_dir())["state"], "diverged");
}

/// A temperature that blows up leaves every loss finite but the reported alpha: the run is
/// `diverged`, naming the metric (it ended `failed` on "malformed metrics").
#[test]
fn a_temperature_divergence_marks_the_run_diverged() {
    let mut args = vec![
        "--plugin",
        "sac",
        "--env",
        "pendulum",
        "--steps",
        "800",
        "--set",
        "hidden=[16,16]",
        "--set",
        "alpha_lr=1e30",
    ];
    args.extend(FAST);
    let r = host(&args);
    assert_clear_error(&r, &["diverged"]);
    assert_eq!(status(&r.run_dir())["state"], "diverged", "{}", r.stderr());
}

#[test]
fn action_of_the_wrong_dimension() {
    let plugin = format!("{}@wrong-dim", fixtures().normal.display());
    let r = host(&["--plugin", &plugin, "--env", "pendulum", "--steps", "100"]);
    assert_clear_error(&r, &["action of dimension 2", "expects 1"]);
}

#[test]
fn unknown_env_id_lists_the_valid_ones() {
    let r = host(&["--plugin", "sac", "--env", "pendulumm", "--steps", "10"]);
    assert_clear_error(
        &r,
        &[
            "unknown environment id `pendulumm`",
            "pendulum-v0",
            "cartpole",
            "mountaincar-continuous",
        ],
    );
}

#[test]
fn unknown_config_key_lists_the_valid_ones() {
    let r = host(&[
        "--plugin",
        "sac",
        "--steps",
        "10",
        "--set",
        "learnig_rate=0.1",
    ]);
    assert_clear_error(
        &r,
        &[
            "unknown config key `learnig_rate`",
            "actor_lr",
            "batch_size",
        ],
    );
}

#[test]
fn config_value_of_the_wrong_type() {
    let r = host(&[
        "--plugin",
        "sac",
        "--steps",
        "10",
        "--set",
        "batch_size=\"big\"",
    ]);
    assert_clear_error(&r, &["`batch_size`", "expects a number"]);
}

#[test]
fn config_file_with_an_unknown_key_names_the_file() {
    let dir = tempdir::Dir::new();
    let f = dir.path().join("cfg.json");
    std::fs::write(&f, r#"{"gamma": 0.98, "hiden": [64, 64]}"#).unwrap();
    let r = host(&[
        "--plugin",
        "sac",
        "--steps",
        "10",
        "--config",
        f.to_str().unwrap(),
    ]);
    assert_clear_error(&r, &["`hiden`", "cfg.json"]);
}

#[test]
fn discrete_env_for_a_continuous_agent() {
    let r = host(&["--plugin", "sac", "--env", "cartpole", "--steps", "10"]);
    assert_clear_error(&r, &["continuous", "cartpole"]);
}

#[test]
fn the_same_plugin_twice_in_a_session_is_refused() {
    let r = host(&["--plugin", "sac", "--plugin", "sac", "--steps", "10"]);
    assert_clear_error(&r, &["both called `sac`", "label="]);
}

#[test]
fn resume_of_a_folder_that_is_not_a_run() {
    let dir = tempdir::Dir::new();
    let r = host(&["--resume", dir.path().to_str().unwrap()]);
    assert_clear_error(&r, &["is not a run directory"]);
}

#[test]
fn a_correction_plugin_given_as_agent() {
    let r = host(&["--plugin", "actionpenalty", "--steps", "10"]);
    assert_clear_error(&r, &["provides no agent", "correction `action-penalty`"]);
}

#[test]
fn schedule_flags_reach_the_agent_config_and_bad_ones_are_refused() {
    let r = host(&["--plugin", "sac", "--steps", "10", "--schedule", "ten-ten"]);
    assert_clear_error(&r, &["`schedule`", "\"10-10\""]);
    let plugin = format!("{}@nan-action", fixtures().normal.display());
    let r = host(&["--plugin", &plugin, "--steps", "10", "--schedule", "10-10"]);
    assert_clear_error(&r, &["unknown config key `schedule`"]);
}

/// Short SAC settings for correction failures (updates start at step 100).
fn sac_with_correction(correction: &str, extra: &[&str]) -> Run {
    let mut args = vec![
        "--plugin",
        "sac",
        "--env",
        "pendulum",
        "--steps",
        "300",
        "--correction",
        correction,
        "--checkpoint-every",
        "50",
    ];
    args.extend(FAST);
    args.extend(extra);
    host(&args)
}

#[test]
fn an_agent_library_given_as_correction() {
    let r = sac_with_correction("sac", &[]);
    assert_clear_error(&r, &["provides no correction", "agent `sac`"]);
}

#[test]
fn a_correction_returning_a_vector_of_the_wrong_length() {
    let c = format!("{}@wrong-length", fixtures().normal.display());
    let r = sac_with_correction(&c, &[]);
    assert_clear_error(
        &r,
        &["parameter direction of 3 values", "expected", "step 100"],
    );
    let dir = r.run_dir();
    assert_eq!(status(&dir)["state"], "failed");
    assert!(
        dir.join("checkpoints/latest/agent.safetensors").is_file(),
        "the checkpoint before the failure is kept"
    );
}

#[test]
fn a_correction_that_panics() {
    let c = format!("{}@panics", fixtures().normal.display());
    let r = sac_with_correction(&c, &[]);
    assert_clear_error(
        &r,
        &[
            "correction.actor_term panicked",
            "fixture: deliberate panic in a correction",
        ],
    );
    assert_eq!(status(&r.run_dir())["state"], "failed");
}

#[test]
fn stackelberg_eta_and_residual_clip_must_be_positive() {
    let r = sac_with_correction("stackelberg", &["--correction-set", "eta=0"]);
    assert_clear_error(&r, &["`eta` must be positive"]);
    let r = host(&["--plugin", "ressac", "--steps", "10", "--set", "clip=-1"]);
    assert_clear_error(&r, &["`clip` must be positive"]);
}

#[test]
fn bench_peers_without_the_peers_names_the_setup_command() {
    let out = std::process::Command::new(host_bin())
        .args(["bench", "--peers", "--quick"])
        .env("ACGAP_PEERS_HOME", "/nonexistent/peers")
        .env_remove("ACGAP_PEERS_PYTHON")
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains("/nonexistent/peers/bin/python") && err.contains("scripts/setup-peers"),
        "{err}"
    );
}

/// A seed range past the largest seed was an empty session with exit 0 (the end wrapped
/// around); it is refused, on the command line and in a session file, before anything runs.
#[test]
fn a_seed_range_past_the_largest_seed_is_refused() {
    let max = u64::MAX.to_string();
    let r = host(&[
        "--plugin", "sac", "--env", "pendulum", "--steps", "300", "--seed", &max, "--seeds", "2",
    ]);
    assert_clear_error(&r, &["2 seeds from seed 18446744073709551615", "smaller"]);
    assert_eq!(r.out.status.code(), Some(2));
    let below = (u64::MAX - 1).to_string();
    let r = host(&[
        "--plugin", "sac", "--env", "pendulum", "--steps", "300", "--seed", &below, "--seeds", "3",
    ]);
    assert_clear_error(&r, &["3 seeds from seed 18446744073709551614"]);
    let dir = tempdir::Dir::new();
    let file = dir.path().join("session.json");
    std::fs::write(
        &file,
        format!(
            r#"{{"plugins": [{{"plugin": "sac"}}], "seed": {max}, "seeds": 2, "settings": {{"steps": 300}}}}"#
        ),
    )
    .unwrap();
    let out = std::process::Command::new(host_bin())
        .args(["session", file.to_str().unwrap(), "--quiet"])
        .current_dir(dir.path())
        .env("ACGAP_PLUGIN_PATH", workspace_plugins())
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains("2 seeds from seed 18446744073709551615"),
        "{err}"
    );
}

/// `host score --batches` / `--warmup` are bounded before anything is allocated (a huge value
/// was a capacity-overflow panic, an abort, or a "scorecard" of nothing with exit 0).
/// Every count a user types goes through one bounded parser: extreme integers, negative
/// numbers, floats and overflowing values are refused before anything runs, naming the flag.
#[test]
fn every_count_on_the_command_line_is_bounded() {
    let flags: [(&[&str], &str); 9] = [
        (&["eval", "/nonexistent"], "--episodes"),
        (&["exact"], "--iterations"),
        (&["score"], "--batches"),
        (&["score"], "--warmup"),
        (&["--plugin", "sac"], "--seeds"),
        (&["--plugin", "sac", "--seeds", "2"], "--jobs"),
        (&["--plugin", "sac"], "--env-steps-per-iter"),
        (&["session", "/nonexistent.json"], "--steps"),
        (&["session", "/nonexistent.json"], "--seeds"),
    ];
    for (command, flag) in flags {
        for value in [
            "18446744073709551615",
            "18446744073709551616",
            "-1",
            "1e3",
            "2000000000000",
        ] {
            let cwd = tempdir::Dir::new();
            let mut args: Vec<String> = command.iter().map(|a| a.to_string()).collect();
            args.push(format!("{flag}={value}"));
            let out = std::process::Command::new(host_bin())
                .args(&args)
                .current_dir(cwd.path())
                .env("ACGAP_PLUGIN_PATH", workspace_plugins())
                .output()
                .unwrap();
            let err = String::from_utf8_lossy(&out.stderr);
            assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
            assert!(
                err.contains(flag) && err.contains("at most"),
                "{args:?}: {err}"
            );
            assert!(!err.contains("panicked"), "{err}");
            assert!(files_under(cwd.path()).is_empty(), "{args:?} wrote files");
        }
    }
}

#[test]
fn score_batch_counts_are_bounded() {
    for (flag, value) in [
        ("--batches", "18446744073709551615"),
        ("--batches", "9223372036854775808"),
        ("--batches", "4294967296"),
        ("--warmup", "18446744073709551615"),
    ] {
        let r = host(&["score", "--suite", "quick", flag, value]);
        assert_clear_error(&r, &[flag, "at most 100000", value]);
        assert_eq!(r.out.status.code(), Some(2), "{flag} {value}");
    }
}

/// A value written twice is refused, not resolved silently to one of them; an empty task
/// list is refused, not read as "the default task".
#[test]
fn keys_given_twice_and_an_empty_task_list_are_refused() {
    let dir = tempdir::Dir::new();
    let file = |name: &str, text: &str| {
        let p = dir.path().join(name);
        std::fs::write(&p, text).unwrap();
        p.to_str().unwrap().to_string()
    };
    let config = file("config.json", r#"{"tau": 0.01, "gamma": 0.9, "tau": 0.02}"#);
    let r = host(&["--plugin", "sac", "--config", &config, "--steps", "10"]);
    assert_clear_error(&r, &["config.json", "`tau` appears twice"]);
    let r = host(&[
        "--plugin",
        "sac:label=a,label=b",
        "--plugin",
        "ressac",
        "--steps",
        "10",
    ]);
    assert_clear_error(&r, &["sac:label=a,label=b", "`label` is given twice"]);
    let session = file(
        "twice.json",
        r#"{"plugins": [{"plugin": "sac", "set": {"tau": 0.1, "tau": 0.2}}], "seeds": 1}"#,
    );
    let session_refused = |path: &str, needles: &[&str]| {
        let out = std::process::Command::new(host_bin())
            .args(["session", path, "--quiet"])
            .current_dir(dir.path())
            .env("ACGAP_PLUGIN_PATH", workspace_plugins())
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{err}");
        for n in needles {
            assert!(err.contains(n), "lacks {n:?}: {err}");
        }
        assert!(
            !dir.path().join("runs").exists(),
            "{path}: something was written"
        );
    };
    session_refused(&session, &["twice.json", "`tau` appears twice"]);
    let session = file(
        "empty.json",
        r#"{"plugins": [{"plugin": "sac"}], "seeds": 1, "envs": []}"#,
    );
    session_refused(&session, &["empty.json", "`envs` is empty"]);
}

#[test]
fn a_bad_gym_timeout_is_named_not_ignored() {
    for value in ["abc", "-5", "0", "1e300"] {
        let runs = tempdir::Dir::new();
        let out = std::process::Command::new(host_bin())
            .args([
                "--plugin",
                "sac",
                "--env",
                "gym:Pendulum-v1",
                "--steps",
                "10",
                "--quiet",
            ])
            .args(["--runs", runs.path().to_str().unwrap()])
            .env("ACGAP_PLUGIN_PATH", workspace_plugins())
            .env("ACGAP_GYM_TIMEOUT", value)
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{value}: {err}");
        assert!(
            err.contains("ACGAP_GYM_TIMEOUT") && err.contains(value),
            "{err}"
        );
        assert!(run_dirs(runs.path()).is_empty());
    }
}

/// A session whose grid holds an agent that cannot be built (a correction of the other
/// family, one that needs correction steps under an x-0 schedule) is refused before anything
/// is written, naming the row, rather than failing run by run.
#[test]
fn a_session_with_an_agent_that_cannot_be_built_is_refused_upfront() {
    let dir = tempdir::Dir::new();
    let out = dir.path().join("session");
    for (args, needle) in [
        (
            [
                "--plugin",
                "sac",
                "--plugin",
                "agc:correction=ressac@residual",
            ],
            "agc+residual",
        ),
        (
            [
                "--plugin",
                "sac",
                "--plugin",
                "sac:correction=ressac@residual,label=x0",
            ],
            "`x0`",
        ),
    ] {
        let r = host(
            &[
                &args[..],
                &["--steps", "10", "--out", out.to_str().unwrap()],
            ]
            .concat(),
        );
        assert_clear_error(&r, &[needle]);
        assert_eq!(r.out.status.code(), Some(2));
        assert!(!out.exists(), "{args:?}: the session folder was made");
    }
}

/// A config or session file that never ends (`/dev/zero`) or is huge is refused after 16 MiB,
/// not read until memory runs out.
#[test]
fn an_endless_config_or_session_file_is_refused() {
    let runs = tempdir::Dir::new();
    let runs = runs.path().to_str().unwrap();
    for args in [
        &["--plugin", "sac", "--config", "/dev/zero", "--runs", runs][..],
        &["session", "/dev/zero"],
    ] {
        let start = std::time::Instant::now();
        let out = std::process::Command::new(host_bin())
            .args(args)
            .current_dir(runs)
            .env("ACGAP_PLUGIN_PATH", workspace_plugins())
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{err}");
        assert!(
            err.contains("/dev/zero") && err.contains("larger than 16 MiB"),
            "{err}"
        );
        assert!(
            start.elapsed().as_secs() < 20,
            "{args:?} took {:?}",
            start.elapsed()
        );
    }
}

/// The continuous scorecard's own settings are checked before anything runs or is written:
/// points out of order, a central-difference step outside (0, 0.5], a tabular base on it.
#[test]
fn continuous_scorecard_settings_are_refused_before_any_work() {
    for (args, needles) in [
        (
            vec!["--points", "5000,2000"],
            vec!["--points", "increasing"],
        ),
        (vec!["--fd-step", "0"], vec!["--fd-step", "(0, 0.5]"]),
        (vec!["--fd-step", "2"], vec!["--fd-step", "(0, 0.5]"]),
        (vec!["agc+residual"], vec!["agc+residual", "SAC"]),
    ] {
        let mut all = vec!["score", "--suite", "pendulum"];
        all.extend(&args);
        let r = host(&all);
        assert_clear_error(&r, &needles);
        assert_eq!(r.out.status.code(), Some(2), "{args:?}");
        assert!(
            files_under(r.runs.path()).is_empty(),
            "{args:?} wrote files"
        );
    }
}
