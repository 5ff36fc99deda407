//! Multi-task sessions (`"envs": [...]`): the scores of every task normalised to
//! `(return - random) / (reference - random)`, aggregated over tasks and runs with rliable's
//! statistics (IQM, mean, median, optimality gap) and 95% stratified-bootstrap CIs (runs
//! resampled within each task), and performance profiles (the fraction of runs whose normalised
//! score exceeds tau), drawn as `performance_profile.svg`/`.png`.
//!
//! The random and reference scores are ours (docs/using-host.md, "Multi-task sessions"): random
//! = the mean return of a uniformly random policy measured with `host` (SAC's warm-up actions;
//! for CartPole an untrained AgC policy), reference = the task's solved level (Pendulum -150, as
//! SB3's SAC reaches; CartPole-v1 500, the maximum; MountainCarContinuous 90, Gymnasium's
//! threshold) and, for the MuJoCo tasks, D4RL's random and expert scores (Fu et al. 2020).

use super::report::Report;
use super::spec::Session;
use super::stats;
use crate::output::plot::{Axes, Band, comparison};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;

/// `(random, reference)` returns of a task, by env id (options after `:` ignored).
pub fn normalisation(env_id: &str) -> Option<(f64, f64)> {
    let id = env_id.split(':').next().unwrap_or("").to_ascii_lowercase();
    Some(match id.as_str() {
        "pendulum" | "pendulum-v1" => (-1227.4, -150.0),
        "cartpole" | "cartpole-v1" => (20.0, 500.0),
        "mountaincar-continuous" | "mountaincarcontinuous-v0" => (-33.4, 90.0),
        "halfcheetah" => (-280.18, 12135.0),
        "hopper" => (-20.27, 3234.3),
        "walker2d" => (1.63, 4592.3),
        "reacher" => (-42.2, -3.75),
        _ => return None,
    })
}

const REPS: usize = 2_000;

/// `stat` of the pooled scores, with a 95% CI from resampling each task's runs.
fn stratified(groups: &[Vec<f64>], stat: &dyn Fn(&[f64]) -> f64) -> (f64, f64, f64) {
    let pooled: Vec<f64> = groups.iter().flatten().copied().collect();
    let mut rng = ChaCha8Rng::seed_from_u64(0);
    let mut draws: Vec<f64> = (0..REPS)
        .map(|_| {
            let sample: Vec<f64> = groups
                .iter()
                .flat_map(|g| {
                    (0..g.len())
                        .map(|_| g[rng.random_range(0..g.len())])
                        .collect::<Vec<_>>()
                })
                .collect();
            stat(&sample)
        })
        .collect();
    draws.sort_by(f64::total_cmp);
    (
        stat(&pooled),
        stats::quantile_sorted(&draws, 0.025),
        stats::quantile_sorted(&draws, 0.975),
    )
}

fn optimality_gap(xs: &[f64]) -> f64 {
    stats::mean(&xs.iter().map(|x| (1.0 - x).max(0.0)).collect::<Vec<_>>())
}

/// Normalised final returns by method (the label without `@task`), then by task.
type ByMethod = BTreeMap<String, BTreeMap<String, Vec<f64>>>;

/// Per method, its normalised final returns grouped by task; and the tasks without scores.
fn normalised(report: &Report, session: &Session) -> (ByMethod, Vec<String>) {
    let mut by_method: BTreeMap<String, BTreeMap<String, Vec<f64>>> = BTreeMap::new();
    let mut skipped = Vec::new();
    for run in &session.runs {
        let Some(task) = &run.task else { continue };
        let Some((random, reference)) = normalisation(task) else {
            if !skipped.contains(task) {
                skipped.push(task.clone());
            }
            continue;
        };
        let method = run
            .label
            .strip_suffix(&format!("@{}", crate::output::folder::sanitize(task)))
            .unwrap_or(&run.label)
            .to_string();
        let Some(record) = report
            .records
            .iter()
            .find(|r| r.label == run.label && r.seed == run.seed && r.finished())
        else {
            continue;
        };
        by_method
            .entry(method)
            .or_default()
            .entry(task.clone())
            .or_default()
            .push((record.final_return() - random) / (reference - random));
    }
    (by_method, skipped)
}

