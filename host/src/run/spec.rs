//! The run model: everything that defines one run (`RunSpec`, saved as `run.json`), whether it
//! comes from the command line, a session file or `--resume`: the settings every run shares
//! (`RunSettings`), one plugin entry with its overrides (`Entry`), and how an entry becomes a
//! `RunSpec` (plugin opened, configs merged and checked) and an agent.

use crate::plugins::open_component;
use acgap_sdk::plugin::{ComponentKind, Plugin, merge_config};
use acgap_sdk::seeds;
use acgap_sdk::{AgentInit, CorrectionInit};
use clap::{Args, Parser};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use std::path::PathBuf;

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
    /// The CPU kernels the agent reported when the run started (`gemm+avx2`; the toolkit
    /// chooses them by measuring, docs/performance.md). A resume that finds others continues
    /// in distribution, not bit for bit, and says so in `status.json`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kernels: Option<String>,
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
            kernels: None,
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

/// What every run of a session shares (and a session file's `settings` object holds).
/// The defaults are clap's, so the command line and session files cannot disagree.
#[derive(Args, Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RunSettings {
    /// Environment id (see `host envs`). On the command line it is `TrainArgs::envs` (the
    /// first), which may be repeated; session files have their own `envs`.
    #[arg(skip = String::from("pendulum"))]
    pub env: String,
    /// Total environment steps.
    #[arg(long, default_value_t = 20_000)]
    pub steps: usize,
    /// Compute device handed to the plugin.
    #[arg(long, default_value = "cpu")]
    pub device: String,
    /// Compute threads of one run on the CPU device (the SAC family's fused steps split
    /// over them; the plugin is handed the device `cpu:N`). Sessions keep one thread per run
    /// by default and run several runs side by side with `--jobs` instead.
    #[arg(long, default_value_t = 1)]
    pub threads: usize,
    /// Evaluate every this many env steps (0: only at the end).
    #[arg(long, default_value_t = 1000)]
    pub eval_every: usize,
    /// Episodes per evaluation (deterministic policy, separately seeded env).
    #[arg(long, default_value_t = 10)]
    pub eval_episodes: usize,
    /// Average update metrics over windows of this many env steps.
    #[arg(long, default_value_t = 1000)]
    pub log_every: usize,
    /// Write a checkpoint every this many env steps (0: only at the end).
    #[arg(long, default_value_t = 5000)]
    pub checkpoint_every: usize,
    /// Monte-Carlo gap diagnostics every this many env steps (0: off): the critic's bias
    /// against true soft returns from a fixed set of replay states (see README).
    #[arg(long, default_value_t = 0)]
    pub gap_every: usize,
    /// Number of (state, action) pairs of the gap diagnostics.
    #[arg(long, default_value_t = 10)]
    pub gap_pairs: usize,
    /// Monte-Carlo rollouts per pair.
    #[arg(long, default_value_t = 10)]
    pub gap_rollouts: usize,
    /// Rollout length (0: until gamma^H < 1%).
    #[arg(long, default_value_t = 0)]
    pub gap_horizon: usize,
}

impl RunSettings {
    /// Refuse settings no run can honour, before anything is allocated or written.
    pub fn check(&self) -> Result<(), String> {
        let within = |name: &str, v: usize, lo: usize, hi: usize| {
            if (lo..=hi).contains(&v) {
                Ok(())
            } else {
                Err(format!("`{name}` must be between {lo} and {hi}, got {v}"))
            }
        };
        within("eval_episodes", self.eval_episodes, 1, 100_000)?;
        within("gap_pairs", self.gap_pairs, 1, 100_000)?;
        within("gap_rollouts", self.gap_rollouts, 1, 100_000)?;
        within("steps", self.steps, 1, 1 << 40)?;
        within("threads", self.threads, 1, 1024)?;
        if self.threads > 1 && self.device != "cpu" {
            return Err(format!(
                "`threads` applies to the cpu device; got device `{}`",
                self.device
            ));
        }
        Ok(())
    }

    /// The device name handed to plugins: `cpu:N` for `--threads N > 1`.
    pub fn plugin_device(&self) -> String {
        match self.threads {
            1 => self.device.clone(),
            n => format!("{}:{n}", self.device),
        }
    }
}

impl Default for RunSettings {
    fn default() -> Self {
        #[derive(Parser)]
        struct Defaults {
            #[command(flatten)]
            settings: RunSettings,
        }
        Defaults::parse_from(["host"]).settings
    }
}

