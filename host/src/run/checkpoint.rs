//! Checkpoints: `checkpoints/latest/` holds the agent's state (`agent.safetensors`),
//! the replay buffer (`replay.bin`), the host's state (`host.json`: step, RNG
//! streams, env snapshots, episode in progress, log lengths) and `manifest.json`: each
//! file's length and SHA-256, and the digest of the run's defining config (`run.json`
//! without the step budget and plugin paths). A new checkpoint is written beside the old
//! one and swapped in by renames, so a kill at any moment leaves a complete checkpoint; the
//! one before it stays as `previous/`, where a resume falls back (with a warning) when the
//! latest one fails verification.

use crate::output::run_dir::{LogOffsets, write_atomic};
use crate::run::replay::ReplayBuffer;
use crate::run::spec::RunSpec;
use crate::run::window::Window;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
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
    /// Agent update calls (a SAC iteration makes `x + y + 1` of them).
    pub updates: u64,
    /// Training iterations: one per off-policy schedule (critic, correction and actor steps)
    /// or on-policy rollout update. What the speed of a run is counted in.
    #[serde(default)]
    pub iterations: u64,
    pub elapsed_secs: f64,
    pub env: serde_json::Value,
    pub eval_env: serde_json::Value,
    /// The eval env as it was just before the latest evaluation: `host eval` restores it to
    /// repeat that evaluation exactly (null in checkpoints written before it was recorded).
    #[serde(default)]
    pub eval_env_before_last_eval: serde_json::Value,
    pub log_offsets: LogOffsets,
    /// SHA-256 of each log's first `log_offsets` bytes (empty in checkpoints written before
    /// digests were recorded, whose logs are checked by length only).
    #[serde(default)]
    pub log_digests: Vec<String>,
    pub train_columns: Option<Vec<String>>,
    /// Envs 1.. of an on-policy agent with `num_envs > 1` (env 0 is the fields above).
    #[serde(default)]
    pub extra_envs: Vec<EnvSlot>,
    /// Gap-diagnostic pairs (with env snapshots) and their RNG.
    pub gap: crate::diagnostics::gap::GapState,
    pub next_gap: usize,
    /// Resumes that could not restore an env exactly (its episode in progress restarted),
    /// each with its step and why; copied into `status.json`.
    #[serde(default)]
    pub inexact_resumes: Vec<String>,
}

/// One parallel env: its observation, episode in progress and snapshot.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct EnvSlot {
    pub obs: Vec<f32>,
    pub episode_return: f64,
    pub episode_len: usize,
    pub env: serde_json::Value,
}

impl EnvSlot {
    /// An episode starting at `obs` (the snapshot is taken at the next checkpoint).
    pub fn fresh(obs: Vec<f32>) -> EnvSlot {
        EnvSlot {
            obs,
            episode_return: 0.0,
            episode_len: 0,
            env: serde_json::Value::Null,
        }
    }
}

pub struct Checkpoint {
    pub host: HostState,
    pub agent: Vec<u8>,
    pub replay: ReplayBuffer,
}

/// `manifest.json`: what a checkpoint must contain to be resumed.
#[derive(Debug, Serialize, Deserialize)]
struct Manifest {
    /// Digest of the defining config the checkpoint was written for (see [`spec_digest`]).
    run_spec: String,
    /// File name -> (length, SHA-256).
    files: BTreeMap<String, (u64, String)>,
}

const FILES: [&str; 3] = ["agent.safetensors", "replay.bin", "host.json"];

fn sha256(bytes: &[u8]) -> String {
    format!("{:x}", Sha256::digest(bytes))
}

/// The digest of what defines a run: its `run.json` without the fields a resume may change
/// or that name where files are (`steps`, plugin paths and build info, the extension log), or
/// that describe the machine it ran on (the CPU kernels).
pub fn spec_digest(spec: &RunSpec) -> String {
    let mut v = serde_json::to_value(spec).expect("a run spec serialises");
    if let Some(m) = v.as_object_mut() {
        for k in [
            "steps",
            "plugin_path",
            "plugin_build",
            "extended",
            "kernels",
        ] {
            m.remove(k);
        }
        if let Some(c) = m.get_mut("correction").and_then(|c| c.as_object_mut()) {
            c.remove("plugin_path");
        }
    }
    sha256(v.to_string().as_bytes())
}

fn write_files(
    dir: &Path,
    digest: &str,
    host: &HostState,
    agent: &[u8],
    replay: &ReplayBuffer,
) -> Result<(), String> {
    let host_json = serde_json::to_vec(host).map_err(|e| e.to_string())?;
    let replay = replay.to_bytes();
    let mut files = BTreeMap::new();
    for (name, bytes) in FILES.iter().zip([agent, &replay[..], &host_json[..]]) {
        write_atomic(&dir.join(name), bytes)?;
        files.insert(name.to_string(), (bytes.len() as u64, sha256(bytes)));
    }
    let manifest = Manifest {
        run_spec: digest.to_string(),
        files,
    };
    let text = serde_json::to_vec_pretty(&manifest).map_err(|e| e.to_string())?;
    write_atomic(&dir.join("manifest.json"), &text)
}

