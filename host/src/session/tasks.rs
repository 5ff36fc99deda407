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

/// Per method (the label without `@task`), its normalised final returns grouped by task.
fn normalised(
    report: &Report,
    session: &Session,
) -> (BTreeMap<String, Vec<Vec<f64>>>, Vec<String>) {
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
    let groups = by_method
        .into_iter()
        .map(|(m, tasks)| (m, tasks.into_values().collect()))
        .collect();
    (groups, skipped)
}

/// The "Across tasks" section of `summary.md` (none for a one-task session).
pub fn markdown(report: &Report, session: &Session) -> Option<String> {
    if session.spec.envs.len() < 2 {
        return None;
    }
    let (groups, skipped) = normalised(report, session);
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
    let (groups, _) = normalised(report, session);
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
}
