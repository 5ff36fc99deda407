//! What a run measures besides training: deterministic evaluation episodes (`eval.csv`), the
//! Monte-Carlo gap diagnostics (`gap.csv`) and the exact tabular diagnostics (`tabular.csv`).

use super::failure::{RunFailure, env_fault, io_failure};
use super::trainer::Trainer;
use crate::output::run_dir::RunState;
use indicatif::ProgressBar;

impl Trainer {
    pub(super) fn evaluate(&mut self, progress: &ProgressBar) -> Result<(), RunFailure> {
        let mut returns = Vec::with_capacity(self.spec.eval_episodes);
        self.state.eval_env_before_last_eval = self.eval_env.snapshot();
        for _ in 0..self.spec.eval_episodes {
            let mut obs = self.eval_env.reset();
            if let Some(fault) = self.eval_env.fault() {
                return Err(env_fault(fault, self.state.step));
            }
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
    pub(super) fn gap_diagnostics(&mut self) -> Result<(), RunFailure> {
        // The agent's own discount (ABI 1.1), else the env's where its model defines one.
        let env_gamma = self.slots[0].env.spec().tabular.as_ref().map(|m| m.gamma);
        let Some(gamma) = self.agent.discount().or(env_gamma) else {
            return Err(RunFailure {
                state: RunState::Failed,
                message: format!(
                    "--gap-every needs the agent's discount: `{}` (plugin ABI {}) does not report it (agents report it from ABI 1.1; rebuild the plugin against this SDK, or implement `Agent::discount`)",
                    self.spec.agent, self.spec.plugin_build.abi_version
                ),
            });
        };
        let horizon = if self.spec.gap.horizon == 0 {
            crate::diagnostics::gap::default_horizon(gamma)
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
    pub(super) fn tabular_diagnostics(&mut self) -> Result<(), RunFailure> {
        let Some(mdp) = &self.exact else {
            return Ok(());
        };
        let view = self
            .agent
            .tabular()
            .map_err(|e| self.plugin_failure("tabular", e))?;
        if let Some(view) = view {
            let row = crate::diagnostics::exact::row(mdp, self.state.step, &view).map_err(|e| {
                RunFailure {
                    state: RunState::Failed,
                    message: format!("plugin `{}`: {e}", self.spec.agent),
                }
            })?;
            self.logs.tabular(&row).map_err(io_failure)?;
        }
        Ok(())
    }
}
