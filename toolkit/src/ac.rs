//! The on-policy actor-critic core of docs/algorithms.md §4 (the STAC paper's "AC", Actor^g-Critic):
//! per rollout of `rollout_len` steps from the host, the actor takes one ascent step on the
//! GAE(lambda) policy gradient and the critic `V_w` takes `critic_steps` (the paper's k)
//! gradient steps towards the Monte-Carlo returns. Categorical policy for discrete actions,
//! diagonal Gaussian (state-independent log-std) for continuous ones; 2 x 64 tanh MLPs.
//!
//! Choices the spec leaves open: the advantages and returns are computed with the critic as it
//! is before this rollout's critic steps; a rollout's last transition, and a time-limit
//! truncation, bootstrap with `V(s')` (termination does not); `objective = "o"` (Actor^o)
//! averages the policy-gradient terms over the rollout's episode start states only.

use super::ac_context::{AcContext, Core};
use super::adam::Adam;
use super::mlp::{Activation, Mlp};
use super::state::{StateReader, StateWriter};
use super::tensor::{Device, Tensor, device_from_name, from_rows, from_vec, to_vec};
use acgap_sdk::correction::{Correction, OnPolicyContext, OnPolicyCorrection, Term};
use acgap_sdk::spec::Space;
use acgap_sdk::{AgentInit, Batch, Metrics, PluginResult, Training, UpdateStep};
use burn::tensor::activation::log_softmax;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::StandardNormal;
use serde::{Deserialize, Serialize};

#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Optimizer {
    /// Plain gradient steps, as in the paper.
    Sgd,
    Adam,
}

#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub enum Objective {
    /// Actor^g: every visited state.
    #[serde(rename = "g")]
    Global,
    /// Actor^o: episode start states only.
    #[serde(rename = "o")]
    Start,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AcConfig {
    /// Env steps per update, in total over the parallel envs.
    pub rollout_len: usize,
    /// Parallel envs the host steps together (the policy acts on all of them in one call).
    pub num_envs: usize,
    /// Critic gradient steps per rollout (the paper's k: 1 or 80).
    pub critic_steps: usize,
    pub actor_lr: f64,
    pub critic_lr: f64,
    pub optimizer: Optimizer,
    pub gamma: f64,
    pub gae_lambda: f64,
    pub hidden: Vec<usize>,
    pub objective: Objective,
    /// Scale the rollout's advantages to mean 0, std 1 (not in the paper; off by default).
    pub normalize_advantages: bool,
    /// Initial log-std of the Gaussian policy (continuous actions).
    pub init_log_std: f64,
    /// With a correction attached: log its term's norm, the plain gradient's and their cosine
    /// every this many updates (0: never); costs two extra backward passes on those updates.
    pub correction_diagnostics_every: u64,
}

impl Default for AcConfig {
    fn default() -> Self {
        Self {
            rollout_len: 1000,
            num_envs: 1,
            critic_steps: 80,
            actor_lr: 0.01,
            critic_lr: 0.001,
            optimizer: Optimizer::Adam,
            gamma: 0.99,
            gae_lambda: 0.95,
            hidden: vec![64, 64],
            objective: Objective::Global,
            normalize_advantages: false,
            init_log_std: 0.0,
            correction_diagnostics_every: 10,
        }
    }
}

/// The optimiser of one set of parameters.
enum Opt {
    Sgd(f64),
    Adam(Adam),
}

impl Opt {
    fn new(kind: Optimizer, params: &[Tensor<2>], lr: f64) -> Self {
        match kind {
            Optimizer::Sgd => Opt::Sgd(lr),
            Optimizer::Adam => Opt::Adam(Adam::new(params, lr)),
        }
    }

    /// One descent step.
    fn step<'a>(&mut self, params: impl Iterator<Item = &'a mut Tensor<2>>, grads: Vec<Tensor<2>>) {
        match self {
            Opt::Sgd(lr) => {
                for (p, g) in params.zip(grads) {
                    *p = p.clone() - g.mul_scalar(*lr);
                }
            }
            Opt::Adam(a) => a.step(params, grads),
        }
    }

    fn save(&self, w: &mut StateWriter, name: &str) {
        if let Opt::Adam(a) = self {
            a.save_into(w, name);
        }
    }

    fn load(&mut self, r: &StateReader, name: &str) -> PluginResult<()> {
        if let Opt::Adam(a) = self {
            a.load_from(r, name)?;
        }
        Ok(())
    }
}

/// What an update computes from its rollout before the actor and critic steps.
struct Prepared {
    obs: Tensor<2>,
    ret: Vec<f32>,
    adv: Vec<f32>,
    v: Vec<f32>,
    plain: Vec<f32>,
    /// Per env: its next transition starts an episode, after this rollout.
    next_is_start: Vec<bool>,
}

#[derive(Clone, Debug, Default, Serialize, Deserialize)]
struct Counters {
    updates: u64,
    /// Per env: its next transition starts an episode (the first one of training does).
    next_is_start: Vec<bool>,
}