pub fn save(
    run_dir: &Path,
    digest: &str,
    host: &HostState,
    agent: &[u8],
    replay: &ReplayBuffer,
) -> Result<(), String> {
    let root = run_dir.join("checkpoints");
    let (tmp, latest, previous) = (
        root.join("incoming"),
        root.join("latest"),
        root.join("previous"),
    );
    let _ = std::fs::remove_dir_all(&tmp);
    std::fs::create_dir_all(&tmp).map_err(|e| format!("cannot create `{}`: {e}", tmp.display()))?;
    let written = write_files(&tmp, digest, host, agent, replay);
    if written.is_err() {
        // A full disk: leave no half-written checkpoint behind; `latest` is untouched.
        let _ = std::fs::remove_dir_all(&tmp);
    }
    written?;
    // latest -> previous, incoming -> latest. A kill between the renames leaves `previous`
    // (complete) and `incoming` (complete, unused): the resume takes `previous`.
    let _ = std::fs::remove_dir_all(&previous);
    if latest.exists() {
        std::fs::rename(&latest, &previous)
            .map_err(|e| format!("cannot rotate checkpoints: {e}"))?;
    }
    std::fs::rename(&tmp, &latest).map_err(|e| format!("cannot install checkpoint: {e}"))
}

/// Whether `run_dir` holds a checkpoint `load` can try to resume from (a checkpoint folder
/// is only ever installed complete, by a rename, so one that lost files was damaged and is
/// reported by `load`, not taken for no checkpoint).
pub fn exists(run_dir: &Path) -> bool {
    let root = run_dir.join("checkpoints");
    ["latest", "previous"].iter().any(|d| root.join(d).is_dir())
}

/// The newest checkpoint that verifies: `latest`, else `previous` with a warning on stderr.
pub fn load(run_dir: &Path, digest: &str) -> Result<Checkpoint, String> {
    let root = run_dir.join("checkpoints");
    let mut problems = Vec::new();
    for name in ["latest", "previous"] {
        let dir = root.join(name);
        if !dir.is_dir() {
            continue;
        }
        match read_verified(&dir, digest) {
            Ok(ckpt) => {
                if !problems.is_empty() {
                    eprintln!(
                        "warning: {}; resuming from the previous checkpoint (step {}) instead",
                        problems.join("; "),
                        ckpt.host.step
                    );
                }
                return Ok(ckpt);
            }
            Err(Refusal::Edited(why)) => return Err(why),
            Err(Refusal::Corrupt(why)) => problems.push(format!("checkpoint `{name}` {why}")),
        }
    }
    if problems.is_empty() {
        Err(format!(
            "`{}` has no checkpoint to resume from",
            run_dir.display()
        ))
    } else {
        Err(format!(
            "no checkpoint of `{}` can be resumed: {}",
            run_dir.display(),
            problems.join("; ")
        ))
    }
}

enum Refusal {
    /// The run's definition no longer matches: no older checkpoint can help.
    Edited(String),
    /// This checkpoint's files are damaged: an older one may do.
    Corrupt(String),
}

fn read_verified(dir: &Path, digest: &str) -> Result<Checkpoint, Refusal> {
    let read = |name: &str| {
        std::fs::read(dir.join(name))
            .map_err(|e| Refusal::Corrupt(format!("cannot be read (`{name}`: {e})")))
    };
    let manifest: Manifest = serde_json::from_slice(&read("manifest.json")?)
        .map_err(|e| Refusal::Corrupt(format!("has an unreadable manifest.json ({e})")))?;
    if manifest.run_spec != digest {
        return Err(Refusal::Edited(format!(
            "run.json (or session.json) of `{}` no longer matches its checkpoint: it was edited after the run started. Restore it, or start a new run; only `--steps` may change on resume (`host --resume DIR --steps N`)",
            dir.parent().and_then(Path::parent).unwrap_or(dir).display()
        )));
    }
    let mut bytes = BTreeMap::new();
    for name in FILES {
        let data = read(name)?;
        let (len, sum) = manifest
            .files
            .get(name)
            .ok_or_else(|| Refusal::Corrupt(format!("lists no `{name}`")))?;
        if data.len() as u64 != *len || sha256(&data) != *sum {
            return Err(Refusal::Corrupt(format!(
                "fails verification: `{name}` has {} bytes and another checksum than the {len} bytes written",
                data.len()
            )));
        }
        bytes.insert(name, data);
    }
    let host: HostState = serde_json::from_slice(&bytes["host.json"])
        .map_err(|e| Refusal::Corrupt(format!("has an unreadable host.json ({e})")))?;
    let replay = ReplayBuffer::from_bytes(&bytes["replay.bin"]).map_err(Refusal::Corrupt)?;
    Ok(Checkpoint {
        host,
        agent: bytes.remove("agent.safetensors").expect("read above"),
        replay,
    })
}
