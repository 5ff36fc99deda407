//! [`LinearSac`]: a [`SacContext`] in closed form, for unit tests of SAC-family corrections.

use super::{Draws, dot};
use crate::batch::{Batch, BatchKind};
use crate::correction::{ContextInfo, SacContext, Sampled, Term};
use crate::result::PluginResult;

/// The SAC core's update context with linear networks, every product written out (f64 inside,
/// `f32` answers, as the real core gives):
/// - critics `Q_i(s, a) = [s, a] . w_i + b_i` (flat: `w_i` then `b_i`), targets `Qbar_i` alike;
/// - actor: a squashed Gaussian whose mean and log-std are linear in `s`:
///   `[mu, log_std] = s W + c` (flat: `W` row-major `obs_dim x 2 act_dim`, then `c`),
///   `a~ = tanh(mu + exp(log_std) eps)`; no log-std clamp;
/// - the action box is `[-1, 1]`, so the batch's actions are already in the actor's units.
///
/// Every product is checked against finite differences of the closed form in this module's
/// tests, so a correction tested here meets the same definitions as in the real core
/// (docs/plugins.md, "Test a correction"). Fields are public: set what a test needs.
#[derive(Clone, Debug)]
pub struct LinearSac {
    pub obs_dim: usize,
    pub act_dim: usize,
    pub batch_len: usize,
    pub obs: Vec<f32>,
    pub action: Vec<f32>,
    pub reward: Vec<f32>,
    pub next_obs: Vec<f32>,
    pub terminated: Vec<f32>,
    pub truncated: Vec<f32>,
    pub gamma: f32,
    pub alpha: f32,
    pub actor: Vec<f32>,
    pub critics: [Vec<f32>; 2],
    pub targets: [Vec<f32>; 2],
    /// This update's reparameterisation noise at `s` and at `s'` (`batch_len x act_dim`).
    pub eps: Vec<f32>,
    pub eps_next: Vec<f32>,
}

/// One row's squashed-Gaussian sample and what its derivatives need.
struct Row {
    action: Vec<f64>,
    sigma_eps: Vec<f64>,
    log_prob: f64,
}

impl LinearSac {
    /// A random context: parameters and observations of order one, actions in `(-1, 1)`,
    /// a quarter of the transitions terminal.
    pub fn random(obs_dim: usize, act_dim: usize, batch_len: usize, seed: u64) -> Self {
        let mut d = Draws::new(seed);
        let (n, od, ad) = (batch_len, obs_dim, act_dim);
        let critic = |d: &mut Draws| d.uniform(od + ad + 1, 0.5);
        Self {
            obs_dim,
            act_dim,
            batch_len,
            obs: d.uniform(n * od, 1.0),
            action: d.uniform(n * ad, 0.9),
            reward: d.uniform(n, 1.0),
            next_obs: d.uniform(n * od, 1.0),
            terminated: (0..n).map(|i| if i % 4 == 3 { 1.0 } else { 0.0 }).collect(),
            truncated: vec![0.0; n],
            gamma: 0.9,
            alpha: 0.5,
            actor: d.uniform(od * 2 * ad + 2 * ad, 0.3),
            critics: [critic(&mut d), critic(&mut d)],
            targets: [critic(&mut d), critic(&mut d)],
            eps: d.normal(n * ad),
            eps_next: d.normal(n * ad),
        }
    }

    fn sample(&self, actor: &[f32], s: &[f32], eps: &[f32]) -> Row {
        let ad = self.act_dim;
        let h: Vec<f64> = (0..2 * ad)
            .map(|k| {
                let w = (0..self.obs_dim).map(|i| actor[i * 2 * ad + k] as f64 * s[i] as f64);
                w.sum::<f64>() + actor[self.obs_dim * 2 * ad + k] as f64
            })
            .collect();
        let mut row = Row {
            action: Vec::with_capacity(ad),
            sigma_eps: Vec::with_capacity(ad),
            log_prob: 0.0,
        };
        for j in 0..ad {
            let (mu, log_std, e) = (h[j], h[ad + j], eps[j] as f64);
            let u = mu + log_std.exp() * e;
            // log N(u; mu, sigma) - log(1 - tanh(u)^2), the latter as 2 (ln 2 - u - softplus(-2u)).
            let softplus = (-2.0 * u).max(0.0) + (-(2.0 * u).abs()).exp().ln_1p();
            row.log_prob += -0.5 * e * e
                - log_std
                - 0.5 * (2.0 * std::f64::consts::PI).ln()
                - 2.0 * (std::f64::consts::LN_2 - u - softplus);
            row.action.push(u.tanh());
            row.sigma_eps.push(log_std.exp() * e);
        }
        row
    }

