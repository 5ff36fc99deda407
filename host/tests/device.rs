//! The compute device reaches the plugins' networks: SAC built with the toolkit's `wgpu` feature
//! trains on a wgpu device (`--device wgpu`) and computes what the CPU backend computes, within
//! float rounding. `.ci/run` builds that plugin into `target/wgpu/` and runs this test on Mesa's
//! software Vulkan device (lavapipe); without the build the test skips with a message (and fails
//! under ACGAP_REQUIRE_WGPU=1).

mod common;
use common::*;
use std::path::PathBuf;

fn wgpu_sac() -> Option<PathBuf> {
    let lib = release_dir()
        .parent()
        .map(|target| target.join("wgpu/release/libsac.so"))?;
    if lib.is_file() {
        return Some(lib);
    }
    assert!(
        std::env::var_os("ACGAP_REQUIRE_WGPU").is_none(),
        "ACGAP_REQUIRE_WGPU is set but {} is missing (cargo build --release -p sac --features acgap-toolkit/wgpu --target-dir target/wgpu)",
        lib.display()
    );
    eprintln!(
        "skipping the wgpu device test: no {} (build it with cargo build --release -p sac --features acgap-toolkit/wgpu --target-dir target/wgpu)",
        lib.display()
    );
    None
}

/// A short SAC run: 100 warm-up steps, then 100 iterations, small networks.
fn short(plugin: &str, device: &str) -> Vec<String> {
    [
        "--plugin",
        plugin,
        "--env",
        "pendulum",
        "--steps",
        "200",
        "--device",
        device,
        "--set",
        "learning_starts=100",
        "--set",
        "batch_size=64",
        "--set",
        "hidden=[64,64]",
        "--log-every",
        "50",
        "--eval-every",
        "200",
        "--eval-episodes",
        "1",
    ]
    .into_iter()
    .map(String::from)
    .collect()
}

/// The numeric columns of train.csv without the wall-clock rate.
fn train_rows(dir: &std::path::Path) -> Vec<Vec<f64>> {
    read(&dir.join("train.csv"))
        .lines()
        .skip(1)
        .map(|l| {
            let cells: Vec<f64> = l.split(',').map(|c| c.parse().unwrap()).collect();
            cells[..cells.len() - 1].to_vec()
        })
        .collect()
}

/// Two runs logged the same train.csv rows within [`TOLERANCE`] (relative).
fn assert_rows_close(a: &str, a_dir: &std::path::Path, b: &str, b_dir: &std::path::Path) {
    let (ra, rb) = (train_rows(a_dir), train_rows(b_dir));
    assert_eq!(ra.len(), rb.len());
    assert!(!ra.is_empty());
    for (row_a, row_b) in ra.iter().zip(&rb) {
        for (x, y) in row_a.iter().zip(row_b) {
            let rel = (x - y).abs() / y.abs().max(1e-3);
            assert!(rel < TOLERANCE, "{a} {x} vs {b} {y} (relative {rel:.2e})");
        }
    }
}

#[test]
fn sac_on_a_wgpu_device_computes_what_the_cpu_backend_computes() {
    let Some(lib) = wgpu_sac() else { return };
    let lib = lib.to_str().unwrap();
    let gpu = run_ok(&short(lib, "wgpu"));
    let cpu = run_ok(&short(lib, "cpu"));
    assert_rows_close("wgpu", &gpu.run_dir(), "cpu", &cpu.run_dir());
    // The device is recorded in run.json.
    assert!(read(&gpu.run_dir().join("run.json")).contains("\"device\": \"wgpu\""));
}

/// Relative difference allowed between the devices' logged metrics after 100 updates
/// (measured on lavapipe: at most ~1e-6, float rounding; docs/performance.md, "Devices").
const TOLERANCE: f64 = 1e-4;

#[test]
fn an_unknown_or_unbuilt_device_is_a_clear_error() {
    for (device, needle) in [
        ("tpu", "unknown device `tpu`"),
        (
            "wgpu",
            "needs a plugin built with the toolkit's `wgpu` feature",
        ),
    ] {
        let args = short("sac", device);
        let refs: Vec<&str> = args.iter().map(String::as_str).collect();
        assert_clear_error(&host(&refs), &[needle]);
    }
}

/// `--threads 2`: the plugin is handed `cpu:2` (recorded in run.json), the run's metrics match
/// a one-thread run's up to the order of the lanes' gradient sums, and `--resume` keeps the
/// threads; `--threads` with another device or with 0 is a clear error.
#[test]
fn threads_split_one_run_and_match_one_thread() {
    let with_threads = |n: &str| {
        let mut args = short("sac", "cpu");
        args.extend(["--threads".to_string(), n.to_string()]);
        args
    };
    let two = run_ok(&with_threads("2"));
    let one = run_ok(&short("sac", "cpu"));
    assert!(read(&two.run_dir().join("run.json")).contains("\"device\": \"cpu:2\""));
    assert_rows_close("2 threads", &two.run_dir(), "1 thread", &one.run_dir());
    for (args, needle) in [
        (
            {
                let mut a = short("sac", "wgpu");
                a.extend(["--threads".to_string(), "2".to_string()]);
                a
            },
            "`threads` applies to the cpu device",
        ),
        (
            with_threads("0"),
            "`threads` must be between 1 and 1024, got 0",
        ),
    ] {
        let refs: Vec<&str> = args.iter().map(String::as_str).collect();
        assert_clear_error(&host(&refs), &[needle]);
    }
}
