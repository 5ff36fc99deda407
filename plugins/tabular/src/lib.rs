//! `libtabular.so`: the sample-based tabular actor-critics of Wen et al. 2021 (section 6.1,
//! appendix D.1.2) exactly as docs/algorithms.md §2 fixes them — agents `aoc` (Actor^o-Critic),
//! `agc` (Actor^g-Critic), `res-ac` (Res-AC) and `stack-ac` (Stack-AC, eta 0.5).
//!
//! Each update is one on-policy rollout (default 300 steps, FourRoom's episode) of transitions
//! `(s, a, r, s', a')`, `a'` the next action taken. From the tables as they are before the
//! update, the critic, the res-critic and the actor each take one Adam step (actor lr 0.01,
//! critic and res-critic lr 0.02):
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

use acgap_exact::Adam;
use acgap_sdk::{AgentEntry, AgentInit, Batch, Metrics, PluginResult, Training, UpdateStep};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

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

/// Everything `save` writes.
#[derive(Clone, Serialize, Deserialize)]
struct State {
    theta: Vec<f64>,
    q: Vec<f64>,
    w: Vec<f64>,
    actor: Adam,
    critic: Adam,
    res_critic: Adam,
    /// Visit counts of the start states seen (the buffer O of Actor^o and Stack-AC).
    starts: Vec<u64>,
    next_is_start: bool,
    rng: ChaCha8Rng,
    /// The last update's actor ascent direction (for the host's exact diagnostics).
    last_direction: Option<Vec<f64>>,
}

