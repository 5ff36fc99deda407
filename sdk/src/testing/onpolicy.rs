//! [`LinearOnPolicy`]: an [`OnPolicyContext`] in closed form, for unit tests of on-policy
//! corrections.

use super::{Draws, dot};
use crate::batch::{Batch, BatchKind};
use crate::correction::{OnPolicyContext, RolloutInfo, Term};
use crate::result::PluginResult;

/// The on-policy core's update context with a linear critic and a linear Gaussian policy:
/// - critic `V_w(s) = s . w + b` (flat: `w` then `b`);
/// - policy `N(s M + c, diag(exp(log_std))^2)` (flat: `M` row-major `obs_dim x act_dim`, then
///   `c`, then the log-std row, as the real core's actor ends with its log-std row);
/// - returns `G_t = r_t + gamma (1 - terminated_t) G_(t+1)`, bootstrapped with `V_w(s'_t)` at
///   truncations and at the rollout's end; advantages `G_t - V_w(s_t)` (GAE with lambda = 1,
///   not normalised); plain weights `A_t / N`.
///
/// Every product is checked against finite differences of the closed form in this module's
/// tests. Fields are public: set what a test needs.
#[derive(Clone, Debug)]
pub struct LinearOnPolicy {
    pub obs_dim: usize,
    pub act_dim: usize,
    pub batch_len: usize,
    pub obs: Vec<f32>,
    pub action: Vec<f32>,
    pub reward: Vec<f32>,
    pub next_obs: Vec<f32>,
    pub terminated: Vec<f32>,
    pub truncated: Vec<f32>,
    pub gamma: f64,
    pub actor: Vec<f32>,
    pub critic: Vec<f32>,
    /// Updates before this one ([`RolloutInfo::update`]).
    pub update: u64,
}

impl LinearOnPolicy {
    /// A random rollout: episodes end every 5 steps (terminated), and the last one is cut.
    pub fn random(obs_dim: usize, act_dim: usize, batch_len: usize, seed: u64) -> Self {
        let mut d = Draws::new(seed);
        let n = batch_len;
        let obs = d.uniform(n * obs_dim, 1.0);
        let mut next_obs = obs[obs_dim.min(obs.len())..].to_vec();
        next_obs.extend(d.uniform(obs_dim, 1.0));
        let terminated = (0..n).map(|t| if t % 5 == 4 { 1.0 } else { 0.0 }).collect();
        Self {
            obs_dim,
            act_dim,
            batch_len,
            obs,
            action: d.uniform(n * act_dim, 1.0),
            reward: d.uniform(n, 1.0),
            next_obs,
            terminated,
            truncated: vec![0.0; n],
            gamma: 0.9,
            actor: d.uniform(obs_dim * act_dim + 2 * act_dim, 0.3),
            critic: d.uniform(obs_dim + 1, 0.5),
            update: 0,
        }
    }

    fn value(&self, critic: &[f32], s: &[f32]) -> f64 {
        dot(critic, s.iter().map(|&x| x as f64)) + critic[self.obs_dim] as f64
    }

    fn states(&self, obs: &[f32]) -> usize {
        obs.len() / self.obs_dim.max(1)
    }

    /// `(mean, log_std)` of row `t` under actor parameters `actor`.
    fn gaussian(&self, actor: &[f32], t: usize) -> (Vec<f64>, Vec<f64>) {
        let (od, ad) = (self.obs_dim, self.act_dim);
        let s = &self.obs[t * od..][..od];
        let mean = (0..ad)
            .map(|j| {
                let w = (0..od).map(|i| actor[i * ad + j] as f64 * s[i] as f64);
                w.sum::<f64>() + actor[od * ad + j] as f64
            })
            .collect();
        let log_std = actor[od * ad + ad..].iter().map(|&x| x as f64).collect();
        (mean, log_std)
    }

