//! The gap estimators of the tabular family as corrections (docs/algorithms.md §2):
//! Res-AC's res-critic and Stack-AC's semi-gradient Stackelberg term. The agents `res-ac`
//! and `stack-ac` are `agc` and `aoc` with these attached; `--correction res-ac` /
//! `--correction stack-ac` attach them to any tabular actor-critic.

use acgap_exact::Adam;
use acgap_sdk::Term;
use acgap_sdk::tabular::{TabularContext, TabularCorrection, TabularUpdate};
use acgap_sdk::{CorrectionInit, PluginResult};
use serde::{Deserialize, Serialize};

/// Res-AC (Wen et al. 2021, section 5.2): a res-critic `w` learns the critic's TD error by
/// TD, `w(s,a) ~ delta' + gamma w(s',a')` with `delta' = r + gamma q(s',a') - q(s,a)`, and the
/// actor's value per sample becomes `q + w` (weights `w(s_b, a_b)` on `log pi`).
#[derive(Clone, Serialize, Deserialize)]
pub struct ResCritic {
    w: Vec<f64>,
    adam: Adam,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ResCriticConfig {
    /// The res-critic's Adam learning rate.
    pub w_lr: f64,
}

impl Default for ResCriticConfig {
    fn default() -> Self {
        Self { w_lr: 0.02 }
    }
}

fn table_size(init: &CorrectionInit) -> PluginResult<usize> {
    match (&init.env.observation, &init.env.action) {
        (acgap_sdk::spec::Space::Discrete { n: s }, acgap_sdk::spec::Space::Discrete { n: a }) => {
            Ok(s * a)
        }
        _ => Err(format!(
            "the tabular corrections need discrete states and actions; `{}` has others",
            init.env.id
        )),
    }
}

fn positive(name: &str, x: f64) -> PluginResult<()> {
    if x > 0.0 && x.is_finite() {
        Ok(())
    } else {
        Err(format!("{name} must be > 0, got {x}"))
    }
}

impl ResCritic {
    pub fn new(pairs: usize, cfg: &ResCriticConfig) -> PluginResult<Self> {
        positive("w_lr", cfg.w_lr)?;
        Ok(Self {
            w: vec![0.0; pairs],
            adam: Adam::new(pairs, cfg.w_lr),
        })
    }

    pub fn from_init(init: &CorrectionInit) -> PluginResult<Self> {
        let cfg: ResCriticConfig = serde_json::from_value(init.config.clone())
            .map_err(|e| format!("invalid config: {e}"))?;
        Self::new(table_size(init)?, &cfg)
    }

    /// Set the res-critic table (tests, and starting from a known table).
    pub fn set_table(&mut self, w: &[f64]) {
        self.w.copy_from_slice(w);
    }

    /// The actor's term with the table as it is: `w(s_b, a_b)` per transition.
    pub fn term(&self, ctx: &TabularContext) -> Term<f64> {
        Term::Mean(
            ctx.batch
                .iter()
                .map(|t| self.w[t.s * ctx.actions + t.a])
                .collect(),
        )
    }
}

impl TabularCorrection for ResCritic {
    fn update(&mut self, ctx: &TabularContext) -> PluginResult<TabularUpdate> {
        if self.w.len() != ctx.critic.len() {
            return Err(format!(
                "the res-critic has {} entries; the critic has {}",
                self.w.len(),
                ctx.critic.len()
            ));
        }
        let term = self.term(ctx);
        let n = ctx.batch.len() as f64;
        let (mut g, mut loss) = (vec![0.0; self.w.len()], 0.0);
        for (t, tr) in ctx.batch.iter().enumerate() {
            let sa = tr.s * ctx.actions + tr.a;
            let delta = tr.r + ctx.gamma * ctx.next_value(t, &ctx.critic) - ctx.critic[sa];
            let target = delta + ctx.gamma * ctx.next_value(t, &self.w);
            g[sa] += (self.w[sa] - target) / n;
            loss += 0.5 * (self.w[sa] - target).powi(2) / n;
        }
        self.adam.descend(&mut self.w, &g);
        Ok(TabularUpdate {
            term,
            metrics: vec![("res-ac/critic_loss".into(), loss)],
            critic_correction: Some(self.w.clone()),
        })
    }

    fn save(&self) -> PluginResult<Vec<u8>> {
        serde_json::to_vec(self).map_err(|e| e.to_string())
    }

    fn load(&mut self, bytes: &[u8]) -> PluginResult<()> {
        let s: Self = serde_json::from_slice(bytes).map_err(|e| format!("corrupt state: {e}"))?;
        if s.w.len() != self.w.len() {
            return Err("the saved res-critic is of another environment".into());
        }
        *self = s;
        Ok(())
    }
}

/// Stack-AC's sample estimator of the semi-gradient Stackelberg term (eq. 43 of Wen et al.
/// 2021 with the batch's empirical pair frequencies, eta-regularised):
/// `sum_B n(s,a) / (|B| (n(s,a) + eta |B|)) gamma grad_theta sum_a' pi(a'|s') q(s',a')`
/// over non-terminal transitions, `n(s,a)` the pair's count in the batch.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Stackelberg {
    /// The regularisation `eta` of the empirical occupancy (> 0).
    pub eta: f64,
}

impl Default for Stackelberg {
    fn default() -> Self {
        Self { eta: 0.5 }
    }
}

impl Stackelberg {
    pub fn from_init(init: &CorrectionInit) -> PluginResult<Self> {
        let s: Self = serde_json::from_value(init.config.clone())
            .map_err(|e| format!("invalid config: {e}"))?;
        table_size(init)?;
        positive("eta", s.eta)?;
        Ok(s)
    }

    pub fn term(&self, ctx: &TabularContext) -> Term<f64> {
        let na = ctx.actions;
        let mut visits = vec![0usize; ctx.critic.len()];
        for t in &ctx.batch {
            visits[t.s * na + t.a] += 1;
        }
        let bn = ctx.batch.len() as f64;
        let mut d = vec![0.0; ctx.critic.len()];
        for t in ctx.batch.iter().filter(|t| !t.terminated) {
            let count = visits[t.s * na + t.a] as f64;
            // e^2 / (e + eta) / n(s,a) with e = n(s,a) / |B|
            let weight = count / (bn * (count + self.eta * bn));
            ctx.add_expectation_gradient(&mut d, &ctx.critic, t.next_s, weight * ctx.gamma);
        }
        Term::Direction(d)
    }
}

impl TabularCorrection for Stackelberg {
    fn update(&mut self, ctx: &TabularContext) -> PluginResult<TabularUpdate> {
        Ok(TabularUpdate {
            term: self.term(ctx),
            metrics: Vec::new(),
            critic_correction: None,
        })
    }
}