    fn rows(&self, actor: &[f32], obs: &[f32], eps: &[f32]) -> Vec<Row> {
        let (od, ad) = (self.obs_dim, self.act_dim);
        (0..self.batch_len)
            .map(|b| self.sample(actor, &obs[b * od..][..od], &eps[b * ad..][..ad]))
            .collect()
    }

    fn q(&self, critic: &[f32], s: &[f32], a: &[f64]) -> f64 {
        let x = s.iter().map(|&v| v as f64).chain(a.iter().copied());
        dot(critic, x) + critic[self.obs_dim + self.act_dim] as f64
    }

    /// `sum_b` of the actor's parameter gradient for per-row derivatives `d_action` (with
    /// respect to `a~`) and `d_log_std` (direct, with respect to the log-std outputs).
    fn actor_backward(
        &self,
        obs: &[f32],
        rows: &[Row],
        d: impl Fn(usize, usize) -> [f64; 2],
    ) -> Vec<f32> {
        let (od, ad) = (self.obs_dim, self.act_dim);
        let mut g = vec![0.0f64; self.actor.len()];
        for (b, row) in rows.iter().enumerate() {
            let s = &obs[b * od..][..od];
            for j in 0..ad {
                let [d_action, d_log_std] = d(b, j);
                let du = d_action * (1.0 - row.action[j] * row.action[j]);
                let dh = [(j, du), (ad + j, du * row.sigma_eps[j] + d_log_std)];
                for (k, v) in dh {
                    for i in 0..od {
                        g[i * 2 * ad + k] += s[i] as f64 * v;
                    }
                    g[od * 2 * ad + k] += v;
                }
            }
        }
        g.into_iter().map(|x| x as f32).collect()
    }

    /// `d log pi / d u_j = 2 a~_j` through the tanh correction; `d log pi / d log_std_j = -1`
    /// directly: the per-row derivatives of `-coef * log pi`.
    fn log_prob_terms(row: &Row, j: usize, coef: f64) -> [f64; 2] {
        // d(-log pi)/da~ is written through u: -2 a~ / (1 - a~^2) per unit of da~/du.
        let a = row.action[j];
        [-coef * 2.0 * a / (1.0 - a * a), coef]
    }

    /// The index of the smaller online critic at `(s, a)`.
    fn smaller(&self, s: &[f32], a: &[f64], critics: &[Vec<f32>; 2]) -> usize {
        usize::from(self.q(&critics[1], s, a) < self.q(&critics[0], s, a))
    }

    /// The actor objective `J_pi = mean_b [min_i Q_i(s, a~) - alpha log pi(a~|s)]` at actor
    /// parameters `actor` (for finite differences of [`SacContext::actor_gradient`]).
    pub fn policy_objective(&self, actor: &[f32]) -> f64 {
        let od = self.obs_dim;
        let rows = self.rows(actor, &self.obs, &self.eps);
        let total: f64 = rows
            .iter()
            .enumerate()
            .map(|(b, r)| {
                let s = &self.obs[b * od..][..od];
                let q = self.q(&self.critics[0], s, &r.action).min(self.q(
                    &self.critics[1],
                    s,
                    &r.action,
                ));
                q - self.alpha as f64 * r.log_prob
            })
            .sum();
        total / self.batch_len as f64
    }

    /// The soft TD target of every row at actor parameters `actor`.
    pub fn targets_at(&self, actor: &[f32]) -> Vec<f64> {
        let od = self.obs_dim;
        self.rows(actor, &self.next_obs, &self.eps_next)
            .iter()
            .enumerate()
            .map(|(b, r)| {
                let s = &self.next_obs[b * od..][..od];
                let q = self.q(&self.targets[0], s, &r.action).min(self.q(
                    &self.targets[1],
                    s,
                    &r.action,
                ));
                let soft = q - self.alpha as f64 * r.log_prob;
                self.reward[b] as f64 + self.gamma as f64 * (1.0 - self.terminated[b] as f64) * soft
            })
            .collect()
    }

    /// The policy's actions `a~` at the batch observations for actor parameters `actor`.
    pub fn actions_at(&self, actor: &[f32]) -> Vec<f64> {
        self.rows(actor, &self.obs, &self.eps)
            .into_iter()
            .flat_map(|r| r.action)
            .collect()
    }

