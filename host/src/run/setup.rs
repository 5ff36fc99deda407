//! Building a trainer: a fresh run (every stream seeded from the master seed, `run.json`
//! written) or one resumed from its folder's verified checkpoint.

use super::envs::Envs;
use super::slot::Slot;
use super::trainer::Trainer;
use crate::diagnostics::gap::GapState;
use crate::output::folder::Lock;
use crate::output::run_dir::{LogMarks, RunLogs, write_json};
use crate::run::checkpoint::{self, EnvSlot, HostState};
use crate::run::replay::{Minibatch, ReplayBuffer};
use crate::run::spec::RunSpec;
use crate::run::window::Window;
use acgap_envs::{Env, Restored};
use acgap_sdk::seeds;
use acgap_sdk::{Agent, Training};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use std::path::PathBuf;

impl Trainer {
    /// A fresh run: seeds every stream from the master seed.
    pub fn new(
        mut spec: RunSpec,
        dir: PathBuf,
        mut agent: Box<dyn Agent>,
        envs: Envs,
        lock: Lock,
    ) -> Result<Self, String> {
        let Envs {
            train: mut env,
            eval: eval_env,
        } = envs;
        let obs = env.reset();
        if let Some(fault) = env.fault() {
            return Err(fault.to_string());
        }
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
            eval_env_before_last_eval: serde_json::Value::Null,
            log_offsets: Default::default(),
            log_digests: Vec::new(),
            train_columns: None,
            extra_envs: Vec::new(),
            gap: GapState::new(seeds::derive(spec.seed, "gap_diagnostics")),
            next_gap: if spec.gap.every == 0 {
                usize::MAX
            } else {
                spec.gap.every
            },
            inexact_resumes: Vec::new(),
        };
        std::fs::create_dir_all(&dir)
            .map_err(|e| format!("cannot create run directory `{}`: {e}", dir.display()))?;
        spec.kernels = agent.kernels();
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
        envs: Envs,
        lock: Lock,
    ) -> Result<Self, String> {
        let mut ckpt = checkpoint::load(&dir, &checkpoint::spec_digest(&spec))?;
        if spec.steps < ckpt.host.step {
            return Err(format!(
                "the checkpoint is at step {}, past the requested `--steps {}`",
                ckpt.host.step, spec.steps
            ));
        }
        agent
            .load(&ckpt.agent)
            .map_err(|e| format!("cannot restore the agent from the checkpoint: {e}"))?;
        let Envs {
            train: mut env,
            eval: mut eval_env,
        } = envs;
        let step = ckpt.host.step;
        if let Restored::Restarted { obs, why } = env.restore(&ckpt.host.env)? {
            let h = &mut ckpt.host;
            (h.obs, h.episode_return, h.episode_len) = (obs, 0.0, 0);
            h.inexact_resumes
                .push(restarted_note(step, "training env", &why));
        }
        if let Some(note) = kernels_note(step, spec.kernels.as_deref(), agent.kernels()) {
            ckpt.host.inexact_resumes.push(note);
        }
        // Evaluation episodes start with a reset, so a restarted eval env loses nothing.
        eval_env.restore(&ckpt.host.eval_env)?;
        let marks = LogMarks {
            offsets: &ckpt.host.log_offsets,
            digests: &ckpt.host.log_digests,
            step,
        };
        let logs = RunLogs::open(
            &dir,
            Some(marks),
            ckpt.host.train_columns.clone(),
            (spec.gap.every > 0, env.spec().tabular.is_some()),
        )?;
        // Written only once the logs are verified: a refused resume changes nothing.
        if !spec.extended.is_empty() {
            write_json(&dir.join("run.json"), &spec)?;
        }
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
        let first = EnvSlot {
            obs: state.obs.clone(),
            episode_return: state.episode_return,
            episode_len: state.episode_len,
            env: serde_json::Value::Null,
        };
        let mut slots = vec![Slot::new(env, first)];
        for i in 1..num_envs {
            let mut e = acgap_envs::make(&spec.env, seeds::derive(spec.seed, &format!("env/{i}")))
                .map_err(|e| e.to_string())?;
            let saved = match state.extra_envs.get(i - 1) {
                Some(saved) => match e.restore(&saved.env)? {
                    Restored::Restarted { obs, why } => {
                        let note = restarted_note(state.step, &format!("env {i}"), &why);
                        state.inexact_resumes.push(note);
                        EnvSlot::fresh(obs)
                    }
                    _ => saved.clone(),
                },
                None => {
                    let obs = e.reset();
                    if let Some(fault) = e.fault() {
                        return Err(fault.to_string());
                    }
                    EnvSlot::fresh(obs)
                }
            };
            slots.push(Slot::new(e, saved));
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
            slots,
            eval_env,
            replay,
            minibatch: Minibatch::default(),
            state,
            logs,
        })
    }
}

/// The `status.json` line for an env whose episode in progress restarted on resume.
/// The note of a resume whose agent now runs on other CPU kernels than the run started on.
fn kernels_note(step: usize, started: Option<&str>, now: Option<String>) -> Option<String> {
    let started = started?;
    let now = now.unwrap_or_else(|| "unreported kernels".into());
    (now != started).then(|| {
        format!(
            "resumed at step {step} on kernels {now}, started on {started}: the run continues in \
             distribution, not bit for bit (ACGAP_KERNELS={started} resumes it exactly)"
        )
    })
}

fn restarted_note(step: usize, which: &str, why: &str) -> String {
    format!("resumed at step {step}: the {which}'s episode in progress restarted ({why})")
}