/// One plugin of a session with its own overrides.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Entry {
    /// Name in reports and the run folder name (default: the agent's name, `+correction`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub label: Option<String>,
    /// Plugin name or path, `name@agent` for a plugin with several agents.
    pub plugin: String,
    /// Agent config overrides.
    #[serde(default, skip_serializing_if = "Map::is_empty")]
    pub set: Map<String, Value>,
    /// Correction plugin or component name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub correction: Option<String>,
    /// Correction config overrides.
    #[serde(default, skip_serializing_if = "Map::is_empty")]
    pub correction_set: Map<String, Value>,
    /// The plugin as typed on the command line, used to tell apart two entries of one plugin.
    #[serde(skip)]
    pub typed: String,
    /// The `--config` file the agent overrides came from, named in config errors.
    #[serde(skip)]
    pub config_file: Option<std::path::PathBuf>,
}

impl Entry {
    /// `--plugin NAME[:key=value,...]`: the per-plugin overrides. `label`, `correction` and
    /// `correction.KEY` are the entry's; every other key is an agent config key.
    pub fn parse(typed: &str) -> Result<Entry, String> {
        let (plugin, overrides) = match typed.split_once(':') {
            Some((p, rest)) if rest.contains('=') => (p, acgap_envs::split_top_level(rest)),
            _ => (typed, Vec::new()),
        };
        let mut entry = Entry {
            plugin: plugin.to_string(),
            typed: typed.to_string(),
            ..Entry::default()
        };
        let mut seen = std::collections::BTreeSet::new();
        for kv in overrides {
            let (k, v) = kv.split_once('=').ok_or_else(|| {
                format!("`--plugin {typed}`: expected KEY=VALUE after the colon, got `{kv}`")
            })?;
            let k = k.trim();
            if !seen.insert(k.to_string()) {
                return Err(format!("`--plugin {typed}`: `{k}` is given twice"));
            }
            let value = crate::plugins::parse_value(v);
            match (k, k.strip_prefix("correction.")) {
                ("label", _) => entry.label = Some(v.to_string()),
                ("correction", _) => entry.correction = Some(v.to_string()),
                (_, Some(ck)) => {
                    entry.correction_set.insert(ck.to_string(), value);
                }
                _ => {
                    entry.set.insert(k.to_string(), value);
                }
            }
        }
        Ok(entry)
    }
}

/// A component's defaults with `overrides` merged in; unknown keys and wrong types refused.
fn resolve_config(
    plugin: &Plugin,
    kind: ComponentKind,
    name: &str,
    overrides: &serde_json::Map<String, serde_json::Value>,
) -> Result<serde_json::Value, String> {
    let defaults = plugin
        .default_config(kind, name)
        .map_err(|e| e.to_string())?;
    merge_config(name, &defaults, overrides)
}

/// The run spec of one plugin entry at one seed: plugin and correction opened, configs
/// resolved and checked, settings copied. The env is not made here: each run makes its envs
/// once, one per role (`run::envs`), and a session checks each task's once before it starts.
pub fn resolve_entry(entry: &Entry, settings: &RunSettings, seed: u64) -> Result<RunSpec, String> {
    settings.check()?;
    let (plugin, agent) = open_component(&entry.plugin, ComponentKind::Agent)?;
    let agent_config = resolve_config(&plugin, ComponentKind::Agent, &agent, &entry.set).map_err(
        |e| match &entry.config_file {
            Some(f) => format!("{e} (from `--set` or `{}`)", f.display()),
            None => e,
        },
    )?;
    let correction = match &entry.correction {
        None if !entry.correction_set.is_empty() => {
            return Err(format!(
                "plugin `{}`: correction overrides need a correction (`--correction`)",
                entry.plugin
            ));
        }
        None => None,
        Some(c) => {
            let (cplugin, name) = open_component(c, ComponentKind::Correction)?;
            let config = resolve_config(
                &cplugin,
                ComponentKind::Correction,
                &name,
                &entry.correction_set,
            )
            .map_err(|e| format!("correction `{c}`: {e}"))?;
            Some(CorrectionSpec {
                plugin: c.clone(),
                plugin_path: cplugin.path.clone(),
                name,
                config,
            })
        }
    };
    Ok(RunSpec {
        plugin: entry.plugin.clone(),
        plugin_path: plugin.path.clone(),
        agent,
        agent_config,
        correction,
        plugin_build: plugin.info.build.clone(),
        env: settings.env.clone(),
        steps: settings.steps,
        seed,
        device: settings.plugin_device(),
        eval_every: settings.eval_every,
        eval_episodes: settings.eval_episodes,
        log_every: settings.log_every,
        checkpoint_every: settings.checkpoint_every,
        gap: GapSpec {
            every: settings.gap_every,
            pairs: settings.gap_pairs,
            rollouts: settings.gap_rollouts,
            horizon: settings.gap_horizon,
        },
        // Known once the agent is built (`Trainer::new`).
        kernels: None,
        extended: Vec::new(),
    })
}

