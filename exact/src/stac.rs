//! STAC (Zheng et al. 2022; docs/algorithms.md §4) with a tabular value critic `V_w = w` (|S| entries), in
//! expectation: the quantities the sample-based `stac` agent estimates, for checking what its
//! total derivative does to the actor-critic gradient on a tabular MDP.
//!
//! With batch states distributed as `rho`, the critic objective is
//! `L = sum_s rho(s) (w(s) - V^pi(s))^2`, so its Gauss-Newton Hessian is `2 diag(rho)` (exact for
//! a tabular critic) and `dJ/dw = rho`; the solve of `(2 diag(rho) + lambda I) v = rho` gives
//! `c(s) = v(s) = rho(s) / (2 rho(s) + lambda)` (`1/2` at lambda = 0), and by Prop. 1 the
//! implicit term is `2 sum_s rho(s) c(s) dV^pi(s)/dtheta` — a policy gradient started from the
//! batch states, which does not depend on the critic's error.

use super::{Exact, Vector};
use nalgebra::DMatrix;

impl Exact<'_> {
    /// `E[A_t | s_t = s, a_t = a]` of GAE(lambda) with the critic table `w`:
    /// `delta(s, a) + gamma lambda sum_s' P(s'|s,a) D(s')` with `delta(s, a) = r + gamma P w - w(s)`
    /// and `D = (I - gamma lambda P_pi)^-1 Pi delta` (the discounted future TD errors).
    pub fn gae_advantage(&self, w: &Vector, lambda: f64) -> Vector {
        let (ns, na, g) = (self.mdp.states, self.a(), self.mdp.gamma);
        let pw = &self.mdp.p * w;
        let delta = Vector::from_fn(ns * na, |i, _| self.mdp.r[i] + g * pw[i] - w[i / na]);
        let mut system = DMatrix::<f64>::identity(ns, ns);
        for i in 0..ns * na {
            for s2 in 0..ns {
                system[(i / na, s2)] -= g * lambda * self.pi[i] * self.mdp.p[(i, s2)];
            }
        }
        let future = system
            .lu()
            .solve(&self.pi_apply(&delta))
            .expect("I - gamma lambda P_pi is invertible");
        delta + g * lambda * &self.mdp.p * future
    }

    /// The actor-critic ("AC", Actor^g-Critic) gradient in expectation: batch states from
    /// `rho`, GAE(lambda) advantages from the critic table `w`.
    pub fn ac_gradient(&self, rho: &Vector, w: &Vector, lambda: f64) -> Vector {
        self.weighted_actor(rho, &self.gae_advantage(w, lambda))
    }

    /// `dV^pi(s)/dtheta` weighted by `x(s)`: `sum_s x(s) dV^pi(s)/dtheta`, through the
    /// unnormalised discounted visits `(I - gamma P_pi)^-T x`.
    pub fn value_gradient_from(&self, x: &Vector) -> Vector {
        let visits = self.lu_t.solve(x).expect("invertible");
        self.weighted_actor(&visits, &self.q)
    }

    /// STAC's implicit term `-(d2L/dtheta dw) (d2L/dw2 + lambda I)^-1 dJ/dw` for the tabular
    /// critic with batch states from `rho` (see the module text).
    pub fn stac_implicit(&self, rho: &Vector, lambda: f64) -> Vector {
        let weight = rho.map(|r| {
            if r > 0.0 {
                2.0 * r * r / (2.0 * r + lambda)
            } else {
                0.0
            }
        });
        self.value_gradient_from(&weight)
    }
}
