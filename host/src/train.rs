//! The training loop: env stepping, the "Algo-x-y" update schedule,
//! evaluation, logging and checkpoints for one (plugin, env, seed) run.

use crate::checkpoint::{self, HostState};
use crate::folder::Lock;
use crate::gap::GapState;
use crate::replay::{Minibatch, ReplayBuffer};
use crate::run_dir::{RunLogs, Status, write_json};
use crate::window::Window;
use acgap_envs::{Env, Space};
use acgap_sdk::seeds;
use acgap_sdk::{Agent, BatchKind, Training, UpdateStep};
use indicatif::{ProgressBar, ProgressStyle};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};
use std::path::PathBuf;
use std::time::Instant;

/// Everything that defines a run; saved as `run.json` and reused by `--resume`.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct RunSpec {
    pub plugin: String,
    pub plugin_path: PathBuf,
    pub agent: String,
    pub agent_config: serde_json::Value,
    pub correction: Option<CorrectionSpec>,
    pub plugin_build: acgap_sdk::plugin::BuildInfo,
    pub env: String,
    pub steps: usize,
    pub seed: u64,
    pub device: String,
    pub eval_every: usize,
    pub eval_episodes: usize,
    pub log_every: usize,
    pub checkpoint_every: usize,
    #[serde(default)]
    pub gap: GapSpec,
    /// Each `--resume --steps N` that changed the budget, in order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub extended: Vec<Extension>,
}

/// A change of a run's budget on resume.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Extension {
    pub from_steps: usize,
    pub to_steps: usize,
}

/// Settings of the Monte-Carlo gap diagnostics (`every = 0`: off).
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct GapSpec {
    pub every: usize,
    pub pairs: usize,
    pub rollouts: usize,
    pub horizon: usize,
}

#[cfg(test)]
impl RunSpec {
    /// A spec with placeholder plugin fields, for unit tests of code that only reads names.
    pub fn for_tests(agent: &str) -> Self {
        Self {
            plugin: agent.into(),
            plugin_path: PathBuf::new(),
            agent: agent.into(),
            agent_config: serde_json::Value::Null,
            correction: None,
            plugin_build: acgap_sdk::plugin::BuildInfo::default(),
            env: "pendulum".into(),
            steps: 0,
            seed: 0,
            device: "cpu".into(),
            eval_every: 0,
            eval_episodes: 1,
            log_every: 1,
            checkpoint_every: 0,
            gap: GapSpec::default(),
            extended: Vec::new(),
        }
    }
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct CorrectionSpec {
    pub plugin: String,
    pub plugin_path: PathBuf,
    pub name: String,
    pub config: serde_json::Value,
}

/// How a run ended early.
#[derive(Debug)]
pub struct RunFailure {
    pub state: &'static str,
    pub message: String,
}

pub struct Trainer {
    pub spec: RunSpec,
    pub dir: PathBuf,
    agent: Box<dyn Agent>,
    training: Training,
    env: Box<dyn Env>,
    /// Envs 1.. of an on-policy agent stepping `num_envs` envs together.
    extra_envs: Vec<Box<dyn Env>>,
    eval_env: Box<dyn Env>,
    replay: ReplayBuffer,
    minibatch: Minibatch,
    state: HostState,
    logs: RunLogs,
    action_space: Space,
    obs_dim: usize,
    act_dim: usize,
    /// The env's exact model, for `tabular.csv` (tabular envs only).
    exact: Option<acgap_exact::Mdp>,
    /// The run folder's lock, held while this trainer may write into it.
    _lock: Lock,
    /// The step of the last checkpoint this process wrote.
    last_checkpoint: Option<usize>,
}

impl Trainer {
    /// A fresh run: seeds every stream from the master seed.
    pub fn new(
        spec: RunSpec,
        dir: PathBuf,
        agent: Box<dyn Agent>,
        lock: Lock,
    ) -> Result<Self, String> {
        let mut env = acgap_envs::make(&spec.env, seeds::derive(spec.seed, "env"))
            .map_err(|e| e.to_string())?;
        let eval_env = acgap_envs::make(&spec.env, seeds::derive(spec.seed, "eval_env"))
            .map_err(|e| e.to_string())?;
        let obs = env.reset();
        let state = HostState {
            step: 0,
            obs,
            episode_return: 0.0,
            episode_len: 0,
            replay_rng: ChaCha8Rng::seed_from_u64(seeds::derive(spec.seed, "replay")),
            action_rng: ChaCha8Rng::seed_from_u64(seeds::derive(spec.seed, "warmup_actions")),
            window: Window::default(),
            next_log: spec.log_every.max(1),
            next_eval: if spec.eval_every == 0 {
                usize::MAX
            } else {
                spec.eval_every
            },
            next_checkpoint: if spec.checkpoint_every == 0 {
                usize::MAX
            } else {
                spec.checkpoint_every
            },
            last_eval: None,
            last_eval_step: None,
            updates: 0,
            iterations: 0,
            elapsed_secs: 0.0,
            env: serde_json::Value::Null,
            eval_env: serde_json::Value::Null,
            log_offsets: Default::default(),
            train_columns: None,
            extra_envs: Vec::new(),
            gap: GapState::new(seeds::derive(spec.seed, "gap_diagnostics")),
            next_gap: if spec.gap.every == 0 {
                usize::MAX
            } else {
                spec.gap.every
            },
        };
        std::fs::create_dir_all(&dir)
            .map_err(|e| format!("cannot create run directory `{}`: {e}", dir.display()))?;
        write_json(&dir.join("run.json"), &spec)?;
        let wanted = (spec.gap.every > 0, env.spec().tabular.is_some());
        let logs = RunLogs::open(&dir, None, None, wanted)?;
        Self::assemble(spec, dir, agent, env, eval_env, state, logs, None, lock)
    }

