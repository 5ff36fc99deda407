//! [`SacCore`]: twin soft critics, a squashed-Gaussian actor, an auto-tuned
//! temperature, and the correction hook on the actor's ascent direction.

use super::config::SacConfig;
use super::context::{BatchTensors, Core, HostTarget, StepContext, check_batch, q};
use super::nets::{BurnNets, SacNets};
use crate::policy::SquashedGaussian;
use crate::state::{StateReader, StateWriter};
use crate::tensor::{
    Device, Tensor, cpu_threads, device_from_name, from_rows, from_vec, normal_noise, normal_vec,
    to_vec,
};
use crate::{Adam, Mlp};
use acgap_sdk::agent::{Agent, AgentInit, Metrics, PluginResult, Training};
use acgap_sdk::batch::{Batch, OwnedBatch, UpdateStep};
use acgap_sdk::correction::{ContextInfo, Correction, SacCorrection, Term};
use acgap_sdk::spec::Space;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

/// SAC with an optional [`SacCorrection`]. See docs/algorithms.md §3.
pub struct SacCore {
    pub(super) cfg: SacConfig,
    pub(super) device: Device,
    pub(super) obs_dim: usize,
    pub(super) act_dim: usize,
    /// Action box, to map between env units and the actor's `[-1, 1]`.
    pub(super) act_low: Vec<f32>,
    pub(super) act_high: Vec<f32>,
    /// The actor, the critics and the targets: their one owner.
    pub(super) nets: SacNets,
    pub(super) actor_opt: Adam,
    pub(super) critic_opts: [Adam; 2],
    log_alpha: Tensor<2>,
    alpha_opt: Adam,
    target_entropy: f64,
    rng: ChaCha8Rng,
    correction: Option<Box<dyn SacCorrection>>,
    pub(super) counters: Counters,
    /// With `shared_minibatch`: the last critic step's minibatch, which the actor step uses.
    shared: Option<OwnedBatch>,
}

#[derive(Clone, Copy, Debug, Default, serde::Serialize, serde::Deserialize)]
pub(super) struct Counters {
    pub critic: u64,
    pub correction: u64,
    pub actor: u64,
}

impl SacCore {
    pub fn new(init: &AgentInit, correction: Option<Correction>) -> PluginResult<Self> {
        let correction = correction.map(Correction::into_sac).transpose()?;
        let cfg = SacConfig::from_json(&init.config)?;
        let device = device_from_name(&init.device)?;
        let Space::Box { low, high } = &init.env.action else {
            return Err(format!(
                "SAC needs a continuous (box) action space; `{}` has discrete actions",
                init.env.id
            ));
        };
        if low.iter().chain(high).any(|b| !b.is_finite()) {
            return Err(format!(
                "SAC needs a bounded action box; `{}` has infinite bounds",
                init.env.id
            ));
        }
        let (obs_dim, act_dim) = (init.env.obs_dim(), init.env.act_dim());
        let mut rng = ChaCha8Rng::seed_from_u64(init.seed);
        let actor = SquashedGaussian::new(obs_dim, act_dim, &cfg.hidden, &mut rng, &device);
        let critic_sizes: Vec<usize> = std::iter::once(obs_dim + act_dim)
            .chain(cfg.hidden.iter().copied())
            .chain([1])
            .collect();
        let critics = [
            Mlp::new(&critic_sizes, &mut rng, &device),
            Mlp::new(&critic_sizes, &mut rng, &device),
        ];
        let targets = critics.clone();
        let log_alpha = from_vec(vec![cfg.init_alpha.ln() as f32], 1, 1, &device);
        Ok(Self {
            actor_opt: Adam::new(&actor.net.params(), cfg.actor_lr),
            critic_opts: [
                Adam::new(&critics[0].params(), cfg.critic_lr),
                Adam::new(&critics[1].params(), cfg.critic_lr),
            ],
            alpha_opt: Adam::new(std::slice::from_ref(&log_alpha), cfg.alpha_lr),
            target_entropy: cfg.target_entropy.unwrap_or(-(act_dim as f64)),
            act_low: low.clone(),
            act_high: high.clone(),
            cfg,
            device,
            obs_dim,
            act_dim,
            nets: SacNets::new(
                BurnNets {
                    actor,
                    critics,
                    targets,
                },
                cpu_threads(&init.device),
            )?,
            log_alpha,
            rng,
            correction,
            counters: Counters::default(),
            shared: None,
        })
    }

