//! `host score` end to end, from a folder outside the repository: shipped, third-party and
//! misbehaving estimators in one scorecard; a typo in an estimator's name is a clear error.

mod common;
use common::*;

#[test]
fn host_score_writes_a_scorecard_and_survives_a_panicking_estimator() {
    let panics = format!("{}@tabular-panics", fixtures().normal.display());
    let r = host(&[
        "score",
        "--suite",
        "quick",
        "--batches",
        "50",
        "res-ac",
        "stack-ac:eta=0.01",
        "libtabularbaseline.so",
        "oracle",
        &panics,
    ]);
    assert!(r.out.status.success(), "{}", r.stderr());
    let dir = find_dir(r.runs.path(), "scorecard.md");
    let md = read(&dir.join("scorecard.md"));
    for row in [
        "| agc |",
        "| aoc |",
        "| agc+res-ac |",
        "| aoc+stack-ac:eta=0.01 |",
        "| agc+oracle | 0.000 (0.000)",
    ] {
        assert!(md.contains(row), "{row} missing:\n{md}");
    }
    assert!(
        md.contains("failed: ") && md.contains("deliberate panic"),
        "{md}"
    );
    let csv = read(&dir.join("scorecard.csv"));
    let rows: Vec<&str> = csv.lines().collect();
    assert_eq!(rows[0].split(',').count(), 12);
    // 8 points x 7 rows, the failed rows kept with their reason.
    assert_eq!(rows.len(), 1 + 8 * 7, "{csv}");
    assert_eq!(rows.iter().filter(|l| l.contains("failed: ")).count(), 8);
    assert!(
        std::fs::metadata(dir.join("bias_variance.svg"))
            .unwrap()
            .len()
            > 1000
    );
}

#[test]
fn an_unknown_estimator_is_a_clear_error() {
    let r = host(&["score", "--suite", "quick", "res-acc"]);
    assert_clear_error(&r, &["res-acc"]);
}

/// The folder under `root` holding `file`.
fn find_dir(root: &std::path::Path, file: &str) -> std::path::PathBuf {
    files_under(root)
        .into_iter()
        .find(|p| p.file_name().is_some_and(|n| n == file))
        .and_then(|p| p.parent().map(|d| d.to_path_buf()))
        .unwrap_or_else(|| panic!("no {file} under {}", root.display()))
}