    /// Continue from the checkpoint in `dir` (the agent has been built from `run.json`).
    pub fn resume(
        spec: RunSpec,
        dir: PathBuf,
        mut agent: Box<dyn Agent>,
        lock: Lock,
    ) -> Result<Self, String> {
        let ckpt = checkpoint::load(&dir, &checkpoint::spec_digest(&spec))?;
        if spec.steps < ckpt.host.step {
            return Err(format!(
                "the checkpoint is at step {}, past the requested `--steps {}`",
                ckpt.host.step, spec.steps
            ));
        }
        if !spec.extended.is_empty() {
            write_json(&dir.join("run.json"), &spec)?;
        }
        agent
            .load(&ckpt.agent)
            .map_err(|e| format!("cannot restore the agent from the checkpoint: {e}"))?;
        let mut env = acgap_envs::make(&spec.env, 0).map_err(|e| e.to_string())?;
        let mut eval_env = acgap_envs::make(&spec.env, 0).map_err(|e| e.to_string())?;
        env.restore(&ckpt.host.env)?;
        eval_env.restore(&ckpt.host.eval_env)?;
        let logs = RunLogs::open(
            &dir,
            Some(&ckpt.host.log_offsets),
            ckpt.host.train_columns.clone(),
            (spec.gap.every > 0, env.spec().tabular.is_some()),
        )?;
        Self::assemble(
            spec,
            dir,
            agent,
            env,
            eval_env,
            ckpt.host,
            logs,
            Some(ckpt.replay),
            lock,
        )
    }

