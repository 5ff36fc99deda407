//! The linear solve of implicit (Stackelberg) gradients, shared by Stack-SAC and STAC: the
//! exact Woodbury solve (eta > 0), conjugate gradient for a Hessian given only through
//! products, and the extreme eigenvalues
//! of such an operator (to log the conditioning of a critic Hessian).
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

use super::gram::{Gram, clean_vector_state};

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
    Gram::from_row_major(n, gram)
        .solve_shifted(1.0, eta * n as f64, ju)
        .ok_or_else(|| {
            "eta n I + J J^T is not positive definite (non-finite critic gradients?)".into()
        })
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

/// What an iterative solve reached.
#[derive(Clone, Debug, PartialEq)]
pub struct IterativeSolve {
    pub x: Vec<f64>,
    pub iterations: usize,
    /// `||A x - b|| / ||b||`.
    pub relative_residual: f64,
}

/// Conjugate gradient for a symmetric positive-definite `A` given as `apply(x) = A x` (e.g.
/// exact Hessian-vector products plus `lambda x`), from `x = 0`, until the relative residual is
/// below `tol` or `max_iter` steps. A direction of non-positive curvature is an error.
pub fn conjugate_gradient(
    apply: impl FnMut(&[f64]) -> Result<Vec<f64>, String>,
    b: &[f64],
    tol: f64,
    max_iter: usize,
) -> Result<IterativeSolve, String> {
    cg(apply, b, tol, max_iter, true)
}

/// Conjugate gradient as SciPy's `cg` runs it: the same iteration, but a direction of
/// non-positive curvature is stepped along instead of refused (what STAC's authors' code
/// does with an indefinite Hessian; see `stac::Term::AuthorsCode`).
pub fn conjugate_gradient_unchecked(
    apply: impl FnMut(&[f64]) -> Result<Vec<f64>, String>,
    b: &[f64],
    tol: f64,
    max_iter: usize,
) -> Result<IterativeSolve, String> {
    cg(apply, b, tol, max_iter, false)
}

fn cg(
    mut apply: impl FnMut(&[f64]) -> Result<Vec<f64>, String>,
    b: &[f64],
    tol: f64,
    max_iter: usize,
    definite_only: bool,
) -> Result<IterativeSolve, String> {
    let dot = |x: &[f64], y: &[f64]| x.iter().zip(y).map(|(a, b)| a * b).sum::<f64>();
    let b_norm = dot(b, b).sqrt().max(1e-300);
    let mut x = vec![0.0; b.len()];
    let mut r = b.to_vec();
    let mut p = r.clone();
    let mut rr = dot(&r, &r);
    let mut iterations = 0;
    while iterations < max_iter && rr.sqrt() / b_norm > tol {
        let ap = apply(&p)?;
        let pap = dot(&p, &ap);
        if definite_only && (pap <= 0.0 || !pap.is_finite()) {
            return Err(format!(
                "conjugate gradient: the operator is not positive definite (p^T A p = {pap}); increase lambda"
            ));
        }
        if !pap.is_finite() {
            return Err(format!(
                "conjugate gradient: non-finite curvature p^T A p = {pap}"
            ));
        }
        if pap == 0.0 {
            break;
        }
        let alpha = rr / pap;
        for i in 0..x.len() {
            x[i] += alpha * p[i];
            r[i] -= alpha * ap[i];
        }
        let rr_next = dot(&r, &r);
        let beta = rr_next / rr;
        for i in 0..p.len() {
            p[i] = r[i] + beta * p[i];
        }
        rr = rr_next;
        iterations += 1;
    }
    Ok(IterativeSolve {
        x,
        iterations,
        relative_residual: rr.sqrt() / b_norm,
    })
}