    pub fn config(&self) -> &SacConfig {
        &self.cfg
    }

    /// Parameters of the actor (a shape: the same in every copy of the networks).
    pub(super) fn actor_param_count(&self) -> usize {
        self.nets.shapes().actor.net.param_count()
    }

    /// Run `f` with the context a correction sees at an update on `batch` (noise drawn from
    /// `noise_seed`): for unit-testing an estimator against the real SAC core.
    pub fn with_context<T>(
        &mut self,
        batch: &Batch<'_>,
        noise_seed: u64,
        f: impl FnOnce(&dyn acgap_sdk::correction::SacContext) -> T,
    ) -> PluginResult<T> {
        let t = BatchTensors::new(self, batch)?;
        let mut rng = ChaCha8Rng::seed_from_u64(noise_seed);
        let eps = normal_noise(&mut rng, batch.len, self.act_dim, &self.device);
        let eps_next = normal_noise(&mut rng, batch.len, self.act_dim, &self.device);
        Ok(f(&StepContext::new(self, batch, t, eps, eps_next)))
    }

    /// `(a~, log pi(a~|s))` through `actor` (plain or tracked) with noise `eps`, with this
    /// core's form of the tanh correction.
    pub(super) fn sample(
        &self,
        actor: &Mlp,
        obs: Tensor<2>,
        eps: Tensor<2>,
    ) -> (Tensor<2>, Tensor<2>) {
        SquashedGaussian::sample_floored(actor, self.act_dim, obs, eps, self.cfg.squash_floor)
    }

    pub(super) fn alpha(&self) -> f32 {
        to_vec(self.log_alpha.clone())[0].exp()
    }

    fn noise(&mut self, rows: usize) -> Tensor<2> {
        normal_noise(&mut self.rng, rows, self.act_dim, &self.device)
    }

    /// The same draws as [`SacCore::noise`], on the host.
    pub(super) fn noise_host(&mut self, rows: usize) -> Vec<f32> {
        normal_vec(&mut self.rng, rows * self.act_dim)
    }

    /// Run the steps through burn's autodiff on the CPU device too (tests compare the paths).
    #[cfg(test)]
    pub(super) fn without_host_path(mut self) -> Self {
        self.nets.without_host();
        self
    }

    /// The soft TD target `y = r + gamma (1 - terminated)(min_i Qbar_i(s',a') - alpha log pi(a'|s'))`
    /// with `a'` drawn from `actor` (plain or tracked) with noise `eps_next`.
    pub(super) fn soft_target(
        &self,
        actor: &Mlp,
        t: &BatchTensors,
        eps_next: Tensor<2>,
    ) -> Tensor<2> {
        let next = self.sample(actor, t.next_obs.clone(), eps_next);
        self.soft_target_at(t, next)
    }

    /// [`SacCore::soft_target`] at a given sample `(a', log pi(a'|s'))`.
    pub(super) fn soft_target_at(
        &self,
        t: &BatchTensors,
        (next_a, next_logp): (Tensor<2>, Tensor<2>),
    ) -> Tensor<2> {
        let targets = &self.nets.burn().targets;
        let q1 = q(&targets[0], t.next_obs.clone(), next_a.clone());
        let q2 = q(&targets[1], t.next_obs.clone(), next_a);
        let soft_v = q1.min_pair(q2) - next_logp.mul_scalar(self.alpha());
        t.reward.clone()
            + t.not_terminated
                .clone()
                .mul(soft_v)
                .mul_scalar(self.cfg.gamma)
    }