    #[allow(clippy::too_many_arguments)]
    fn assemble(
        spec: RunSpec,
        dir: PathBuf,
        agent: Box<dyn Agent>,
        env: Box<dyn Env>,
        eval_env: Box<dyn Env>,
        mut state: HostState,
        logs: RunLogs,
        replay: Option<ReplayBuffer>,
        lock: Lock,
    ) -> Result<Self, String> {
        let env_spec = env.spec().clone();
        let training = agent.training();
        let capacity = match &training {
            Training::OffPolicy { buffer_size, .. } => *buffer_size,
            Training::OnPolicy {
                rollout_len,
                num_envs,
            } if *rollout_len > 0 && *num_envs > 0 && rollout_len.is_multiple_of(*num_envs) => {
                *rollout_len
            }
            Training::OnPolicy { .. } => {
                return Err("the plugin reported an invalid training schedule".into());
            }
        };
        let replay = replay
            .unwrap_or_else(|| ReplayBuffer::new(capacity, env_spec.obs_dim(), env_spec.act_dim()));
        // Envs 1.. for vectorised on-policy rollouts: fresh, or restored from the checkpoint.
        let num_envs = match &training {
            Training::OnPolicy { num_envs, .. } => *num_envs,
            Training::OffPolicy { .. } => 1,
        };
        let mut extra_envs = Vec::new();
        for i in 1..num_envs {
            let mut e = acgap_envs::make(&spec.env, seeds::derive(spec.seed, &format!("env/{i}")))
                .map_err(|e| e.to_string())?;
            match state.extra_envs.get(i - 1) {
                Some(slot) => e.restore(&slot.env)?,
                None => {
                    let obs = e.reset();
                    state.extra_envs.push(crate::checkpoint::EnvSlot {
                        obs,
                        episode_return: 0.0,
                        episode_len: 0,
                        env: serde_json::Value::Null,
                    });
                }
            }
            extra_envs.push(e);
        }
        if let Some(m) = &env_spec.tabular {
            // Dense transition matrix, the LU factors of two |S| x |S| systems, per evaluation.
            let (s, a) = (m.states as f64, m.actions as f64);
            acgap_sdk::memory::check(
                &format!(
                    "exact evaluation of `{}` ({} states)",
                    env_spec.id, m.states
                ),
                8.0 * (s * a * s + 4.0 * s * s),
            )?;
        }
        let exact = env_spec
            .tabular
            .as_ref()
            .map(acgap_exact::Mdp::new)
            .transpose()?;
        Ok(Self {
            _lock: lock,
            last_checkpoint: None,
            exact,
            obs_dim: env_spec.obs_dim(),
            act_dim: env_spec.act_dim(),
            action_space: env_spec.action,
            spec,
            dir,
            agent,
            training,
            env,
            extra_envs,
            eval_env,
            replay,
            minibatch: Minibatch::default(),
            state,
            logs,
        })
    }

    pub fn step(&self) -> usize {
        self.state.step
    }

    pub fn last_eval(&self) -> Option<f64> {
        self.state.last_eval
    }

    /// Run to `spec.steps`, or until the plugin fails. `status.json` says which.
    pub fn run(&mut self, progress: &ProgressBar) -> Result<(), RunFailure> {
        self.set_status("running", None);
        progress.set_style(
            ProgressStyle::with_template(
                "{prefix}{bar:30} {pos}/{len} steps  {per_sec}  eval {msg}  ETA {eta}",
            )
            .expect("valid template"),
        );
        progress.set_length(self.spec.steps as u64);
        progress.set_position(self.state.step as u64);
        let result = self.run_inner(progress);
        match &result {
            Ok(()) => self.set_status("finished", None),
            Err(f) => self.set_status(f.state, Some(f.message.clone())),
        }
        result
    }

    fn run_inner(&mut self, progress: &ProgressBar) -> Result<(), RunFailure> {
        let clock = Instant::now();
        let elapsed_before = self.state.elapsed_secs;
        while self.state.step < self.spec.steps {
            let window_start = Instant::now();
            match self.training.clone() {
                Training::OffPolicy {
                    batch_size,
                    learning_starts,
                    env_steps_per_iter,
                    critic_steps,
                    correction_steps,
                    actor_steps,
                    ..
                } => {
                    for _ in 0..env_steps_per_iter {
                        if self.state.step >= self.spec.steps {
                            break;
                        }
                        let warmup = self.state.step < learning_starts;
                        self.env_step(warmup)?;
                    }
                    if self.state.step >= learning_starts && self.replay.len() >= batch_size {
                        let schedule = [
                            (UpdateStep::Critic, critic_steps),
                            (UpdateStep::Correction, correction_steps),
                            (UpdateStep::Actor, actor_steps),
                        ];
                        for (kind, count) in schedule {
                            for _ in 0..count {
                                self.replay.sample(
                                    batch_size,
                                    &mut self.state.replay_rng,
                                    &mut self.minibatch,
                                );
                                let metrics = self
                                    .agent
                                    .update(&self.minibatch.view(), kind)
                                    .map_err(|e| self.plugin_failure("update", e))?;
                                self.state.window.add(&metrics);
                                self.state.updates += 1;
                            }
                        }
                        self.state.iterations += 1;
                    }
                }
                Training::OnPolicy {
                    rollout_len,
                    num_envs,
                } => {
                    self.vector_rollout(rollout_len / num_envs, num_envs)?;
                    let batch = self.replay.in_order(BatchKind::Rollout);
                    let metrics = self
                        .agent
                        .update(&batch, UpdateStep::Rollout)
                        .map_err(|e| self.plugin_failure("update", e))?;
                    self.state.window.add(&metrics);
                    self.state.updates += 1;
                    self.state.iterations += 1;
                    self.tabular_diagnostics()?;
                }
            }
            self.state.window.busy_secs += window_start.elapsed().as_secs_f64();
            self.state.elapsed_secs = elapsed_before + clock.elapsed().as_secs_f64();
            progress.set_position(self.state.step as u64);
            self.after_iteration(progress)?;
            if let Some(sig) = crate::interrupt::requested() {
                self.checkpoint()?;
                return Err(RunFailure {
                    state: "interrupted",
                    message: format!(
                        "interrupted by {} at step {}; the checkpoint is complete: continue with `host --resume {}`",
                        crate::interrupt::name(sig),
                        self.state.step,
                        self.dir.display()
                    ),
                });
            }
        }
        if self.state.last_eval_step != Some(self.state.step) {
            self.evaluate(progress)?;
        }
        // The final checkpoint, unless the cadence just wrote it (a second one at the same step
        // would rotate the one before it out of `previous/`).
        if self.last_checkpoint != Some(self.state.step) {
            self.checkpoint()?;
        }
        Ok(())
    }

