//! Exact policy-gradient machinery for tabular MDPs, in f64 (docs/algorithms.md §1; Wen et al.
//! 2021, sections 2–5 and appendix B). Everything the theory talks about is computed exactly
//! for a softmax policy `pi(s,.) = softmax(theta_s)` and any critic table `q_phi`: `q_theta`,
//! the discounted occupancy `d_theta` and its state marginal `d_S`, `J`, the true policy
//! gradient, the Actor^o and Actor^g gradients, the critic's residual and its BR / TD
//! gradients, the occupancy Jacobian of Theorem 2, and the Stackelberg gradient with the full
//! and the semi-gradient Hessian (Theorem 3, eq. 38–46).
//!
//! State-action pairs are indexed `sa = s * A + a`, and so are the policy parameters.
//! Every solve goes through the |S| x |S| system `I - gamma P_pi` (`P_pi = Pi P`), never the
//! |S||A| one: `Psi^-1 x = x + gamma P (I - gamma P_pi)^-1 Pi x`. That keeps FourRoom
//! (104 states, 416 pairs) well under a millisecond per evaluation.

mod stac;

use acgap_sdk::spec::TabularModel;
use nalgebra::{DMatrix, DVector};

pub type Vector = DVector<f64>;

/// A finite MDP in dense form.
#[derive(Clone, Debug)]
pub struct Mdp {
    pub states: usize,
    pub actions: usize,
    pub gamma: f64,
    /// `P[sa, s']`.
    pub p: DMatrix<f64>,
    pub r: Vector,
    pub mu0: Vector,
}

impl Mdp {
    pub fn new(model: &TabularModel) -> Result<Self, String> {
        model.validate()?;
        let sa = model.states * model.actions;
        let mut p = DMatrix::zeros(sa, model.states);
        for (i, row) in model.transitions.iter().enumerate() {
            for &(s, prob) in row {
                p[(i, s)] += prob;
            }
        }
        Ok(Self {
            states: model.states,
            actions: model.actions,
            gamma: model.gamma,
            p,
            r: Vector::from_column_slice(&model.reward),
            mu0: Vector::from_column_slice(&model.mu0),
        })
    }

    pub fn pairs(&self) -> usize {
        self.states * self.actions
    }
}

/// `softmax(theta_s)` for every state, as an |S||A| table.
pub fn softmax_policy(theta: &[f64], actions: usize) -> Vector {
    let mut pi = Vector::zeros(theta.len());
    for (s, logits) in theta.chunks(actions).enumerate() {
        let max = logits.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        let z: f64 = logits.iter().map(|l| (l - max).exp()).sum();
        for (a, l) in logits.iter().enumerate() {
            pi[s * actions + a] = (l - max).exp() / z;
        }
    }
    pi
}

/// The exact quantities of one policy.
pub struct Exact<'m> {
    pub mdp: &'m Mdp,
    /// `pi(s, a)`.
    pub pi: Vector,
    /// `q_theta = Psi^-1 r`.
    pub q: Vector,
    /// `v_theta(s) = sum_a pi(s,a) q(s,a)`.
    pub v: Vector,
    /// `d_theta(s, a) = d_S(s) pi(s, a)`, sums to 1.
    pub d: Vector,
    pub d_s: Vector,
    /// `J = d_theta . r = (1 - gamma) mu0 . v_theta`.
    pub j: f64,
    /// LU of `I - gamma P_pi` and of its transpose.
    lu: nalgebra::LU<f64, nalgebra::Dyn, nalgebra::Dyn>,
    lu_t: nalgebra::LU<f64, nalgebra::Dyn, nalgebra::Dyn>,
}

impl<'m> Exact<'m> {
    pub fn new(mdp: &'m Mdp, theta: &[f64]) -> Self {
        assert_eq!(theta.len(), mdp.pairs(), "one logit per state-action pair");
        Self::from_policy(mdp, softmax_policy(theta, mdp.actions))
    }

    /// The quantities of any policy table `pi(s, a)` (rows summing to 1).
    pub fn from_policy(mdp: &'m Mdp, pi: Vector) -> Self {
        assert_eq!(
            pi.len(),
            mdp.pairs(),
            "one probability per state-action pair"
        );
        let mut system = DMatrix::<f64>::identity(mdp.states, mdp.states);
        for s in 0..mdp.states {
            for a in 0..mdp.actions {
                let w = mdp.gamma * pi[s * mdp.actions + a];
                for s2 in 0..mdp.states {
                    system[(s, s2)] -= w * mdp.p[(s * mdp.actions + a, s2)];
                }
            }
        }
        let lu_t = system.transpose().lu();
        let lu = system.lu();
        let mut e = Self {
            mdp,
            pi,
            q: Vector::zeros(0),
            v: Vector::zeros(0),
            d: Vector::zeros(0),
            d_s: Vector::zeros(0),
            j: 0.0,
            lu,
            lu_t,
        };
        let r_pi = e.pi_apply(&mdp.r);
        e.v =
            e.lu.solve(&r_pi)
                .expect("I - gamma P_pi is invertible for gamma < 1");
        e.q = &mdp.r + mdp.gamma * &mdp.p * &e.v;
        e.d_s = (1.0 - mdp.gamma)
            * e.lu_t
                .solve(&mdp.mu0)
                .expect("I - gamma P_pi^T is invertible");
        e.d = e.pi_transpose(&e.d_s);
        e.j = (1.0 - mdp.gamma) * mdp.mu0.dot(&e.v);
        e
    }