    /// The direction the SAC core's actor ascends with `term` added: `grad J_pi` plus the term
    /// as the core applies it (a [`Term::Mean`] divided by `B`, a [`Term::Sum`] as is, both
    /// mapped through `d a~ / d theta`; a [`Term::Direction`] added). Checked as the core
    /// checks it.
    pub fn ascent(&self, term: &Term<f32>) -> PluginResult<Vec<f32>> {
        let (n, ad) = (self.batch_len, self.act_dim);
        let mut g = self.actor_gradient()?;
        let extra = match term.clone().checked(n * ad, g.len())? {
            Term::Zero => return Ok(g),
            Term::Direction(d) => d,
            per_sample => self.actor_vjp(&per_sample.summed_entries(n).expect("per-sample"))?,
        };
        g.iter_mut().zip(extra).for_each(|(g, e)| *g += e);
        Ok(g)
    }

    fn check(&self, what: &str, len: usize, want: usize) -> PluginResult<()> {
        if len == want {
            Ok(())
        } else {
            Err(format!("{what}: {len} values, expected {want}"))
        }
    }

    fn pairs(&self, obs: &[f32], act: &[f32]) -> PluginResult<usize> {
        let n = obs.len() / self.obs_dim.max(1);
        self.check("obs", obs.len(), n * self.obs_dim)?;
        self.check("act", act.len(), n * self.act_dim)?;
        Ok(n)
    }
}

impl SacContext for LinearSac {
    fn info(&self) -> ContextInfo {
        ContextInfo {
            obs_dim: self.obs_dim,
            act_dim: self.act_dim,
            batch_len: self.batch_len,
            gamma: self.gamma,
            alpha: self.alpha,
            actor_params: self.actor.len(),
            critic_params: self.critics[0].len(),
            hidden: Vec::new(),
        }
    }