    /// Logging, evaluation and checkpoints at iteration boundaries (where the state is
    /// complete, so a checkpoint resumes exactly).
    fn after_iteration(&mut self, progress: &ProgressBar) -> Result<(), RunFailure> {
        let step = self.state.step;
        if step >= self.state.next_log {
            // Windows before learning starts have nothing to report (and would fix
            // train.csv's columns too early).
            if !self.state.window.is_empty() {
                let metrics = self.state.window.drain(self.state.updates);
                self.logs.train_window(step, &metrics).map_err(io_failure)?;
            }
            // status.json follows the run: its step and time at every log window.
            self.set_status("running", None);
            while self.state.next_log <= step {
                self.state.next_log += self.spec.log_every.max(1);
            }
        }
        if step >= self.state.next_eval {
            self.evaluate(progress)?;
            while self.state.next_eval <= step {
                self.state.next_eval += self.spec.eval_every;
            }
        }
        if step >= self.state.next_gap {
            self.gap_diagnostics()?;
            while self.state.next_gap <= step {
                self.state.next_gap += self.spec.gap.every;
            }
        }
        if step >= self.state.next_checkpoint {
            self.checkpoint()?;
            while self.state.next_checkpoint <= step {
                self.state.next_checkpoint += self.spec.checkpoint_every;
            }
        }
        Ok(())
    }

    /// One env step of an off-policy agent (random actions while warming up).
    fn env_step(&mut self, random: bool) -> Result<(), RunFailure> {
        let action = if random {
            self.random_action()
        } else {
            let a = self
                .agent
                .act(&self.state.obs, 1, false)
                .map_err(|e| self.plugin_failure("act", e))?;
            self.check_action(&a)?;
            a
        };
        // The replay buffer is moved out for the step: `step_env` borrows the trainer.
        let mut replay = std::mem::replace(&mut self.replay, ReplayBuffer::new(0, 0, 0));
        let ended = self.step_env(0, &action, &mut replay);
        self.replay = replay;
        // Off-policy agents are scored at episode ends (on-policy ones after each update).
        if ended? {
            self.tabular_diagnostics()?;
        }
        Ok(())
    }

    /// One on-policy rollout from `num_envs` envs (one or more), `per_env` steps each (fewer at
    /// the end of the run), acting on all envs in one call; the batch is env-major.
    fn vector_rollout(&mut self, per_env: usize, num_envs: usize) -> Result<(), RunFailure> {
        let left = self.spec.steps - self.state.step;
        let per_env = per_env.min(left.div_ceil(num_envs));
        let (od, ad) = (self.obs_dim, self.act_dim);
        let mut segments: Vec<ReplayBuffer> = (0..num_envs)
            .map(|_| ReplayBuffer::new(per_env, od, ad))
            .collect();
        for _ in 0..per_env {
            let obs: Vec<f32> = std::iter::once(&self.state.obs)
                .chain(self.state.extra_envs.iter().map(|s| &s.obs))
                .flatten()
                .copied()
                .collect();
            let actions = self
                .agent
                .act(&obs, num_envs, false)
                .map_err(|e| self.plugin_failure("act", e))?;
            if actions.len() != num_envs * ad {
                return Err(RunFailure {
                    state: "failed",
                    message: format!(
                        "the plugin returned {} action values for {num_envs} envs of action dimension {ad}",
                        actions.len()
                    ),
                });
            }
            for (e, segment) in segments.iter_mut().enumerate() {
                let a = &actions[e * ad..(e + 1) * ad];
                self.check_action(a)?;
                self.step_env(e, a, segment)?;
            }
        }
        self.replay = ReplayBuffer::new(per_env * num_envs, od, ad);
        for segment in &segments {
            self.replay.append(segment);
        }
        Ok(())
    }

