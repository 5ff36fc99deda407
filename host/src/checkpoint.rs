//! Checkpoints: `checkpoints/latest/` holds the agent's state (`agent.safetensors`),
//! the replay buffer (`replay.bin`) and the host's state (`host.json`: step, RNG
//! streams, env snapshots, episode in progress, log lengths). A new checkpoint is
//! written beside the old one and swapped in by renames, so a kill at any moment
//! leaves a complete checkpoint.

use crate::replay::ReplayBuffer;
use crate::run_dir::{LogOffsets, write_atomic};
use crate::window::Window;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};
use std::path::Path;

/// The host's side of a run at an iteration boundary.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct HostState {
    pub step: usize,
    /// The observation the next env step acts on, and the episode in progress.
    pub obs: Vec<f32>,
    pub episode_return: f64,
    pub episode_len: usize,
    pub replay_rng: ChaCha8Rng,
    pub action_rng: ChaCha8Rng,
    pub window: Window,
    pub next_log: usize,
    pub next_eval: usize,
    pub next_checkpoint: usize,
    pub last_eval: Option<f64>,
    pub last_eval_step: Option<usize>,
    pub updates: u64,
    pub elapsed_secs: f64,
    pub env: serde_json::Value,
    pub eval_env: serde_json::Value,
    pub log_offsets: LogOffsets,
    pub train_columns: Option<Vec<String>>,
    /// Envs 1.. of an on-policy agent with `num_envs > 1` (env 0 is the fields above).
    #[serde(default)]
    pub extra_envs: Vec<EnvSlot>,
    /// Gap-diagnostic pairs (with env snapshots) and their RNG.
    pub gap: crate::gap::GapState,
    pub next_gap: usize,
}

/// One parallel env: its observation, episode in progress and snapshot.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct EnvSlot {
    pub obs: Vec<f32>,
    pub episode_return: f64,
    pub episode_len: usize,
    pub env: serde_json::Value,
}

pub struct Checkpoint {
    pub host: HostState,
    pub agent: Vec<u8>,
    pub replay: ReplayBuffer,
}

pub fn save(
    run_dir: &Path,
    host: &HostState,
    agent: &[u8],
    replay: &ReplayBuffer,
) -> Result<(), String> {
    let root = run_dir.join("checkpoints");
    let (tmp, latest, old) = (
        root.join("incoming"),
        root.join("latest"),
        root.join("previous"),
    );
    let _ = std::fs::remove_dir_all(&tmp);
    std::fs::create_dir_all(&tmp).map_err(|e| format!("cannot create `{}`: {e}", tmp.display()))?;
    write_atomic(&tmp.join("agent.safetensors"), agent)?;
    write_atomic(&tmp.join("replay.bin"), &replay.to_bytes())?;
    let host_json = serde_json::to_vec(host).map_err(|e| e.to_string())?;
    write_atomic(&tmp.join("host.json"), &host_json)?;
    let _ = std::fs::remove_dir_all(&old);
    if latest.exists() {
        std::fs::rename(&latest, &old).map_err(|e| format!("cannot rotate checkpoints: {e}"))?;
    }
    std::fs::rename(&tmp, &latest).map_err(|e| format!("cannot install checkpoint: {e}"))?;
    let _ = std::fs::remove_dir_all(&old);
    Ok(())
}

/// Whether `run_dir` holds a checkpoint `load` can resume from.
pub fn exists(run_dir: &Path) -> bool {
    let root = run_dir.join("checkpoints");
    ["latest", "previous"]
        .iter()
        .any(|d| root.join(d).join("host.json").is_file())
}

pub fn load(run_dir: &Path) -> Result<Checkpoint, String> {
    let root = run_dir.join("checkpoints");
    // `previous` exists only if a kill came between the two renames of `save`.
    let dir = [root.join("latest"), root.join("previous")]
        .into_iter()
        .find(|d| d.join("host.json").is_file())
        .ok_or_else(|| format!("`{}` has no checkpoint to resume from", run_dir.display()))?;
    let read = |name: &str| {
        std::fs::read(dir.join(name))
            .map_err(|e| format!("cannot read `{}`: {e}", dir.join(name).display()))
    };
    let host: HostState = serde_json::from_slice(&read("host.json")?)
        .map_err(|e| format!("checkpoint `host.json` is corrupt: {e}"))?;
    Ok(Checkpoint {
        host,
        agent: read("agent.safetensors")?,
        replay: ReplayBuffer::from_bytes(&read("replay.bin")?)?,
    })
}