    /// `log pi(a_t|s_t)` of every row under actor parameters `actor`.
    pub fn log_probs_at(&self, actor: &[f32]) -> Vec<f64> {
        let ad = self.act_dim;
        (0..self.batch_len)
            .map(|t| {
                let (mean, log_std) = self.gaussian(actor, t);
                (0..ad)
                    .map(|j| {
                        let z = (self.action[t * ad + j] as f64 - mean[j]) / log_std[j].exp();
                        -0.5 * z * z - log_std[j] - 0.5 * (2.0 * std::f64::consts::PI).ln()
                    })
                    .sum()
            })
            .collect()
    }

    /// The direction the on-policy core's actor ascends with `term` added:
    /// `sum_t (w_t + c_t) grad log pi(a_t|s_t)` for per-sample weights `c` (a [`Term::Mean`]'s
    /// divided by `N`), or the plain direction plus a [`Term::Direction`]. Checked as the core
    /// checks it.
    pub fn ascent(&self, term: &Term<f32>) -> PluginResult<Vec<f32>> {
        let n = self.batch_len;
        let plain = self.plain_weights();
        let extra = match term.clone().checked(n, self.actor.len())? {
            Term::Zero => None,
            Term::Direction(d) => Some(d),
            per_sample => {
                let c = per_sample.summed_entries(n).expect("per-sample");
                let total: Vec<f32> = plain.iter().zip(&c).map(|(p, c)| p + c).collect();
                return self.log_prob_vjp(&total);
            }
        };
        let mut g = self.log_prob_vjp(&plain)?;
        if let Some(d) = extra {
            g.iter_mut().zip(d).for_each(|(g, d)| *g += d);
        }
        Ok(g)
    }

    fn check(&self, what: &str, len: usize, want: usize) -> PluginResult<()> {
        if len == want {
            Ok(())
        } else {
            Err(format!("{what}: {len} values, expected {want}"))
        }
    }
}

impl OnPolicyContext for LinearOnPolicy {
    fn info(&self) -> RolloutInfo {
        RolloutInfo {
            obs_dim: self.obs_dim,
            act_dim: self.act_dim,
            batch_len: self.batch_len,
            gamma: self.gamma,
            gae_lambda: 1.0,
            critic_params: self.critic.len(),
            actor_params: self.actor.len(),
            hidden: Vec::new(),
            update: self.update,
        }
    }