    /// Step env `e` (env 0 or one of `extra_envs`), record the transition in `into`, and keep
    /// its episode bookkeeping; returns whether its episode ended.
    fn step_env(
        &mut self,
        e: usize,
        action: &[f32],
        into: &mut ReplayBuffer,
    ) -> Result<bool, RunFailure> {
        if e == 0 && self.spec.gap.every > 0 {
            self.state.gap.offer(
                self.spec.gap.pairs,
                self.env.as_ref(),
                &self.state.obs,
                action,
            );
        }
        let (env, slot_obs, ret, len) = match e {
            0 => (
                &mut self.env,
                &mut self.state.obs,
                &mut self.state.episode_return,
                &mut self.state.episode_len,
            ),
            i => {
                let s = &mut self.state.extra_envs[i - 1];
                (
                    &mut self.extra_envs[i - 1],
                    &mut s.obs,
                    &mut s.episode_return,
                    &mut s.episode_len,
                )
            }
        };
        let s = env.step(action);
        if let Some(why) = env.fault() {
            return Err(env_fault(why, self.state.step));
        }
        into.push(
            slot_obs,
            action,
            s.reward as f32,
            &s.obs,
            s.terminated,
            s.truncated,
        );
        *ret += s.reward;
        *len += 1;
        let finished = (s.terminated || s.truncated).then_some((*ret, *len));
        if finished.is_some() {
            *slot_obs = env.reset();
            *ret = 0.0;
            *len = 0;
        } else {
            *slot_obs = s.obs;
        }
        self.state.step += 1;
        if let Some((r, l)) = finished {
            self.logs
                .episode(self.state.step, r, l)
                .map_err(io_failure)?;
        }
        Ok(finished.is_some())
    }

    fn random_action(&mut self) -> Vec<f32> {
        let rng = &mut self.state.action_rng;
        match &self.action_space {
            Space::Box { low, high } => low
                .iter()
                .zip(high)
                .map(|(l, h)| rng.random_range(*l..=*h))
                .collect(),
            Space::Discrete { n } => vec![rng.random_range(0..*n) as f32],
        }
    }

    /// A plugin's action must have the env's dimension, be finite, and for discrete
    /// spaces be a valid index.
    fn check_action(&self, a: &[f32]) -> Result<(), RunFailure> {
        let step = self.state.step;
        if a.len() != self.act_dim {
            return Err(RunFailure {
                state: "failed",
                message: format!(
                    "the plugin returned an action of dimension {} at step {step}; `{}` expects {}",
                    a.len(),
                    self.spec.env,
                    self.act_dim
                ),
            });
        }
        if let Some(x) = a.iter().find(|x| !x.is_finite()) {
            return Err(RunFailure {
                state: "diverged",
                message: format!(
                    "diverged: the plugin returned a non-finite action ({x}) at step {step}"
                ),
            });
        }
        if let Space::Discrete { n } = self.action_space
            && (a[0] < 0.0 || a[0] >= n as f32 || a[0].fract() != 0.0)
        {
            return Err(RunFailure {
                state: "failed",
                message: format!(
                    "the plugin returned action {} at step {step}; `{}` has actions 0..{}",
                    a[0], self.spec.env, n
                ),
            });
        }
        Ok(())
    }

    fn plugin_failure(&self, what: &str, message: String) -> RunFailure {
        let state = if message.starts_with("diverged") {
            "diverged"
        } else {
            "failed"
        };
        RunFailure {
            state,
            message: format!(
                "plugin `{}` failed in {what} at step {}: {message}",
                self.spec.agent, self.state.step
            ),
        }
    }

