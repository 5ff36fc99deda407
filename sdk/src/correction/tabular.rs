//! The tabular family's correction hook: how a gap estimator changes a tabular
//! actor-critic's update (docs/algorithms.md §2 and §7).
//!
//! The tabular actor-critics of Wen et al. (2021) keep a softmax logits table `theta`, a critic
//! table `q` and learn from on-policy batches. One update builds a [`TabularContext`] from the
//! tables as they are before the update; the actor then ascends
//!
//! `base direction + the correction's term`,
//!
//! where the base is Actor^g (`mean_B q(s,a) grad log pi(a|s)`) or Actor^o
//! (`sum_s o(s) grad sum_a pi(a|s) q(s,a)` over the start states seen). A
//! [`TabularCorrection`] returns its [`Term`] as
//! - [`Term::Mean`]: one weight `c_b` per transition, the actor adding
//!   `mean_B c_b grad log pi(a_b|s_b)` (with the Actor^g base the weight joins the critic's
//!   value per sample, `mean_B (q(s_b,a_b) + c_b) grad log pi`: Res-AC's `q + w`);
//!   [`Term::Sum`]: the same weights already divided by `B` (the core multiplies them back);
//! - [`Term::Direction`]: a direction in logit space, added as is (Stack-AC's implicit term).
//!
//! Why this differs from the SAC hook ([`crate::correction::SacContext`]): tabular tables are
//! small and explicit, so the context is plain data (the tables themselves) rather than
//! products with networks; an estimator computes whatever it needs from them. Both hooks share
//! the [`Term`], the loading (`--correction`), the export macro and the ABI object.

use super::Term;
use crate::result::{Metrics, PluginResult};
use serde::{Deserialize, Serialize};

/// One transition of an update's batch.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Transition {
    pub s: usize,
    pub a: usize,
    pub r: f64,
    pub next_s: usize,
    /// The episode ended in a terminal state: no bootstrapping.
    pub terminated: bool,
    /// The action taken at `next_s` when the batch goes on from there. `None` at an episode
    /// boundary, at the batch's end and for i.i.d. batches: bootstrapping then takes the
    /// policy's expectation `sum_a' pi(a'|s') x(s', a')` ([`TabularContext::next_value`]).
    pub next_a: Option<usize>,
}

/// The base actor direction a correction is added to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Base {
    /// Actor^o: `sum_s o(s) grad_theta sum_a pi(a|s) q(s,a)`, `o` the start-state weights.
    ActorO,
    /// Actor^g: `mean_B q(s,a) grad_theta log pi(a|s)`.
    ActorG,
}

/// What a tabular correction sees at one update; every table is state-major (`s * actions + a`)
/// and holds the values before the update.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TabularContext {
    pub states: usize,
    pub actions: usize,
    pub gamma: f64,
    pub batch: Vec<Transition>,
    /// `pi(a|s) = softmax(theta_s)_a`.
    pub policy: Vec<f64>,
    /// The critic `q(s, a)`.
    pub critic: Vec<f64>,
    /// Actor^o's weight of each state (the start states seen so far, normalised); zeros where
    /// none was seen.
    pub start_weights: Vec<f64>,
    pub base: Base,
    /// The base actor's ascent direction on this batch (logit space).
    pub base_direction: Vec<f64>,
}

/// An index drawn with probability `weights[i]` (given as `(i, w_i)`, summing to 1) by one
/// uniform draw of `rng`; the last index if rounding leaves the sum short.
pub fn sample_index(
    rng: &mut impl rand::Rng,
    weights: impl IntoIterator<Item = (usize, f64)>,
) -> usize {
    let u: f64 = rng.random();
    let (mut acc, mut last) = (0.0, 0);
    for (i, w) in weights {
        acc += w;
        last = i;
        if u < acc {
            return i;
        }
    }
    last
}

/// `softmax(theta_s)` for every state.
pub fn softmax_table(theta: &[f64], actions: usize) -> Vec<f64> {
    theta
        .chunks(actions)
        .flat_map(|logits| {
            let max = logits.iter().copied().fold(f64::NEG_INFINITY, f64::max);
            let e: Vec<f64> = logits.iter().map(|l| (l - max).exp()).collect();
            let z: f64 = e.iter().sum();
            e.into_iter().map(move |x| x / z)
        })
        .collect()
}

impl TabularContext {
    /// The context of a batch at logits `theta` and critic `critic`, with the base direction.
    pub fn new(
        (states, actions, gamma): (usize, usize, f64),
        theta: &[f64],
        critic: &[f64],
        start_weights: Vec<f64>,
        batch: Vec<Transition>,
        base: Base,
    ) -> Self {
        let mut ctx = Self {
            states,
            actions,
            gamma,
            batch,
            policy: softmax_table(theta, actions),
            critic: critic.to_vec(),
            start_weights,
            base,
            base_direction: Vec::new(),
        };
        ctx.base_direction = ctx.direction_with(None);
        ctx
    }

