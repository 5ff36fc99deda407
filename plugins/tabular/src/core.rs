//! The tabular actor-critic core: the sample-based actor-critics of Wen et al. 2021 (section
//! 6.1, appendix D.1.2) exactly as docs/algorithms.md §2 fixes them. The core is Actor^o or
//! Actor^g with a TD critic; Res-AC and Stack-AC are corrections on it (`estimators.rs`),
//! attached through the tabular hook (`acgap_sdk::tabular`).
//!
//! Each update is one on-policy rollout (default 300 steps, FourRoom's episode) of transitions
//! `(s, a, r, s', a')`, `a'` the next action taken. From the tables as they are before the
//! update, the critic, the correction's own tables and the actor each take one Adam step
//! (actor lr 0.01, critic and res-critic lr 0.02):
//! - critic: minimise `1/2 mean (q(s,a) - (r + gamma q(s',a')))^2`, the target held fixed;
//! - Actor^o: ascend `mean_{s in O} sum_a pi(a|s) q(s,a)`, O = every start state seen so far;
//! - Actor^g: ascend `mean_B log pi(a|s) q(s,a)`;
//! - Res-AC: res-critic `w` minimises `1/2 mean (w(s,a) - (delta' + gamma w(s',a')))^2` with
//!   `delta' = r + gamma q(s',a') - q(s,a)`; the actor ascends `mean_B log pi(a|s) (q + w)(s,a)`;
//! - Stack-AC: Actor^o plus `sum_B n(s,a) / (|B| (n(s,a) + eta |B|)) d y / d theta`, with
//!   `y = r + gamma sum_a' pi(a'|s') q(s',a')` (the semi-gradient Stackelberg term of eq. 43
//!   with the batch's empirical pair frequencies, docs/algorithms.md §2).
//!
//! Choices the spec leaves open (documented here): the last transition of a rollout has no
//! next action taken, so its `q(s',a')` is the expectation `sum_a' pi(a'|s') q(s',a')`; a
//! terminated transition does not bootstrap; the losses carry a 1/2 (Adam is scale-invariant).
//!
//! `sampling = "exact_d"` (a test of why our Fig. 1 ranking differs from the paper's, not the
//! paper's method): the update's batch is `rollout_len` transitions drawn i.i.d. from the exact
//! model, `s ~ d_theta` (the discounted state distribution of the current policy), `a ~ pi`,
//! `r` the model's expected reward, `s' ~ P(.|s,a)`, each bootstrapping with the expectation
//! over `a'`; the env rollout then only feeds Actor^o's start states.

use crate::estimators::{ResCritic, ResCriticConfig, Stackelberg};
use acgap_exact::Adam;
use acgap_sdk::tabular::{Base, TabularContext, TabularCorrection, Transition, sample_index};
use acgap_sdk::{
    Agent, AgentInit, Batch, Correction, Metrics, PluginResult, Term, Training, UpdateStep,
};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

/// The agents: a base actor, and for Res-AC and Stack-AC the correction attached to it.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub enum Variant {
    ActorO,
    ActorG,
    Residual,
    Stackelberg,
}

/// Config keys; each variant's defaults list only the keys it reads.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    pub actor_lr: f64,
    pub critic_lr: f64,
    /// Res-AC's res-critic learning rate.
    pub w_lr: f64,
    /// Stack-AC's regularisation.
    pub eta: f64,
    /// Discount; `null` takes the environment model's.
    pub gamma: Option<f64>,
    /// Steps per update (the paper: one 300-step episode).
    pub rollout_len: usize,
    /// Where the update's transitions come from: the rollout (the paper) or i.i.d. from the
    /// exact `d_theta` of the env's model.
    pub sampling: Sampling,
}

#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Sampling {
    Rollout,
    ExactD,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            actor_lr: 0.01,
            critic_lr: 0.02,
            w_lr: 0.02,
            eta: 0.5,
            gamma: None,
            rollout_len: 300,
            sampling: Sampling::Rollout,
        }
    }
}

pub fn default_config(variant: Variant) -> serde_json::Value {
    let mut v = serde_json::to_value(Config::default()).expect("config serialises");
    let map = v.as_object_mut().expect("an object");
    if variant != Variant::Residual {
        map.remove("w_lr");
    }
    if variant != Variant::Stackelberg {
        map.remove("eta");
    }
    v
}

