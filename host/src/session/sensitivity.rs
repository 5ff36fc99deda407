//! A sweep's sensitivity plots: for each swept numeric value, the final return's IQM and the
//! AUC (with 95% bootstrap CIs) against the value, one line per family of the sweep (the
//! configuration without that value): `sensitivity_<key>_final` and `_auc` (`.svg`/`.png`).

use super::report::Report;
use super::spec::Session;
use super::stats;
use super::sweep::{Point, describe};
use crate::output::folder::sanitize;
use crate::output::plot::{Axes, Band, comparison};
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;

/// The swept keys with numeric values, in the order the sweep lists them.
fn keys(session: &Session) -> Vec<String> {
    let mut keys: Vec<String> = Vec::new();
    for run in &session.runs {
        for (k, v) in &run.sweep {
            if v.is_number() && !keys.contains(k) {
                keys.push(k.clone());
            }
        }
    }
    keys
}

fn stem(key: &str, metric: &str) -> String {
    format!("sensitivity_{}_{metric}", key.replace('.', "_"))
}

/// The Markdown that shows the plots (none without a numeric sweep).
pub fn markdown(session: &Session) -> Option<String> {
    let keys = keys(session);
    if keys.is_empty() {
        return None;
    }
    let mut md = String::from("\n## Sensitivity\n\n");
    for k in keys {
        let _ = writeln!(
            md,
            "Final return (IQM) and AUC against `{k}`: ![{k}, final]({}.png) ![{k}, AUC]({}.png)\n",
            stem(&k, "final"),
            stem(&k, "auc")
        );
    }
    Some(md)
}

/// A plotted statistic: file suffix, axis title, the row's values, the statistic.
type Metric = (
    &'static str,
    &'static str,
    fn(&super::report::Row) -> &Vec<f64>,
    fn(&[f64]) -> f64,
);

/// Draw the plots of every numeric swept key.
pub fn plots(dir: &Path, report: &Report, session: &Session) -> Result<(), String> {
    let point_of: BTreeMap<&str, &Point> = session
        .runs
        .iter()
        .map(|r| (r.label.as_str(), &r.sweep))
        .collect();
    for key in keys(session) {
        let metrics: [Metric; 2] = [
            (
                "final",
                "final return, IQM (95% CI)",
                |r| &r.final_returns,
                stats::iqm,
            ),
            (
                "auc",
                "AUC: mean return over training (95% CI)",
                |r| &r.auc,
                stats::mean,
            ),
        ];
        for (metric, y, column, stat) in metrics {
            let mut families: BTreeMap<String, Vec<(f64, f64, f64, f64)>> = BTreeMap::new();
            for row in &report.rows {
                let Some(point) = point_of.get(row.label.as_str()) else {
                    continue;
                };
                let Some(x) = point
                    .iter()
                    .find(|(k, _)| *k == key)
                    .and_then(|(_, v)| v.as_f64())
                else {
                    continue;
                };
                let values = column(row);
                if values.is_empty() {
                    continue;
                }
                let suffix = sanitize(&format!(" {}", describe(point)));
                let base = row.label.strip_suffix(&suffix).unwrap_or(&row.label);
                let others: Point = point.iter().filter(|(k, _)| *k != key).cloned().collect();
                let family = if others.is_empty() {
                    base.to_string()
                } else {
                    format!("{base} {}", describe(&others))
                };
                let (lo, hi) = stats::bootstrap_ci(values, stat);
                families
                    .entry(family)
                    .or_default()
                    .push((x, stat(values), lo, hi));
            }
            let bands: Vec<Band> = families
                .into_iter()
                .map(|(label, mut points)| {
                    points.sort_by(|a, b| a.0.total_cmp(&b.0));
                    Band { label, points }
                })
                .collect();
            if bands.iter().any(|b| !b.points.is_empty()) {
                let axes = Axes {
                    x: key.clone(),
                    y: y.into(),
                };
                let title = format!("sensitivity to {key}");
                comparison(dir, &stem(&key, metric), &title, &axes, &bands)?;
            }
        }
    }
    Ok(())
}