pub struct AcCore {
    cfg: AcConfig,
    /// The gap estimator whose term the actor adds (`--correction`; STAC's implicit term).
    correction: Option<Box<dyn OnPolicyCorrection>>,
    device: Device,
    obs_dim: usize,
    /// `Some(n)`: categorical over n actions; `None`: Gaussian over `act_dim` reals.
    discrete: Option<usize>,
    act_dim: usize,
    policy: Mlp,
    log_std: Tensor<2>,
    critic: Mlp,
    policy_opt: Opt,
    critic_opt: Opt,
    rng: ChaCha8Rng,
    counters: Counters,
}

impl AcCore {
    /// The core with a correction attached from the start (a plugin's own composition, e.g.
    /// STAC = this core + `toolkit::stac::Stac`).
    pub fn with_correction(init: &AgentInit, correction: Correction) -> PluginResult<Self> {
        let mut core = Self::new(init)?;
        core.correction = Some(correction.into_onpolicy()?);
        Ok(core)
    }

    pub fn config(&self) -> &AcConfig {
        &self.cfg
    }

    pub fn obs_dim(&self) -> usize {
        self.obs_dim
    }

    pub fn act_dim(&self) -> usize {
        self.act_dim
    }

    pub fn critic(&self) -> &Mlp {
        &self.critic
    }

    /// Actor parameters, log-std row included.
    pub fn actor_params(&self) -> usize {
        self.policy.param_count() + self.log_std.dims()[1]
    }

    /// Updates done so far.
    pub fn updates(&self) -> u64 {
        self.counters.updates
    }

    pub fn new(init: &AgentInit) -> PluginResult<Self> {
        let cfg: AcConfig = serde_json::from_value(init.config.clone()).map_err(|e| {
            // serde names the bad variant but not its key: find the key holding it.
            let msg = e.to_string();
            let key = init.config.as_object().and_then(|m| {
                m.iter()
                    .find(|(_, v)| v.as_str().is_some_and(|s| msg.contains(&format!("`{s}`"))))
                    .map(|(k, _)| k.clone())
            });
            match key {
                Some(k) => format!("config key `{k}`: {msg}"),
                None => format!("invalid config: {msg}"),
            }
        })?;
        if cfg.rollout_len == 0 {
            return Err("rollout_len must be at least 1".into());
        }
        if cfg.num_envs == 0 || !cfg.rollout_len.is_multiple_of(cfg.num_envs) {
            return Err(format!(
                "num_envs must divide rollout_len (got {} and {})",
                cfg.num_envs, cfg.rollout_len
            ));
        }
        if cfg.critic_steps == 0 {
            return Err("critic_steps (k) must be at least 1".into());
        }
        if cfg.hidden.is_empty() || cfg.hidden.contains(&0) {
            return Err(format!("hidden needs positive sizes, got {:?}", cfg.hidden));
        }
        acgap_sdk::memory::check_networks("the actor and critic", &cfg.hidden, cfg.rollout_len, 2)?;
        for (k, v) in [("actor_lr", cfg.actor_lr), ("critic_lr", cfg.critic_lr)] {
            if !(v > 0.0 && v.is_finite()) {
                return Err(format!("{k} must be > 0, got {v}"));
            }
        }
        if !(0.0..1.0).contains(&cfg.gamma) || !(0.0..=1.0).contains(&cfg.gae_lambda) {
            return Err("gamma must be in [0, 1) and gae_lambda in [0, 1]".into());
        }
        let device = device_from_name(&init.device)?;
        let obs_dim = init.env.obs_dim();
        let (discrete, act_dim, heads) = match &init.env.action {
            Space::Discrete { n } => (Some(*n), 1, *n),
            Space::Box { low, .. } => (None, low.len(), low.len()),
        };
        let mut rng = ChaCha8Rng::seed_from_u64(init.seed);
        let sizes = |out: usize| -> Vec<usize> {
            std::iter::once(obs_dim)
                .chain(cfg.hidden.iter().copied())
                .chain([out])
                .collect()
        };
        let policy = Mlp::with_activation(&sizes(heads), Activation::Tanh, &mut rng, &device);
        let critic = Mlp::with_activation(&sizes(1), Activation::Tanh, &mut rng, &device);
        let log_std = from_vec(vec![cfg.init_log_std as f32; heads], 1, heads, &device);
        let cfg_envs = cfg.num_envs;
        let mut policy_params = policy.params();
        policy_params.push(log_std.clone());
        Ok(Self {
            correction: None,
            policy_opt: Opt::new(cfg.optimizer, &policy_params, cfg.actor_lr),
            critic_opt: Opt::new(cfg.optimizer, &critic.params(), cfg.critic_lr),
            cfg,
            device,
            obs_dim,
            discrete,
            act_dim,
            policy,
            log_std,
            critic,
            rng,
            counters: Counters {
                updates: 0,
                next_is_start: vec![true; cfg_envs],
            },
        })
    }