impl Variant {
    fn base(self) -> Base {
        match self {
            Variant::ActorO | Variant::Stackelberg => Base::ActorO,
            Variant::ActorG | Variant::Residual => Base::ActorG,
        }
    }
}

/// Everything `save` writes besides the correction's own state.
#[derive(Clone, Serialize, Deserialize)]
struct State {
    theta: Vec<f64>,
    q: Vec<f64>,
    actor: Adam,
    critic: Adam,
    /// Visit counts of the start states seen (the buffer O of Actor^o).
    starts: Vec<u64>,
    next_is_start: bool,
    rng: ChaCha8Rng,
    /// The last update's actor ascent direction (for the host's exact diagnostics).
    last_direction: Option<Vec<f64>>,
    /// The correction's additive critic table after the last update (Res-AC's `w`).
    last_critic_correction: Option<Vec<f64>>,
}

#[derive(Serialize, Deserialize)]
struct Saved {
    agent: State,
    correction: Option<Vec<u8>>,
}

pub struct TabularAc {
    base: Base,
    cfg: Config,
    /// The env's exact model (`sampling = "exact_d"`).
    model: Option<(acgap_sdk::spec::TabularModel, acgap_exact::Mdp)>,
    gamma: f64,
    states: usize,
    actions: usize,
    correction: Option<Box<dyn TabularCorrection>>,
    s: State,
}

impl TabularAc {
    pub fn new(variant: Variant, init: &AgentInit) -> PluginResult<Self> {
        let cfg: Config = serde_json::from_value(init.config.clone())
            .map_err(|e| format!("invalid config: {e}"))?;
        let (states, actions) = match (&init.env.observation, &init.env.action) {
            (
                acgap_sdk::spec::Space::Discrete { n: s },
                acgap_sdk::spec::Space::Discrete { n: a },
            ) => (*s, *a),
            _ => {
                return Err(format!(
                    "the tabular actor-critics need discrete states and actions; `{}` has {:?} observations and {:?} actions",
                    init.env.id, init.env.observation, init.env.action
                ));
            }
        };
        let gamma = cfg
            .gamma
            .or(init.env.tabular.as_ref().map(|m| m.gamma))
            .unwrap_or(0.9);
        if !(0.0..1.0).contains(&gamma) {
            return Err(format!("gamma must be in [0, 1), got {gamma}"));
        }
        if cfg.rollout_len == 0 {
            return Err("rollout_len must be at least 1".into());
        }
        if variant == Variant::Stackelberg && cfg.eta <= 0.0 {
            return Err(format!("eta must be > 0, got {}", cfg.eta));
        }
        for (name, lr) in [
            ("actor_lr", cfg.actor_lr),
            ("critic_lr", cfg.critic_lr),
            ("w_lr", cfg.w_lr),
        ] {
            if lr <= 0.0 || !lr.is_finite() {
                return Err(format!("{name} must be > 0, got {lr}"));
            }
        }
        let model = match cfg.sampling {
            Sampling::Rollout => None,
            Sampling::ExactD => {
                let m = init.env.tabular.clone().ok_or_else(|| {
                    format!(
                        "sampling = \"exact_d\" needs an env with an exact model; `{}` has none",
                        init.env.id
                    )
                })?;
                let mdp = acgap_exact::Mdp::new(&m)?;
                Some((m, mdp))
            }
        };
        let n = states * actions;
        let correction: Option<Box<dyn TabularCorrection>> = match variant {
            Variant::Residual => Some(Box::new(ResCritic::new(
                n,
                &ResCriticConfig { w_lr: cfg.w_lr },
            )?)),
            Variant::Stackelberg => Some(Box::new(Stackelberg { eta: cfg.eta })),
            Variant::ActorO | Variant::ActorG => None,
        };
        Ok(Self {
            model,
            base: variant.base(),
            gamma,
            states,
            actions,
            correction,
            s: State {
                theta: vec![0.0; n],
                q: vec![0.0; n],
                actor: Adam::new(n, cfg.actor_lr),
                critic: Adam::new(n, cfg.critic_lr),
                starts: vec![0; states],
                next_is_start: true,
                rng: ChaCha8Rng::seed_from_u64(init.seed),
                last_direction: None,
                last_critic_correction: None,
            },
            cfg,
        })
    }

    /// `pi(s, .)`.
    pub fn policy(&self, s: usize) -> Vec<f64> {
        acgap_sdk::tabular::softmax_table(
            &self.s.theta[s * self.actions..(s + 1) * self.actions],
            self.actions,
        )
    }

