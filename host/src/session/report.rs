//! The comparison report of a session directory, computed only from what the runs wrote
//! (`status.json`, `eval.csv`), so it can be rewritten at any time, by any shard, and
//! merges the shards of a sharded session: `summary.md`, `summary.csv`, `curves.svg`/`.png`.

use super::spec::{PlannedRun, Session};
use super::stats;
use crate::run_dir::{Status, write_atomic};
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;

/// What became of one planned run.
#[derive(Clone, Debug)]
pub struct RunRecord {
    pub label: String,
    pub seed: u64,
    /// `finished`, `failed`, `diverged`, `running` (interrupted) or `not run`.
    pub state: String,
    pub message: Option<String>,
    /// (env step, mean deterministic eval return).
    pub evals: Vec<(f64, f64)>,
    pub elapsed_secs: Option<f64>,
    pub iterations: Option<u64>,
    /// (env step, exact J of the policy) from `tabular.csv` (tabular envs).
    pub exact_j: Vec<(f64, f64)>,
}

impl RunRecord {
    pub fn read(session_dir: &Path, run: &PlannedRun) -> Self {
        let dir = session_dir.join(&run.dir);
        let status: Option<Status> = std::fs::read_to_string(dir.join("status.json"))
            .ok()
            .and_then(|t| serde_json::from_str(&t).ok());
        let evals = crate::plot::read_csv(&dir.join("eval.csv"))
            .into_iter()
            .filter(|r| r.len() >= 2)
            .map(|r| (r[0], r[1]))
            .collect();
        // `tabular.csv` has empty cells (tables a plugin lacks): read the first two columns.
        let exact_j = std::fs::read_to_string(dir.join("tabular.csv"))
            .unwrap_or_default()
            .lines()
            .skip(1)
            .filter_map(|l| {
                let mut cells = l.split(',').map(|c| c.parse::<f64>().ok());
                Some((cells.next()??, cells.next()??))
            })
            .collect();
        let (state, message, elapsed_secs, iterations) = match status {
            Some(s) => (s.state, s.message, s.elapsed_secs, s.iterations),
            None => ("not run".to_string(), None, None, None),
        };
        Self {
            label: run.label.clone(),
            seed: run.seed,
            state,
            message,
            evals,
            elapsed_secs,
            iterations,
            exact_j,
        }
    }

    pub fn finished(&self) -> bool {
        self.state == "finished" && !self.evals.is_empty()
    }

    pub fn final_return(&self) -> f64 {
        self.evals.last().map_or(f64::NAN, |e| e.1)
    }
}

/// One plugin's row of the summary.
pub struct Row {
    pub label: String,
    pub planned: usize,
    pub finished: usize,
    pub final_returns: Vec<f64>,
    pub auc: Vec<f64>,
    /// First eval step at or above the threshold, per finished run (None: never reached).
    pub steps_to_threshold: Vec<Option<f64>>,
    pub wall_secs: Vec<f64>,
    /// Training iterations per second of each finished run: one SAC-x-y iteration is x critic,
    /// y correction and one actor step, so a correction's cost shows here (its update calls
    /// per second would count its own cheap steps as speed).
    pub iterations_per_sec: Vec<f64>,
}

pub struct Report {
    pub records: Vec<RunRecord>,
    pub rows: Vec<Row>,
    pub threshold: Option<f64>,
}

