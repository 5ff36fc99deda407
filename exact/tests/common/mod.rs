//! Random MDPs and finite differences for the theorem tests.

#![allow(dead_code)]

pub use acgap_exact::{Exact, Mdp, Vector};
use acgap_sdk::spec::TabularModel;
use nalgebra::DMatrix;
use proptest::prelude::*;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// A random MDP (Garnet-like: each pair reaches 1..=3 random next states), a random policy and
/// a random critic table, all from one seed. mu0 and pi have full support (Assumption 1).
#[derive(Clone, Debug)]
pub struct MdpCase {
    pub seed: u64,
    pub states: usize,
    pub actions: usize,
}

pub fn mdp_case() -> impl Strategy<Value = MdpCase> {
    (any::<u64>(), 2usize..8, 2usize..5).prop_map(|(seed, states, actions)| MdpCase {
        seed,
        states,
        actions,
    })
}

impl MdpCase {
    pub fn model(&self) -> TabularModel {
        let mut rng = ChaCha8Rng::seed_from_u64(self.seed);
        let (ns, na) = (self.states, self.actions);
        let transitions = (0..ns * na)
            .map(|_| {
                let branches = rng.random_range(1..=3.min(ns));
                let weights: Vec<(usize, f64)> = (0..branches)
                    .map(|_| (rng.random_range(0..ns), rng.random_range(0.1..1.0)))
                    .collect();
                let total: f64 = weights.iter().map(|w| w.1).sum();
                weights.into_iter().map(|(s, w)| (s, w / total)).collect()
            })
            .collect();
        let mu: Vec<f64> = (0..ns).map(|_| rng.random_range(0.1..1.0)).collect();
        let total: f64 = mu.iter().sum();
        TabularModel {
            states: ns,
            actions: na,
            gamma: rng.random_range(0.5..0.95),
            mu0: mu.iter().map(|m| m / total).collect(),
            reward: (0..ns * na).map(|_| rng.random_range(-1.0..1.0)).collect(),
            transitions,
        }
    }

    pub fn build(&self) -> (Mdp, Vec<f64>, Vector) {
        let mdp = Mdp::new(&self.model()).unwrap();
        let mut rng = ChaCha8Rng::seed_from_u64(self.seed ^ 0x5eed);
        let theta: Vec<f64> = (0..mdp.pairs())
            .map(|_| rng.random_range(-1.5..1.5))
            .collect();
        let q_phi = Vector::from_fn(mdp.pairs(), |_, _| rng.random_range(-3.0..3.0));
        (mdp, theta, q_phi)
    }
}

const H: f64 = 1e-5;

/// Central differences of a scalar function, with one Richardson step (error O(h^4)).
pub fn fd_gradient(x: &[f64], f: impl Fn(&[f64]) -> f64) -> Vector {
    fd_jacobian(x, |x| Vector::from_element(1, f(x)))
        .column(0)
        .into_owned()
}

/// Central-difference Jacobian of a vector function: row i = d f / d x_i (|x| x |f|).
pub fn fd_jacobian(x: &[f64], f: impl Fn(&[f64]) -> Vector) -> DMatrix<f64> {
    let mut x = x.to_vec();
    let n = f(&x).len();
    let mut m = DMatrix::zeros(x.len(), n);
    for i in 0..x.len() {
        let x0 = x[i];
        let mut diff = |h: f64| {
            x[i] = x0 + h;
            let plus = f(&x);
            x[i] = x0 - h;
            let minus = f(&x);
            x[i] = x0;
            (plus - minus) / (2.0 * h)
        };
        let row = (4.0 * diff(H) - diff(2.0 * H)) / 3.0;
        m.set_row(i, &row.transpose());
    }
    m
}

pub fn relative_error(a: &Vector, b: &Vector) -> f64 {
    (a - b).norm() / b.norm().max(1e-12)
}

pub fn assert_close(got: &Vector, want: &Vector, tol: f64, what: &str) {
    let err = relative_error(got, want);
    assert!(
        err <= tol,
        "{what}: relative error {err:.3e} > {tol:.0e}\n got {got:.6}\nwant {want:.6}"
    );
}

pub fn assert_close_matrix(got: &DMatrix<f64>, want: &DMatrix<f64>, tol: f64, what: &str) {
    let err = (got - want).norm() / want.norm().max(1e-12);
    assert!(err <= tol, "{what}: relative error {err:.3e} > {tol:.0e}");
}