    /// Critic step: `min_phi sum_i 1/2 mean (Q_i(s,a) - y)^2`, then Polyak targets.
    fn critic_step(&mut self, batch: &Batch<'_>) -> PluginResult<Metrics> {
        check_batch(self, batch)?;
        let eps_next = self.noise_host(batch.len);
        let (loss, delta) = if self.nets.fused() {
            self.critic_step_host(batch, &eps_next)?
        } else {
            self.critic_step_burn(batch, eps_next)?
        };
        self.counters.critic += 1;
        // TD error of q_phi = min(Q1, Q2) for the clip heuristic of Res-SAC (paper Fig. 6).
        let abs_max = delta.iter().fold(0.0_f32, |m, d| m.max(d.abs()));
        let abs_mean = delta.iter().map(|d| d.abs()).sum::<f32>() / delta.len() as f32;
        Ok(vec![
            ("train/critic_loss".into(), loss as f64),
            ("train/td_abs_max".into(), abs_max as f64),
            ("train/td_abs_mean".into(), abs_mean as f64),
        ])
    }

    /// The critic step through burn's autodiff; returns the loss and `y - min(Q1, Q2)`.
    fn critic_step_burn(
        &mut self,
        batch: &Batch<'_>,
        eps_next: Vec<f32>,
    ) -> PluginResult<(f32, Vec<f32>)> {
        let t = BatchTensors::new(self, batch)?;
        let eps_next = from_vec(eps_next, batch.len, self.act_dim, &self.device);
        let y = self.soft_target(&self.nets.burn().actor.net, &t, eps_next);
        let critics = &self.nets.burn().critics;
        let tracked = [critics[0].tracked(), critics[1].tracked()];
        let q1 = q(&tracked[0], t.obs.clone(), t.action.clone());
        let q2 = q(&tracked[1], t.obs.clone(), t.action.clone());
        let loss = ((q1.clone() - y.clone()).square().mean()
            + (q2.clone() - y.clone()).square().mean())
        .mul_scalar(0.5);
        let loss_value = to_vec(loss.clone().inner())[0];
        check_finite("critic loss", loss_value, self.counters.critic)?;
        let grads = loss.backward();
        let nets = self.nets.burn_to_step();
        for (i, net) in tracked.iter().enumerate() {
            let g = net.grads(&grads);
            self.critic_opts[i].step(nets.critics[i].params_mut(), g);
            nets.targets[i].polyak_from(&nets.critics[i], self.cfg.tau as f32);
        }
        Ok((loss_value, to_vec(y - q1.inner().min_pair(q2.inner()))))
    }

    /// `J_pi = mean_s [ q_phi(s, a~) - alpha log pi(a~|s) ]` (docs/algorithms.md §3) through
    /// `actor` (plain or tracked) with noise `eps`; also returns `log pi(a~|s)` and `a~`.
    pub(super) fn actor_objective(
        &self,
        actor: &Mlp,
        t: &BatchTensors,
        eps: Tensor<2>,
    ) -> (Tensor<1>, Tensor<2>, Tensor<2>) {
        let (a, logp) = self.sample(actor, t.obs.clone(), eps);
        let critics = &self.nets.burn().critics;
        let q1 = q(&critics[0], t.obs.clone(), a.clone());
        let q = q1.min_pair(q(&critics[1], t.obs.clone(), a.clone()));
        ((q - logp.clone().mul_scalar(self.alpha())).mean(), logp, a)
    }

    /// Correction step: the estimator trains its own networks on this batch.
    fn correction_step(&mut self, batch: &Batch<'_>) -> PluginResult<Metrics> {
        let Some(mut correction) = self.correction.take() else {
            return Ok(Vec::new());
        };
        let t = BatchTensors::new(self, batch)?;
        let (eps, eps_next) = (self.noise(batch.len), self.noise(batch.len));
        let result = correction.train(&StepContext::new(self, batch, t, eps, eps_next));
        self.correction = Some(correction);
        self.counters.correction += 1;
        Ok(prefixed("correction/", result?))
    }