impl Report {
    pub fn compute(dir: &Path, session: &Session, threshold: Option<f64>) -> Self {
        let records: Vec<RunRecord> = session
            .runs
            .iter()
            .map(|r| RunRecord::read(dir, r))
            .collect();
        let mut labels: Vec<String> = Vec::new();
        for r in &session.runs {
            if !labels.contains(&r.label) {
                labels.push(r.label.clone());
            }
        }
        let rows = labels
            .into_iter()
            .map(|label| {
                let mine: Vec<&RunRecord> = records.iter().filter(|r| r.label == label).collect();
                let done: Vec<&&RunRecord> = mine.iter().filter(|r| r.finished()).collect();
                Row {
                    planned: mine.len(),
                    finished: done.len(),
                    final_returns: done.iter().map(|r| r.final_return()).collect(),
                    auc: done
                        .iter()
                        .map(|r| stats::normalized_auc(&r.evals))
                        .collect(),
                    steps_to_threshold: done
                        .iter()
                        .map(|r| {
                            threshold.and_then(|t| r.evals.iter().find(|e| e.1 >= t).map(|e| e.0))
                        })
                        .collect(),
                    wall_secs: done.iter().filter_map(|r| r.elapsed_secs).collect(),
                    iterations_per_sec: done
                        .iter()
                        .filter_map(|r| Some(r.iterations? as f64 / r.elapsed_secs?))
                        .collect(),
                    label,
                }
            })
            .collect();
        Self {
            records,
            rows,
            threshold,
        }
    }

    pub fn unfinished(&self) -> impl Iterator<Item = &RunRecord> {
        self.records.iter().filter(|r| !r.finished())
    }
}

fn fmt(x: f64) -> String {
    if x.is_finite() {
        format!("{x:.1}")
    } else {
        "".into()
    }
}

fn ci(xs: &[f64], stat: fn(&[f64]) -> f64) -> (f64, f64) {
    if xs.is_empty() {
        (f64::NAN, f64::NAN)
    } else {
        stats::bootstrap_ci(xs, stat)
    }
}

fn or_nan(xs: &[f64], stat: fn(&[f64]) -> f64) -> f64 {
    if xs.is_empty() { f64::NAN } else { stat(xs) }
}

/// Median steps over the runs that reached the threshold, and how many did.
fn threshold_cell(row: &Row) -> (f64, usize) {
    let reached: Vec<f64> = row.steps_to_threshold.iter().flatten().copied().collect();
    (or_nan(&reached, stats::median), reached.len())
}

/// Bootstrap resamples per point of a curve's band.
const CURVE_REPS: usize = 2_000;

pub const CSV_HEADER: &str = "label,planned,finished,final_mean,final_std,final_median,final_iqm,final_iqm_ci_low,final_iqm_ci_high,auc_mean,auc_ci_low,auc_ci_high,threshold,steps_to_threshold_median,runs_reaching_threshold,wall_secs_mean,iterations_per_sec_mean";

/// `summary.csv`: one row per plugin; the last two columns are wall-clock measurements.
pub fn csv(report: &Report) -> String {
    let mut out = format!("{CSV_HEADER}\n");
    for row in &report.rows {
        let f = &row.final_returns;
        let (iqm_lo, iqm_hi) = ci(f, stats::iqm);
        let (auc_lo, auc_hi) = ci(&row.auc, stats::mean);
        let (steps, reached) = threshold_cell(row);
        let cells = [
            row.label.clone(),
            row.planned.to_string(),
            row.finished.to_string(),
            or_nan(f, stats::mean).to_string(),
            or_nan(f, stats::std).to_string(),
            or_nan(f, stats::median).to_string(),
            or_nan(f, stats::iqm).to_string(),
            iqm_lo.to_string(),
            iqm_hi.to_string(),
            or_nan(&row.auc, stats::mean).to_string(),
            auc_lo.to_string(),
            auc_hi.to_string(),
            report.threshold.map(|t| t.to_string()).unwrap_or_default(),
            steps.to_string(),
            reached.to_string(),
            or_nan(&row.wall_secs, stats::mean).to_string(),
            or_nan(&row.iterations_per_sec, stats::mean).to_string(),
        ];
        let quoted: Vec<String> = cells
            .iter()
            .map(|c| {
                if c.contains(',') || c.contains('"') {
                    format!("\"{}\"", c.replace('"', "\"\""))
                } else {
                    c.clone()
                }
            })
            .collect();
        let _ = writeln!(out, "{}", quoted.join(","));
    }
    out
}

