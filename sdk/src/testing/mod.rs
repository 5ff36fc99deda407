//! A light test harness for corrections: each family's context in closed form, built from
//! small linear networks, with no networks library behind it. A correction's unit test builds
//! one, hands it to the correction and checks the term against finite differences or a closed
//! form; it compiles with the SDK alone (no `toolkit`), in seconds.
//!
//! - [`LinearSac`]: a [`crate::SacContext`] (linear twin critics, a linear squashed Gaussian);
//! - [`LinearOnPolicy`]: an [`crate::OnPolicyContext`] (a linear critic `V_w`, a linear
//!   Gaussian policy with a log-std row);
//! - [`random_tabular`]: a [`crate::TabularContext`] on a random small MDP batch (the tabular
//!   context is closed-form data already).
//!
//! Each has `ascent(&term)`: the direction the family's core would ascend with the term added,
//! applied exactly as the core applies it (who averages, units), so a test can check that a
//! term means what its author intended. The products themselves are checked against finite
//! differences in this module's tests. For a test against the real networks, the toolkit's
//! cores have `with_context` entry points (`SacCore`, `AcCore`, `TabularAc`).

mod onpolicy;
mod sac;
mod tabular;

pub use onpolicy::LinearOnPolicy;
pub use sac::LinearSac;
pub use tabular::random_tabular;

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// Seeded draws for random contexts and test directions.
pub struct Draws(ChaCha8Rng);

impl Draws {
    pub fn new(seed: u64) -> Self {
        Self(ChaCha8Rng::seed_from_u64(seed))
    }

    /// `n` values uniform in `[-scale, scale]`.
    pub fn uniform(&mut self, n: usize, scale: f32) -> Vec<f32> {
        (0..n)
            .map(|_| scale * (2.0 * self.0.random::<f32>() - 1.0))
            .collect()
    }

    /// `n` standard normal values (Box-Muller).
    pub fn normal(&mut self, n: usize) -> Vec<f32> {
        (0..n)
            .map(|_| {
                let (u, v): (f64, f64) = (self.0.random(), self.0.random());
                ((-2.0 * (1.0 - u).ln()).sqrt() * (2.0 * std::f64::consts::PI * v).cos()) as f32
            })
            .collect()
    }
}

/// `sum_k a_k b_k` in f64.
pub fn dot(a: &[f32], b: impl IntoIterator<Item = f64>) -> f64 {
    a.iter().zip(b).map(|(&x, y)| x as f64 * y).sum()
}

/// The central finite difference `(f(x + h v) - f(x - h v)) / 2h` of `f` at `x` along `v`,
/// with `h = 1e-3` (the harness's closed forms are evaluated in f64 from f32 parameters).
pub fn central(x: &[f32], v: &[f32], f: impl Fn(&[f32]) -> f64) -> f64 {
    let h = 1e-3f32;
    let at = |sign: f32| -> Vec<f32> { x.iter().zip(v).map(|(a, b)| a + sign * h * b).collect() };
    (f(&at(1.0)) - f(&at(-1.0))) / (2.0 * h as f64)
}
