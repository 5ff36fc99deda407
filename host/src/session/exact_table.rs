//! For sessions on a tabular env: each method's exact `J / J*` (mean ± std over seeds) at 20%,
//! 40% and 100% of the budget (100k, 200k and 500k steps for the paper's FourRoom budget).

use super::report::Report;
use super::spec::Session;
use std::fmt::Write as _;

/// The fractions of the budget the table reports.
const AT: [f64; 3] = [0.2, 0.4, 1.0];

/// The Markdown table, or `None` when the runs logged no exact J or the env has no model.
pub fn markdown(report: &Report, session: &Session) -> Option<String> {
    if report.records.iter().all(|r| r.exact_j.is_empty()) {
        return None;
    }
    let env = acgap_envs::make(&session.spec.settings.env, 0).ok()?;
    let mdp = acgap_exact::Mdp::new(env.spec().tabular.as_ref()?).ok()?;
    let j_star = mdp.optimal_j();
    let steps = session.spec.settings.steps as f64;
    let mut md = String::new();
    let _ = writeln!(md, "\n## Exact J / J* (J* = {j_star:.4})\n");
    let heads: Vec<String> = AT
        .iter()
        .map(|f| format!("at {:.0}k", f * steps / 1e3))
        .collect();
    let _ = writeln!(md, "| method | {} |", heads.join(" | "));
    let _ = writeln!(md, "|---|{}", "---|".repeat(AT.len()));
    for row in &report.rows {
        let runs: Vec<&Vec<(f64, f64)>> = report
            .records
            .iter()
            .filter(|r| r.label == row.label && !r.exact_j.is_empty())
            .map(|r| &r.exact_j)
            .collect();
        let cells: Vec<String> = AT
            .iter()
            .map(|f| {
                // The last J logged at or before the step.
                let at: Vec<f64> = runs
                    .iter()
                    .filter_map(|c| c.iter().rev().find(|(s, _)| *s <= f * steps + 0.5))
                    .map(|(_, j)| j / j_star)
                    .collect();
                mean_std(&at)
            })
            .collect();
        let _ = writeln!(md, "| {} | {} |", row.label, cells.join(" | "));
    }
    Some(md)
}

fn mean_std(x: &[f64]) -> String {
    if x.is_empty() {
        return "—".into();
    }
    let n = x.len() as f64;
    let mean = x.iter().sum::<f64>() / n;
    let std = (x.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / n).sqrt();
    format!("{mean:.3} ± {std:.3}")
}