    /// `log pi(a|s)` per row (`N x 1`) through `net` (plain or tracked) and `log_std`.
    fn log_prob(&self, net: &Mlp, log_std: &Tensor<2>, obs: Tensor<2>, act: &[f32]) -> Tensor<2> {
        let out = net.forward(obs);
        let n = act.len() / self.act_dim;
        match self.discrete {
            Some(k) => {
                let mut onehot = vec![0.0f32; n * k];
                for (i, a) in act.iter().enumerate() {
                    onehot[i * k + *a as usize] = 1.0;
                }
                (log_softmax(out, 1) * from_vec(onehot, n, k, &self.device)).sum_dim(1)
            }
            None => {
                let a = from_rows(act, n, self.act_dim, &self.device);
                let z = (a - out) / log_std.clone().exp();
                (z.square().mul_scalar(-0.5) - log_std.clone())
                    .sub_scalar(0.918_938_533_204_672_7)
                    .sum_dim(1)
            }
        }
    }

    /// GAE advantages and Monte-Carlo returns of an in-order rollout, with `V` before the
    /// update; each env's segment ends with a cut (bootstrap unless terminated).
    fn advantages(&self, b: &Batch<'_>, v: &[f32], v_next: &[f32]) -> (Vec<f32>, Vec<f32>) {
        let (n, g, l) = (b.len, self.cfg.gamma as f32, self.cfg.gae_lambda as f32);
        let segment = (n / self.cfg.num_envs).max(1);
        let (mut adv, mut ret) = (vec![0.0; n], vec![0.0; n]);
        let (mut next_adv, mut next_ret) = (0.0f32, 0.0f32);
        for t in (0..n).rev() {
            let terminated = b.terminated[t] > 0.5;
            let cut = terminated || b.truncated[t] > 0.5 || (t + 1) % segment == 0;
            let bootstrap = if terminated { 0.0 } else { v_next[t] };
            let delta = b.reward[t] + g * bootstrap - v[t];
            adv[t] = delta + if cut { 0.0 } else { g * l * next_adv };
            ret[t] = b.reward[t] + g * if cut { bootstrap } else { next_ret };
            next_adv = adv[t];
            next_ret = ret[t];
        }
        (adv, ret)
    }

    /// What an update computes from a rollout before its actor and critic steps (the core
    /// unchanged: the episode-start flags after the rollout are returned, not stored).
    fn prepare(&self, b: &Batch<'_>) -> PluginResult<Prepared> {
        let n = b.len;
        if b.obs.len() != n * self.obs_dim || b.action.len() != n * self.act_dim {
            return Err("rollout of the wrong shape for this agent".into());
        }
        let obs = from_rows(b.obs, n, self.obs_dim, &self.device);
        let next_obs = from_rows(b.next_obs, n, self.obs_dim, &self.device);
        let v = to_vec(self.critic.forward(obs.clone()));
        let v_next = to_vec(self.critic.forward(next_obs));
        let (mut adv, ret) = self.advantages(b, &v, &v_next);
        if self.cfg.normalize_advantages && n > 1 {
            let mean = adv.iter().sum::<f32>() / n as f32;
            let std = (adv.iter().map(|a| (a - mean).powi(2)).sum::<f32>() / n as f32).sqrt();
            adv.iter_mut().for_each(|a| *a = (*a - mean) / (std + 1e-8));
        }
        // Per-transition weights of the policy-gradient average.
        let mut weight = vec![0.0f32; n];
        let mut next_is_start = self.counters.next_is_start.clone();
        match self.cfg.objective {
            Objective::Global => weight.iter_mut().for_each(|w| *w = 1.0 / n as f32),
            Objective::Start => {
                let mut starts = Vec::new();
                let segment = (n / self.cfg.num_envs).max(1);
                for t in 0..n {
                    let e = (t / segment).min(self.cfg.num_envs - 1);
                    if next_is_start[e] {
                        starts.push(t);
                    }
                    next_is_start[e] = b.terminated[t] > 0.5 || b.truncated[t] > 0.5;
                }
                for &t in &starts {
                    weight[t] = 1.0 / starts.len() as f32;
                }
            }
        }
        let plain: Vec<f32> = adv.iter().zip(&weight).map(|(a, w)| a * w).collect();
        Ok(Prepared {
            obs,
            ret,
            adv,
            v,
            plain,
            next_is_start,
        })
    }

    /// Runs `f` with the context a correction sees at the update on rollout `b`.
    fn with_prepared<T>(
        &self,
        b: &Batch<'_>,
        p: &Prepared,
        f: impl FnOnce(&dyn OnPolicyContext) -> T,
    ) -> T {
        let n = b.len;
        let segment = (n / self.cfg.num_envs).max(1);
        let starts: Vec<bool> = (0..n)
            .map(|t| t % segment == 0 || b.terminated[t - 1] > 0.5 || b.truncated[t - 1] > 0.5)
            .collect();
        f(&AcContext {
            core: self,
            batch: b,
            obs: &p.obs,
            starts: &starts,
            returns: &p.ret,
            advantages: &p.adv,
            values: &p.v,
            plain: &p.plain,
        })
    }

