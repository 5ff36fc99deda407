//! `K = J J^T`, the Gram matrix of a scalar-output network's per-sample parameter gradients
//! (`J` is `n x P`), and the shifted Cholesky solve `(a K + shift I) z = y` through it. The one
//! place both implicit-gradient callers (Stack-SAC's Woodbury solve, STAC's Gauss-Newton solve)
//! meet the `n x n` side of their linear algebra.
//!
//! Stored in f64, lower triangle only (the matrix is symmetric): building it, its products and
//! its factorisation all touch half the entries. A layer `x W + b` contributes
//! `(X X^T) o (D D^T)` (elementwise), with `X` the layer's inputs with a column of ones (the
//! bias) and `D` the per-sample derivatives of the output with respect to the layer's
//! pre-activations, so the per-sample gradients themselves are never formed (see
//! `Mlp::per_sample_gram`).

use faer::linalg::zip::Diag;
use faer::{Accum, MatMut, MatRef, Par, unzip, zip};

/// One layer's factors for [`Gram::compute`]: `x`, the layer's inputs with a trailing column of
/// ones (the bias), and `d`, the per-sample derivatives of the output with respect to the layer's
/// pre-activations (`None`: all ones, the output layer of a scalar network). Both have n rows.
pub type LayerFactors<'a> = (MatRef<'a, f64>, Option<MatRef<'a, f64>>);

/// A symmetric `n x n` Gram matrix (f64, lower triangle stored, column-major) with the
/// buffers its construction and solve need. Reusable: [`Gram::compute`] keeps the buffers (a
/// STAC update at N = 1,024 otherwise spent a quarter of its time zero-filling and
/// page-faulting fresh 8 MB matrices).
#[derive(Default)]
pub struct Gram {
    n: usize,
    lower: Vec<f64>,
    /// One panel of each layer's two products. f64 although the activations they come from are
    /// f32: f32 products put eigenvalues of ~-1e-8 ||K|| into the (near-singular) K and cost the
    /// Cholesky solve a ridge 10^8 times larger (measured at N = 1,024).
    products: [Vec<f64>; 2],
    /// The Cholesky factor of [`Gram::solve_shifted`].
    factor: Vec<f64>,
}

