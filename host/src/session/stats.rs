//! The statistics of a comparison report, following rliable (Agarwal et al. 2021,
//! "Deep RL at the Edge of the Statistical Precipice"):
//! - IQM: the interquartile mean, scipy's `trim_mean(x, 0.25)` (drop `floor(n/4)` runs at each end);
//! - 95% CIs by the percentile bootstrap; rliable stratifies the resampling by task, and a
//!   session has one task (its env), so a resample draws n of the n runs with replacement;
//! - probability of improvement P(X > Y): the Mann-Whitney U statistic over all run pairs
//!   divided by n m, ties counting one half.
//!
//! Written here rather than taken from a crate: no maintained Rust crate implements rliable's
//! aggregates, and quantiles must use numpy's default (linear) definition to match the numbers
//! Python users get from rliable for the same runs. Bootstrap RNGs are fixed (seed 0 for
//! every statistic) so that a report is reproducible and independent of the other plugins.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// Bootstrap resamples per confidence interval (rliable's default is 50,000).
pub const BOOTSTRAP_REPS: usize = 50_000;

pub fn mean(xs: &[f64]) -> f64 {
    xs.iter().sum::<f64>() / xs.len() as f64
}

/// Sample standard deviation (n - 1 in the denominator; 0 for a single run).
pub fn std(xs: &[f64]) -> f64 {
    if xs.len() < 2 {
        return 0.0;
    }
    let m = mean(xs);
    (xs.iter().map(|x| (x - m).powi(2)).sum::<f64>() / (xs.len() - 1) as f64).sqrt()
}

fn sorted(xs: &[f64]) -> Vec<f64> {
    let mut v = xs.to_vec();
    v.sort_by(f64::total_cmp);
    v
}

/// Quantile `q` in [0, 1] of sorted data, numpy's default linear interpolation.
pub fn quantile_sorted(sorted: &[f64], q: f64) -> f64 {
    let pos = q * (sorted.len() - 1) as f64;
    let (lo, frac) = (pos.floor() as usize, pos - pos.floor());
    match sorted.get(lo + 1) {
        Some(hi) => sorted[lo] + frac * (hi - sorted[lo]),
        None => sorted[lo],
    }
}

pub fn median(xs: &[f64]) -> f64 {
    quantile_sorted(&sorted(xs), 0.5)
}

/// Interquartile mean: scipy's `trim_mean(xs, 0.25)`.
pub fn iqm(xs: &[f64]) -> f64 {
    let v = sorted(xs);
    let cut = v.len() / 4;
    mean(&v[cut..v.len() - cut])
}

/// A 95% percentile-bootstrap interval of `stat` over resamples of `xs`.
pub fn bootstrap_ci(xs: &[f64], stat: fn(&[f64]) -> f64) -> (f64, f64) {
    bootstrap_ci_with(xs, stat, BOOTSTRAP_REPS)
}

/// The same with `reps` resamples (curve bands use fewer: thousands of points).
pub fn bootstrap_ci_with(xs: &[f64], stat: fn(&[f64]) -> f64, reps: usize) -> (f64, f64) {
    let mut rng = ChaCha8Rng::seed_from_u64(0);
    let n = xs.len();
    let mut resample = vec![0.0; n];
    let stats = (0..reps).map(|_| {
        for r in resample.iter_mut() {
            *r = xs[rng.random_range(0..n)];
        }
        stat(&resample)
    });
    percentile_interval(stats.collect())
}

/// The central 95% of bootstrap statistics (numpy percentiles 2.5 and 97.5).
fn percentile_interval(stats: Vec<f64>) -> (f64, f64) {
    let s = sorted(&stats);
    (quantile_sorted(&s, 0.025), quantile_sorted(&s, 0.975))
}

/// P(X > Y): the share of run pairs (x, y) with x > y, ties counting one half.
pub fn probability_of_improvement(x: &[f64], y: &[f64]) -> f64 {
    let wins: f64 = x
        .iter()
        .flat_map(|a| {
            y.iter().map(move |b| match a.total_cmp(b) {
                std::cmp::Ordering::Greater => 1.0,
                std::cmp::Ordering::Equal => 0.5,
                std::cmp::Ordering::Less => 0.0,
            })
        })
        .sum();
    wins / (x.len() * y.len()) as f64
}

/// A 95% bootstrap interval of P(X > Y), resampling both sets of runs independently.
pub fn probability_of_improvement_ci(x: &[f64], y: &[f64]) -> (f64, f64) {
    let mut rng = ChaCha8Rng::seed_from_u64(0);
    let (mut rx, mut ry) = (vec![0.0; x.len()], vec![0.0; y.len()]);
    let stats = (0..BOOTSTRAP_REPS).map(|_| {
        for r in rx.iter_mut() {
            *r = x[rng.random_range(0..x.len())];
        }
        for r in ry.iter_mut() {
            *r = y[rng.random_range(0..y.len())];
        }
        probability_of_improvement(&rx, &ry)
    });
    percentile_interval(stats.collect())
}