pub struct TabularAc {
    variant: Variant,
    cfg: Config,
    /// The env's exact model (`sampling = "exact_d"`).
    model: Option<(acgap_sdk::spec::TabularModel, acgap_exact::Mdp)>,
    gamma: f64,
    states: usize,
    actions: usize,
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
        Ok(Self {
            model,
            variant,
            gamma,
            states,
            actions,
            s: State {
                theta: vec![0.0; n],
                q: vec![0.0; n],
                w: vec![0.0; n],
                actor: Adam::new(n, cfg.actor_lr),
                critic: Adam::new(n, cfg.critic_lr),
                res_critic: Adam::new(n, cfg.w_lr),
                starts: vec![0; states],
                next_is_start: true,
                rng: ChaCha8Rng::seed_from_u64(init.seed),
                last_direction: None,
            },
            cfg,
        })
    }

    /// `pi(s, .)`.
    pub fn policy(&self, s: usize) -> Vec<f64> {
        let logits = &self.s.theta[s * self.actions..(s + 1) * self.actions];
        let max = logits.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        let e: Vec<f64> = logits.iter().map(|l| (l - max).exp()).collect();
        let z: f64 = e.iter().sum();
        e.into_iter().map(|x| x / z).collect()
    }

    /// Set the policy logits and the critic tables (tests, and starting from known tables).
    pub fn set_tables(&mut self, theta: &[f64], q: &[f64], w: &[f64]) {
        self.s.theta.copy_from_slice(theta);
        self.s.q.copy_from_slice(q);
        self.s.w.copy_from_slice(w);
    }

    pub fn theta(&self) -> &[f64] {
        &self.s.theta
    }

    pub fn critic(&self) -> &[f64] {
        &self.s.q
    }

    pub fn res_critic(&self) -> &[f64] {
        &self.s.w
    }

    /// `sum_a pi(a|s) x(s,a)`.
    fn expect(&self, pi: &[f64], x: &[f64], s: usize) -> f64 {
        (0..self.actions)
            .map(|a| pi[a] * x[s * self.actions + a])
            .sum()
    }

    /// Adds `scale * d/dtheta_s sum_a pi(a|s) x(s,a)` = `scale * pi(s,b) (x(s,b) - E_pi x(s,.))`.
    fn add_expectation_gradient(&self, g: &mut [f64], x: &[f64], s: usize, scale: f64) {
        let pi = self.policy(s);
        let mean = self.expect(&pi, x, s);
        for b in 0..self.actions {
            g[s * self.actions + b] += scale * pi[b] * (x[s * self.actions + b] - mean);
        }
    }

    /// The three directions of one rollout, all from the current tables:
    /// (actor ascent direction, critic gradient, res-critic gradient, critic loss, w loss).
    pub fn directions(&mut self, b: &Batch<'_>) -> PluginResult<Directions> {
        let rollout = self.transitions(b)?;
        let trans = match self.cfg.sampling {
            Sampling::Rollout => rollout,
            Sampling::ExactD => self.sample_from_d(b.len),
        };
        Ok(self.directions_of(&trans))
    }

    /// `rollout_len` transitions i.i.d. from the exact model: `s ~ d_theta`, `a ~ pi(.|s)`, the
    /// expected reward, `s' ~ P(.|s,a)`; each marked as an episode boundary, so its target
    /// takes the expectation over `a'`.
    fn sample_from_d(&mut self, n: usize) -> Vec<Transition> {
        let (model, mdp) = self
            .model
            .as_ref()
            .expect("exact_d sampling keeps the model");
        let d_s = acgap_exact::Exact::new(mdp, &self.s.theta).d_s;
        let draw = |rng: &mut ChaCha8Rng, weights: &mut dyn Iterator<Item = (usize, f64)>| {
            let u: f64 = rng.random();
            let mut acc = 0.0;
            let mut last = 0;
            for (i, w) in weights {
                acc += w;
                last = i;
                if u < acc {
                    return i;
                }
            }
            last
        };
        let mut out = Vec::with_capacity(n);
        for _ in 0..n {
            let s = draw(&mut self.s.rng, &mut d_s.iter().copied().enumerate());
            let pi = self.policy(s);
            let a = draw(&mut self.s.rng, &mut pi.iter().copied().enumerate());
            let sa = s * self.actions + a;
            let s2 = draw(&mut self.s.rng, &mut model.transitions[sa].iter().copied());
            out.push((s, a, model.reward[sa], s2, false, true));
        }
        out
    }

    /// The rollout's transitions, checked, counting Actor^o's start states.
    fn transitions(&mut self, b: &Batch<'_>) -> PluginResult<Vec<Transition>> {
        let (na, n) = (self.actions, b.len);
        let idx = |x: f32, what: &str, limit: usize| -> PluginResult<usize> {
            let i = x as usize;
            if x < 0.0 || x.fract() != 0.0 || i >= limit {
                return Err(format!("{what} {x} is not an index below {limit}"));
            }
            Ok(i)
        };
        let mut trans = Vec::with_capacity(n);
        for t in 0..n {
            let s = idx(b.obs[t], "state", self.states)?;
            let a = idx(b.action[t], "action", na)?;
            let s2 = idx(b.next_obs[t], "next state", self.states)?;
            let boundary = b.terminated[t] > 0.5 || b.truncated[t] > 0.5;
            if self.s.next_is_start {
                self.s.starts[s] += 1;
            }
            self.s.next_is_start = boundary;
            trans.push((
                s,
                a,
                b.reward[t] as f64,
                s2,
                b.terminated[t] > 0.5,
                boundary,
            ));
        }
        Ok(trans)
    }

    /// The directions of a batch of transitions.
    fn directions_of(&self, trans: &[Transition]) -> Directions {
        let (na, n) = (self.actions, trans.len());
        // q(s', a') and w(s', a'): the next action taken, or the policy's expectation.
        let next = |t: usize, table: &[f64]| -> f64 {
            let (_, _, _, s2, terminated, boundary) = trans[t];
            if terminated {
                return 0.0;
            }
            if !boundary && t + 1 < n {
                return table[s2 * na + trans[t + 1].1];
            }
            self.expect(&self.policy(s2), table, s2)
        };
        let (q, w) = (&self.s.q, &self.s.w);
        let mut gq = vec![0.0; q.len()];
        let mut gw = vec![0.0; q.len()];
        let (mut q_loss, mut w_loss) = (0.0, 0.0);
        let mut delta = vec![0.0; n];
        for t in 0..n {
            let (s, a, r, ..) = trans[t];
            let sa = s * na + a;
            let y = r + self.gamma * next(t, q);
            delta[t] = y - q[sa];
            gq[sa] -= delta[t] / n as f64;
            q_loss += 0.5 * delta[t] * delta[t] / n as f64;
            if self.variant == Variant::Residual {
                let target = delta[t] + self.gamma * next(t, w);
                gw[sa] += (w[sa] - target) / n as f64;
                w_loss += 0.5 * (w[sa] - target).powi(2) / n as f64;
            }
        }
        let mut g = vec![0.0; q.len()];
        match self.variant {
            Variant::ActorO | Variant::Stackelberg => {
                let total: u64 = self.s.starts.iter().sum();
                for (s, &count) in self.s.starts.iter().enumerate() {
                    if count > 0 {
                        self.add_expectation_gradient(&mut g, q, s, count as f64 / total as f64);
                    }
                }
            }
            Variant::ActorG | Variant::Residual => {
                for &(s, a, ..) in trans {
                    let value = q[s * na + a]
                        + if self.variant == Variant::Residual {
                            w[s * na + a]
                        } else {
                            0.0
                        };
                    // d log pi(a|s) / d theta_(s,b) = 1[a = b] - pi(s,b)
                    let pi = self.policy(s);
                    for bb in 0..na {
                        let ind = if bb == a { 1.0 } else { 0.0 };
                        g[s * na + bb] += (ind - pi[bb]) * value / n as f64;
                    }
                }
            }
        }
        if self.variant == Variant::Stackelberg {
            let mut visits = vec![0usize; q.len()];
            for &(s, a, ..) in trans {
                visits[s * na + a] += 1;
            }
            let (bn, eta) = (n as f64, self.cfg.eta);
            for &(s, a, _, s2, terminated, _) in trans {
                if terminated {
                    continue;
                }
                let count = visits[s * na + a] as f64;
                // e^2 / (e + eta) / n(s,a) with e = n(s,a) / |B|
                let weight = count / (bn * (count + eta * bn));
                self.add_expectation_gradient(&mut g, q, s2, weight * self.gamma);
            }
        }
        Directions {
            actor: g,
            critic: gq,
            res_critic: gw,
            critic_loss: q_loss,
            res_critic_loss: w_loss,
        }
    }
}