    fn evaluate(&mut self, progress: &ProgressBar) -> Result<(), RunFailure> {
        let mut returns = Vec::with_capacity(self.spec.eval_episodes);
        for _ in 0..self.spec.eval_episodes {
            let mut obs = self.eval_env.reset();
            let mut ret = 0.0;
            loop {
                let a = self
                    .agent
                    .act(&obs, 1, true)
                    .map_err(|e| self.plugin_failure("act (evaluation)", e))?;
                self.check_action(&a)?;
                let s = self.eval_env.step(&a);
                if let Some(why) = self.eval_env.fault() {
                    return Err(env_fault(why, self.state.step));
                }
                ret += s.reward;
                if s.terminated || s.truncated {
                    break;
                }
                obs = s.obs;
            }
            returns.push(ret);
        }
        self.logs
            .eval(self.state.step, &returns)
            .map_err(io_failure)?;
        let mean = returns.iter().sum::<f64>() / returns.len().max(1) as f64;
        self.state.last_eval = Some(mean);
        self.state.last_eval_step = Some(self.state.step);
        progress.set_message(format!("{mean:.1}"));
        Ok(())
    }

    /// Monte-Carlo soft returns against the agent's value estimates (`gap.csv`).
    fn gap_diagnostics(&mut self) -> Result<(), RunFailure> {
        // The agent's own discount (ABI 1.1), else the env's where its model defines one.
        let env_gamma = self.env.spec().tabular.as_ref().map(|m| m.gamma);
        let Some(gamma) = self.agent.discount().or(env_gamma) else {
            return Err(RunFailure {
                state: "failed",
                message: format!(
                    "--gap-every needs the agent's discount: `{}` (plugin ABI {}) does not report it (agents report it from ABI 1.1; rebuild the plugin against this SDK, or implement `Agent::discount`)",
                    self.spec.agent, self.spec.plugin_build.abi_version
                ),
            });
        };
        let horizon = if self.spec.gap.horizon == 0 {
            crate::gap::default_horizon(gamma)
        } else {
            self.spec.gap.horizon
        };
        let rows = self
            .state
            .gap
            .measure(
                self.agent.as_mut(),
                self.eval_env.as_ref(),
                self.spec.gap.rollouts.max(1),
                horizon,
                gamma,
            )
            .map_err(|e| self.plugin_failure("gap diagnostics", e))?;
        for row in rows {
            self.logs.gap(self.state.step, &row).map_err(io_failure)?;
        }
        Ok(())
    }

    /// Score the plugin's tables against the exact model (tabular envs; agents without
    /// tables are skipped).
    fn tabular_diagnostics(&mut self) -> Result<(), RunFailure> {
        let Some(mdp) = &self.exact else {
            return Ok(());
        };
        let view = self
            .agent
            .tabular()
            .map_err(|e| self.plugin_failure("tabular", e))?;
        if let Some(view) = view {
            let row = crate::tabular::row(mdp, self.state.step, &view).map_err(|e| RunFailure {
                state: "failed",
                message: format!("plugin `{}`: {e}", self.spec.agent),
            })?;
            self.logs.tabular(&row).map_err(io_failure)?;
        }
        Ok(())
    }

    fn checkpoint(&mut self) -> Result<(), RunFailure> {
        let agent = self
            .agent
            .save()
            .map_err(|e| self.plugin_failure("save", e))?;
        self.state.env = self.env.snapshot();
        for (slot, e) in self.state.extra_envs.iter_mut().zip(&self.extra_envs) {
            slot.env = e.snapshot();
        }
        self.state.eval_env = self.eval_env.snapshot();
        self.state.log_offsets = self.logs.offsets().map_err(io_failure)?;
        self.state.train_columns = self.logs.train_columns.clone();
        let digest = checkpoint::spec_digest(&self.spec);
        checkpoint::save(&self.dir, &digest, &self.state, &agent, &self.replay)
            .map_err(io_failure)?;
        self.last_checkpoint = Some(self.state.step);
        Ok(())
    }

    fn set_status(&self, state: &str, message: Option<String>) {
        let status = Status {
            state: state.into(),
            step: self.state.step,
            message,
            peak_rss_mib: crate::run_dir::peak_rss_mib(),
            elapsed_secs: Some(self.state.elapsed_secs),
            updates: Some(self.state.updates),
            iterations: Some(self.state.iterations),
        };
        // A status that cannot be written must not hide the run's own outcome.
        let _ = crate::run_dir::write_status(&self.dir, &status);
    }
}

/// The simulator could not continue (MuJoCo's physics blew up): the run diverged.
fn env_fault(why: String, step: usize) -> RunFailure {
    RunFailure {
        state: "diverged",
        message: format!("diverged: {why} at step {step}"),
    }
}

fn io_failure(message: String) -> RunFailure {
    RunFailure {
        state: "failed",
        message,
    }
}