/// `summary.md`: the tables a reader wants first.
pub fn markdown(report: &Report, session: &Session) -> String {
    let s = &session.spec;
    let mut md = String::new();
    let title = s.name.clone().unwrap_or_else(|| "comparison".into());
    let _ = writeln!(md, "# {title}\n");
    if let Some(d) = &s.description {
        let _ = writeln!(md, "{d}\n");
    }
    let _ = writeln!(
        md,
        "`{}`, {} env steps, seeds {}..{}, deterministic evaluation every {} steps ({} episodes).\n",
        s.settings.env,
        s.settings.steps,
        s.seed,
        s.seed + s.seeds - 1,
        s.settings.eval_every,
        s.settings.eval_episodes
    );
    let _ = writeln!(
        md,
        "Final = the last evaluation's mean return per run; IQM and AUC with 95% stratified-bootstrap CIs ({} resamples); AUC = the eval curve's average return over training.\n",
        stats::BOOTSTRAP_REPS
    );
    let thr = report
        .threshold
        .map(|t| format!(" | steps to {t}"))
        .unwrap_or_default();
    let _ = writeln!(
        md,
        "| plugin | runs | final mean ± std | median | IQM [95% CI] | AUC [95% CI]{thr} | wall s/run | iterations/s |"
    );
    let _ = writeln!(
        md,
        "|---|---|---|---|---|---|{}---|---|",
        if thr.is_empty() { "" } else { "---|" }
    );
    for row in &report.rows {
        let f = &row.final_returns;
        let (lo, hi) = ci(f, stats::iqm);
        let (alo, ahi) = ci(&row.auc, stats::mean);
        let thr_cell = match report.threshold {
            Some(_) => {
                let (steps, reached) = threshold_cell(row);
                format!(" {} ({reached}/{}) |", fmt(steps), row.finished)
            }
            None => String::new(),
        };
        let _ = writeln!(
            md,
            "| {} | {}/{} | {} ± {} | {} | {} [{}, {}] | {} [{}, {}] |{thr_cell} {} | {} |",
            row.label,
            row.finished,
            row.planned,
            fmt(or_nan(f, stats::mean)),
            fmt(or_nan(f, stats::std)),
            fmt(or_nan(f, stats::median)),
            fmt(or_nan(f, stats::iqm)),
            fmt(lo),
            fmt(hi),
            fmt(or_nan(&row.auc, stats::mean)),
            fmt(alo),
            fmt(ahi),
            fmt(or_nan(&row.wall_secs, stats::mean)),
            fmt(or_nan(&row.iterations_per_sec, stats::mean)),
        );
    }
    let rows: Vec<&Row> = report
        .rows
        .iter()
        .filter(|r| !r.final_returns.is_empty())
        .collect();
    if rows.len() > 1 {
        let _ = writeln!(
            md,
            "\n## Probability of improvement\n\nP(row > column) of the final return, with a 95% bootstrap CI.\n"
        );
        let header: Vec<&str> = rows.iter().map(|r| r.label.as_str()).collect();
        let _ = writeln!(md, "| P(row > col) | {} |", header.join(" | "));
        let _ = writeln!(md, "|---|{}", "---|".repeat(rows.len()));
        for x in &rows {
            let cells: Vec<String> = rows
                .iter()
                .map(|y| {
                    if x.label == y.label {
                        "—".into()
                    } else {
                        let p =
                            stats::probability_of_improvement(&x.final_returns, &y.final_returns);
                        let (lo, hi) = stats::probability_of_improvement_ci(
                            &x.final_returns,
                            &y.final_returns,
                        );
                        format!("{p:.2} [{lo:.2}, {hi:.2}]")
                    }
                })
                .collect();
            let _ = writeln!(md, "| {} | {} |", x.label, cells.join(" | "));
        }
    }
    let unfinished: Vec<&RunRecord> = report.unfinished().collect();
    if !unfinished.is_empty() {
        let _ = writeln!(md, "\n## Runs without a result\n");
        for r in unfinished {
            let why = r.message.clone().unwrap_or_else(|| match r.state.as_str() {
                "running" => "killed; `--resume` the session to continue it".into(),
                "not run" => "not run yet (another shard, or an interrupted session)".into(),
                "finished" => "its eval.csv has no readable evaluation row".into(),
                other => format!("state `{other}` without a message"),
            });
            let _ = writeln!(
                md,
                "- {} seed {}: **{}** — {}",
                r.label,
                r.seed,
                r.state,
                why.replace('\n', " ")
            );
        }
    }
    if let Some(table) = super::exact_table::markdown(report, session) {
        md.push_str(&table);
    }
    let _ = writeln!(md, "\n![curves](curves.png)");
    if report.records.iter().any(|r| !r.exact_j.is_empty()) {
        let _ = writeln!(md, "\n![exact J](curves_exact_j.png)");
    }
    md
}