/// rliable's average probability of improvement: the mean over the tasks both methods ran of
/// P(X > Y) within the task, with a 95% CI from resampling each task's runs of both methods.
fn average_probability(
    x: &BTreeMap<String, Vec<f64>>,
    y: &BTreeMap<String, Vec<f64>>,
) -> Option<(f64, f64, f64)> {
    let pairs: Vec<(&Vec<f64>, &Vec<f64>)> = x
        .iter()
        .filter_map(|(task, xs)| Some((xs, y.get(task)?)))
        .filter(|(xs, ys)| !xs.is_empty() && !ys.is_empty())
        .collect();
    if pairs.is_empty() {
        return None;
    }
    let mean_p = |pairs: &[(Vec<f64>, Vec<f64>)]| {
        pairs
            .iter()
            .map(|(a, b)| stats::probability_of_improvement(a, b))
            .sum::<f64>()
            / pairs.len() as f64
    };
    let owned: Vec<(Vec<f64>, Vec<f64>)> = pairs
        .iter()
        .map(|(a, b)| ((*a).clone(), (*b).clone()))
        .collect();
    let mut rng = ChaCha8Rng::seed_from_u64(0);
    let resample = |v: &[f64], rng: &mut ChaCha8Rng| -> Vec<f64> {
        (0..v.len())
            .map(|_| v[rng.random_range(0..v.len())])
            .collect()
    };
    let mut draws: Vec<f64> = (0..REPS)
        .map(|_| {
            let sample: Vec<(Vec<f64>, Vec<f64>)> = owned
                .iter()
                .map(|(a, b)| (resample(a, &mut rng), resample(b, &mut rng)))
                .collect();
            mean_p(&sample)
        })
        .collect();
    draws.sort_by(f64::total_cmp);
    Some((
        mean_p(&owned),
        stats::quantile_sorted(&draws, 0.025),
        stats::quantile_sorted(&draws, 0.975),
    ))
}

/// Each method's scores as one group per task (the strata of the bootstrap).
fn grouped(by_method: &ByMethod) -> Vec<(String, Vec<Vec<f64>>)> {
    by_method
        .iter()
        .map(|(m, tasks)| (m.clone(), tasks.values().cloned().collect()))
        .collect()
}

/// The "Across tasks" section of `summary.md` (none for a one-task session).
pub fn markdown(report: &Report, session: &Session) -> Option<String> {
    if session.spec.envs.len() < 2 {
        return None;
    }
    let (by_method, skipped) = normalised(report, session);
    let groups = grouped(&by_method);
    let mut md = String::from("\n## Across tasks (normalised scores)\n\n");
    let _ = writeln!(
        md,
        "Final return normalised per task to `(R - random) / (reference - random)`; pooled over tasks and runs, 95% stratified-bootstrap CIs ({REPS} resamples of each task's runs). Optimality gap = mean of `max(0, 1 - score)` (lower is better).\n"
    );
    md.push_str("| method | tasks | runs | IQM | mean | median | optimality gap |\n|---|---|---|---|---|---|---|\n");
    for (method, tasks) in &groups {
        let cell = |stat: fn(&[f64]) -> f64| {
            let (v, lo, hi) = stratified(tasks, &stat);
            format!("{v:.3} [{lo:.3}, {hi:.3}]")
        };
        let _ = writeln!(
            md,
            "| {method} | {} | {} | {} | {} | {} | {} |",
            tasks.len(),
            tasks.iter().map(Vec::len).sum::<usize>(),
            cell(stats::iqm),
            cell(stats::mean),
            cell(stats::median),
            cell(optimality_gap)
        );
    }
    if by_method.len() > 1 {
        md.push_str("\nAverage probability of improvement: P(row > column) within each task, averaged over the tasks both ran (rliable's), with 95% CIs from resampling each task's runs.\n\n");
        let methods: Vec<&String> = by_method.keys().collect();
        let header: Vec<&str> = methods.iter().map(|m| m.as_str()).collect();
        let _ = writeln!(md, "| P(row > col) | {} |", header.join(" | "));
        let _ = writeln!(md, "|---|{}", "---|".repeat(methods.len()));
        for x in &methods {
            let cells: Vec<String> = methods
                .iter()
                .map(
                    |y| match average_probability(&by_method[*x], &by_method[*y]) {
                        _ if x == y => "—".into(),
                        Some((p, lo, hi)) => format!("{p:.2} [{lo:.2}, {hi:.2}]"),
                        None => "no common task".into(),
                    },
                )
                .collect();
            let _ = writeln!(md, "| {x} | {} |", cells.join(" | "));
        }
    }
    if !skipped.is_empty() {
        let _ = writeln!(
            md,
            "\nNot normalised (no random/reference scores): {}.",
            skipped.join(", ")
        );
    }
    md.push_str("\n![performance profiles](performance_profile.png)\n");
    Some(md)
}