    /// Actor step along `grad_theta J_pi + correction`, then the temperature step.
    fn actor_step(&mut self, batch: &Batch<'_>) -> PluginResult<Metrics> {
        check_batch(self, batch)?;
        let (eps, eps_next) = (self.noise_host(batch.len), self.noise_host(batch.len));
        let (term, mut metrics) = self.correction_term(batch, &eps, eps_next)?;
        let (loss_value, logp_mean) = if self.nets.fused() {
            self.actor_step_host(batch, &eps, term)?
        } else {
            self.actor_step_burn(batch, eps, term)?
        };
        // Temperature: min_log_alpha  -log_alpha * mean(log pi + target_entropy).
        if self.cfg.autotune_alpha {
            let grad = from_vec(
                vec![-(logp_mean + self.target_entropy) as f32],
                1,
                1,
                &self.device,
            );
            self.alpha_opt
                .step(std::iter::once(&mut self.log_alpha), vec![grad]);
        }
        self.counters.actor += 1;
        metrics.extend([
            ("train/actor_loss".into(), loss_value as f64),
            ("train/alpha".into(), self.alpha() as f64),
            ("train/entropy".into(), -logp_mean),
        ]);
        Ok(metrics)
    }

    /// The correction's term for this actor step, checked against the actor's sizes, as the
    /// core applies it (per-sample entries in the summed form; all zeros is no term) and its
    /// metrics.
    fn correction_term(
        &mut self,
        batch: &Batch<'_>,
        eps: &[f32],
        eps_next: Vec<f32>,
    ) -> PluginResult<(ActorTerm, Metrics)> {
        let Some(mut correction) = self.correction.take() else {
            return Ok((ActorTerm::None, Vec::new()));
        };
        let (n, ad, p) = (batch.len, self.act_dim, self.actor_param_count());
        let result = BatchTensors::new(self, batch).and_then(|t| {
            let eps = from_rows(eps, n, ad, &self.device);
            let eps_next = from_vec(eps_next, n, ad, &self.device);
            correction.actor_term(&StepContext::new(self, batch, t, eps, eps_next))
        });
        self.correction = Some(correction);
        let (term, metrics) = result?;
        let term = match term.checked(n * ad, p)? {
            Term::Zero => ActorTerm::None,
            Term::Direction(d) => ActorTerm::Direction(d),
            per_sample => {
                let g = per_sample.summed_entries(n).expect("a per-sample term");
                // An all-zero action gradient would change nothing but the order of
                // floating-point sums in the backward pass: skipped, so that a correction
                // scaled to zero leaves SAC bit-identical.
                if g.iter().all(|x| *x == 0.0) {
                    ActorTerm::None
                } else {
                    ActorTerm::ActionGrad(g)
                }
            }
        };
        Ok((term, prefixed("correction/", metrics)))
    }

    /// The actor step through burn's autodiff; returns the loss `-J_pi` and mean `log pi`.
    fn actor_step_burn(
        &mut self,
        batch: &Batch<'_>,
        eps: Vec<f32>,
        term: ActorTerm,
    ) -> PluginResult<(f32, f64)> {
        let t = BatchTensors::new(self, batch)?;
        let (n, ad) = (batch.len, self.act_dim);
        let eps = from_vec(eps, n, ad, &self.device);
        let tracked = self.nets.burn().actor.net.tracked();
        let (objective, logp, action) = self.actor_objective(&tracked, &t, eps);
        let loss_value = -to_vec(objective.clone().inner())[0];
        check_finite("actor loss", loss_value, self.counters.actor)?;
        // An action gradient g joins J_pi in the same backward pass: the gradient of
        // sum_b g_b . a~_b(theta) is g mapped through the reparameterisation with this step's
        // noise (what `actor_vjp` computes on its own).
        let ascent = match &term {
            ActorTerm::ActionGrad(g) => {
                objective + (action * from_rows(g, n, ad, &self.device)).sum()
            }
            _ => objective,
        };
        let grads = ascent.neg().backward();
        let mut g = tracked.grads(&grads);
        if let ActorTerm::Direction(d) = &term {
            // Descent on -J: subtracting the correction adds it to the ascent direction.
            let d = self.nets.burn().actor.net.unflatten(d, &self.device);
            g = g.into_iter().zip(d).map(|(g, d)| g - d).collect();
        }
        let actor = &mut self.nets.burn_to_step().actor;
        self.actor_opt.step(actor.net.params_mut(), g);
        Ok((loss_value, to_vec(logp.inner().mean())[0] as f64))
    }