    fn batch(&self) -> Batch<'_> {
        Batch {
            kind: BatchKind::Rollout,
            len: self.batch_len,
            obs: &self.obs,
            action: &self.action,
            reward: &self.reward,
            next_obs: &self.next_obs,
            terminated: &self.terminated,
            truncated: &self.truncated,
        }
    }

    fn episode_starts(&self) -> Vec<bool> {
        (0..self.batch_len)
            .map(|t| t == 0 || self.terminated[t - 1] > 0.5 || self.truncated[t - 1] > 0.5)
            .collect()
    }

    fn returns(&self) -> Vec<f32> {
        let (n, od) = (self.batch_len, self.obs_dim);
        let mut g = vec![0.0f64; n];
        let mut next = 0.0;
        for t in (0..n).rev() {
            let ends = self.terminated[t] > 0.5 || self.truncated[t] > 0.5 || t == n - 1;
            if ends {
                next = if self.terminated[t] > 0.5 {
                    0.0
                } else {
                    self.value(&self.critic, &self.next_obs[t * od..][..od])
                };
            }
            g[t] = self.reward[t] as f64 + self.gamma * next;
            next = g[t];
        }
        g.into_iter().map(|x| x as f32).collect()
    }

    fn advantages(&self) -> Vec<f32> {
        self.returns()
            .iter()
            .zip(self.values())
            .map(|(g, v)| g - v)
            .collect()
    }

    fn values(&self) -> Vec<f32> {
        self.critic_values(&self.obs)
            .expect("the rollout's own states")
    }

    fn plain_weights(&self) -> Vec<f32> {
        let n = self.batch_len as f32;
        self.advantages().iter().map(|a| a / n).collect()
    }

    fn log_probs(&self) -> PluginResult<Vec<f32>> {
        Ok(self
            .log_probs_at(&self.actor)
            .into_iter()
            .map(|l| l as f32)
            .collect())
    }

    fn critic_values(&self, obs: &[f32]) -> PluginResult<Vec<f32>> {
        let od = self.obs_dim;
        Ok((0..self.states(obs))
            .map(|k| self.value(&self.critic, &obs[k * od..][..od]) as f32)
            .collect())
    }

    fn critic_jvp(&self, obs: &[f32], x: &[f64]) -> PluginResult<Vec<f64>> {
        self.check("critic_jvp direction", x.len(), self.critic.len())?;
        let od = self.obs_dim;
        Ok((0..self.states(obs))
            .map(|k| {
                let s = &obs[k * od..][..od];
                s.iter().zip(x).map(|(&a, b)| a as f64 * b).sum::<f64>() + x[od]
            })
            .collect())
    }

    fn critic_vjp(&self, obs: &[f32], z: &[f64]) -> PluginResult<Vec<f64>> {
        let (n, od) = (self.states(obs), self.obs_dim);
        self.check("critic_vjp weights", z.len(), n)?;
        let mut g = vec![0.0; od + 1];
        for (k, zk) in z.iter().enumerate() {
            for i in 0..od {
                g[i] += zk * obs[k * od + i] as f64;
            }
            g[od] += zk;
        }
        Ok(g)
    }

    fn critic_gram(&self, obs: &[f32]) -> PluginResult<Vec<f64>> {
        let (n, od) = (self.states(obs), self.obs_dim);
        let s = |k: usize| &obs[k * od..][..od];
        Ok((0..n * n)
            .map(|kl| {
                let (k, l) = (kl / n, kl % n);
                s(k).iter()
                    .zip(s(l))
                    .map(|(&a, &b)| a as f64 * b as f64)
                    .sum::<f64>()
                    + 1.0
            })
            .collect())
    }

    fn critic_hvp(&self, obs: &[f32], targets: &[f32], x: &[f64]) -> PluginResult<Vec<f64>> {
        // L = mean_k (V(s_k) - t_k)^2 with V linear: H = 2/n J^T J, whatever the targets.
        let n = self.states(obs);
        self.check("critic_hvp targets", targets.len(), n)?;
        let jx = self.critic_jvp(obs, x)?;
        let z: Vec<f64> = jx.iter().map(|v| 2.0 * v / n as f64).collect();
        self.critic_vjp(obs, &z)
    }

    fn log_prob_vjp(&self, coef: &[f32]) -> PluginResult<Vec<f32>> {
        self.check("log_prob_vjp", coef.len(), self.batch_len)?;
        let (od, ad) = (self.obs_dim, self.act_dim);
        let mut g = vec![0.0f64; self.actor.len()];
        for (t, &c) in coef.iter().enumerate() {
            let (mean, log_std) = self.gaussian(&self.actor, t);
            let s = &self.obs[t * od..][..od];
            for j in 0..ad {
                let sigma = log_std[j].exp();
                let z = (self.action[t * ad + j] as f64 - mean[j]) / sigma;
                let d_mean = c as f64 * z / sigma;
                for i in 0..od {
                    g[i * ad + j] += d_mean * s[i] as f64;
                }
                g[od * ad + j] += d_mean;
                g[od * ad + ad + j] += c as f64 * (z * z - 1.0);
            }
        }
        Ok(g.into_iter().map(|x| x as f32).collect())
    }
}

#[cfg(test)]
mod tests {
    use super::super::central;
    use super::*;

    fn assert_close(a: f64, b: f64, what: &str) {
        assert!(
            (a - b).abs() <= 2e-4 * (1.0 + b.abs()),
            "{what}: {a} vs {b}"
        );
    }