    /// `pi(.|s)`.
    pub fn pi(&self, s: usize) -> &[f64] {
        &self.policy[s * self.actions..(s + 1) * self.actions]
    }

    /// `sum_a pi(a|s) x(s, a)`.
    pub fn expect(&self, x: &[f64], s: usize) -> f64 {
        let pi = self.pi(s);
        (0..self.actions)
            .map(|a| pi[a] * x[s * self.actions + a])
            .sum()
    }

    /// `x(s', a')` of transition `t` as the critics bootstrap it: 0 after a terminal state,
    /// the next action taken where the batch goes on, else `sum_a' pi(a'|s') x(s', a')`.
    pub fn next_value(&self, t: usize, x: &[f64]) -> f64 {
        let tr = &self.batch[t];
        if tr.terminated {
            return 0.0;
        }
        match tr.next_a {
            Some(a2) => x[tr.next_s * self.actions + a2],
            None => self.expect(x, tr.next_s),
        }
    }

    /// Adds `scale * grad_theta log pi(a|s)` (`1[a = b] - pi(b|s)` in block `s`) to `g`.
    pub fn add_log_pi_gradient(&self, g: &mut [f64], s: usize, a: usize, scale: f64) {
        let pi = self.pi(s);
        for b in 0..self.actions {
            let ind = if b == a { 1.0 } else { 0.0 };
            g[s * self.actions + b] += (ind - pi[b]) * scale;
        }
    }

    /// Adds `scale * grad_theta sum_a pi(a|s) x(s, a)` = `scale * pi(b|s) (x(s,b) - E_pi x(s,.))`.
    pub fn add_expectation_gradient(&self, g: &mut [f64], x: &[f64], s: usize, scale: f64) {
        let pi = self.pi(s);
        let mean = self.expect(x, s);
        for b in 0..self.actions {
            g[s * self.actions + b] += scale * pi[b] * (x[s * self.actions + b] - mean);
        }
    }

    /// The actor's ascent direction: the base plus a correction's term (checked).
    pub fn actor_direction(&self, term: &Term<f64>) -> PluginResult<Vec<f64>> {
        let (n, pairs) = (self.batch.len(), self.states * self.actions);
        let term = term.clone().checked(n, pairs)?;
        if let Some(bad) = term.non_finite() {
            return Err(format!(
                "a tabular correction returned a non-finite value ({bad})"
            ));
        }
        // The base was computed once, when the context was built; only weights on log pi
        // change the per-sample values and need a fresh pass.
        Ok(match term {
            Term::Zero => self.base_direction.clone(),
            Term::Direction(d) => self
                .base_direction
                .iter()
                .zip(&d)
                .map(|(g, di)| g + di)
                .collect(),
            Term::Mean(w) => self.direction_with(Some(&w)),
            // The core averages: weights already divided by `n` are multiplied back.
            Term::Sum(w) => {
                let w: Vec<f64> = w.iter().map(|c| c * n as f64).collect();
                self.direction_with(Some(&w))
            }
        })
    }

    /// The base direction with optional per-sample weights on log pi.
    fn direction_with(&self, weights: Option<&[f64]>) -> Vec<f64> {
        let n = self.batch.len();
        let mut g = vec![0.0; self.states * self.actions];
        match self.base {
            Base::ActorO => {
                for (s, &o) in self.start_weights.iter().enumerate() {
                    if o > 0.0 {
                        self.add_expectation_gradient(&mut g, &self.critic, s, o);
                    }
                }
                if let Some(w) = weights {
                    for (tr, c) in self.batch.iter().zip(w) {
                        self.add_log_pi_gradient(&mut g, tr.s, tr.a, c / n as f64);
                    }
                }
            }
            Base::ActorG => {
                for (t, tr) in self.batch.iter().enumerate() {
                    let c = weights.map_or(0.0, |w| w[t]);
                    let value = self.critic[tr.s * self.actions + tr.a] + c;
                    // `(1[a = b] - pi(b|s)) value / n`, in this order (the agents' checkpoints
                    // and curves are reproduced bit for bit).
                    let pi = self.pi(tr.s);
                    for b in 0..self.actions {
                        let ind = if b == tr.a { 1.0 } else { 0.0 };
                        g[tr.s * self.actions + b] += (ind - pi[b]) * value / n as f64;
                    }
                }
            }
        }
        g
    }

