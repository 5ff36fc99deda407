//! The files of a session's report: `summary.md` (with the exact `J / J*` table on tabular
//! envs), `summary.csv`, and the comparison curves, written from a [`Report`].

use super::report::{Report, Row, RunRecord, ci, csv, fmt, or_nan, threshold_cell};
use super::spec::Session;
use super::stats;
use crate::output::run_dir::{RunState, write_atomic};
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;

/// A P(row > column) table of the final returns of `rows`.
fn probability_table(md: &mut String, rows: &[&Row]) {
    let header: Vec<&str> = rows.iter().map(|r| r.label.as_str()).collect();
    let _ = writeln!(md, "| P(row > col) | {} |", header.join(" | "));
    let _ = writeln!(md, "|---|{}", "---|".repeat(rows.len()));
    for x in rows {
        let cells: Vec<String> = rows
            .iter()
            .map(|y| {
                if x.label == y.label {
                    "—".into()
                } else {
                    let p = stats::probability_of_improvement(&x.final_returns, &y.final_returns);
                    let (lo, hi) =
                        stats::probability_of_improvement_ci(&x.final_returns, &y.final_returns);
                    format!("{p:.2} [{lo:.2}, {hi:.2}]")
                }
            })
            .collect();
        let _ = writeln!(md, "| {} | {} |", x.label, cells.join(" | "));
    }
}

/// Rows with fewer finished runs than this get a visible note: bootstrap intervals from so few
/// runs look tight but cannot support a claim (rliable recommends at least 5; Agarwal et al.).
const FEW_RUNS: usize = 5;

/// The note under the table naming the rows with fewer than [`FEW_RUNS`] finished runs.
fn few_runs_note(md: &mut String, report: &Report) {
    let few: Vec<String> = (report.rows.iter())
        .filter(|r| r.finished < FEW_RUNS)
        .map(|r| format!("{} (n = {})", r.label, r.finished))
        .collect();
    if !few.is_empty() {
        let _ = writeln!(
            md,
            "
**Fewer than {FEW_RUNS} runs:** {}. Intervals from so few runs are illustrative, \
             not evidence: with n = 2 or 3 a bootstrap interval can look tight whatever the \
             spread between seeds; run more seeds (`--seeds`) before claiming a difference.",
            few.join(", ")
        );
    }
}

/// Each row's agent, schedule and correction, from its first planned run's resolved config
/// (what `session.json` records), so the report alone says what was compared.
fn what_each_row_runs(md: &mut String, session: &Session) {
    let _ = writeln!(
        md,
        "
| row | agent | schedule | other settings that differ between rows | correction |\n|---|---|---|---|---|"
    );
    const SCHEDULE: [&str; 5] = [
        "schedule",
        "env_steps_per_iter",
        "rollout_len",
        "num_envs",
        "critic_steps",
    ];
    let mut seen = std::collections::BTreeSet::new();
    let rows: Vec<_> = session
        .runs
        .iter()
        .filter(|r| seen.insert(r.label.clone()))
        .collect();
    let shown = |key: &str, v: &serde_json::Value| match v.as_str() {
        Some(text) => format!("{key} {text}"),
        None => format!("{key} {v}"),
    };
    for run in &rows {
        let spec = &run.spec;
        let config = |key: &str| spec.agent_config.get(key).map(|v| shown(key, v));
        let schedule: Vec<String> = SCHEDULE.iter().filter_map(|k| config(k)).collect();
        // The agent's other keys whose value is not the same in every row that has them (e.g.
        // STAC's `term`): what tells two rows of one agent and schedule apart.
        let differing: Vec<String> = spec
            .agent_config
            .as_object()
            .into_iter()
            .flatten()
            .filter(|(k, v)| {
                !SCHEDULE.contains(&k.as_str())
                    && rows
                        .iter()
                        .filter_map(|r| r.spec.agent_config.get(k.as_str()))
                        .any(|other| other != *v)
            })
            .map(|(k, v)| shown(k, v))
            .collect();
        let correction = match &spec.correction {
            Some(c) => format!("`{}` {}", c.name, c.config),
            None => "none".into(),
        };
        let or_dash = |v: Vec<String>| {
            if v.is_empty() {
                "—".to_string()
            } else {
                v.join(", ")
            }
        };
        let _ = writeln!(
            md,
            "| {} | `{}` from `{}` | {} | {} | {} |",
            run.label,
            spec.agent,
            spec.plugin,
            or_dash(schedule),
            or_dash(differing).replace('|', "\\|"),
            correction.replace('|', "\\|")
        );
    }
}