    fn a(&self) -> usize {
        self.mdp.actions
    }

    /// `(Pi x)(s) = sum_a pi(s,a) x(s,a)`.
    pub fn pi_apply(&self, x: &Vector) -> Vector {
        Vector::from_fn(self.mdp.states, |s, _| {
            (0..self.a())
                .map(|a| self.pi[s * self.a() + a] * x[s * self.a() + a])
                .sum()
        })
    }

    /// `(Pi^T y)(s,a) = pi(s,a) y(s)`.
    pub fn pi_transpose(&self, y: &Vector) -> Vector {
        Vector::from_fn(self.mdp.pairs(), |i, _| self.pi[i] * y[i / self.a()])
    }

    /// `Psi x = x - gamma P Pi x`.
    pub fn psi(&self, x: &Vector) -> Vector {
        x - self.mdp.gamma * &self.mdp.p * self.pi_apply(x)
    }

    /// `Psi^T y = y - gamma Pi^T P^T y`.
    pub fn psi_t(&self, y: &Vector) -> Vector {
        y - self.mdp.gamma * self.pi_transpose(&(self.mdp.p.tr_mul(y)))
    }

    /// `Psi^-1 x = x + gamma P z` with `(I - gamma P_pi) z = Pi x`.
    pub fn psi_solve(&self, x: &Vector) -> Vector {
        let z = self.lu.solve(&self.pi_apply(x)).expect("invertible");
        x + self.mdp.gamma * &self.mdp.p * z
    }

    /// `Psi^-T y = y + gamma Pi^T w` with `(I - gamma P_pi^T) w = P^T y`.
    pub fn psi_t_solve(&self, y: &Vector) -> Vector {
        let w = self.lu_t.solve(&self.mdp.p.tr_mul(y)).expect("invertible");
        y + self.mdp.gamma * self.pi_transpose(&w)
    }

    /// Row `i = (s, b)` of the softmax Jacobian `H`: `d pi(s,a) / d theta_(s,b)
    /// = pi(s,a) (1[a = b] - pi(s,b))`, nonzero only in block `s`.
    pub fn h_row(&self, i: usize) -> Vector {
        let (s, b) = (i / self.a(), i % self.a());
        let mut h = Vector::zeros(self.mdp.pairs());
        for a in 0..self.a() {
            let k = s * self.a() + a;
            h[k] = self.pi[k] * (f64::from(u8::from(a == b)) - self.pi[s * self.a() + b]);
        }
        h
    }

    /// `sum_a (d pi(s,a) / d theta_i) x(s,a) = pi(s,b) (x(s,b) - sum_a pi(s,a) x(s,a))`
    /// for every `i = (s, b)`: the Jacobian `H` applied to a table.
    pub fn h_times(&self, x: &Vector) -> Vector {
        let mean = self.pi_apply(x);
        Vector::from_fn(self.mdp.pairs(), |i, _| {
            self.pi[i] * (x[i] - mean[i / self.a()])
        })
    }

    /// The true policy gradient (eq. 8): `d_S(s) pi(s,b) (q(s,b) - v(s))`.
    pub fn policy_gradient(&self) -> Vector {
        self.weighted_actor(&self.d_s, &self.q)
    }

    /// The Actor^g gradient (eq. 9): the policy gradient with a critic in place of `q_theta`.
    pub fn actor_g(&self, q_phi: &Vector) -> Vector {
        self.weighted_actor(&self.d_s, q_phi)
    }

    /// The Actor^o gradient (eq. 12): `(1 - gamma) mu0(s) pi(s,b) (q_phi(s,b) - sum_a pi q_phi)`.
    pub fn actor_o(&self, q_phi: &Vector) -> Vector {
        self.weighted_actor(&((1.0 - self.mdp.gamma) * &self.mdp.mu0), q_phi)
    }

    fn weighted_actor(&self, state_weight: &Vector, q: &Vector) -> Vector {
        let h = self.h_times(q);
        Vector::from_fn(self.mdp.pairs(), |i, _| state_weight[i / self.a()] * h[i])
    }