    /// The critic's TD semi-gradient `-mean_B delta_b e_(s_b,a_b)` with
    /// `delta = r + gamma q(s',a') - q(s,a)`, and the loss `1/2 mean delta^2`.
    pub fn critic_gradient(&self) -> (Vec<f64>, f64) {
        let n = self.batch.len() as f64;
        let mut g = vec![0.0; self.critic.len()];
        let mut loss = 0.0;
        for (t, tr) in self.batch.iter().enumerate() {
            let sa = tr.s * self.actions + tr.a;
            let delta = tr.r + self.gamma * self.next_value(t, &self.critic) - self.critic[sa];
            g[sa] -= delta / n;
            loss += 0.5 * delta * delta / n;
        }
        (g, loss)
    }
}

/// One update of a tabular correction.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TabularUpdate {
    pub term: Term<f64>,
    pub metrics: Metrics,
    /// The correction's additive critic table after this update (Res-AC's `w`), if it keeps
    /// one: the exact diagnostics then also score `q + w` against the true `q`.
    pub critic_correction: Option<Vec<f64>>,
}

/// A gap estimator for the tabular actor-critics. Implement `update`; the rest has defaults.
pub trait TabularCorrection: Send {
    /// The term of this update, computed from the context's tables (before the update); an
    /// estimator with tables of its own steps them here too. Metrics are logged as
    /// `correction/<metric>`; name them `<your-name>/...`.
    fn update(&mut self, ctx: &TabularContext) -> PluginResult<TabularUpdate>;

    /// The estimator's complete state, for exact resume.
    fn save(&self) -> PluginResult<Vec<u8>> {
        Ok(Vec::new())
    }

    fn load(&mut self, bytes: &[u8]) -> PluginResult<()> {
        let _ = bytes;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ctx(base: Base) -> TabularContext {
        let theta = [0.3, -0.2, 0.9, 0.1, -0.5, 0.4];
        let critic = [1.0, 2.0, 0.5, -1.0, 0.0, 3.0];
        let batch = vec![
            Transition {
                s: 0,
                a: 1,
                r: 1.0,
                next_s: 1,
                terminated: false,
                next_a: Some(2),
            },
            Transition {
                s: 1,
                a: 2,
                r: 0.0,
                next_s: 0,
                terminated: false,
                next_a: None,
            },
            Transition {
                s: 0,
                a: 0,
                r: 0.5,
                next_s: 1,
                terminated: true,
                next_a: None,
            },
        ];
        TabularContext::new((2, 3, 0.9), &theta, &critic, vec![1.0, 0.0], batch, base)
    }

    /// `grad log pi` by central finite differences of the softmax.
    #[test]
    fn log_pi_gradient_matches_finite_differences() {
        let c = ctx(Base::ActorG);
        let theta = [0.3, -0.2, 0.9, 0.1, -0.5, 0.4];
        let mut g = vec![0.0; 6];
        c.add_log_pi_gradient(&mut g, 0, 1, 1.0);
        for i in 0..6 {
            let h = 1e-6;
            let (mut tp, mut tm) = (theta, theta);
            tp[i] += h;
            tm[i] -= h;
            let fd = (softmax_table(&tp, 3)[1].ln() - softmax_table(&tm, 3)[1].ln()) / (2.0 * h);
            assert!((fd - g[i]).abs() < 1e-8, "{i}: {fd} vs {}", g[i]);
        }
    }

    #[test]
    fn terms_combine_with_each_base_and_bad_terms_are_refused() {
        let g = ctx(Base::ActorG);
        // Weights join the critic's value per sample: c = -q cancels the base exactly.
        let cancel: Vec<f64> = g.batch.iter().map(|t| -g.critic[t.s * 3 + t.a]).collect();
        let d = g.actor_direction(&Term::Mean(cancel)).unwrap();
        assert!(d.iter().all(|x| x.abs() < 1e-15), "{d:?}");
        let o = ctx(Base::ActorO);
        assert_ne!(o.base_direction, vec![0.0; 6]);
        let neg: Vec<f64> = o.base_direction.iter().map(|x| -x).collect();
        let d = o.actor_direction(&Term::Direction(neg)).unwrap();
        assert!(d.iter().all(|x| x.abs() < 1e-15));
        assert!(
            o.actor_direction(&Term::Direction(vec![0.0; 5]))
                .unwrap_err()
                .contains("direction of 5 values")
        );
        assert!(
            g.actor_direction(&Term::Mean(vec![0.0; 2]))
                .unwrap_err()
                .contains("term of 2 values")
        );
        assert!(
            g.actor_direction(&Term::Mean(vec![0.0, f64::NAN, 0.0]))
                .unwrap_err()
                .contains("non-finite")
        );
    }

    #[test]
    fn bootstrapping_follows_the_next_action_or_the_expectation() {
        let c = ctx(Base::ActorG);
        assert_eq!(c.next_value(0, &c.critic), c.critic[5]);
        assert_eq!(c.next_value(1, &c.critic), c.expect(&c.critic, 0));
        assert_eq!(c.next_value(2, &c.critic), 0.0);
    }
}