    /// Set the policy logits and the critic table (tests, and starting from known tables).
    pub fn set_tables(&mut self, theta: &[f64], q: &[f64]) {
        self.s.theta.copy_from_slice(theta);
        self.s.q.copy_from_slice(q);
    }

    pub fn theta(&self) -> &[f64] {
        &self.s.theta
    }

    pub fn critic(&self) -> &[f64] {
        &self.s.q
    }

    /// The context of one update from the rollout `b` (or, with `exact_d`, from `d_theta`),
    /// at the current tables, counting Actor^o's start states.
    pub fn context(&mut self, b: &Batch<'_>) -> PluginResult<TabularContext> {
        let rollout = self.transitions(b)?;
        let batch = match self.cfg.sampling {
            Sampling::Rollout => rollout,
            Sampling::ExactD => self.sample_from_d(b.len),
        };
        let total: u64 = self.s.starts.iter().sum();
        let start_weights = self
            .s
            .starts
            .iter()
            .map(|&c| if c > 0 { c as f64 / total as f64 } else { 0.0 })
            .collect();
        Ok(TabularContext::new(
            (self.states, self.actions, self.gamma),
            &self.s.theta,
            &self.s.q,
            start_weights,
            batch,
            self.base,
        ))
    }

    /// Run `f` with the context a correction would see at an update on rollout `b`, leaving the
    /// agent as it was (start counts and RNG restored): for unit-testing a tabular estimator
    /// against the real agent.
    pub fn with_context<T>(
        &mut self,
        b: &Batch<'_>,
        f: impl FnOnce(&TabularContext) -> T,
    ) -> PluginResult<T> {
        let saved = self.s.clone();
        let ctx = self.context(b);
        self.s = saved;
        Ok(f(&ctx?))
    }

    /// `rollout_len` transitions i.i.d. from the exact model: `s ~ d_theta`, `a ~ pi(.|s)`, the
    /// expected reward, `s' ~ P(.|s,a)`; bootstrapping takes the expectation over `a'`.
    fn sample_from_d(&mut self, n: usize) -> Vec<Transition> {
        let (model, mdp) = self
            .model
            .as_ref()
            .expect("exact_d sampling keeps the model");
        let d_s = acgap_exact::Exact::new(mdp, &self.s.theta).d_s;
        let mut out = Vec::with_capacity(n);
        for _ in 0..n {
            let s = sample_index(&mut self.s.rng, d_s.iter().copied().enumerate());
            let pi = self.policy(s);
            let a = sample_index(&mut self.s.rng, pi.iter().copied().enumerate());
            let sa = s * self.actions + a;
            let s2 = sample_index(&mut self.s.rng, model.transitions[sa].iter().copied());
            out.push(Transition {
                s,
                a,
                r: model.reward[sa],
                next_s: s2,
                terminated: false,
                next_a: None,
            });
        }
        out
    }

    /// The rollout's transitions, checked, counting Actor^o's start states. `a'` is the next
    /// transition's action unless an episode ends in between.
    fn transitions(&mut self, b: &Batch<'_>) -> PluginResult<Vec<Transition>> {
        let (na, n) = (self.actions, b.len);
        let idx = |x: f32, what: &str, limit: usize| -> PluginResult<usize> {
            let i = x as usize;
            if x < 0.0 || x.fract() != 0.0 || i >= limit {
                return Err(format!("{what} {x} is not an index below {limit}"));
            }
            Ok(i)
        };
        let mut trans: Vec<Transition> = Vec::with_capacity(n);
        let mut boundary = Vec::with_capacity(n);
        for t in 0..n {
            let s = idx(b.obs[t], "state", self.states)?;
            let a = idx(b.action[t], "action", na)?;
            let s2 = idx(b.next_obs[t], "next state", self.states)?;
            let ends = b.terminated[t] > 0.5 || b.truncated[t] > 0.5;
            boundary.push(ends);
            if self.s.next_is_start {
                self.s.starts[s] += 1;
            }
            self.s.next_is_start = ends;
            trans.push(Transition {
                s,
                a,
                r: b.reward[t] as f64,
                next_s: s2,
                terminated: b.terminated[t] > 0.5,
                next_a: None,
            });
        }
        for t in 0..n.saturating_sub(1) {
            if !boundary[t] {
                trans[t].next_a = Some(trans[t + 1].a);
            }
        }
        Ok(trans)
    }
}