    /// The critic's residual `delta = r - Psi q_phi` (the expected TD error under pi).
    pub fn residual(&self, q_phi: &Vector) -> Vector {
        &self.mdp.r - self.psi(q_phi)
    }

    /// `Jq = 1/2 sum_sa d(s,a) delta(s,a)^2`, on-policy weighting.
    pub fn critic_loss(&self, q_phi: &Vector) -> f64 {
        let delta = self.residual(q_phi);
        0.5 * self
            .d
            .iter()
            .zip(delta.iter())
            .map(|(d, x)| d * x * x)
            .sum::<f64>()
    }

    /// The full (residual-gradient, BR) critic gradient (eq. 13): `-Psi^T D delta`.
    pub fn br_gradient(&self, q_phi: &Vector) -> Vector {
        -self.psi_t(&self.d.component_mul(&self.residual(q_phi)))
    }

    /// The semi-gradient (TD) critic direction (eq. 18): `-D delta`.
    pub fn td_gradient(&self, q_phi: &Vector) -> Vector {
        -self.d.component_mul(&self.residual(q_phi))
    }

    /// `Upsilon x` with `Upsilon[i, sa] = d d_theta(s,a) / d theta_i` (Theorem 2:
    /// `Upsilon = H Diag(Xi^T d_S) Psi^-1`): one solve for any table `x`.
    pub fn upsilon_times(&self, x: &Vector) -> Vector {
        let y = self.psi_solve(x);
        let scaled = Vector::from_fn(self.mdp.pairs(), |i, _| self.d_s[i / self.a()] * y[i]);
        self.h_times(&scaled)
    }

    /// The whole occupancy Jacobian `Upsilon` (|theta| x |S||A|), row by row.
    pub fn upsilon(&self) -> DMatrix<f64> {
        let n = self.mdp.pairs();
        let mut m = DMatrix::zeros(n, n);
        for i in 0..n {
            let h = self.h_row(i);
            let scaled = Vector::from_fn(n, |k, _| self.d_s[k / self.a()] * h[k]);
            m.set_row(i, &self.psi_t_solve(&scaled).transpose());
        }
        m
    }

    /// Stackelberg gradient with the full Hessian (Theorem 3, eq. 38–39):
    /// `Actor^o - M^T (Psi^T D Psi)^-1 (1 - gamma) Pi^T mu0`, `M = d/dtheta (-Psi^T D delta)`.
    pub fn stackelberg_full(&self, q_phi: &Vector) -> Vector {
        let u = (1.0 - self.mdp.gamma) * self.pi_transpose(&self.mdp.mu0);
        let v = self.psi_solve(&self.psi_t_solve(&u).component_div(&self.d));
        self.actor_o(q_phi) - self.mixed_full_transpose_times(q_phi, &v, true)
    }

    /// Stackelberg gradient with the semi-gradient Hessian (eq. 40–46):
    /// `Actor^o - M^T D^-1 d_theta`, `M = d/dtheta (-D delta)`.
    pub fn stackelberg_semi(&self, q_phi: &Vector) -> Vector {
        let v = self.d.component_div(&self.d);
        self.actor_o(q_phi) - self.mixed_semi_transpose_times(q_phi, &v, true)
    }

    /// `M^T v` for the full critic gradient `f(theta) = -Psi^T D delta` at fixed `q_phi`:
    /// `M[:, i] = gamma h_i (p_s . D delta) - Psi^T (Upsilon_i o delta) - gamma (h_i . q) Psi^T D p_s`
    /// with `p_s = P[:, s]` for `i = (s, b)`. `through_d = false` drops the `D_theta`
    /// dependence (the middle term): the deliberately wrong formula of the tests.
    pub fn mixed_full_transpose_times(
        &self,
        q_phi: &Vector,
        v: &Vector,
        through_d: bool,
    ) -> Vector {
        let delta = self.residual(q_phi);
        let w = self.psi(v);
        let p_d_delta = self.mdp.p.tr_mul(&self.d.component_mul(&delta)); // (p_s . D delta) per s
        let p_d_w = self.mdp.p.tr_mul(&self.d.component_mul(&w)); // (p_s . D Psi v) per s
        let hv = self.h_times(v);
        let hq = self.h_times(q_phi);
        let through = self.through_d(&delta.component_mul(&w), through_d);
        let g = self.mdp.gamma;
        Vector::from_fn(self.mdp.pairs(), |i, _| {
            let s = i / self.a();
            g * hv[i] * p_d_delta[s] - through[i] - g * hq[i] * p_d_w[s]
        })
    }

    /// The mixed term's part through `D_theta`: `Upsilon x`, or nothing for the wrong formula.
    fn through_d(&self, x: &Vector, include: bool) -> Vector {
        if include {
            self.upsilon_times(x)
        } else {
            Vector::zeros(self.mdp.pairs())
        }
    }