    fn batch(&self) -> Batch<'_> {
        Batch {
            kind: BatchKind::Minibatch,
            len: self.batch_len,
            obs: &self.obs,
            action: &self.action,
            reward: &self.reward,
            next_obs: &self.next_obs,
            terminated: &self.terminated,
            truncated: &self.truncated,
        }
    }

    fn batch_actions(&self) -> PluginResult<Vec<f32>> {
        Ok(self.action.clone())
    }

    fn policy_actions(&self) -> PluginResult<Sampled> {
        let rows = self.rows(&self.actor, &self.obs, &self.eps);
        Ok(sampled(&rows))
    }

    fn next_actions(&self) -> PluginResult<Sampled> {
        let rows = self.rows(&self.actor, &self.next_obs, &self.eps_next);
        Ok(sampled(&rows))
    }

    fn td_target(&self) -> PluginResult<Vec<f32>> {
        Ok(self
            .targets_at(&self.actor)
            .into_iter()
            .map(|y| y as f32)
            .collect())
    }

    fn critic_values(&self, obs: &[f32], act: &[f32]) -> PluginResult<Vec<f32>> {
        let n = self.pairs(obs, act)?;
        let (od, ad) = (self.obs_dim, self.act_dim);
        Ok(self
            .critics
            .iter()
            .flat_map(|c| {
                (0..n).map(move |b| {
                    let a: Vec<f64> = act[b * ad..][..ad].iter().map(|&x| x as f64).collect();
                    self.q(c, &obs[b * od..][..od], &a) as f32
                })
            })
            .collect())
    }

    fn critic_jvp(&self, obs: &[f32], act: &[f32], v: &[f32]) -> PluginResult<Vec<f32>> {
        let n = self.pairs(obs, act)?;
        let p = self.critics[0].len();
        self.check("critic_jvp direction", v.len(), 2 * p)?;
        let (od, ad) = (self.obs_dim, self.act_dim);
        Ok((0..2)
            .flat_map(|i| {
                let vi = &v[i * p..][..p];
                (0..n).map(move |b| {
                    let x = obs[b * od..][..od].iter().chain(&act[b * ad..][..ad]);
                    (dot(vi, x.map(|&x| x as f64)) + vi[p - 1] as f64) as f32
                })
            })
            .collect())
    }

    fn critic_vjp(&self, obs: &[f32], act: &[f32], w: &[f32]) -> PluginResult<Vec<f32>> {
        let n = self.pairs(obs, act)?;
        self.check("critic_vjp weights", w.len(), 2 * n)?;
        let (od, ad) = (self.obs_dim, self.act_dim);
        let mut out = Vec::with_capacity(2 * self.critics[0].len());
        for i in 0..2 {
            let mut g = vec![0.0f64; od + ad + 1];
            for b in 0..n {
                let wb = w[i * n + b] as f64;
                let x = obs[b * od..][..od].iter().chain(&act[b * ad..][..ad]);
                for (gk, &xk) in g.iter_mut().zip(x) {
                    *gk += wb * xk as f64;
                }
                g[od + ad] += wb;
            }
            out.extend(g.into_iter().map(|x| x as f32));
        }
        Ok(out)
    }

    fn actor_vjp(&self, g: &[f32]) -> PluginResult<Vec<f32>> {
        self.check("actor_vjp", g.len(), self.batch_len * self.act_dim)?;
        let rows = self.rows(&self.actor, &self.obs, &self.eps);
        let ad = self.act_dim;
        Ok(self.actor_backward(&self.obs, &rows, |b, j| [g[b * ad + j] as f64, 0.0]))
    }

    fn target_vjp(&self, c: &[f32]) -> PluginResult<Vec<f32>> {
        self.check("target_vjp", c.len(), self.batch_len)?;
        let rows = self.rows(&self.actor, &self.next_obs, &self.eps_next);
        let od = self.obs_dim;
        let alpha = self.alpha as f64;
        Ok(self.actor_backward(&self.next_obs, &rows, |b, j| {
            let s = &self.next_obs[b * od..][..od];
            let scale = c[b] as f64 * self.gamma as f64 * (1.0 - self.terminated[b] as f64);
            let i = self.smaller(s, &rows[b].action, &self.targets);
            let [da, dl] = Self::log_prob_terms(&rows[b], j, alpha);
            [scale * (self.targets[i][od + j] as f64 + da), scale * dl]
        }))
    }

    fn critic_gram(&self, obs: &[f32], act: &[f32]) -> PluginResult<Vec<f32>> {
        let n = self.pairs(obs, act)?;
        let (od, ad) = (self.obs_dim, self.act_dim);
        let x = |b: usize| obs[b * od..][..od].iter().chain(&act[b * ad..][..ad]);
        // Linear critics: the per-sample gradient is `[s, a, 1]` for both.
        let k: Vec<f32> = (0..n * n)
            .map(|bc| {
                let (b, c) = (bc / n, bc % n);
                (x(b)
                    .zip(x(c))
                    .map(|(&u, &v)| u as f64 * v as f64)
                    .sum::<f64>()
                    + 1.0) as f32
            })
            .collect();
        Ok([k.clone(), k].concat())
    }

    fn actor_gradient(&self) -> PluginResult<Vec<f32>> {
        let rows = self.rows(&self.actor, &self.obs, &self.eps);
        let (od, n) = (self.obs_dim, self.batch_len as f64);
        let alpha = self.alpha as f64;
        Ok(self.actor_backward(&self.obs, &rows, |b, j| {
            let s = &self.obs[b * od..][..od];
            let i = self.smaller(s, &rows[b].action, &self.critics);
            let [da, dl] = Self::log_prob_terms(&rows[b], j, alpha);
            [(self.critics[i][od + j] as f64 + da) / n, dl / n]
        }))
    }

    fn critic_action_gradient(
        &self,
        obs: &[f32],
        act: &[f32],
        w: &[f32],
    ) -> PluginResult<Vec<f32>> {
        let n = self.pairs(obs, act)?;
        self.check("critic_action_gradient weights", w.len(), 2 * n)?;
        let (od, ad) = (self.obs_dim, self.act_dim);
        let mut out = self.critic_values(obs, act)?;
        for (i, c) in self.critics.iter().enumerate() {
            for b in 0..n {
                out.extend((0..ad).map(|j| w[i * n + b] * c[od + j]));
            }
        }
        Ok(out)
    }
}