    /// Map actions in `[-1, 1]` to the env's box.
    fn to_env_units(&self, a: Vec<f32>) -> Vec<f32> {
        a.chunks(self.act_dim)
            .flat_map(|row| {
                row.iter().enumerate().map(|(j, &x)| {
                    self.act_low[j] + (x + 1.0) * 0.5 * (self.act_high[j] - self.act_low[j])
                })
            })
            .collect()
    }
}

fn prefixed(prefix: &str, m: Metrics) -> Metrics {
    m.into_iter()
        .map(|(k, v)| (format!("{prefix}{k}"), v))
        .collect()
}

pub(super) fn check_finite(what: &str, value: f32, update: u64) -> PluginResult<()> {
    if value.is_finite() {
        Ok(())
    } else {
        Err(acgap_sdk::result::diverged(format!(
            "{what} is {value} at update {}",
            update + 1
        )))
    }
}

impl Agent for SacCore {
    fn training(&self) -> Training {
        self.cfg.training().expect("validated at construction")
    }

    fn act(&mut self, obs: &[f32], n: usize, deterministic: bool) -> PluginResult<Vec<f32>> {
        if obs.len() != n * self.obs_dim {
            return Err(format!(
                "act: got {} observation values for {n} rows of {}",
                obs.len(),
                self.obs_dim
            ));
        }
        let eps = (!deterministic).then(|| self.noise_host(n));
        let a = match (self.nets.fused(), eps) {
            (true, eps) => self.act_host(obs, n, eps),
            (false, None) => to_vec(self.nets.burn().actor.mode(from_rows(
                obs,
                n,
                self.obs_dim,
                &self.device,
            ))),
            (false, Some(eps)) => {
                let obs = from_rows(obs, n, self.obs_dim, &self.device);
                let eps = from_vec(eps, n, self.act_dim, &self.device);
                let actor = &self.nets.burn().actor.net;
                to_vec(SquashedGaussian::sample(actor, self.act_dim, obs, eps).0)
            }
        };
        Ok(self.to_env_units(a))
    }

    fn update(&mut self, batch: &Batch<'_>, step: UpdateStep) -> PluginResult<Metrics> {
        // Subnormals flushed for the step, on this thread and each lane (`host_steps.rs`).
        crate::flush_subnormals(|| match step {
            UpdateStep::Critic => {
                if self.cfg.shared_minibatch {
                    self.shared = Some(OwnedBatch::of(batch));
                }
                self.critic_step(batch)
            }
            UpdateStep::Correction => self.correction_step(batch),
            // SB3's order: the actor step on the critic step's minibatch.
            UpdateStep::Actor => match self.shared.take() {
                Some(shared) => self.actor_step(&shared.view()),
                None => self.actor_step(batch),
            },
            UpdateStep::Rollout => Err(
                "SAC is off-policy: it takes critic/correction/actor steps, not rollouts".into(),
            ),
        })
    }

    fn discount(&mut self) -> Option<f64> {
        Some(self.cfg.gamma)
    }

    fn kernels(&mut self) -> Option<String> {
        crate::kernels::reported(&self.device)
    }

    fn save(&self) -> PluginResult<Vec<u8>> {
        let mut w = StateWriter::default();
        let [actor, critic0, critic1, target0, target1] = self.net_flats();
        w.tensor("actor", &actor)
            .tensors("actor_opt", &self.actor_opt.moments());
        for (i, (critic, target)) in [(critic0, target0), (critic1, target1)].iter().enumerate() {
            w.tensor(format!("critic{i}"), critic)
                .tensor(format!("target{i}"), target)
                .tensors(&format!("critic{i}_opt"), &self.critic_opts[i].moments());
        }
        w.tensor("log_alpha", &to_vec(self.log_alpha.clone()))
            .tensors("alpha_opt", &self.alpha_opt.moments());
        let steps = [
            self.actor_opt.t,
            self.critic_opts[0].t,
            self.critic_opts[1].t,
            self.alpha_opt.t,
        ];
        w.meta("optimiser_steps", &steps)
            .meta("rng", &self.rng)
            .meta("counters", &self.counters)
            .meta("config", &self.cfg);
        if let Some(c) = &self.correction {
            w.bytes("correction", &c.save()?);
        }
        w.finish()
    }