/// Performance profiles: for tau in [0, 1.5], the fraction of a method's runs (pooled over
/// tasks) with a normalised score above tau, with a stratified-bootstrap 95% band.
pub fn profile_plot(dir: &Path, report: &Report, session: &Session) -> Result<(), String> {
    if session.spec.envs.len() < 2 {
        return Ok(());
    }
    let groups = grouped(&normalised(report, session).0);
    let taus: Vec<f64> = (0..=30).map(|i| i as f64 * 0.05).collect();
    let bands: Vec<Band> = groups
        .iter()
        .map(|(method, tasks)| {
            let points = taus
                .iter()
                .map(|&tau| {
                    let above = |xs: &[f64]| {
                        xs.iter().filter(|&&x| x > tau).count() as f64 / xs.len().max(1) as f64
                    };
                    let (v, lo, hi) = stratified(tasks, &above);
                    (tau, v, lo, hi)
                })
                .collect();
            Band {
                label: method.clone(),
                points,
            }
        })
        .collect();
    if bands.is_empty() {
        return Ok(());
    }
    let axes = Axes {
        x: "normalised score tau".into(),
        y: "fraction of runs with score > tau (95% CI)".into(),
    };
    comparison(
        dir,
        "performance_profile",
        "performance profiles",
        &axes,
        &bands,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aggregates_of_known_scores() {
        // Two tasks; the pooled mean is 0.5, a constant task has no spread of its own.
        let groups = vec![vec![0.0, 0.0, 0.0], vec![1.0, 1.0, 1.0]];
        let (m, lo, hi) = stratified(&groups, &stats::mean);
        assert_eq!((m, lo, hi), (0.5, 0.5, 0.5));
        assert_eq!(
            optimality_gap(&[0.5, 1.5, 1.0, -1.0]),
            (0.5 + 0.0 + 0.0 + 2.0) / 4.0
        );
        let (random, reference) = normalisation("pendulum").unwrap();
        assert!(random < reference);
        assert!(normalisation("fourroom").is_none());
    }

    #[test]
    fn average_probability_of_improvement_is_the_mean_over_common_tasks() {
        let map = |v: &[(&str, &[f64])]| -> BTreeMap<String, Vec<f64>> {
            v.iter()
                .map(|(t, xs)| (t.to_string(), xs.to_vec()))
                .collect()
        };
        // Task a: x always wins (1); task b: x always loses (0); task c: only x ran it.
        let x = map(&[("a", &[2.0, 3.0]), ("b", &[0.0]), ("c", &[9.0])]);
        let y = map(&[("a", &[1.0, 1.0]), ("b", &[1.0])]);
        assert_eq!(average_probability(&x, &y).unwrap().0, 0.5);
        assert_eq!(average_probability(&y, &x).unwrap().0, 0.5);
        // Constant outcomes within each task: the CI cannot move.
        assert_eq!(average_probability(&x, &y).unwrap(), (0.5, 0.5, 0.5));
        let z = map(&[("d", &[1.0])]);
        assert!(average_probability(&x, &z).is_none());
    }
}