    #[test]
    fn products_match_finite_differences() {
        let c = LinearOnPolicy::random(3, 2, 12, 2);
        let coef = Draws::new(3).uniform(c.batch_len, 1.0);
        let v = Draws::new(4).uniform(c.actor.len(), 1.0);
        let fd = central(&c.actor, &v, |a| dot(&coef, c.log_probs_at(a)));
        let vjp = c.log_prob_vjp(&coef).unwrap();
        assert_close(dot(&vjp, v.iter().map(|&x| x as f64)), fd, "log_prob_vjp");

        let x = Draws::new(5).uniform(c.critic.len(), 1.0);
        let x64: Vec<f64> = x.iter().map(|&v| v as f64).collect();
        let values_at = |w: &[f32]| {
            let mut moved = c.clone();
            moved.critic = w.to_vec();
            moved.critic_values(&c.obs).unwrap()
        };
        let jvp = c.critic_jvp(&c.obs, &x64).unwrap();
        for (k, j) in jvp.iter().enumerate() {
            assert_close(
                *j,
                central(&c.critic, &x, |w| values_at(w)[k] as f64),
                "critic_jvp",
            );
        }
        let z: Vec<f64> = Draws::new(6)
            .uniform(c.batch_len, 1.0)
            .iter()
            .map(|&v| v as f64)
            .collect();
        let vjp = c.critic_vjp(&c.obs, &z).unwrap();
        let fd = central(&c.critic, &x, |w| {
            values_at(w)
                .iter()
                .zip(&z)
                .map(|(&v, z)| v as f64 * z)
                .sum()
        });
        assert_close(
            vjp.iter().zip(&x64).map(|(a, b)| a * b).sum(),
            fd,
            "critic_vjp",
        );
        let k = c.critic_gram(&c.obs).unwrap();
        let n = c.batch_len;
        let jjt = c.critic_jvp(&c.obs, &vjp).unwrap();
        for b in 0..n {
            let kz: f64 = (0..n).map(|d| k[b * n + d] * z[d]).sum();
            assert_close(kz, jjt[b], "critic_gram");
        }
        // H x by finite differences of the loss's gradient (2/n J^T (V - t)).
        let t = c.returns();
        let grad_at = |w: &[f32]| {
            let mut moved = c.clone();
            moved.critic = w.to_vec();
            let r: Vec<f64> = moved
                .critic_values(&c.obs)
                .unwrap()
                .iter()
                .zip(&t)
                .map(|(v, t)| 2.0 * (v - t) as f64 / n as f64)
                .collect();
            moved.critic_vjp(&c.obs, &r).unwrap()
        };
        let hvp = c.critic_hvp(&c.obs, &t, &x64).unwrap();
        for (i, h) in hvp.iter().enumerate() {
            assert_close(*h, central(&c.critic, &x, |w| grad_at(w)[i]), "critic_hvp");
        }
    }

    #[test]
    fn returns_bootstrap_where_episodes_are_cut() {
        let mut c = LinearOnPolicy::random(2, 1, 7, 8);
        c.truncated[1] = 1.0;
        let (g, n) = (c.returns(), c.batch_len);
        let v_next = |t: usize| c.value(&c.critic, &c.next_obs[t * 2..][..2]);
        let close = |a: f32, b: f64| assert!((a as f64 - b).abs() < 1e-5, "{a} vs {b}");
        close(g[1], c.reward[1] as f64 + 0.9 * v_next(1));
        close(g[4], c.reward[4] as f64);
        close(g[n - 1], c.reward[n - 1] as f64 + 0.9 * v_next(n - 1));
        close(g[0], c.reward[0] as f64 + 0.9 * g[1] as f64);
        assert_eq!(c.episode_starts()[..3], [true, false, true]);
    }

    #[test]
    fn the_ascent_applies_each_term_form_as_the_core_does() {
        let c = LinearOnPolicy::random(3, 2, 10, 3);
        let w = Draws::new(7).uniform(c.batch_len, 1.0);
        let n = c.batch_len as f32;
        let sum = c.ascent(&Term::Sum(w.clone())).unwrap();
        let mean = c
            .ascent(&Term::Mean(w.iter().map(|x| x * n).collect()))
            .unwrap();
        let direction = c
            .ascent(&Term::Direction(c.log_prob_vjp(&w).unwrap()))
            .unwrap();
        for k in 0..sum.len() {
            assert_close(sum[k] as f64, mean[k] as f64, "mean vs sum");
            assert_close(sum[k] as f64, direction[k] as f64, "sum vs direction");
        }
        assert!(c.ascent(&Term::Sum(vec![0.0; 2])).is_err());
    }
}
