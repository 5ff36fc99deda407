//! The linear solve of implicit (Stackelberg) gradients, shared by Stack-SAC and STAC.
//!
//! Both need `v = (G + eta I)^-1 u` with the Gauss-Newton matrix `G = J^T J / n` of a
//! critic, `J` its `n x P` per-sample parameter gradients. `P` is large (tens of
//! thousands) and `n` small (a batch), so the solve goes through the `n x n` side
//! (Woodbury):
//!
//! ```text
//! (J^T J / n + eta I)^-1 u = (u - J^T (eta n I + J J^T)^-1 J u) / eta
//! ```
//!
//! which needs one Jacobian-vector product `J u`, one vector-Jacobian product `J^T z`,
//! the Gram matrix `K = J J^T` (computed layer by layer, see `Mlp::per_sample_gram`)
//! and one `n x n` Cholesky solve, all exact. Computed in f64.

use nalgebra::{DMatrix, DVector};

/// Solve `(J^T J / n + eta I) v = u` given `K = J J^T` (`n x n`, row-major), `jvp(x) = J x`
/// and `vjp(z) = J^T z`. Requires `eta > 0`.
pub fn solve_gauss_newton(
    gram: &[f64],
    n: usize,
    eta: f64,
    u: &[f64],
    jvp: impl FnOnce(&[f64]) -> Result<Vec<f64>, String>,
    vjp: impl FnOnce(&[f64]) -> Result<Vec<f64>, String>,
) -> Result<Vec<f64>, String> {
    let z = gram_solve(gram, n, eta, &jvp(u)?)?;
    woodbury_combine(u, &vjp(&z)?, eta)
}

/// The inner `n x n` step of the Woodbury solve: `z = (eta n I + K)^-1 ju` (Cholesky), with
/// `ju = J u`. Callers holding several blocks (twin critics) batch their products around it.
pub fn gram_solve(gram: &[f64], n: usize, eta: f64, ju: &[f64]) -> Result<Vec<f64>, String> {
    if eta.is_nan() || eta <= 0.0 {
        return Err(format!(
            "the regularisation eta must be positive, got {eta}"
        ));
    }
    if gram.len() != n * n || ju.len() != n {
        return Err(format!(
            "Gram matrix ({} entries) or J u ({} entries) does not fit n = {n}",
            gram.len(),
            ju.len()
        ));
    }
    let mut a = DMatrix::from_row_slice(n, n, gram);
    for i in 0..n {
        a[(i, i)] += eta * n as f64;
    }
    let z = a
        .cholesky()
        .ok_or("eta n I + J J^T is not positive definite (non-finite critic gradients?)")?
        .solve(&DVector::from_column_slice(ju));
    Ok(z.as_slice().to_vec())
}

/// The outer step of the Woodbury solve: `v = (u - J^T z) / eta`.
pub fn woodbury_combine(u: &[f64], jtz: &[f64], eta: f64) -> Result<Vec<f64>, String> {
    if jtz.len() != u.len() {
        return Err(format!(
            "J^T z has {} entries, expected {}",
            jtz.len(),
            u.len()
        ));
    }
    Ok(u.iter().zip(jtz).map(|(ui, wi)| (ui - wi) / eta).collect())
}

/// `||(J^T J / n + eta I) v - u|| / ||u||` from the products, to report how exact a solve was.
pub fn relative_residual(v: &[f64], u: &[f64], n: usize, eta: f64, gv: &[f64]) -> f64 {
    // `gv` = J^T J v (not yet divided by n).
    let r: f64 = v
        .iter()
        .zip(u)
        .zip(gv)
        .map(|((vi, ui), gi)| (gi / n as f64 + eta * vi - ui).powi(2))
        .sum();
    let norm: f64 = u.iter().map(|x| x * x).sum();
    (r / norm.max(1e-300)).sqrt()
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng};

    fn random(rows: usize, cols: usize, seed: u64) -> DMatrix<f64> {
        let mut r = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
        DMatrix::from_fn(rows, cols, |_, _| r.random_range(-1.0..1.0))
    }

    /// f64: the Woodbury solve equals a dense solve of the P x P system to 1e-9 relative.
    #[test]
    fn woodbury_equals_the_dense_solve_in_f64() {
        for (n, p, eta) in [(6, 40, 0.5), (12, 30, 0.01), (5, 5, 2.0)] {
            let j = random(n, p, n as u64);
            let u = random(p, 1, 99).column(0).into_owned();
            let k = &j * j.transpose();
            let gram: Vec<f64> = k.transpose().as_slice().to_vec(); // row-major
            let v = solve_gauss_newton(
                &gram,
                n,
                eta,
                u.as_slice(),
                |x| Ok((&j * DVector::from_column_slice(x)).as_slice().to_vec()),
                |z| {
                    Ok((j.transpose() * DVector::from_column_slice(z))
                        .as_slice()
                        .to_vec())
                },
            )
            .unwrap();
            let dense = (j.transpose() * &j / n as f64 + DMatrix::identity(p, p) * eta)
                .lu()
                .solve(&u)
                .unwrap();
            let err = (DVector::from_vec(v.clone()) - &dense).norm() / dense.norm();
            assert!(err < 1e-9, "n={n} p={p} eta={eta}: relative error {err:e}");
            let gv = (j.transpose() * (&j * DVector::from_vec(v.clone())))
                .as_slice()
                .to_vec();
            assert!(relative_residual(&v, u.as_slice(), n, eta, &gv) < 1e-9);
        }
    }

    #[test]
    fn non_positive_eta_is_refused() {
        let err = solve_gauss_newton(
            &[1.0],
            1,
            0.0,
            &[1.0],
            |x| Ok(x.to_vec()),
            |z| Ok(z.to_vec()),
        )
        .unwrap_err();
        assert!(err.contains("eta"));
    }
}