/// Mean eval curve with a 95% bootstrap band per plugin, over its finished runs, at the
/// eval steps they share.
pub fn curves(report: &Report) -> Vec<crate::plot::Band> {
    curves_of(report, |r| &r.evals)
}

/// The same for any per-run curve (e.g. the exact J of tabular runs).
fn curves_of(report: &Report, curve: fn(&RunRecord) -> &Vec<(f64, f64)>) -> Vec<crate::plot::Band> {
    report
        .rows
        .iter()
        .map(|row| {
            let mut by_step: BTreeMap<u64, Vec<f64>> = BTreeMap::new();
            let runs: Vec<&RunRecord> = report
                .records
                .iter()
                .filter(|r| r.label == row.label && r.finished())
                .collect();
            for r in &runs {
                for (step, ret) in curve(r) {
                    by_step.entry(*step as u64).or_default().push(*ret);
                }
            }
            let shared: Vec<(u64, Vec<f64>)> = by_step
                .into_iter()
                .filter(|(_, v)| v.len() == runs.len())
                .collect();
            // At most ~300 points per curve (tabular runs log every episode).
            let stride = shared.len().div_ceil(300).max(1);
            let points = shared
                .iter()
                .enumerate()
                .filter(|(i, _)| i % stride == 0 || *i == shared.len() - 1)
                .map(|(_, (step, v))| {
                    let (lo, hi) = stats::bootstrap_ci_with(v, stats::mean, CURVE_REPS);
                    (*step as f64, stats::mean(v), lo, hi)
                })
                .collect();
            crate::plot::Band {
                label: format!("{} (n={})", row.label, runs.len()),
                points,
            }
        })
        .collect()
}

/// Write every report file into the session directory (atomically, file by file).
pub fn write(dir: &Path, session: &Session, threshold: Option<f64>) -> Result<Report, String> {
    let report = Report::compute(dir, session, threshold.or(session.spec.threshold));
    write_atomic(&dir.join("summary.csv"), csv(&report).as_bytes())?;
    write_atomic(
        &dir.join("summary.md"),
        markdown(&report, session).as_bytes(),
    )?;
    let title = format!(
        "{} on {}",
        session.spec.name.as_deref().unwrap_or("comparison"),
        session.spec.settings.env
    );
    let bands = curves(&report);
    if bands.iter().any(|b| !b.points.is_empty()) {
        crate::plot::comparison(dir, "curves", &title, &Default::default(), &bands)?;
    }
    let exact = curves_of(&report, |r| &r.exact_j);
    if exact.iter().any(|b| !b.points.is_empty()) {
        let axes = crate::plot::Axes {
            y: "exact J of the policy (mean, 95% CI)".into(),
            ..Default::default()
        };
        crate::plot::comparison(dir, "curves_exact_j", &title, &axes, &exact)?;
    }
    Ok(report)
}