fn sampled(rows: &[Row]) -> Sampled {
    Sampled {
        actions: rows
            .iter()
            .flat_map(|r| r.action.iter().map(|&a| a as f32))
            .collect(),
        log_prob: rows.iter().map(|r| r.log_prob as f32).collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::super::central;
    use super::*;

    fn ctx() -> LinearSac {
        LinearSac::random(3, 2, 5, 1)
    }

    #[test]
    fn actor_products_match_finite_differences() {
        let c = ctx();
        let v = Draws::new(9).uniform(c.actor.len(), 1.0);
        let g = Draws::new(10).uniform(c.batch_len * c.act_dim, 1.0);
        let w = Draws::new(11).uniform(c.batch_len, 1.0);
        let along = |grad: &[f32]| dot(grad, v.iter().map(|&x| x as f64));
        // actor_vjp(g) . v = d/dt sum_b g_b . a~_b(theta + t v)
        let fd = central(&c.actor, &v, |a| dot(&g, c.actions_at(a)));
        assert_close(along(&c.actor_vjp(&g).unwrap()), fd, "actor_vjp");
        let fd = central(&c.actor, &v, |a| dot(&w, c.targets_at(a)));
        assert_close(along(&c.target_vjp(&w).unwrap()), fd, "target_vjp");
        let fd = central(&c.actor, &v, |a| c.policy_objective(a));
        assert_close(along(&c.actor_gradient().unwrap()), fd, "actor_gradient");
    }

    #[test]
    fn critic_products_match_finite_differences() {
        let c = ctx();
        let (obs, act) = (c.obs.clone(), c.action.clone());
        let p = c.critics[0].len();
        let v = Draws::new(12).uniform(2 * p, 1.0);
        let w = Draws::new(13).uniform(2 * c.batch_len, 1.0);
        let values_at = |flat: &[f32]| {
            let mut moved = c.clone();
            moved.critics = [flat[..p].to_vec(), flat[p..].to_vec()];
            moved.critic_values(&obs, &act).unwrap()
        };
        let both = [c.critics[0].clone(), c.critics[1].clone()].concat();
        let jvp = c.critic_jvp(&obs, &act, &v).unwrap();
        for (k, &j) in jvp.iter().enumerate() {
            let fd = central(&both, &v, |f| values_at(f)[k] as f64);
            assert_close(j as f64, fd, "critic_jvp");
        }
        let vjp = c.critic_vjp(&obs, &act, &w).unwrap();
        let fd = central(&both, &v, |f| {
            dot(&w, values_at(f).iter().map(|&x| x as f64))
        });
        assert_close(dot(&vjp, v.iter().map(|&x| x as f64)), fd, "critic_vjp");
        // The Gram matrix is J J^T: K v-direction = J (J^T w) per critic.
        let k = c.critic_gram(&obs, &act).unwrap();
        let n = c.batch_len;
        let jjt = c.critic_jvp(&obs, &act, &vjp).unwrap();
        for i in 0..2 {
            for b in 0..n {
                let kw: f64 = (0..n)
                    .map(|d| k[i * n * n + b * n + d] as f64 * w[i * n + d] as f64)
                    .sum();
                assert_close(kw, jjt[i * n + b] as f64, "critic_gram");
            }
        }
        // Action gradients: d/dt Q_i(s, a + t e) along a random action direction.
        let e = Draws::new(14).uniform(act.len(), 1.0);
        let out = c
            .critic_action_gradient(&obs, &act, &vec![1.0; 2 * n])
            .unwrap();
        let fd = central(&act, &e, |a| {
            c.critic_values(&obs, a)
                .unwrap()
                .iter()
                .map(|&x| x as f64)
                .sum()
        });
        assert_close(
            dot(&out[2 * n..], e.iter().chain(&e).map(|&x| x as f64)),
            fd,
            "critic_action_gradient",
        );
    }

    #[test]
    fn the_ascent_applies_each_term_form_as_the_core_does() {
        let c = ctx();
        let g = Draws::new(15).uniform(c.batch_len * c.act_dim, 1.0);
        let b = c.batch_len as f32;
        let plain = c.ascent(&Term::Zero).unwrap();
        let sum = c.ascent(&Term::Sum(g.clone())).unwrap();
        let mean = c
            .ascent(&Term::Mean(g.iter().map(|x| x * b).collect()))
            .unwrap();
        let direction = c
            .ascent(&Term::Direction(c.actor_vjp(&g).unwrap()))
            .unwrap();
        for k in 0..plain.len() {
            assert_close(sum[k] as f64, mean[k] as f64, "mean vs sum");
            assert_close(sum[k] as f64, direction[k] as f64, "sum vs direction");
        }
        assert!(plain.iter().zip(&sum).any(|(p, s)| (p - s).abs() > 1e-3));
        let e = c.ascent(&Term::Mean(vec![0.0; 3])).unwrap_err();
        assert!(e.contains("per-sample term of 3 values"), "{e}");
    }

    fn assert_close(a: f64, b: f64, what: &str) {
        assert!(
            (a - b).abs() <= 2e-4 * (1.0 + b.abs()),
            "{what}: {a} vs {b}"
        );
    }
}
