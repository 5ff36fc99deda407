//! The third-party examples as a user would use them: written against the SDK only, loaded by
//! file name, doing what their docs say.

mod common;
use common::*;

fn example_file(example: &str, file: &str) -> String {
    read(
        &std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../examples")
            .join(example)
            .join(file),
    )
}

/// No example names burn: the corrections depend on the plugin interface alone (no toolkit,
/// so they build without a networks library), and the agent reaches networks only through
/// the toolkit.
#[test]
fn examples_use_the_sdk_only() {
    for (ex, toolkit) in [
        ("action-penalty", false),
        ("tabular-baseline", false),
        ("entropy-bonus", false),
        ("reinforce", true),
    ] {
        let manifest = example_file(ex, "Cargo.toml");
        let deps = manifest.split("[dependencies]").nth(1).unwrap_or_default();
        for line in deps.lines().filter(|l| l.contains('=')) {
            let name = line.split(['=', ' ', '.']).next().unwrap_or_default();
            assert!(
                ["acgap-sdk", "serde", "serde_json"].contains(&name)
                    || (toolkit && name == "acgap-toolkit"),
                "{ex} depends on `{name}`"
            );
        }
        assert!(
            !example_file(ex, "src/lib.rs").contains("burn::"),
            "{ex} uses burn"
        );
    }
}

/// REINFORCE with a baseline, written with the toolkit and no burn import
/// (examples/reinforce), solves CartPole-v1 (deterministic eval >= 475) within 100k steps for
/// at least 2 of 3 seeds (measured: all three at 500 from 70k steps; ~4 s per run).
#[test]
fn reinforce_from_the_toolkit_solves_cartpole() {
    let mut solved = 0;
    for seed in ["0", "1", "2"] {
        let r = host(&[
            "--plugin",
            "libreinforce.so",
            "--env",
            "cartpole",
            "--steps",
            "100000",
            "--seed",
            seed,
            "--eval-every",
            "25000",
            "--eval-episodes",
            "5",
        ]);
        assert!(r.out.status.success(), "seed {seed}: {}", r.stderr());
        if last_eval_mean(&r.run_dir()) >= 475.0 {
            solved += 1;
        }
    }
    assert!(solved >= 2, "{solved} of 3 seeds solved CartPole");
}

/// The three templates (examples/templates/{sac,onpolicy,tabular}, outside the workspace)
/// build on their own — their own Cargo.toml, lock file and target folder — and the host loads
/// each next to an agent of its family and logs its metric under `correction/`. (`.ci/run` also
/// runs the templates' unit tests on the SDK's closed-form contexts.)
#[test]
fn the_templates_build_standalone_and_load() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    for (family, agent, env, metric) in [
        (
            "sac",
            "sac:schedule=1-1",
            "pendulum",
            "correction/my_correction/term_norm",
        ),
        (
            "onpolicy",
            "agc",
            "cartpole",
            "correction/my_correction/mean_sq_log_prob",
        ),
        (
            "tabular",
            "tabular@agc",
            "fourroom",
            "correction/my_correction/mean_weight",
        ),
    ] {
        let target = root.join("target/templates");
        let out = std::process::Command::new(env!("CARGO"))
            .args(["build", "--release", "--lib", "--target-dir"])
            .arg(&target)
            .current_dir(root.join("examples/templates").join(family))
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "the {family} template does not build standalone:\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let lib = target.join(format!("release/libmy_{family}_correction.so"));
        let r = host(&[
            "--plugin",
            agent,
            "--correction",
            lib.to_str().unwrap(),
            "--env",
            env,
            "--steps",
            "1200",
            "--log-every",
            "400",
        ]);
        assert!(r.out.status.success(), "{family}: {}", r.stderr());
        let train = read(&r.run_dir().join("train.csv"));
        assert!(train.contains(metric), "{family}: {train}");
    }
}