    /// Run `f` with the context a correction would see at an update on the in-order rollout
    /// `b`, without updating: for unit-testing an on-policy estimator against the real core.
    pub fn with_context<T>(
        &self,
        b: &Batch<'_>,
        f: impl FnOnce(&dyn OnPolicyContext) -> T,
    ) -> PluginResult<T> {
        let p = self.prepare(b)?;
        Ok(self.with_prepared(b, &p, f))
    }

    fn rollout_step(&mut self, b: &Batch<'_>) -> PluginResult<Metrics> {
        let n = b.len;
        let p = self.prepare(b)?;
        self.counters.next_is_start = p.next_is_start.clone();
        let Prepared {
            obs,
            ret,
            adv,
            plain,
            ..
        } = &p;
        // Actor: one ascent step on mean_t w_t log pi(a_t|s_t) A_t, plus a correction's term.
        let (term, mut extra_metrics) = match self.correction.take() {
            None => (ActorTerm::None, Vec::new()),
            Some(mut correction) => {
                let answer = self.with_prepared(b, &p, |ctx| correction.actor_term(ctx));
                self.correction = Some(correction);
                let (term, metrics) = answer.map_err(|e| format!("correction: {e}"))?;
                let metrics: Metrics = metrics
                    .into_iter()
                    .map(|(k, v)| (format!("correction/{k}"), v))
                    .collect();
                let term = match term.checked(n, self.actor_params())? {
                    Term::Zero => ActorTerm::None,
                    Term::Direction(p) => ActorTerm::Direction(p),
                    per_sample => ActorTerm::LogPiWeights(
                        per_sample.summed_entries(n).expect("a per-sample term"),
                    ),
                };
                (term, metrics)
            }
        };
        let (mut pg, logp) = match &term {
            // Weights on log pi: one backward pass for the sum with the plain weights.
            ActorTerm::LogPiWeights(c) => {
                let total = plain.iter().zip(c).map(|(p, c)| p + c).collect();
                self.policy_gradient(obs, b.action, total)?
            }
            ActorTerm::None | ActorTerm::Direction(_) => {
                self.policy_gradient(obs, b.action, plain.clone())?
            }
        };
        if let ActorTerm::Direction(p) = &term {
            // `pg` descends; the term ascends.
            let term = self.unflatten_actor(p)?;
            for (g, t) in pg.iter_mut().zip(term) {
                *g = g.clone() - t;
            }
        }
        let due = self.cfg.correction_diagnostics_every > 0
            && self
                .counters
                .updates
                .is_multiple_of(self.cfg.correction_diagnostics_every);
        let term_grad = match &term {
            _ if !due => None,
            ActorTerm::None => None,
            ActorTerm::LogPiWeights(c) => Some(self.policy_gradient(obs, b.action, c.clone())?.0),
            ActorTerm::Direction(p) => Some(
                self.unflatten_actor(p)?
                    .into_iter()
                    .map(|t| t.neg())
                    .collect(),
            ),
        };
        if let Some(term_grad) = term_grad {
            let (plain_grad, _) = self.policy_gradient(obs, b.action, plain.clone())?;
            extra_metrics.extend(compare_terms(&plain_grad, &term_grad));
        }
        let objective_value: f32 = plain.iter().zip(&logp).map(|(c, l)| c * l).sum();
        let mean_logp = logp.iter().sum::<f32>() / n as f32;
        let params = self
            .policy
            .params_mut()
            .chain(std::iter::once(&mut self.log_std));
        self.policy_opt.step(params, pg);
        // Critic: k steps on 1/2 mean (V(s) - G)^2.
        let targets = from_vec(ret.clone(), n, 1, &self.device);
        let mut critic_loss = 0.0;
        for i in 0..self.cfg.critic_steps {
            let tracked = self.critic.tracked();
            let loss = (tracked.forward(obs.clone()) - targets.clone())
                .square()
                .mean()
                .mul_scalar(0.5);
            let value = to_vec(loss.clone().inner())[0];
            if !value.is_finite() {
                return Err(acgap_sdk::result::diverged(format!(
                    "critic loss is {value}"
                )));
            }
            if i == 0 {
                critic_loss = value;
            }
            let grads = tracked.grads(&loss.backward());
            self.critic_opt.step(self.critic.params_mut(), grads);
        }
        self.counters.updates += 1;
        let mut metrics = vec![
            ("train/critic_loss".into(), critic_loss as f64),
            ("train/policy_objective".into(), objective_value as f64),
            ("train/entropy_estimate".into(), -mean_logp as f64),
            (
                "train/advantage_abs_mean".into(),
                adv.iter().map(|a| a.abs() as f64).sum::<f64>() / n as f64,
            ),
            (
                "train/return_mean".into(),
                ret.iter().map(|&r| r as f64).sum::<f64>() / n as f64,
            ),
        ];
        metrics.extend(extra_metrics);
        Ok(metrics)
    }