    fn load(&mut self, bytes: &[u8]) -> PluginResult<()> {
        let r = StateReader::new(bytes)?;
        let cfg: SacConfig = r.meta("config")?;
        if cfg.hidden != self.cfg.hidden {
            return Err(format!(
                "checkpoint has hidden sizes {:?}, this agent {:?}",
                cfg.hidden, self.cfg.hidden
            ));
        }
        let d = self.device.clone();
        self.nets.load(|nets| {
            nets.actor.net.set_flat(&r.tensor("actor")?, &d)?;
            for i in 0..2 {
                nets.critics[i].set_flat(&r.tensor(&format!("critic{i}"))?, &d)?;
                nets.targets[i].set_flat(&r.tensor(&format!("target{i}"))?, &d)?;
            }
            Ok(())
        })?;
        let nets = self.nets.burn();
        let actor_moments = 2 * nets.actor.net.params().len();
        let critic_moments = 2 * nets.critics[0].params().len();
        self.actor_opt
            .set_moments(&r.tensors("actor_opt", actor_moments)?, &d)?;
        for i in 0..2 {
            let moments = r.tensors(&format!("critic{i}_opt"), critic_moments)?;
            self.critic_opts[i].set_moments(&moments, &d)?;
        }
        self.log_alpha = from_vec(r.tensor("log_alpha")?, 1, 1, &d);
        self.alpha_opt
            .set_moments(&r.tensors("alpha_opt", 2)?, &d)?;
        let steps: [u64; 4] = r.meta("optimiser_steps")?;
        (
            self.actor_opt.t,
            self.critic_opts[0].t,
            self.critic_opts[1].t,
            self.alpha_opt.t,
        ) = (steps[0], steps[1], steps[2], steps[3]);
        self.rng = r.meta("rng")?;
        self.counters = r.meta("counters")?;
        if let Some(c) = &mut self.correction {
            c.load(&r.bytes("correction")?)?;
        }
        Ok(())
    }

    fn value_estimates(
        &mut self,
        obs: &[f32],
        act: &[f32],
        n: usize,
    ) -> PluginResult<Vec<(String, Vec<f32>)>> {
        if obs.len() != n * self.obs_dim || act.len() != n * self.act_dim {
            return Err(format!(
                "value_estimates: {} obs and {} action values are not {n} rows",
                obs.len(),
                act.len()
            ));
        }
        let unit = self.normalise_actions(act);
        let (o, a) = (
            from_rows(obs, n, self.obs_dim, &self.device),
            from_rows(&unit, n, self.act_dim, &self.device),
        );
        let critics = &self.nets.burn().critics;
        let q = to_vec(q(&critics[0], o.clone(), a.clone()).min_pair(q(&critics[1], o, a)));
        let mut out = vec![("q".to_string(), q.clone())];
        if let Some(mut correction) = self.correction.take() {
            let terms = correction.value_terms(obs, &unit, n);
            self.correction = Some(correction);
            for (name, t) in terms? {
                out.push((
                    format!("q+{name}"),
                    q.iter().zip(&t).map(|(a, b)| a + b).collect(),
                ));
            }
        }
        Ok(out)
    }