/// Load the agent (and its correction) described by a run spec.
pub fn build_agent(
    spec: &RunSpec,
    env: &acgap_envs::EnvSpec,
) -> Result<Box<dyn acgap_sdk::Agent>, String> {
    let plugin = Plugin::open(&spec.plugin_path).map_err(|e| e.to_string())?;
    let init = AgentInit {
        config: spec.agent_config.clone(),
        env: env.clone(),
        seed: seeds::derive(spec.seed, "plugin"),
        device: spec.device.clone(),
    };
    let mut agent = plugin
        .new_agent(&spec.agent, &init)
        .map_err(|e| e.to_string())?;
    agent.try_training().map_err(|e| {
        format!(
            "plugin `{}`: agent `{}` cannot say how it trains: {e}",
            spec.plugin, spec.agent
        )
    })?;
    if let Some(c) = &spec.correction {
        let cplugin = Plugin::open(&c.plugin_path).map_err(|e| e.to_string())?;
        let cinit = CorrectionInit {
            config: c.config.clone(),
            env: env.clone(),
            // The agent's own seed: corrections derive their streams from it (see `acgap_sdk::seeds`).
            seed: init.seed,
            device: spec.device.clone(),
        };
        let mut correction = cplugin
            .new_correction(&c.name, &cinit)
            .map_err(|e| e.to_string())?;
        if let acgap_sdk::Training::OffPolicy {
            critic_steps,
            correction_steps: 0,
            ..
        } = acgap_sdk::Agent::training(&agent)
            && correction.trains() == Some(true)
        {
            return Err(format!(
                "correction `{}` trains networks of its own in the schedule's correction steps, \
                 but agent `{}` runs the schedule {critic_steps}-0, which has none: its networks \
                 would never learn. Give it correction steps with `--schedule {critic_steps}-1` \
                 (x-y: x critic steps and y correction steps per actor step)",
                c.name, spec.agent
            ));
        }
        acgap_sdk::Agent::attach(&mut agent, correction)
            .map_err(|e| format!("cannot attach correction `{}`: {e}", c.name))?;
    }
    // The replay buffer the agent asks for, checked before any run folder is written.
    if let acgap_sdk::Training::OffPolicy { buffer_size, .. } = acgap_sdk::Agent::training(&agent) {
        let per_transition = 4.0 * (2 * env.obs_dim() + env.act_dim() + 3) as f64;
        acgap_sdk::memory::check(
            &format!("a replay buffer of {buffer_size} transitions"),
            buffer_size as f64 * per_transition,
        )?;
    }
    Ok(Box::new(agent))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plugin_overrides_split_outside_brackets_and_quotes() {
        let e = Entry::parse(
            r#"sac:schedule=10-0,hidden=[64,64],label=SAC 10,correction=residual,correction.clip=4,note="a,b""#,
        )
        .unwrap();
        assert_eq!(e.plugin, "sac");
        assert_eq!(e.label.as_deref(), Some("SAC 10"));
        assert_eq!(e.correction.as_deref(), Some("residual"));
        assert_eq!(e.correction_set["clip"], serde_json::json!(4));
        assert_eq!(e.set["hidden"], serde_json::json!([64, 64]));
        assert_eq!(e.set["schedule"], serde_json::json!("10-0"));
        assert_eq!(e.set["note"], serde_json::json!("a,b"));
        assert_eq!(
            Entry::parse("path/to/libsac.so").unwrap().plugin,
            "path/to/libsac.so"
        );
        // No `=` after the colon: not overrides (the name then fails to resolve, clearly).
        assert_eq!(Entry::parse("sac:schedule").unwrap().plugin, "sac:schedule");
    }
}