    /// `log pi(a_t|s_t)` per row, without autodiff.
    fn log_probs(&self, obs: &Tensor<2>, action: &[f32]) -> PluginResult<Vec<f32>> {
        Ok(to_vec(self.log_prob(
            &self.policy,
            &self.log_std,
            obs.clone(),
            action,
        )))
    }

    /// A flat actor vector (layers, then the log-std row) as tensors shaped like the
    /// parameters.
    fn unflatten_actor(&self, flat: &[f32]) -> PluginResult<Vec<Tensor<2>>> {
        let p = self.policy.param_count();
        if flat.len() != self.actor_params() {
            return Err(format!(
                "the correction returned a direction of {} values; the actor has {}",
                flat.len(),
                self.actor_params()
            ));
        }
        let mut out = self.policy.unflatten(&flat[..p], &self.device);
        let heads = self.log_std.dims()[1];
        out.push(from_vec(flat[p..].to_vec(), 1, heads, &self.device));
        Ok(out)
    }

    /// Gradients (descent direction of `-sum_t coef_t log pi(a_t|s_t)`) for the policy
    /// parameters and the log-std, and the log-probabilities `log pi(a_t|s_t)`.
    fn policy_gradient(
        &self,
        obs: &Tensor<2>,
        action: &[f32],
        coef: Vec<f32>,
    ) -> PluginResult<(Vec<Tensor<2>>, Vec<f32>)> {
        let n = coef.len();
        let tracked = self.policy.tracked();
        let log_std = self.log_std.clone().autodiff().require_grad();
        let logp = self.log_prob(&tracked, &log_std, obs.clone(), action);
        let objective = (logp.clone() * from_vec(coef, n, 1, &self.device)).sum();
        let value = to_vec(objective.clone().inner())[0];
        if !value.is_finite() {
            return Err(acgap_sdk::result::diverged(format!(
                "policy objective is {value}"
            )));
        }
        let grads = objective.neg().backward();
        let mut pg = tracked.grads(&grads);
        pg.push(
            log_std
                .grad(&grads)
                .unwrap_or_else(|| self.log_std.zeros_like()),
        );
        if self.discrete.is_some() {
            let last = pg.len() - 1;
            pg[last] = pg[last].zeros_like(); // no log-std for a categorical policy
        }
        Ok((pg, to_vec(logp.inner())))
    }
}

impl acgap_sdk::Agent for AcCore {
    fn training(&self) -> Training {
        Training::OnPolicy {
            rollout_len: self.cfg.rollout_len,
            num_envs: self.cfg.num_envs,
        }
    }

    fn act(&mut self, obs: &[f32], n: usize, deterministic: bool) -> PluginResult<Vec<f32>> {
        if obs.len() != n * self.obs_dim {
            return Err(format!(
                "act: {} observation values are not {n} rows of {}",
                obs.len(),
                self.obs_dim
            ));
        }
        let out = to_vec(
            self.policy
                .forward(from_rows(obs, n, self.obs_dim, &self.device)),
        );
        match self.discrete {
            Some(k) => Ok(out
                .chunks(k)
                .map(|logits| {
                    let max = logits.iter().copied().fold(f32::NEG_INFINITY, f32::max);
                    if deterministic {
                        return logits.iter().position(|&l| l == max).unwrap_or(0) as f32;
                    }
                    let e: Vec<f64> = logits.iter().map(|&l| ((l - max) as f64).exp()).collect();
                    let u: f64 = self.rng.random::<f64>() * e.iter().sum::<f64>();
                    let mut acc = 0.0;
                    e.iter()
                        .position(|x| {
                            acc += x;
                            u < acc
                        })
                        .unwrap_or(k - 1) as f32
                })
                .collect()),
            None => {
                if deterministic {
                    return Ok(out);
                }
                let std: Vec<f32> = to_vec(self.log_std.clone().exp());
                Ok(out
                    .iter()
                    .enumerate()
                    .map(|(i, m)| {
                        let z: f32 = self.rng.sample(StandardNormal);
                        m + std[i % self.act_dim] * z
                    })
                    .collect())
            }
        }
    }

    fn update(&mut self, batch: &Batch<'_>, step: UpdateStep) -> PluginResult<Metrics> {
        match step {
            UpdateStep::Rollout => self.rollout_step(batch),
            other => Err(format!(
                "this actor-critic is on-policy: it learns from rollouts, not `{other:?}` steps"
            )),
        }
    }

    fn discount(&mut self) -> Option<f64> {
        Some(self.cfg.gamma)
    }

    fn kernels(&mut self) -> Option<String> {
        crate::kernels::reported(&self.device)
    }

