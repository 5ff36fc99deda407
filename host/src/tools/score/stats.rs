//! The scores of one row at one point: its batch directions against the exact policy gradient.

/// What a row's directions `x_b` (one per batch) say about it. Relative quantities divide by
/// `|PG|` (`|PG|^2` for second moments) so that MDPs and points of any scale compare.
#[derive(Clone, Debug, PartialEq)]
pub struct Scores {
    /// `|mean_b (x_b - truth_b)| / |PG|`, `PG` the truth's mean (the exact gradient, or the mean of
    /// the per-batch estimates).
    pub rel_bias: f64,
    /// `mean_b |x_b - mean x|^2 / |PG|^2`: the trace of the covariance of one batch's direction.
    pub rel_variance: f64,
    /// The standard error of `rel_bias` from the finite number of batches (and, for a truth
    /// estimated per batch, its own noise): `sqrt(trace cov(x_b - truth_b) / batches) / |PG|`.
    /// A bias below about twice this is not resolved.
    pub bias_se: f64,
    /// `mean_b |x_b - PG|^2 / |PG|^2` (= bias^2 + variance).
    pub rel_mse: f64,
    /// `mean_b cos(x_b, PG)`.
    pub mean_cosine: f64,
    /// `cos(mean_b x_b, PG)`.
    pub cosine_of_mean: f64,
    /// `1 - |E[base + c] - PG| / |E[base] - PG|`, expectations over the same batches; `None`
    /// for a plain row, whose value is 0 by definition.
    pub gap_closed: Option<f64>,
}

fn dot(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

fn dist(a: &[f64], b: &[f64]) -> f64 {
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).powi(2))
        .sum::<f64>()
        .sqrt()
}

fn cosine(a: &[f64], b: &[f64]) -> f64 {
    dot(a, b) / (dot(a, a).sqrt() * dot(b, b).sqrt()).max(1e-300)
}

/// The mean of the directions.
pub fn mean(xs: &[Vec<f64>]) -> Vec<f64> {
    let mut m = vec![0.0; xs.first().map_or(0, Vec::len)];
    for x in xs {
        for (mi, xi) in m.iter_mut().zip(x) {
            *mi += xi;
        }
    }
    let k = xs.len().max(1) as f64;
    m.iter_mut().for_each(|v| *v /= k);
    m
}

/// The true gradient a row's directions are scored against: exact (one vector for every
/// batch, the tabular suites) or estimated batch by batch (the continuous suites' Monte-Carlo
/// gradient on each batch's own states).
#[derive(Clone, Copy)]
pub enum Truth<'a> {
    Exact(&'a [f64]),
    PerBatch(&'a [Vec<f64>]),
}

impl Truth<'_> {
    fn at(&self, b: usize) -> &[f64] {
        match self {
            Truth::Exact(pg) => pg,
            Truth::PerBatch(t) => &t[b],
        }
    }

    /// The true gradient of the expectation over batches (`PG`).
    pub fn mean(&self) -> Vec<f64> {
        match self {
            Truth::Exact(pg) => pg.to_vec(),
            Truth::PerBatch(t) => mean(t),
        }
    }
}

/// `mean_b (x_b - truth_b)`: a row's gap to the truth over the same batches.
pub fn mean_gap(xs: &[Vec<f64>], truth: Truth<'_>) -> Vec<f64> {
    let gaps: Vec<Vec<f64>> = xs
        .iter()
        .enumerate()
        .map(|(b, x)| x.iter().zip(truth.at(b)).map(|(x, t)| x - t).collect())
        .collect();
    mean(&gaps)
}

/// Score directions `xs` against the truth; `base_gap` is [`mean_gap`] of the row's base
/// alone on the same batches (absent for a plain row). The bias is measured on paired
/// differences `x_b - truth_b`, so a per-batch truth's own noise (and the batches' shared
/// sampling noise) enters the bias's standard error once, as it should.
pub fn score(xs: &[Vec<f64>], truth: Truth<'_>, base_gap: Option<&[f64]>) -> Scores {
    let pg = truth.mean();
    let m = mean(xs);
    let k = xs.len().max(1) as f64;
    let pg2 = dot(&pg, &pg).max(1e-300);
    let gap = mean_gap(xs, truth);
    let bias = dot(&gap, &gap).sqrt();
    let gap_var = xs
        .iter()
        .enumerate()
        .map(|(b, x)| {
            x.iter()
                .zip(truth.at(b))
                .zip(&gap)
                .map(|((x, t), g)| (x - t - g).powi(2))
                .sum::<f64>()
        })
        .sum::<f64>()
        / k
        / pg2;
    Scores {
        rel_bias: bias / pg2.sqrt(),
        rel_variance: xs.iter().map(|x| dist(x, &m).powi(2)).sum::<f64>() / k / pg2,
        bias_se: (gap_var / k).sqrt(),
        rel_mse: xs.iter().map(|x| dist(x, &pg).powi(2)).sum::<f64>() / k / pg2,
        mean_cosine: xs.iter().map(|x| cosine(x, &pg)).sum::<f64>() / k,
        cosine_of_mean: cosine(&m, &pg),
        gap_closed: base_gap.map(|b| 1.0 - bias / dot(b, b).sqrt().max(1e-300)),
    }
}

/// The median of finite values (NaN when there are none).
pub fn median(mut v: Vec<f64>) -> f64 {
    v.retain(|x| x.is_finite());
    if v.is_empty() {
        return f64::NAN;
    }
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        0.5 * (v[n / 2 - 1] + v[n / 2])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scores_of_known_directions() {
        let pg = [3.0, 4.0];
        // Two batches symmetric around pg + (1, 0): bias 1/5, variance 1/25 each side.
        let xs = vec![vec![4.0, 5.0], vec![4.0, 3.0]];
        let s = score(&xs, Truth::Exact(&pg), Some(&[2.0, 0.0]));
        assert!((s.rel_bias - 0.2).abs() < 1e-15);
        assert!((s.rel_variance - 1.0 / 25.0).abs() < 1e-15);
        assert!((s.bias_se - (1.0f64 / 50.0).sqrt()).abs() < 1e-15);
        assert!((s.rel_mse - 2.0 / 25.0).abs() < 1e-15, "bias^2 + variance");
        assert!(
            (s.gap_closed.unwrap() - 0.5).abs() < 1e-15,
            "base 2 away, row 1 away"
        );
        assert!((s.cosine_of_mean - 28.0 / (32.0f64.sqrt() * 5.0)).abs() < 1e-15);
        let mean_cos = (32.0 / (41.0f64.sqrt() * 5.0) + 24.0 / 25.0) / 2.0;
        assert!((s.mean_cosine - mean_cos).abs() < 1e-15);
        assert_eq!(median(vec![3.0, f64::NAN, 1.0, 2.0]), 2.0);
    }
}