impl Agent for TabularAc {
    fn training(&self) -> Training {
        Training::OnPolicy {
            rollout_len: self.cfg.rollout_len,
            num_envs: 1,
        }
    }

    fn act(&mut self, obs: &[f32], n: usize, deterministic: bool) -> PluginResult<Vec<f32>> {
        (0..n)
            .map(|i| {
                let s = obs[i] as usize;
                if s >= self.states {
                    return Err(format!("state {} is not below {}", obs[i], self.states));
                }
                let pi = self.policy(s);
                let a = if deterministic {
                    (0..self.actions)
                        .max_by(|x, y| pi[*x].total_cmp(&pi[*y]).then(y.cmp(x)))
                        .unwrap_or(0)
                } else {
                    let u: f64 = self.s.rng.random();
                    let mut acc = 0.0;
                    (0..self.actions)
                        .find(|&a| {
                            acc += pi[a];
                            u < acc
                        })
                        .unwrap_or(self.actions - 1)
                };
                Ok(a as f32)
            })
            .collect()
    }

    fn update(&mut self, batch: &Batch<'_>, step: UpdateStep) -> PluginResult<Metrics> {
        if step != UpdateStep::Rollout {
            return Err(format!(
                "the tabular actor-critics learn from rollouts, not `{step:?}` steps"
            ));
        }
        let ctx = self.context(batch)?;
        let (critic_grad, critic_loss) = ctx.critic_gradient();
        if !critic_loss.is_finite() {
            return Err(acgap_sdk::result::diverged(format!(
                "critic loss {critic_loss}"
            )));
        }
        let (term, correction_metrics) = match &mut self.correction {
            Some(c) => {
                let u = c.update(&ctx).map_err(|e| format!("correction: {e}"))?;
                self.s.last_critic_correction = u.critic_correction;
                let metrics = u.metrics.into_iter();
                (
                    u.term,
                    metrics
                        .map(|(k, v)| (format!("correction/{k}"), v))
                        .collect(),
                )
            }
            None => (Term::Zero, Vec::new()),
        };
        let direction = ctx.actor_direction(&term)?;
        let s = &mut self.s;
        s.actor.ascend(&mut s.theta, &direction);
        s.critic.descend(&mut s.q, &critic_grad);
        let mut m = vec![
            ("train/critic_loss".into(), critic_loss),
            (
                "train/actor_direction_norm".into(),
                direction.iter().map(|x| x * x).sum::<f64>().sqrt(),
            ),
        ];
        m.extend(correction_metrics);
        s.last_direction = Some(direction);
        Ok(m)
    }

    fn tabular(&mut self) -> PluginResult<Option<acgap_sdk::TabularView>> {
        let policy = (0..self.states).flat_map(|s| self.policy(s)).collect();
        Ok(Some(acgap_sdk::TabularView {
            policy,
            actor_direction: self.s.last_direction.clone(),
            critic: Some(self.s.q.clone()),
            res_critic: self.s.last_critic_correction.clone(),
        }))
    }

    fn attach(&mut self, correction: Correction) -> PluginResult<()> {
        let correction = correction.into_tabular()?;
        if self.correction.is_some() {
            return Err("this agent already has its correction (res-ac / stack-ac); attach corrections to `agc` or `aoc`".into());
        }
        self.correction = Some(correction);
        Ok(())
    }

    fn discount(&mut self) -> Option<f64> {
        Some(self.gamma)
    }

    fn save(&self) -> PluginResult<Vec<u8>> {
        let correction = self.correction.as_ref().map(|c| c.save()).transpose()?;
        serde_json::to_vec(&Saved {
            agent: self.s.clone(),
            correction,
        })
        .map_err(|e| e.to_string())
    }

    fn load(&mut self, bytes: &[u8]) -> PluginResult<()> {
        let saved: Saved =
            serde_json::from_slice(bytes).map_err(|e| format!("corrupt state: {e}"))?;
        if saved.agent.theta.len() != self.s.theta.len() {
            return Err("the saved tables are of another environment".into());
        }
        match (&mut self.correction, saved.correction) {
            (Some(c), Some(bytes)) => c.load(&bytes)?,
            (None, None) => {}
            (Some(_), None) => {
                return Err(
                    "the checkpoint has no correction state; this run has a correction".into(),
                );
            }
            (None, Some(_)) => {
                return Err(
                    "the checkpoint has a correction's state; this run has no correction".into(),
                );
            }
        }
        self.s = saved.agent;
        Ok(())
    }
}