    /// `M^T v` for the semi-gradient `f(theta) = -D delta` at fixed `q_phi`:
    /// `M[:, i] = -(Upsilon_i o delta) - gamma (h_i . q) D p_s`.
    pub fn mixed_semi_transpose_times(
        &self,
        q_phi: &Vector,
        v: &Vector,
        through_d: bool,
    ) -> Vector {
        let delta = self.residual(q_phi);
        let p_d_v = self.mdp.p.tr_mul(&self.d.component_mul(v));
        let hq = self.h_times(q_phi);
        let through = self.through_d(&delta.component_mul(v), through_d);
        Vector::from_fn(self.mdp.pairs(), |i, _| {
            -through[i] - self.mdp.gamma * hq[i] * p_d_v[i / self.a()]
        })
    }
}

/// Adam (Kingma & Ba) on a flat f64 table, PyTorch's rule and defaults, for the DP runner and
/// the tabular plugins. `descend` minimises; ascend by passing the negated gradient.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub struct Adam {
    pub lr: f64,
    pub beta1: f64,
    pub beta2: f64,
    pub eps: f64,
    pub t: u64,
    m: Vec<f64>,
    v: Vec<f64>,
}

impl Adam {
    pub fn new(len: usize, lr: f64) -> Self {
        Self {
            lr,
            beta1: 0.9,
            beta2: 0.999,
            eps: 1e-8,
            t: 0,
            m: vec![0.0; len],
            v: vec![0.0; len],
        }
    }

    /// `p <- p - lr * m_hat / (sqrt(v_hat) + eps)`.
    pub fn descend(&mut self, params: &mut [f64], grad: &[f64]) {
        assert_eq!(params.len(), self.m.len(), "Adam: parameter count changed");
        self.t += 1;
        let (b1, b2) = (self.beta1, self.beta2);
        let c1 = 1.0 - b1.powi(self.t as i32);
        let c2 = 1.0 - b2.powi(self.t as i32);
        for i in 0..params.len() {
            self.m[i] = b1 * self.m[i] + (1.0 - b1) * grad[i];
            self.v[i] = b2 * self.v[i] + (1.0 - b2) * grad[i] * grad[i];
            let v_hat = self.v[i] / c2;
            params[i] -= self.lr * (self.m[i] / c1) / (v_hat.sqrt() + self.eps);
        }
    }

    pub fn ascend(&mut self, params: &mut [f64], grad: &[f64]) {
        let negated: Vec<f64> = grad.iter().map(|g| -g).collect();
        self.descend(params, &negated);
    }
}

impl Mdp {
    /// The optimal `J* = (1 - gamma) mu0 . V*`, by value iteration to 1e-12.
    pub fn optimal_j(&self) -> f64 {
        let mut v = Vector::zeros(self.states);
        loop {
            let q = &self.r + self.gamma * &self.p * &v;
            let next = Vector::from_fn(self.states, |s, _| {
                (0..self.actions)
                    .map(|a| q[s * self.actions + a])
                    .fold(f64::NEG_INFINITY, f64::max)
            });
            let change = (&next - &v).amax();
            v = next;
            if change < 1e-12 {
                return (1.0 - self.gamma) * self.mu0.dot(&v);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn adam_follows_pytorch() {
        // torch.optim.Adam([p], lr=0.1) with p = [1, -2], grads [0.5, -1] then [0.2, 0.3]:
        // step 1 moves each parameter by lr * sign(g) (m_hat / sqrt(v_hat) = g / |g|).
        let mut adam = Adam::new(2, 0.1);
        let mut p = vec![1.0, -2.0];
        adam.descend(&mut p, &[0.5, -1.0]);
        assert!(
            (p[0] - 0.9).abs() < 1e-7 && (p[1] + 1.9).abs() < 1e-7,
            "{p:?}"
        );
        let after_one = p.clone();
        adam.descend(&mut p, &[0.2, 0.3]);
        // by hand: m = 0.9 m + 0.1 g, v = 0.999 v + 0.001 g^2, bias-corrected with t = 2.
        let expect = |p0: f64, g1: f64, g2: f64| {
            let m = 0.9 * 0.1 * g1 + 0.1 * g2;
            let v = 0.999 * 0.001 * g1 * g1 + 0.001 * g2 * g2;
            let (mh, vh) = (m / (1.0 - 0.81), v / (1.0 - 0.999f64.powi(2)));
            p0 - 0.1 * mh / (vh.sqrt() + 1e-8)
        };
        assert!((p[0] - expect(after_one[0], 0.5, 0.2)).abs() < 1e-12);
        assert!((p[1] - expect(after_one[1], -1.0, 0.3)).abs() < 1e-12);
    }
}