    fn save(&self) -> PluginResult<Vec<u8>> {
        let mut w = StateWriter::default();
        w.tensor("policy", &self.policy.to_flat())
            .tensor("log_std", &to_vec(self.log_std.clone()))
            .tensor("critic", &self.critic.to_flat());
        self.policy_opt.save(&mut w, "policy_opt");
        self.critic_opt.save(&mut w, "critic_opt");
        w.meta("rng", &self.rng)
            .meta("counters", &self.counters)
            .meta("config", &self.cfg);
        if let Some(c) = &self.correction {
            w.bytes("correction", &c.save()?);
        }
        w.finish()
    }

    fn attach(&mut self, correction: Correction) -> PluginResult<()> {
        let correction = correction.into_onpolicy()?;
        if self.correction.is_some() {
            return Err(
                "this agent already has its correction (stac); attach corrections to `agc`".into(),
            );
        }
        self.correction = Some(correction);
        Ok(())
    }

    fn load(&mut self, bytes: &[u8]) -> PluginResult<()> {
        let r = StateReader::new(bytes)?;
        let cfg: AcConfig = r.meta("config")?;
        if cfg.hidden != self.cfg.hidden {
            return Err("the checkpoint's network sizes differ from this agent's".into());
        }
        let d = self.device.clone();
        self.policy.set_flat(&r.tensor("policy")?, &d)?;
        let heads = self.log_std.dims()[1];
        self.log_std = from_vec(r.tensor("log_std")?, 1, heads, &d);
        self.critic.set_flat(&r.tensor("critic")?, &d)?;
        self.policy_opt.load(&r, "policy_opt")?;
        self.critic_opt.load(&r, "critic_opt")?;
        if let Some(c) = &mut self.correction {
            let bytes = r.bytes("correction").map_err(|e| {
                format!(
                    "the checkpoint has no correction state, and this run has a correction ({e})"
                )
            })?;
            c.load(&bytes)?;
        }
        self.rng = r.meta("rng")?;
        self.counters = r.meta("counters")?;
        Ok(())
    }
}

impl Core for AcCore {
    fn info(&self, batch_len: usize) -> acgap_sdk::onpolicy::RolloutInfo {
        acgap_sdk::onpolicy::RolloutInfo {
            obs_dim: self.obs_dim,
            act_dim: self.act_dim,
            batch_len,
            gamma: self.cfg.gamma,
            gae_lambda: self.cfg.gae_lambda,
            critic_params: self.critic.param_count(),
            actor_params: self.actor_params(),
            hidden: self.cfg.hidden.clone(),
            update: self.counters.updates,
        }
    }
    fn critic(&self) -> &Mlp {
        &self.critic
    }
    fn obs_dim(&self) -> usize {
        self.obs_dim
    }
    fn log_prob_vjp(
        &self,
        obs: &Tensor<2>,
        action: &[f32],
        coef: Vec<f32>,
    ) -> PluginResult<Vec<f32>> {
        let (descent, _) = self.policy_gradient(obs, action, coef)?;
        Ok(descent.into_iter().flat_map(to_vec).map(|g| -g).collect())
    }
    fn log_probs(&self, obs: &Tensor<2>, action: &[f32]) -> PluginResult<Vec<f32>> {
        AcCore::log_probs(self, obs, action)
    }
}

/// A correction's term as the actor step applies it.
enum ActorTerm {
    None,
    /// Per-transition weights on `log pi`, added to the plain weights.
    LogPiWeights(Vec<f32>),
    /// Added to the ascent direction as is.
    Direction(Vec<f32>),
}