/// The largest and smallest eigenvalues of a symmetric operator of size `dim` (definite or not)
/// by Lanczos with full reorthogonalisation: `min(iters, dim)` products from a fixed start
/// vector, then the extreme eigenvalues of the tridiagonal matrix (Ritz values). They converge
/// from inside the spectrum, far faster than power iteration.
pub fn extreme_eigenvalues(
    mut apply: impl FnMut(&[f64]) -> Result<Vec<f64>, String>,
    dim: usize,
    iters: usize,
) -> Result<(f64, f64), String> {
    let dot = |x: &[f64], y: &[f64]| x.iter().zip(y).map(|(a, b)| a * b).sum::<f64>();
    let mut q: Vec<f64> = (0..dim)
        .map(|i| 1.0 + ((i * 7919) % 13) as f64 / 13.0)
        .collect();
    let norm = dot(&q, &q).sqrt();
    q.iter_mut().for_each(|x| *x /= norm);
    // The Lanczos vectors, column-major `dim x k`.
    let (mut basis, mut alpha, mut beta): (Vec<f64>, Vec<f64>, Vec<f64>) =
        (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..iters.min(dim).max(1) {
        let mut w = apply(&q)?;
        if w.len() != dim || w.iter().any(|x| !x.is_finite()) {
            return Err(
                "eigenvalues: the operator returned a wrong-sized or non-finite vector".into(),
            );
        }
        alpha.push(dot(&q, &w));
        basis.extend(q);
        // Full reorthogonalisation against every Lanczos vector, w -= Q (Q^T w), twice (that
        // is enough); as matrix products, since one vector at a time took half the time.
        let q_mat = faer::MatRef::from_column_major_slice(&basis, dim, alpha.len());
        for _ in 0..2 {
            let proj = q_mat.transpose() * faer::ColRef::from_slice(&w);
            let correction = q_mat * &proj;
            w.iter_mut()
                .zip(correction.iter())
                .for_each(|(x, c)| *x -= c);
        }
        clean_vector_state();
        let b = dot(&w, &w).sqrt();
        if b <= 1e-12 * alpha.iter().map(|a| a.abs()).fold(1e-300, f64::max) {
            break; // an invariant subspace: the Ritz values are exact
        }
        beta.push(b);
        q = w.into_iter().map(|x| x / b).collect();
    }
    let m = alpha.len();
    let mut t = nalgebra::DMatrix::<f64>::zeros(m, m);
    for i in 0..m {
        t[(i, i)] = alpha[i];
        if i + 1 < m {
            t[(i, i + 1)] = beta[i];
            t[(i + 1, i)] = beta[i];
        }
    }
    let ritz = t.symmetric_eigen().eigenvalues;
    Ok((ritz.max(), ritz.min()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use nalgebra::{DMatrix, DVector};
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

    #[test]
    fn conjugate_gradient_and_eigenvalues_match_dense_linear_algebra() {
        let p = 25;
        let m = random(p, p, 7);
        let a = &m * m.transpose() + DMatrix::identity(p, p) * 0.5; // SPD
        let b = random(p, 1, 8).column(0).into_owned();
        let apply = |x: &[f64]| Ok((&a * DVector::from_column_slice(x)).as_slice().to_vec());
        let cg = conjugate_gradient(apply, b.as_slice(), 1e-12, 200).unwrap();
        let dense = a.clone().lu().solve(&b).unwrap();
        let err = (DVector::from_vec(cg.x.clone()) - &dense).norm() / dense.norm();
        assert!(
            err < 1e-9 && cg.relative_residual <= 1e-12,
            "{err:e} after {} steps",
            cg.iterations
        );
        let eig = a.clone().symmetric_eigen().eigenvalues;
        let (hi, lo) = extreme_eigenvalues(apply, p, p).unwrap();
        let (want_hi, want_lo) = (eig.max(), eig.min());
        assert!((hi - want_hi).abs() < 1e-6 * want_hi, "{hi} vs {want_hi}");
        assert!((lo - want_lo).abs() < 1e-3 * want_hi, "{lo} vs {want_lo}");
        // Indefinite operators: dominated by their negative or by their positive end.
        for shift in [-3.0, -0.5] {
            let c = &a + DMatrix::identity(p, p) * (shift * want_hi);
            let eig = c.clone().symmetric_eigen().eigenvalues;
            let apply = |x: &[f64]| Ok((&c * DVector::from_column_slice(x)).as_slice().to_vec());
            let (hi, lo) = extreme_eigenvalues(apply, p, p).unwrap();
            let scale = eig.max().abs().max(eig.min().abs());
            assert!(
                (hi - eig.max()).abs() < 1e-3 * scale,
                "{hi} vs {}",
                eig.max()
            );
            assert!(
                (lo - eig.min()).abs() < 1e-3 * scale,
                "{lo} vs {}",
                eig.min()
            );
        }
        // An indefinite operator is reported, not silently solved.
        let neg = |x: &[f64]| Ok(x.iter().map(|v| -v).collect());
        assert!(
            conjugate_gradient(neg, b.as_slice(), 1e-12, 10)
                .unwrap_err()
                .contains("not positive definite")
        );
    }
}