/// Bootstrap resamples per point of a curve's band.
const CURVE_REPS: usize = 2_000;

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
        s.seed + (s.seeds - 1),
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
    few_runs_note(&mut md, report);
    what_each_row_runs(&mut md, session);
    let rows: Vec<&Row> = report
        .rows
        .iter()
        .filter(|r| !r.final_returns.is_empty())
        .collect();
    // P(improvement) compares runs of the same task only: a multi-task session gets one table
    // per task (and the across-task average in the tasks section).
    let task_of = |label: &str| {
        session
            .runs
            .iter()
            .find(|r| r.label == label)
            .and_then(|r| r.task.clone())
    };
    let mut by_task: BTreeMap<Option<String>, Vec<&Row>> = BTreeMap::new();
    for r in rows {
        by_task.entry(task_of(&r.label)).or_default().push(r);
    }
    if by_task.values().any(|rows| rows.len() > 1) {
        let _ = writeln!(
            md,
            "\n## Probability of improvement\n\nP(row > column) of the final return, with a 95% bootstrap CI{}.\n",
            if by_task.len() > 1 {
                "; rows are compared within their task"
            } else {
                ""
            }
        );
    }
    for (task, rows) in by_task.iter().filter(|(_, rows)| rows.len() > 1) {
        if let Some(t) = task {
            let _ = writeln!(md, "`{t}`:\n");
        }
        probability_table(&mut md, rows);
        if task.is_some() {
            md.push('\n');
        }
    }
    training_table(&mut md, report);
    let unfinished: Vec<&RunRecord> = report.unfinished().collect();
    if !unfinished.is_empty() {
        let _ = writeln!(md, "\n## Runs without a result\n");
        for r in unfinished {
            let why = r.message.clone().unwrap_or_else(|| match r.state {
                Some(RunState::Running) => "killed; `--resume` the session to continue it".into(),
                None => "not run yet (another shard, or an interrupted session)".into(),
                Some(RunState::Finished) => "its eval.csv has no readable evaluation row".into(),
                Some(other) => format!("state `{other}` without a message"),
            });
            let _ = writeln!(
                md,
                "- {} seed {}: **{}** — {}",
                r.label,
                r.seed,
                r.state_name(),
                why.replace('\n', " ")
            );
        }
    }
    if let Some(section) = super::tasks::markdown(report, session) {
        md.push_str(&section);
    }
    if let Some(section) = super::sensitivity::markdown(session) {
        md.push_str(&section);
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

/// The training returns' section (`report::training_windows`): what on-policy papers plot.
fn training_table(md: &mut String, report: &Report) {
    if report.rows.iter().all(|r| r.final_training.is_empty()) {
        return;
    }
    let _ = writeln!(
        md,
        "\n## Training returns\n\nThe stochastic policy's own episodes while it learns (`episodes.csv`), averaged over each window between two evaluations: the curve on-policy papers plot as \"average episode return\". Final = the last window's mean per run; AUC = that curve's average; 95% bootstrap CIs.\n"
    );
    let _ = writeln!(md, "| plugin | runs | final IQM [95% CI] | AUC [95% CI] |");
    let _ = writeln!(md, "|---|---|---|---|");
    for row in &report.rows {
        let f = &row.final_training;
        let (lo, hi) = ci(f, stats::iqm);
        let (alo, ahi) = ci(&row.training_auc, stats::mean);
        let _ = writeln!(
            md,
            "| {} | {} | {} [{}, {}] | {} [{}, {}] |",
            row.label,
            f.len(),
            fmt(or_nan(f, stats::iqm)),
            fmt(lo),
            fmt(hi),
            fmt(or_nan(&row.training_auc, stats::mean)),
            fmt(alo),
            fmt(ahi),
        );
    }
    let _ = writeln!(md, "\n![training curves](curves_training.png)");
}

/// One of a run's curves, (step, value) points.
type Curve = fn(&RunRecord) -> &Vec<(f64, f64)>;

/// Mean of a per-run curve (eval returns, training returns, exact J) with a 95% bootstrap
/// band per plugin, over its finished runs, at the steps they share.
fn curves_of(report: &Report, curve: Curve) -> Vec<crate::output::plot::Band> {
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
            crate::output::plot::Band {
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
    // The eval curves, the training returns' and (tabular runs) the exact J, where runs have them.
    let kinds: [(&str, Option<&str>, Curve); 3] = [
        ("curves", None, |r| &r.evals),
        (
            "curves_training",
            Some("training episode return, per eval window (mean, 95% CI)"),
            |r| &r.training,
        ),
        (
            "curves_exact_j",
            Some("exact J of the policy (mean, 95% CI)"),
            |r| &r.exact_j,
        ),
    ];
    for (name, y, curve) in kinds {
        let bands = curves_of(&report, curve);
        if bands.iter().any(|b| !b.points.is_empty()) {
            let mut axes = crate::output::plot::Axes::default();
            if let Some(y) = y {
                axes.y = y.into();
            }
            crate::output::plot::comparison(dir, name, &title, &axes, &bands)?;
        }
    }
    super::sensitivity::plots(dir, &report, session)?;
    super::tasks::profile_plot(dir, &report, session)?;
    Ok(report)
}
