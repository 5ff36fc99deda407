//! The scores of one row at one point: its batch directions against the exact policy gradient.

/// What a row's directions `x_b` (one per batch) say about it. Relative quantities divide by
/// `|PG|` (`|PG|^2` for second moments) so that MDPs and points of any scale compare.
#[derive(Clone, Debug, PartialEq)]
pub struct Scores {
    /// `|mean_b x_b - PG| / |PG|`.
    pub rel_bias: f64,
    /// `mean_b |x_b - mean x|^2 / |PG|^2`: the trace of the covariance of one batch's direction.
    pub rel_variance: f64,
    /// The standard error of `rel_bias` from the finite number of batches,
    /// `sqrt(rel_variance / batches)`: a bias below about twice this is not resolved.
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

/// Score directions `xs` against the true gradient `pg`; `base_mean` is the mean of the
/// row's base alone on the same batches (absent for a plain row).
pub fn score(xs: &[Vec<f64>], pg: &[f64], base_mean: Option<&[f64]>) -> Scores {
    let m = mean(xs);
    let k = xs.len().max(1) as f64;
    let pg2 = dot(pg, pg).max(1e-300);
    let bias = dist(&m, pg);
    let var = xs.iter().map(|x| dist(x, &m).powi(2)).sum::<f64>() / k / pg2;
    Scores {
        rel_bias: bias / pg2.sqrt(),
        rel_variance: var,
        bias_se: (var / k).sqrt(),
        rel_mse: xs.iter().map(|x| dist(x, pg).powi(2)).sum::<f64>() / k / pg2,
        mean_cosine: xs.iter().map(|x| cosine(x, pg)).sum::<f64>() / k,
        cosine_of_mean: cosine(&m, pg),
        gap_closed: base_mean.map(|b| 1.0 - bias / dist(b, pg).max(1e-300)),
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
        let s = score(&xs, &pg, Some(&[5.0, 4.0]));
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