/// Diagnostics of the two actor terms (descent directions): the correction term's norm, the
/// plain gradient's and their cosine.
fn compare_terms(plain: &[Tensor<2>], term: &[Tensor<2>]) -> Metrics {
    let flat = |g: &[Tensor<2>]| -> Vec<f64> {
        g.iter().cloned().flat_map(to_vec).map(f64::from).collect()
    };
    let (p, q) = (flat(plain), flat(term));
    let norm = |x: &[f64]| x.iter().map(|v| v * v).sum::<f64>().sqrt();
    let dot: f64 = p.iter().zip(&q).map(|(a, b)| a * b).sum();
    vec![
        ("correction/term_norm".into(), norm(&q)),
        ("correction/plain_norm".into(), norm(&p)),
        (
            "correction/cosine_with_plain".into(),
            dot / (norm(&p) * norm(&q)).max(1e-30),
        ),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;
    use acgap_sdk::spec::EnvSpec;
    use acgap_sdk::{Agent, BatchKind};

    fn core(action: Space) -> AcCore {
        let init = AgentInit {
            config: serde_json::json!({"gamma": 0.5, "gae_lambda": 0.5, "hidden": [4]}),
            env: EnvSpec {
                id: "test".into(),
                observation: Space::Box {
                    low: vec![-1.0; 2],
                    high: vec![1.0; 2],
                },
                action,
                max_episode_steps: None,
                tabular: None,
            },
            seed: 0,
            device: "cpu".into(),
        };
        AcCore::new(&init).unwrap()
    }

    /// A correction that records the plain weights it was shown and returns nothing.
    struct Recorder(std::sync::Arc<std::sync::Mutex<Vec<f32>>>);

    impl OnPolicyCorrection for Recorder {
        fn actor_term(&mut self, ctx: &dyn OnPolicyContext) -> PluginResult<(Term<f32>, Metrics)> {
            *self.0.lock().unwrap() = ctx.plain_weights();
            Ok((Term::Zero, Vec::new()))
        }
    }

    /// `with_context` shows the context the update would show, and changes nothing.
    #[test]
    fn with_context_is_the_updates_context_and_leaves_the_core_unchanged() {
        let mut c = core(Space::Discrete { n: 2 });
        c.cfg.objective = Objective::Start;
        let obs: Vec<f32> = (0..12).map(|i| (i as f32 * 0.7).sin()).collect();
        let (act, r) = (
            [0.0, 1.0, 1.0, 0.0, 1.0, 0.0],
            [1.0, 0.5, -1.0, 2.0, 0.0, 1.0],
        );
        let (term, zeros) = ([0.0, 1.0, 0.0, 0.0, 0.0, 0.0], [0.0f32; 6]);
        let b = Batch {
            kind: BatchKind::Rollout,
            len: 6,
            obs: &obs,
            action: &act,
            reward: &r,
            next_obs: &obs,
            terminated: &term,
            truncated: &zeros,
        };
        let before = c.save().unwrap();
        let shown = c.with_context(&b, |ctx| ctx.plain_weights()).unwrap();
        assert_eq!(c.save().unwrap(), before, "with_context changed the core");
        let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        c.attach(Correction::onpolicy(Recorder(seen.clone())))
            .unwrap();
        c.update(&b, UpdateStep::Rollout).unwrap();
        assert_eq!(*seen.lock().unwrap(), shown);
        assert!(shown.iter().any(|w| *w != 0.0));
    }

    #[test]
    fn gae_and_returns_by_hand() {
        let c = core(Space::Discrete { n: 2 });
        // Four steps: an episode terminating at t = 1, then one cut by the rollout's end.
        let (r, term, trunc) = ([1.0, 2.0, 3.0, 4.0], [0.0, 1.0, 0.0, 0.0], [0.0; 4]);
        let (v, vn) = ([0.5, 0.25, 1.0, 2.0], [0.25, 9.0, 2.0, 8.0]);
        let zeros = [0.0f32; 8];
        let b = Batch {
            kind: BatchKind::Rollout,
            len: 4,
            obs: &zeros,
            action: &zeros[..4],
            reward: &r,
            next_obs: &zeros,
            terminated: &term,
            truncated: &trunc,
        };
        let (adv, ret) = c.advantages(&b, &v, &vn);
        // gamma = lambda = 0.5. delta = r + 0.5 V(s') (not at termination) - V(s):
        // d0 = 1 + 0.125 - 0.5 = 0.625, d1 = 2 - 0.25 = 1.75, d2 = 3 + 1 - 1 = 3, d3 = 4 + 4 - 2 = 6.
        // A3 = 6 (cut), A2 = 3 + 0.25 * 6 = 4.5, A1 = 1.75 (terminal), A0 = 0.625 + 0.25 * 1.75.
        let want_adv = [0.625 + 0.25 * 1.75, 1.75, 4.5, 6.0];
        // G3 = 4 + 0.5 * 8 = 8 (bootstrap at the cut), G2 = 3 + 0.5 * 8 = 7, G1 = 2, G0 = 1 + 0.5 * 2.
        let want_ret = [2.0, 2.0, 7.0, 8.0];
        for t in 0..4 {
            assert!(
                (adv[t] - want_adv[t]).abs() < 1e-6,
                "A{t} {} vs {}",
                adv[t],
                want_adv[t]
            );
            assert!(
                (ret[t] - want_ret[t]).abs() < 1e-6,
                "G{t} {} vs {}",
                ret[t],
                want_ret[t]
            );
        }
    }

    /// The actor's GAE policy gradient (autodiff through the softmax, or the Gaussian and its
    /// log-std) against central differences of `sum_t A_t log pi(a_t|s_t)` along three
    /// directions, with `A` the GAE advantages of a rollout holding a termination.
    #[test]
    fn gae_policy_gradient_matches_finite_differences() {
        for action in [
            Space::Discrete { n: 3 },
            Space::Box {
                low: vec![-1.0],
                high: vec![1.0],
            },
        ] {
            let mut c = core(action);
            // Weights of order one (the initial output layer is scaled down to 0.01).
            let weights: Vec<f32> = (0..c.policy.param_count())
                .map(|i| ((i * 31) % 17) as f32 / 8.0 - 1.0)
                .collect();
            let device = c.device.clone();
            c.policy.set_flat(&weights, &device).unwrap();
            c.log_std = c.log_std.clone().sub_scalar(0.3);
            let n = 6;
            let obs: Vec<f32> = (0..2 * n)
                .map(|i| ((i * 37) % 11) as f32 / 5.0 - 1.0)
                .collect();
            let act = c.act(&obs, n, false).unwrap();
            let reward: Vec<f32> = (0..n).map(|i| i as f32 * 0.3 - 0.5).collect();
            let mut terminated = vec![0.0f32; n];
            terminated[2] = 1.0;
            let truncated = vec![0.0f32; n];
            let b = Batch {
                kind: BatchKind::Rollout,
                len: n,
                obs: &obs,
                action: &act,
                reward: &reward,
                next_obs: &obs,
                terminated: &terminated,
                truncated: &truncated,
            };
            let v: Vec<f32> = (0..n).map(|i| 0.2 * i as f32 - 0.4).collect();
            let v_next: Vec<f32> = (0..n).map(|i| 0.7 - 0.1 * i as f32).collect();
            let (adv, _) = c.advantages(&b, &v, &v_next);
            let obs_t = from_rows(&obs, n, 2, &c.device);
            let (descent, _) = c.policy_gradient(&obs_t, &act, adv.clone()).unwrap();
            let descent: Vec<f64> = descent
                .into_iter()
                .flat_map(to_vec)
                .map(f64::from)
                .collect();
            let (theta, log_std) = (c.policy.to_flat(), to_vec(c.log_std.clone()));
            let p = theta.len();
            let objective_at = |dir: &[f64], eps: f64| -> f64 {
                let shift = |x: &[f32], d: &[f64]| -> Vec<f32> {
                    x.iter()
                        .zip(d)
                        .map(|(x, d)| (f64::from(*x) + eps * d) as f32)
                        .collect()
                };
                let mut net = c.policy.clone();
                net.set_flat(&shift(&theta, &dir[..p]), &c.device).unwrap();
                let ls = from_vec(shift(&log_std, &dir[p..]), 1, log_std.len(), &c.device);
                let logp = to_vec(c.log_prob(&net, &ls, obs_t.clone(), &act));
                logp.iter().zip(&adv).map(|(l, a)| f64::from(l * a)).sum()
            };
            for seed in 1..=3 {
                let dir: Vec<f64> = (0..descent.len())
                    .map(|i| ((i * 7919 * seed) % 13) as f64 / 6.0 - 1.0)
                    .collect();
                let eps = 1e-2;
                let fd = (objective_at(&dir, eps) - objective_at(&dir, -eps)) / (2.0 * eps);
                let autodiff = -descent.iter().zip(&dir).map(|(g, d)| g * d).sum::<f64>();
                assert!(
                    autodiff.abs() > 0.1,
                    "{autodiff}: not a direction that tests much"
                );
                assert!(
                    (fd - autodiff).abs() < 2e-3 * autodiff.abs().max(1.0),
                    "direction {seed}: finite differences {fd} vs autodiff {autodiff}"
                );
            }
        }
    }

    #[test]
    fn checkpoints_restore_exactly_and_bad_configs_are_refused() {
        for action in [
            Space::Discrete { n: 3 },
            Space::Box {
                low: vec![-1.0],
                high: vec![1.0],
            },
        ] {
            let mut a = core(action.clone());
            let obs = [0.1f32, -0.2, 0.3, 0.4];
            let acts = a.act(&obs, 2, false).unwrap();
            let (r, flags) = ([1.0f32, 0.5], [0.0f32, 0.0]);
            let b = Batch {
                kind: BatchKind::Rollout,
                len: 2,
                obs: &obs,
                action: &acts,
                reward: &r,
                next_obs: &obs,
                terminated: &flags,
                truncated: &flags,
            };
            a.update(&b, UpdateStep::Rollout).unwrap();
            let saved = a.save().unwrap();
            let mut c = core(action);
            c.load(&saved).unwrap();
            assert_eq!(
                a.act(&obs, 2, false).unwrap(),
                c.act(&obs, 2, false).unwrap()
            );
            assert_eq!(
                a.update(&b, UpdateStep::Rollout).unwrap(),
                c.update(&b, UpdateStep::Rollout).unwrap()
            );
            assert_eq!(a.act(&obs, 2, true).unwrap(), c.act(&obs, 2, true).unwrap());
        }
        let make = |config: serde_json::Value| {
            let init = AgentInit {
                config,
                env: EnvSpec {
                    id: "t".into(),
                    observation: Space::Box {
                        low: vec![0.0],
                        high: vec![1.0],
                    },
                    action: Space::Discrete { n: 2 },
                    max_episode_steps: None,
                    tabular: None,
                },
                seed: 0,
                device: "cpu".into(),
            };
            AcCore::new(&init).err().unwrap_or_default()
        };
        assert!(
            make(serde_json::json!({"critic_steps": 0}))
                .contains("critic_steps (k) must be at least 1")
        );
        assert!(make(serde_json::json!({"gae_lambda": -0.1})).contains("gae_lambda"));
        assert!(make(serde_json::json!({"schedule": "10-0"})).contains("unknown field `schedule`"));
    }
}
