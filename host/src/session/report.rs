//! The comparison report of a session directory, computed only from what the runs wrote
//! (`status.json`, `eval.csv`, `episodes.csv`), so it can be rewritten at any time, by any shard, and
//! merges the shards of a sharded session; `summary` writes it out.

use super::spec::{PlannedRun, Session};
use super::stats;
use crate::output::run_dir::{RunState, Status};
use std::fmt::Write as _;
use std::path::Path;

/// What became of one planned run.
#[derive(Clone, Debug)]
pub struct RunRecord {
    pub label: String,
    pub seed: u64,
    /// `None`: not run (no `status.json`: another shard, or an interrupted session).
    pub state: Option<RunState>,
    pub message: Option<String>,
    /// (env step, mean deterministic eval return).
    pub evals: Vec<(f64, f64)>,
    /// (eval step, mean return of the training episodes that ended since the previous eval):
    /// the stochastic policy's returns while it learns, on the eval grid (`training_windows`).
    pub training: Vec<(f64, f64)>,
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
        let evals = crate::output::plot::read_csv(&dir.join("eval.csv"))
            .into_iter()
            .filter(|r| r.len() >= 2)
            .map(|r| (r[0], r[1]))
            .collect::<Vec<_>>();
        let episodes: Vec<(f64, f64)> = crate::output::plot::read_csv(&dir.join("episodes.csv"))
            .into_iter()
            .filter(|r| r.len() >= 2)
            .map(|r| (r[0], r[1]))
            .collect();
        let training = training_windows(&episodes, &evals);
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
            Some(s) => (Some(s.state), s.message, s.elapsed_secs, s.iterations),
            None => (None, None, None, None),
        };
        Self {
            label: run.label.clone(),
            seed: run.seed,
            state,
            message,
            evals,
            training,
            elapsed_secs,
            iterations,
            exact_j,
        }
    }

    pub fn finished(&self) -> bool {
        self.state == Some(RunState::Finished) && !self.evals.is_empty()
    }

    /// The state as reports name it (`not run` when the run never wrote a status).
    pub fn state_name(&self) -> &'static str {
        self.state.map_or("not run", RunState::as_str)
    }

    pub fn final_return(&self) -> f64 {
        self.evals.last().map_or(f64::NAN, |e| e.1)
    }
}

/// The training episodes' returns averaged per evaluation window: at each eval step, the mean
/// return of the episodes that ended after the previous eval step and by this one. Papers that
/// plot "average episode return against steps" from on-policy logs (Spinning Up's, Zheng et
/// al.'s) mean this curve, not a deterministic evaluation's. A window in which no episode
/// ended has no point (its run then drops out of that step's band in the curves).
pub fn training_windows(episodes: &[(f64, f64)], evals: &[(f64, f64)]) -> Vec<(f64, f64)> {
    // One pass: `episodes.csv` is in step order (a resume truncates it to its checkpoint).
    let mut rest = episodes;
    let mut points = Vec::new();
    for &(step, _) in evals {
        let (window, after) = rest.split_at(rest.partition_point(|e| e.0 <= step));
        if !window.is_empty() {
            let sum: f64 = window.iter().map(|e| e.1).sum();
            points.push((step, sum / window.len() as f64));
        }
        rest = after;
    }
    points
}

/// One plugin's row of the summary.
pub struct Row {
    pub label: String,
    pub planned: usize,
    pub finished: usize,
    pub final_returns: Vec<f64>,
    pub auc: Vec<f64>,
    /// Per finished run with training episodes: the last window's mean training return and
    /// the training curve's average (`RunRecord::training`).
    pub final_training: Vec<f64>,
    pub training_auc: Vec<f64>,
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
                    final_training: done
                        .iter()
                        .filter_map(|r| r.training.last().map(|t| t.1))
                        .collect(),
                    training_auc: done
                        .iter()
                        .filter(|r| !r.training.is_empty())
                        .map(|r| stats::normalized_auc(&r.training))
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

pub(super) fn fmt(x: f64) -> String {
    if x.is_finite() {
        format!("{x:.1}")
    } else {
        "".into()
    }
}

pub(super) fn ci(xs: &[f64], stat: fn(&[f64]) -> f64) -> (f64, f64) {
    if xs.is_empty() {
        (f64::NAN, f64::NAN)
    } else {
        stats::bootstrap_ci(xs, stat)
    }
}

pub(super) fn or_nan(xs: &[f64], stat: fn(&[f64]) -> f64) -> f64 {
    if xs.is_empty() { f64::NAN } else { stat(xs) }
}

/// Median steps over the runs that reached the threshold, and how many did.
pub(super) fn threshold_cell(row: &Row) -> (f64, usize) {
    let reached: Vec<f64> = row.steps_to_threshold.iter().flatten().copied().collect();
    (or_nan(&reached, stats::median), reached.len())
}

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

#[cfg(test)]
mod tests {
    use super::training_windows;

    #[test]
    fn training_returns_are_averaged_per_evaluation_window() {
        // Episodes ending at steps 3, 5 | 9 | (none) | 21, 30; evals at 5, 9, 15, 30.
        let episodes = [(3.0, 1.0), (5.0, 3.0), (9.0, 5.0), (21.0, 7.0), (30.0, 9.0)];
        let evals = [(5.0, 0.0), (9.0, 0.0), (15.0, 0.0), (30.0, 0.0)];
        assert_eq!(
            training_windows(&episodes, &evals),
            vec![(5.0, 2.0), (9.0, 5.0), (30.0, 8.0)]
        );
        assert!(training_windows(&[], &evals).is_empty());
        assert!(training_windows(&episodes, &[]).is_empty());
    }
}