impl Gram {
    /// `K = sum_l (X_l X_l^T) o (D_l D_l^T)` (elementwise products) over the layers'
    /// [`LayerFactors`]: a layer's per-sample gradient is the outer product `x_b d_b^T`, so
    /// its share of `grad f(x_b) . grad f(x_c)` is `(x_b . x_c) (d_b . d_c)`. Computed by panels
    /// of [`PANEL`] columns, all layers at once, so each panel of K and of the products stays in
    /// cache and K is written once.
    pub fn compute(&mut self, layers: &[LayerFactors<'_>]) {
        let n = layers.first().map_or(0, |(x, _)| x.nrows());
        self.n = n;
        self.lower.resize(n * n, 0.0);
        let [xx, dd] = &mut self.products;
        for j0 in (0..n).step_by(PANEL) {
            let (rows, width) = (n - j0, PANEL.min(n - j0));
            for (l, (x, d)) in layers.iter().enumerate() {
                let xx = panel_gram(xx, *x, j0, width);
                let dd = d.map(|d| panel_gram(dd, d, j0, width));
                for c in 0..width {
                    let j = j0 + c;
                    let column = &mut self.lower[j * n + j..(j + 1) * n];
                    let a = &xx[c * rows + c..(c + 1) * rows];
                    match (l == 0, dd) {
                        (true, None) => column.copy_from_slice(a),
                        (false, None) => column.iter_mut().zip(a).for_each(|(k, a)| *k += a),
                        (true, Some(dd)) => {
                            let b = &dd[c * rows + c..(c + 1) * rows];
                            column
                                .iter_mut()
                                .zip(a)
                                .zip(b)
                                .for_each(|((k, a), b)| *k = a * b)
                        }
                        (false, Some(dd)) => {
                            let b = &dd[c * rows + c..(c + 1) * rows];
                            column
                                .iter_mut()
                                .zip(a)
                                .zip(b)
                                .for_each(|((k, a), b)| *k += a * b)
                        }
                    }
                }
            }
        }
        clean_vector_state();
    }

    /// From a full row-major `n x n` matrix (only its lower triangle is read).
    pub fn from_row_major(n: usize, k: &[f64]) -> Self {
        assert_eq!(k.len(), n * n, "a Gram matrix of n = {n} has n^2 entries");
        let mut gram = Self {
            n,
            lower: vec![0.0; n * n],
            ..Self::default()
        };
        for j in 0..n {
            for i in j..n {
                gram.lower[j * n + i] = k[i * n + j];
            }
        }
        gram
    }

    /// Refill from a full row-major `n x n` matrix, keeping the buffers.
    pub fn set_from_row_major(&mut self, n: usize, k: &[f64]) {
        assert_eq!(k.len(), n * n, "a Gram matrix of n = {n} has n^2 entries");
        self.n = n;
        self.lower.resize(n * n, 0.0);
        for j in 0..n {
            for i in j..n {
                self.lower[j * n + i] = k[i * n + j];
            }
        }
    }

    /// The full matrix, row-major, in f64.
    pub fn to_row_major(&self) -> Vec<f64> {
        let n = self.n;
        (0..n * n).map(|e| self.get(e / n, e % n)).collect()
    }

    pub fn n(&self) -> usize {
        self.n
    }

    /// `K[i, j]`.
    pub fn get(&self, i: usize, j: usize) -> f64 {
        let (i, j) = if i >= j { (i, j) } else { (j, i) };
        self.lower[j * self.n + i]
    }

    /// The full matrix, row-major, in f32 (what crosses the plugin ABI).
    pub fn to_row_major_f32(&self) -> Vec<f32> {
        let n = self.n;
        (0..n * n).map(|e| self.get(e / n, e % n) as f32).collect()
    }

    /// The mean of the diagonal (the scale a ridge is measured against).
    pub fn mean_diagonal(&self) -> f64 {
        (0..self.n).map(|i| self.get(i, i)).sum::<f64>() / self.n.max(1) as f64
    }

    /// `K x` in one pass over the stored triangle: column `j` adds `L[j.., j] . x[j..]` to
    /// `y[j]` and `x[j] L[j+1.., j]` to `y[j+1..]`. (faer has no symmetric matrix-vector
    /// product; two triangular ones read the matrix twice, which made the Lanczos diagnostics
    /// a sixth of a STAC update.)
    pub fn times(&self, x: &[f64]) -> Vec<f64> {
        const LANES: usize = 8;
        let n = self.n;
        assert_eq!(x.len(), n, "K x needs {n} entries");
        let mut y = vec![0.0; n];
        for j in 0..n {
            let col = &self.lower[j * n + j + 1..(j + 1) * n];
            let (xj, x_below) = (x[j], &x[j + 1..]);
            let (y_upto, y_below) = y.split_at_mut(j + 1);
            // Independent partial sums so the dot product vectorises.
            let mut dot = [0.0; LANES];
            let chunks = col.len() / LANES * LANES;
            for ((c, xb), yb) in col[..chunks]
                .chunks_exact(LANES)
                .zip(x_below.chunks_exact(LANES))
                .zip(y_below.chunks_exact_mut(LANES))
            {
                for l in 0..LANES {
                    dot[l] += c[l] * xb[l];
                    yb[l] += c[l] * xj;
                }
            }
            let mut tail = self.lower[j * n + j] * xj;
            for i in chunks..col.len() {
                tail += col[i] * x_below[i];
                y_below[i] += col[i] * xj;
            }
            y_upto[j] += dot.iter().sum::<f64>() + tail;
        }
        y
    }

    /// Solves `(a K + shift I) z = y` by Cholesky; `None` if that matrix is not positive
    /// definite (numerically).
    pub fn solve_shifted(&mut self, a: f64, shift: f64, y: &[f64]) -> Option<Vec<f64>> {
        use faer::dyn_stack::{MemBuffer, MemStack};
        use faer::linalg::cholesky::llt::{factor, solve};
        let n = self.n;
        assert_eq!(y.len(), n, "the right-hand side needs {n} entries");
        self.factor.resize(n * n, 0.0);
        let mut l = MatMut::from_column_major_slice_mut(&mut self.factor, n, n);
        let k = MatRef::from_column_major_slice(&self.lower, n, n);
        zip!(l.as_mut(), k).for_each_triangular_lower(Diag::Include, |unzip!(l, k)| *l = a * *k);
        for i in 0..n {
            l[(i, i)] += shift;
        }
        let par = Par::Seq;
        let scratch = factor::cholesky_in_place_scratch::<f64>(n, par, Default::default())
            .or(solve::solve_in_place_scratch::<f64>(n, 1, par));
        let mut mem = MemBuffer::new(scratch);
        let factored = factor::cholesky_in_place(
            l.as_mut(),
            Default::default(),
            par,
            MemStack::new(&mut mem),
            Default::default(),
        );
        let mut z = y.to_vec();
        if factored.is_ok() {
            let rhs = MatMut::from_column_major_slice_mut(&mut z, n, 1);
            solve::solve_in_place(l.as_ref(), rhs, par, MemStack::new(&mut mem));
        }
        clean_vector_state();
        (factored.is_ok() && z.iter().all(|v| v.is_finite())).then_some(z)
    }
}

/// Columns per panel of [`Gram::add_layer`]: two `n x 64` f64 panels stay in L2 cache.
const PANEL: usize = 64;

/// Rows `j0..` of columns `j0..j0 + width` of `m m^T`, column-major, in `buffer`.
fn panel_gram<'a>(
    buffer: &'a mut Vec<f64>,
    m: MatRef<'_, f64>,
    j0: usize,
    width: usize,
) -> &'a [f64] {
    let rows = m.nrows() - j0;
    buffer.resize(rows * width, 0.0);
    let out = MatMut::from_column_major_slice_mut(&mut buffer[..rows * width], rows, width);
    faer::linalg::matmul::matmul(
        out,
        Accum::Replace,
        m.subrows(j0, rows),
        m.subrows(j0, width).transpose(),
        1.0,
        Par::Seq,
    );
    &buffer[..rows * width]
}