/// `(s, a, r, s', terminated, episode boundary)`.
type Transition = (usize, usize, f64, usize, bool, bool);

/// What one rollout asks of each table.
pub struct Directions {
    /// Ascent direction of the actor.
    pub actor: Vec<f64>,
    /// Gradients (descent) of the critic and the res-critic.
    pub critic: Vec<f64>,
    pub res_critic: Vec<f64>,
    pub critic_loss: f64,
    pub res_critic_loss: f64,
}

impl acgap_sdk::Agent for TabularAc {
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
        let d = self.directions(batch)?;
        if !d.critic_loss.is_finite() {
            return Err(format!("diverged: critic loss {}", d.critic_loss));
        }
        let s = &mut self.s;
        s.actor.ascend(&mut s.theta, &d.actor);
        s.critic.descend(&mut s.q, &d.critic);
        let mut m = vec![
            ("train/critic_loss".into(), d.critic_loss),
            (
                "train/actor_direction_norm".into(),
                d.actor.iter().map(|x| x * x).sum::<f64>().sqrt(),
            ),
        ];
        if self.variant == Variant::Residual {
            s.res_critic.descend(&mut s.w, &d.res_critic);
            m.push(("train/res_critic_loss".into(), d.res_critic_loss));
        }
        s.last_direction = Some(d.actor);
        Ok(m)
    }

    fn tabular(&mut self) -> PluginResult<Option<acgap_sdk::TabularView>> {
        let policy = (0..self.states).flat_map(|s| self.policy(s)).collect();
        Ok(Some(acgap_sdk::TabularView {
            policy,
            actor_direction: self.s.last_direction.clone(),
            critic: Some(self.s.q.clone()),
            res_critic: (self.variant == Variant::Residual).then(|| self.s.w.clone()),
        }))
    }

    fn save(&self) -> PluginResult<Vec<u8>> {
        serde_json::to_vec(&self.s).map_err(|e| e.to_string())
    }

    fn load(&mut self, bytes: &[u8]) -> PluginResult<()> {
        let s: State = serde_json::from_slice(bytes).map_err(|e| format!("corrupt state: {e}"))?;
        if s.theta.len() != self.s.theta.len() {
            return Err("the saved tables are of another environment".into());
        }
        self.s = s;
        Ok(())
    }
}

macro_rules! entry {
    ($name:literal, $variant:expr, $about:literal) => {
        AgentEntry {
            name: $name,
            description: $about,
            default_config: || default_config($variant),
            build: |init| Ok(Box::new(TabularAc::new($variant, &init)?)),
        }
    };
}

acgap_sdk::export_plugin! {
    agents: [
        entry!("aoc", Variant::ActorO, "Actor^o-Critic (tabular): actor ascends mean over start states of sum_a pi q"),
        entry!("agc", Variant::ActorG, "Actor^g-Critic (tabular): actor ascends mean log pi(a|s) q(s,a) on-policy"),
        entry!("res-ac", Variant::Residual, "Res-AC (tabular): Actor^g on q + w, w a res-critic of the critic's TD error"),
        entry!("stack-ac", Variant::Stackelberg, "Stack-AC (tabular): Actor^o plus the semi-gradient Stackelberg term, eta-regularised"),
    ],
    corrections: [],
}