/// Area under an eval curve `(step, return)` by the trapezoid rule, divided by the step
/// range: the curve's average return over training, in return units (a single point: its value).
pub fn normalized_auc(curve: &[(f64, f64)]) -> f64 {
    match curve {
        [] => f64::NAN,
        [(_, y)] => *y,
        _ => {
            let area: f64 = curve
                .windows(2)
                .map(|w| (w[1].0 - w[0].0) * (w[0].1 + w[1].1) / 2.0)
                .sum();
            area / (curve[curve.len() - 1].0 - curve[0].0)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hand_computed_aggregates() {
        assert_eq!(mean(&[1.0, 2.0, 6.0]), 3.0);
        // sum of squares 4 + 1 + 9 = 14, / (3 - 1) = 7
        assert!((std(&[1.0, 2.0, 6.0]) - 7f64.sqrt()).abs() < 1e-12);
        assert_eq!(median(&[5.0, 1.0, 3.0, 2.0]), 2.5);
        // numpy.percentile([1, 2, 3, 4], 25) == 1.75
        assert_eq!(quantile_sorted(&[1.0, 2.0, 3.0, 4.0], 0.25), 1.75);
        // scipy.stats.trim_mean(range(1, 9), 0.25) == 4.5 (drops 1, 2 and 7, 8)
        assert_eq!(iqm(&[8.0, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0]), 4.5);
        // n = 5: one run dropped at each end, the outlier has no say.
        assert_eq!(iqm(&[-1000.0, 1.0, 2.0, 3.0, 100.0]), 2.0);
        // n < 4: nothing to trim, the IQM is the mean.
        assert_eq!(iqm(&[1.0, 2.0, 6.0]), 3.0);
    }

    #[test]
    fn probability_of_improvement_counts_pairs_and_half_ties() {
        // x = 1 beats 0; x = 2 ties 2 twice and beats 0; x = 3 beats all: (1 + 2 + 3) / 9.
        let p = probability_of_improvement(&[1.0, 2.0, 3.0], &[2.0, 2.0, 0.0]);
        assert!((p - 6.0 / 9.0).abs() < 1e-12);
        assert_eq!(probability_of_improvement(&[1.0], &[1.0]), 0.5);
        let q = probability_of_improvement(&[2.0, 2.0, 0.0], &[1.0, 2.0, 3.0]);
        assert!((p + q - 1.0).abs() < 1e-12, "P(X>Y) + P(Y>X) = 1");
    }

    #[test]
    fn percentile_interval_of_known_bootstrap_statistics() {
        // Resample means 1, 2, 3, 2 (e.g. from [1,2,3] drawn as 000, 111, 222, 012):
        // sorted 1, 2, 2, 3; numpy.percentile(.., [2.5, 97.5]) = 1.075, 2.925.
        let (lo, hi) = percentile_interval(vec![1.0, 2.0, 3.0, 2.0]);
        assert!((lo - 1.075).abs() < 1e-12 && (hi - 2.925).abs() < 1e-12);
    }

    #[test]
    fn bootstrap_is_reproducible_and_matches_the_normal_approximation() {
        let xs = [
            -160.0, -130.0, -200.0, -170.0, -125.0, -150.0, -140.0, -180.0,
        ];
        let ci = bootstrap_ci(&xs, mean);
        assert_eq!(ci, bootstrap_ci(&xs, mean), "fixed RNG");
        // The bootstrap of the mean is close to mean +- 1.96 sigma_hat / sqrt(n) with the
        // plug-in (n) variance; n = 8 makes it only roughly normal.
        let m = mean(&xs);
        let se =
            std(&xs) * ((xs.len() - 1) as f64 / xs.len() as f64).sqrt() / (xs.len() as f64).sqrt();
        assert!(
            (ci.0 - (m - 1.96 * se)).abs() < 0.2 * se,
            "{ci:?} vs {m} +- {}",
            1.96 * se
        );
        assert!(
            (ci.1 - (m + 1.96 * se)).abs() < 0.2 * se,
            "{ci:?} vs {m} +- {}",
            1.96 * se
        );
        // A constant sample has a zero-width interval; one run gives its own value.
        assert_eq!(bootstrap_ci(&[3.0; 4], iqm), (3.0, 3.0));
        assert_eq!(probability_of_improvement_ci(&[2.0], &[1.0]), (1.0, 1.0));
    }

    #[test]
    fn auc_is_the_average_return_over_training() {
        // Trapezoids over [0, 10] and [10, 30]: (0 + 10) / 2 * 10 + (10 + 10) / 2 * 20 = 250; / 30.
        let auc = normalized_auc(&[(0.0, 0.0), (10.0, 10.0), (30.0, 10.0)]);
        assert!((auc - 250.0 / 30.0).abs() < 1e-12);
        assert_eq!(normalized_auc(&[(5.0, -3.0)]), -3.0);
        assert!(normalized_auc(&[]).is_nan());
    }
}