/// faer's AVX-512 kernels (hand-written assembly) can return with the upper halves of the
/// vector registers dirty; until the next `vzeroupper`, every legacy-SSE instruction afterwards
/// (burn's elementwise loops, libm's `expf`) pays a state-transition penalty: measured 40x on
/// the critic's sigmoid right after a Gram product. Called after each faer call.
pub(crate) fn clean_vector_state() {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx") {
        // SAFETY: the CPU supports AVX (checked above), the only requirement of `vzeroupper`.
        unsafe { zero_upper() }
    }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx")]
unsafe fn zero_upper() {
    std::arch::x86_64::_mm256_zeroupper()
}

/// What the SDK's on-policy context fills ([`acgap_sdk::onpolicy::OnPolicyContext::critic_gram_into`]).
impl acgap_sdk::onpolicy::GramTarget for Gram {
    fn set_from_row_major(&mut self, n: usize, k: &[f64]) {
        Gram::set_from_row_major(self, n, k);
    }
    fn as_any_mut(&mut self) -> &mut dyn std::any::Any {
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use faer::Mat;
    use rand::{Rng, SeedableRng};

    fn random(rows: usize, cols: usize, rng: &mut impl Rng) -> Mat<f64> {
        Mat::from_fn(rows, cols, |_, _| rng.random_range(-1.0..1.0))
    }

    /// Against dense algebra (nalgebra) on explicit entries, reusing one Gram for two sizes
    /// (several panels and a partial one, then fewer rows) and both layer orders (the per-sample
    /// gradients themselves are checked in `mlp`'s tests).
    #[test]
    fn layers_products_and_the_shifted_solve_match_dense_algebra() {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(1);
        let mut gram = Gram::default();
        for n in [150, 20] {
            let (x0, d0, x1) = (
                random(n, 3, &mut rng),
                random(n, 5, &mut rng),
                random(n, 5, &mut rng),
            );
            let (with_d, without_d) = ((x0.as_ref(), Some(d0.as_ref())), (x1.as_ref(), None));
            if n == 150 {
                gram.compute(&[without_d, with_d]);
            } else {
                gram.compute(&[with_d, without_d]);
            }
            assert_eq!(gram.n(), n);
            let dot = |m: &Mat<f64>, i: usize, j: usize| {
                (0..m.ncols()).map(|c| m[(i, c)] * m[(j, c)]).sum::<f64>()
            };
            let dense = nalgebra::DMatrix::from_fn(n, n, |i, j| {
                dot(&x0, i, j) * dot(&d0, i, j) + dot(&x1, i, j)
            });
            for i in 0..n {
                for j in 0..n {
                    assert!((gram.get(i, j) - dense[(i, j)]).abs() < 1e-12);
                }
            }
            let row_major: Vec<f64> = gram.to_row_major_f32().iter().map(|&v| v.into()).collect();
            let copy = Gram::from_row_major(n, &row_major);
            assert!((copy.get(3, n - 1) - dense[(3, n - 1)]).abs() < 1e-5);
            let x: Vec<f64> = (0..n).map(|_| rng.random_range(-1.0..1.0)).collect();
            let kx = gram.times(&x);
            let want = &dense * nalgebra::DVector::from_column_slice(&x);
            assert!((0..n).all(|i| (kx[i] - want[i]).abs() < 1e-10));
            let (a, shift) = (0.3, 0.05);
            let z = gram.solve_shifted(a, shift, &x).unwrap();
            let system = &dense * a + nalgebra::DMatrix::identity(n, n) * shift;
            let r = &system * nalgebra::DVector::from_column_slice(&z);
            assert!((0..n).all(|i| (r[i] - x[i]).abs() < 1e-9));
            // Indefinite: refused, not a garbage answer.
            assert!(gram.solve_shifted(-1.0, 0.0, &x).is_none());
        }
    }
}
