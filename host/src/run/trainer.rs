//! The training loop: env stepping, the "Algo-x-y" update schedule,
//! evaluation, logging and checkpoints for one (plugin, env, seed) run.

use super::failure::{RunFailure, io_failure};
use super::slot::Slot;
use crate::output::folder::Lock;
use crate::output::run_dir::{RunLogs, RunState, Status};
use crate::run::checkpoint::{self, HostState};
use crate::run::replay::{Minibatch, ReplayBuffer};
use crate::run::spec::RunSpec;
use acgap_envs::{Env, Space};
use acgap_sdk::{Agent, Training};
use indicatif::{ProgressBar, ProgressStyle};
use std::path::PathBuf;
use std::time::Instant;

pub struct Trainer {
    pub spec: RunSpec,
    pub dir: PathBuf,
    pub(super) agent: Box<dyn Agent>,
    pub(super) training: Training,
    /// The envs it trains on: the training env, then, for an on-policy agent stepping
    /// `num_envs` envs together, envs 1.. (`slot.rs`).
    pub(super) slots: Vec<Slot>,
    pub(super) eval_env: Box<dyn Env>,
    pub(super) replay: ReplayBuffer,
    pub(super) minibatch: Minibatch,
    pub(super) state: HostState,
    pub(super) logs: RunLogs,
    pub(super) action_space: Space,
    pub(super) obs_dim: usize,
    pub(super) act_dim: usize,
    /// The env's exact model, for `tabular.csv` (tabular envs only).
    pub(super) exact: Option<acgap_exact::Mdp>,
    /// The run folder's lock, held while this trainer may write into it.
    pub(super) _lock: Lock,
    /// The step of the last checkpoint this process wrote.
    pub(super) last_checkpoint: Option<usize>,
}

impl Trainer {
    pub fn step(&self) -> usize {
        self.state.step
    }

    pub fn last_eval(&self) -> Option<f64> {
        self.state.last_eval
    }

    /// Run to `spec.steps`, or until the plugin fails. `status.json` says which.
    pub fn run(&mut self, progress: &ProgressBar) -> Result<(), RunFailure> {
        // The loop looks for a signal after every iteration and checkpoints.
        let _catching = crate::run::interrupt::catching();
        self.set_status(RunState::Running, None);
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
            Ok(()) => self.set_status(RunState::Finished, None),
            Err(f) => self.set_status(f.state, Some(f.message.clone())),
        }
        result
    }

    fn run_inner(&mut self, progress: &ProgressBar) -> Result<(), RunFailure> {
        let clock = Instant::now();
        let elapsed_before = self.state.elapsed_secs;
        while self.state.step < self.spec.steps {
            let window_start = Instant::now();
            match self.training {
                Training::OffPolicy { .. } => self.off_policy_iteration()?,
                Training::OnPolicy {
                    rollout_len,
                    num_envs,
                } => self.on_policy_iteration(rollout_len, num_envs)?,
            }
            self.state.window.busy_secs += window_start.elapsed().as_secs_f64();
            self.state.elapsed_secs = elapsed_before + clock.elapsed().as_secs_f64();
            progress.set_position(self.state.step as u64);
            self.after_iteration(progress)?;
            if let Some(sig) = crate::run::interrupt::requested() {
                self.checkpoint()?;
                return Err(RunFailure {
                    state: RunState::Interrupted,
                    message: format!(
                        "interrupted by {} at step {}; the checkpoint is complete: continue with `host --resume {}`",
                        crate::run::interrupt::name(sig),
                        self.state.step,
                        // Absolute: status.json is read from other folders than this one.
                        std::path::absolute(&self.dir)
                            .unwrap_or_else(|_| self.dir.clone())
                            .display()
                    ),
                });
            }
        }
        if self.state.last_eval_step != Some(self.state.step) {
            // The final evaluation, off the eval grid: the eval env's stream is put back as
            // it was, so a run extended from here (`--resume --steps N`) evaluates exactly as
            // one that never stopped here.
            // (`evaluate` keeps the eval env as it was before it, for `host eval`.)
            self.evaluate(progress)?;
            let before = &self.state.eval_env_before_last_eval;
            self.eval_env.restore(before).map_err(|e| RunFailure {
                state: RunState::Failed,
                message: format!(
                    "cannot restore the evaluation env after the final evaluation: {e}"
                ),
            })?;
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
            self.set_status(RunState::Running, None);
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

    /// A plugin's error as the run's failure: `diverged` when the plugin says so.
    pub(super) fn plugin_failure(&self, what: &str, message: String) -> RunFailure {
        let state = match acgap_sdk::result::error_kind(&message) {
            acgap_sdk::result::ErrorKind::Diverged => RunState::Diverged,
            acgap_sdk::result::ErrorKind::Failed => RunState::Failed,
        };
        RunFailure {
            state,
            message: format!(
                "plugin `{}` failed in {what} at step {}: {message}",
                self.spec.agent, self.state.step
            ),
        }
    }

    fn checkpoint(&mut self) -> Result<(), RunFailure> {
        let agent = self
            .agent
            .save()
            .map_err(|e| self.plugin_failure("save", e))?;
        // Slot 0 in the fields of earlier versions' checkpoints, the others in `extra_envs`.
        let first = self.slots[0].saved();
        (self.state.obs, self.state.episode_return) = (first.obs, first.episode_return);
        (self.state.episode_len, self.state.env) = (first.episode_len, first.env);
        self.state.extra_envs = self.slots[1..].iter().map(Slot::saved).collect();
        self.state.eval_env = self.eval_env.snapshot();
        self.state.log_offsets = self.logs.offsets().map_err(io_failure)?;
        self.state.log_digests = self.logs.digests();
        self.state.train_columns = self.logs.train_columns.clone();
        let digest = checkpoint::spec_digest(&self.spec);
        checkpoint::save(&self.dir, &digest, &self.state, &agent, &self.replay)
            .map_err(io_failure)?;
        self.last_checkpoint = Some(self.state.step);
        Ok(())
    }

    fn set_status(&self, state: RunState, message: Option<String>) {
        let status = Status {
            state,
            step: self.state.step,
            message,
            peak_rss_mib: crate::output::run_dir::peak_rss_mib(),
            elapsed_secs: Some(self.state.elapsed_secs),
            updates: Some(self.state.updates),
            iterations: Some(self.state.iterations),
            inexact_resumes: self.state.inexact_resumes.clone(),
        };
        // A status that cannot be written must not hide the run's own outcome.
        let _ = crate::output::run_dir::write_status(&self.dir, &status);
    }
}