    fn sample_for_diagnostics(
        &mut self,
        obs: &[f32],
        n: usize,
        seed: u64,
    ) -> PluginResult<acgap_sdk::agent::SoftSample> {
        if obs.len() != n * self.obs_dim {
            return Err(format!(
                "sample_for_diagnostics: {} observation values are not {n} rows",
                obs.len()
            ));
        }
        let eps = normal_vec(&mut ChaCha8Rng::seed_from_u64(seed), n * self.act_dim);
        // On the fused path the host copies answer (as the context's queries do), so that
        // Monte-Carlo rollouts never rebuild or run the burn networks.
        let (a, logp) = match self.host_sample(obs, &eps) {
            Some(sample) => sample,
            None => {
                let (a, logp) = self.sample(
                    &self.nets.burn().actor.net,
                    from_rows(obs, n, self.obs_dim, &self.device),
                    from_vec(eps, n, self.act_dim, &self.device),
                );
                (to_vec(a), to_vec(logp))
            }
        };
        Ok(acgap_sdk::agent::SoftSample {
            actions: self.to_env_units(a),
            log_prob: logp,
            alpha: self.alpha(),
        })
    }

    fn attach(&mut self, correction: Correction) -> PluginResult<()> {
        self.correction = Some(correction.into_sac()?);
        Ok(())
    }
}

/// A correction's term as the actor step applies it.
pub(super) enum ActorTerm {
    None,
    /// `g_b`, summed over the batch through `d a~_b / d theta`.
    ActionGrad(Vec<f32>),
    /// Added to the ascent direction as is.
    Direction(Vec<f32>),
}

impl SacCore {
    /// Env-unit actions to the actor's `[-1, 1]`.
    pub(super) fn normalise_actions(&self, a: &[f32]) -> Vec<f32> {
        a.chunks(self.act_dim)
            .flat_map(|row| {
                row.iter().enumerate().map(|(j, &x)| {
                    2.0 * (x - self.act_low[j]) / (self.act_high[j] - self.act_low[j]) - 1.0
                })
            })
            .collect()
    }
}

impl Core for SacCore {
    fn obs_dim(&self) -> usize {
        self.obs_dim
    }
    fn act_dim(&self) -> usize {
        self.act_dim
    }
    fn device(&self) -> &Device {
        &self.device
    }
    fn actor(&self) -> &Mlp {
        &self.nets.burn().actor.net
    }
    fn critics(&self) -> &[Mlp; 2] {
        &self.nets.burn().critics
    }
    fn info(&self, batch_len: usize) -> ContextInfo {
        ContextInfo {
            obs_dim: self.obs_dim,
            act_dim: self.act_dim,
            batch_len,
            gamma: self.cfg.gamma as f32,
            alpha: self.alpha(),
            actor_params: self.actor_param_count(),
            critic_params: self.nets.shapes().critics[0].param_count(),
            hidden: self.cfg.hidden.clone(),
        }
    }
    fn normalise_actions(&self, a: &[f32]) -> Vec<f32> {
        SacCore::normalise_actions(self, a)
    }
    fn soft_target(&self, actor: &Mlp, t: &BatchTensors, eps_next: Tensor<2>) -> Tensor<2> {
        SacCore::soft_target(self, actor, t, eps_next)
    }
    fn soft_target_at(&self, t: &BatchTensors, next: (Tensor<2>, Tensor<2>)) -> Tensor<2> {
        SacCore::soft_target_at(self, t, next)
    }
    fn actor_objective(
        &self,
        actor: &Mlp,
        t: &BatchTensors,
        eps: Tensor<2>,
    ) -> (Tensor<1>, Tensor<2>, Tensor<2>) {
        SacCore::actor_objective(self, actor, t, eps)
    }
    fn host_sample(&self, obs: &[f32], eps: &[f32]) -> Option<(Vec<f32>, Vec<f32>)> {
        SacCore::host_sample(self, obs, eps)
    }
    fn sample(&self, actor: &Mlp, obs: Tensor<2>, eps: Tensor<2>) -> (Tensor<2>, Tensor<2>) {
        SacCore::sample(self, actor, obs, eps)
    }
    fn host_critics(&self, input: &[f32], rows: usize) -> Option<Vec<f32>> {
        SacCore::host_critics(self, input, rows)
    }
    fn host_soft_target(&self, batch: &Batch<'_>, eps_next: &[f32]) -> Option<HostTarget> {
        SacCore::host_soft_target(self, batch, eps_next)
    }
}
