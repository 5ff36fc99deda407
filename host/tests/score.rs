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

/// The continuous scorecard end to end on a short SAC run: a correction that adds nothing
/// closes exactly none of the gap and scores as plain SAC; the Monte-Carlo oracle (rollouts
/// independent of the truth's) has a bias within its standard error where plain SAC's is many
/// standard errors away; a library named by file is a row; a panicking estimator fails its
/// row only, with the reason.
#[test]
fn the_continuous_scorecard_knows_its_answers() {
    let panics = format!("{}@panics", fixtures().normal.display());
    let r = host(&[
        "score",
        "--suite",
        "pendulum",
        "--points",
        "2000",
        "--seeds",
        "1",
        "--batches",
        "12",
        "--warmup",
        "20",
        "action-penalty:scale=0",
        "libactionpenalty.so",
        "oracle",
        &panics,
    ]);
    assert!(r.out.status.success(), "{}", r.stderr());
    let dir = find_dir(r.runs.path(), "scorecard.md");
    let csv = read(&dir.join("scorecard.csv"));
    let row = |label: &str| -> Vec<String> {
        csv.lines()
            .find(|l| l.split(',').nth(3) == Some(label))
            .unwrap_or_else(|| panic!("no row {label}:\n{csv}"))
            .split(',')
            .map(String::from)
            .collect()
    };
    let num = |r: &[String], i: usize| -> f64 { r[i].parse().unwrap() };
    let (sac, zero, oracle) = (
        row("sac"),
        row("sac+action-penalty:scale=0"),
        row("sac+oracle"),
    );
    // Columns: rel_bias 5, bias_se 6, rel_variance 7, gap_closed 11.
    assert_eq!(
        zero[11], "0",
        "a zero term closes exactly nothing: {zero:?}"
    );
    assert_eq!(zero[5..11], sac[5..11], "and scores as plain SAC");
    assert!(
        num(&oracle, 5) < 3.0 * num(&oracle, 6),
        "oracle: {oracle:?}"
    );
    assert!(
        num(&sac, 5) > 3.0 * num(&sac, 6),
        "plain SAC resolved: {sac:?}"
    );
    assert!(num(&row("sac+libactionpenalty.so"), 11).is_finite());
    let failed = row(&format!("sac+{panics}"));
    assert!(failed[4].contains("panicked"), "{failed:?}");
    let md = read(&dir.join("scorecard.md"));
    assert!(md.contains("| 2000 steps | 0 | 2000 |"), "{md}");
    assert!(dir.join("bias_variance.png").is_file());
}
