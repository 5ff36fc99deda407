//! The run directory and its logs: `run.json` (resolved config), `status.json`,
//! `metrics.jsonl` (every record), `episodes.csv`, `eval.csv`, `train.csv`,
//! `gap.csv` (Monte-Carlo gap diagnostics), `tabular.csv` (exact diagnostics on tabular envs),
//! the same scalars as a TensorBoard event file, `learning_curve.svg`, `checkpoints/`.
//!
//! Every log is appended and flushed record by record, so whatever a killed or
//! failed run wrote stays readable. A checkpoint stores each file's length and the SHA-256
//! of those bytes; a resume first checks that every log still starts with exactly what the
//! run wrote (refusing a log that was shortened, deleted or edited, rather than padding or
//! trusting it), then truncates to that length, so the resumed files equal an uninterrupted
//! run's.

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::fs::{File, OpenOptions};
use std::io::{Read as _, Write};
use std::path::{Path, PathBuf};

pub const LOGS: [&str; 7] = [
    "metrics.jsonl",
    "episodes.csv",
    "eval.csv",
    "train.csv",
    "gap.csv",
    "tabular.csv",
    super::tensorboard::FILE,
];

/// Index of the TensorBoard event file in [`LOGS`].
const EVENTS: usize = 6;

/// Lengths of the log files at a checkpoint.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
pub struct LogOffsets(pub Vec<u64>);

/// What a checkpoint recorded of the logs: each one's length and the SHA-256 (hex) of
/// its bytes up to that length. `digests` is empty for checkpoints written before digests
/// were recorded; their logs are checked by length only.
pub struct LogMarks<'a> {
    pub offsets: &'a LogOffsets,
    pub digests: &'a [String],
    /// The checkpoint's step, for the messages.
    pub step: usize,
}

pub struct RunLogs {
    /// One per name in [`LOGS`]; `None` for a diagnostics log the run does not write.
    files: Vec<Option<File>>,
    /// SHA-256 state of every byte each log holds (one per name in [`LOGS`]).
    hashers: Vec<Sha256>,
    /// Column names of `train.csv`, fixed by its first row.
    pub train_columns: Option<Vec<String>>,
}

/// Where a run is: written to `status.json`, read back by session reports.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RunState {
    /// Started and not ended: in progress, or killed (then `--resume` continues it).
    Running,
    Finished,
    /// Ended by an error: a plugin's, the env's, or the host's (I/O).
    Failed,
    /// Ended because the learning blew up (a NaN or infinite loss, action or state).
    Diverged,
    /// Stopped by SIGINT/SIGTERM after a checkpoint; `--resume` continues it.
    Interrupted,
}

impl RunState {
    pub fn as_str(self) -> &'static str {
        match self {
            RunState::Running => "running",
            RunState::Finished => "finished",
            RunState::Failed => "failed",
            RunState::Diverged => "diverged",
            RunState::Interrupted => "interrupted",
        }
    }
}

impl std::fmt::Display for RunState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Final or current state of a run, for `status.json`.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Status {
    pub state: RunState,
    pub step: usize,
    pub message: Option<String>,
    /// Peak resident memory of the process so far (Linux `VmHWM`), in MiB; in a session
    /// the process runs several runs, so this is their sum at the peak.
    pub peak_rss_mib: Option<f64>,
    /// Wall-clock seconds spent in the run (over all resumes), and agent updates done.
    #[serde(default)]
    pub elapsed_secs: Option<f64>,
    #[serde(default)]
    pub updates: Option<u64>,
    /// Training iterations done (see `checkpoint::TrainerState::iterations`).
    #[serde(default)]
    pub iterations: Option<u64>,
    /// Resumes that could not continue exactly: an env not restored exactly (see
    /// `Env::restore`), or the agent on other CPU kernels; empty when every resume was exact.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub inexact_resumes: Vec<String>,
}

impl Status {
    /// A status for a run that never got a trainer (e.g. its plugin failed to load).
    pub fn failed(message: String) -> Self {
        Self {
            state: RunState::Failed,
            step: 0,
            message: Some(message),
            peak_rss_mib: peak_rss_mib(),
            elapsed_secs: None,
            updates: None,
            iterations: None,
            inexact_resumes: Vec::new(),
        }
    }
}

/// Peak resident set size of this process in MiB, where the OS reports it.
pub fn peak_rss_mib() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib / 1024.0)
}

impl RunLogs {
    /// Open the log files of `dir` (created, or on resume verified against `marks` and
    /// truncated to them): every log, except `gap.csv` without gap diagnostics and
    /// `tabular.csv` on envs without an exact model. On resume every log is verified before
    /// any is opened for writing, so a refused resume changes nothing.
    pub fn open(
        dir: &Path,
        marks: Option<LogMarks>,
        train_columns: Option<Vec<String>>,
        (gap, tabular): (bool, bool),
    ) -> Result<Self, String> {
        std::fs::create_dir_all(dir)
            .map_err(|e| format!("cannot create run directory `{}`: {e}", dir.display()))?;
        let written = |i: usize| (i != 4 || gap) && (i != 5 || tabular);
        let mut hashers = vec![Sha256::new(); LOGS.len()];
        if let Some(marks) = &marks {
            for (i, hasher) in hashers.iter_mut().enumerate() {
                if written(i) {
                    *hasher = verified_prefix(dir, i, marks)?;
                }
            }
        }
        let mut files = Vec::new();
        for (i, name) in LOGS.iter().enumerate() {
            if !written(i) {
                files.push(None);
                continue;
            }
            let path = dir.join(name);
            let f = OpenOptions::new()
                .create(true)
                .append(true)
                .open(&path)
                .map_err(|e| format!("cannot open `{}`: {e}", path.display()))?;
            if let Some(marks) = &marks {
                f.set_len(marks.offsets.0.get(i).copied().unwrap_or(0))
                    .map_err(|e| format!("cannot truncate `{}`: {e}", path.display()))?;
            }
            files.push(Some(f));
        }
        let resumed = marks.is_some();
        let mut logs = Self {
            files,
            hashers,
            train_columns,
        };
        // A new event file (or one a checkpoint from before event files left empty) starts
        // with its version record.
        if logs.files[EVENTS]
            .as_ref()
            .is_some_and(|f| f.metadata().map(|m| m.len() == 0).unwrap_or(false))
        {
            logs.write_bytes(
                EVENTS,
                &super::tensorboard::version(super::tensorboard::now()),
            )?;
        }
        if !resumed {
            logs.write(1, "step,return,length\n")?;
            logs.write(2, "step,mean,std,min,max,episodes\n")?;
            if gap {
                logs.write(
                    4,
                    "step,estimator,q_mc_mean,estimate_mean,bias_mean,abs_bias_mean\n",
                )?;
            }
            if tabular {
                logs.write(5, crate::diagnostics::exact::HEADER)?;
            }
        }
        Ok(logs)
    }

    fn write(&mut self, i: usize, text: &str) -> Result<(), String> {
        self.write_bytes(i, text.as_bytes())
    }

    fn write_bytes(&mut self, i: usize, bytes: &[u8]) -> Result<(), String> {
        let file = self.files[i]
            .as_mut()
            .ok_or_else(|| format!("`{}` is not written by this run", LOGS[i]))?;
        file.write_all(bytes)
            .map_err(|e| format!("cannot write `{}`: {e}", LOGS[i]))?;
        self.hashers[i].update(bytes);
        Ok(())
    }

    /// SHA-256 (hex) of every log's bytes so far, in [`LOGS`] order; recorded beside
    /// [`Self::offsets`] at a checkpoint.
    pub fn digests(&self) -> Vec<String> {
        self.hashers
            .iter()
            .map(|h| format!("{:x}", h.clone().finalize()))
            .collect()
    }

    /// Scalars at `step` into the TensorBoard event file.
    fn scalars(&mut self, step: usize, values: &[(&str, f64)]) -> Result<(), String> {
        let event = super::tensorboard::scalars(super::tensorboard::now(), step, values);
        self.write_bytes(EVENTS, &event)
    }

    pub fn offsets(&self) -> Result<LogOffsets, String> {
        self.files
            .iter()
            .map(|f| match f {
                Some(f) => f.metadata().map(|m| m.len()).map_err(|e| e.to_string()),
                None => Ok(0),
            })
            .collect::<Result<_, _>>()
            .map(LogOffsets)
    }

    pub fn record(&mut self, record: &serde_json::Value) -> Result<(), String> {
        self.write(0, &format!("{record}\n"))
    }

    pub fn episode(&mut self, step: usize, ret: f64, len: usize) -> Result<(), String> {
        self.record(
            &serde_json::json!({"type": "episode", "step": step, "return": ret, "length": len}),
        )?;
        self.write(1, &format!("{step},{ret},{len}\n"))?;
        self.scalars(
            step,
            &[("episode/return", ret), ("episode/length", len as f64)],
        )
    }

    pub fn eval(&mut self, step: usize, returns: &[f64]) -> Result<(), String> {
        let s = summary(returns);
        self.record(&serde_json::json!({"type": "eval", "step": step, "mean": s.mean, "std": s.std, "min": s.min, "max": s.max, "returns": returns}))?;
        self.write(
            2,
            &format!(
                "{step},{},{},{},{},{}\n",
                s.mean,
                s.std,
                s.min,
                s.max,
                returns.len()
            ),
        )?;
        self.scalars(
            step,
            &[("eval/mean_return", s.mean), ("eval/std_return", s.std)],
        )
    }

    /// One gap diagnostic of one value estimator (long format: a row per estimator).
    pub fn gap(&mut self, step: usize, r: &crate::diagnostics::gap::GapRow) -> Result<(), String> {
        self.record(&serde_json::json!({
            "type": "gap", "step": step, "estimator": r.estimator, "q_mc_mean": r.q_mc_mean,
            "estimate_mean": r.estimate_mean, "bias_mean": r.bias_mean, "abs_bias_mean": r.abs_bias_mean,
        }))?;
        self.write(
            4,
            &format!(
                "{step},{},{},{},{},{}\n",
                r.estimator, r.q_mc_mean, r.estimate_mean, r.bias_mean, r.abs_bias_mean
            ),
        )?;
        let (bias, abs) = (
            format!("gap/{}/bias_mean", r.estimator),
            format!("gap/{}/abs_bias_mean", r.estimator),
        );
        self.scalars(step, &[(&bias, r.bias_mean), (&abs, r.abs_bias_mean)])
    }

    /// One row of exact tabular diagnostics (see `crate::diagnostics::exact`).
    pub fn tabular(&mut self, row: &str) -> Result<(), String> {
        self.write(5, row)
    }

    /// One training window: averaged update metrics plus timing (keys under `time/`).
    pub fn train_window(&mut self, step: usize, metrics: &[(String, f64)]) -> Result<(), String> {
        let mut obj = serde_json::Map::new();
        obj.insert("type".into(), "train".into());
        obj.insert("step".into(), step.into());
        for (k, v) in metrics {
            obj.insert(k.clone(), serde_json::json!(v));
        }
        self.record(&serde_json::Value::Object(obj))?;
        if self.train_columns.is_none() {
            let cols: Vec<String> = metrics.iter().map(|(k, _)| k.clone()).collect();
            self.write(3, &format!("step,{}\n", cols.join(",")))?;
            self.train_columns = Some(cols);
        }
        let cols = self.train_columns.clone().unwrap_or_default();
        let row: Vec<String> = cols
            .iter()
            .map(|c| {
                metrics
                    .iter()
                    .find(|(k, _)| k == c)
                    .map(|(_, v)| v.to_string())
                    .unwrap_or_default()
            })
            .collect();
        self.write(3, &format!("{step},{}\n", row.join(",")))?;
        let values: Vec<(&str, f64)> = metrics.iter().map(|(k, v)| (k.as_str(), *v)).collect();
        self.scalars(step, &values)
    }
}

/// The hash state of log `i`'s first `marks.offsets[i]` bytes, after checking that the
/// file holds at least that many and, where the checkpoint recorded a digest, that they
/// are the bytes the run wrote.
fn verified_prefix(dir: &Path, i: usize, marks: &LogMarks) -> Result<Sha256, String> {
    let path = dir.join(LOGS[i]);
    let want = marks.offsets.0.get(i).copied().unwrap_or(0);
    let refuse = |what: String| {
        format!(
            "cannot resume: `{}` {what} since the checkpoint at step {}, which recorded its \
             first {want} bytes; restore the file, or start the run afresh in a new folder",
            path.display(),
            marks.step
        )
    };
    let file = match File::open(&path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound && want > 0 => {
            return Err(refuse("was deleted".into()));
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Sha256::new()),
        Err(e) => return Err(format!("cannot read `{}`: {e}", path.display())),
    };
    let mut hasher = Sha256::new();
    let read = std::io::copy(&mut file.take(want), &mut hasher)
        .map_err(|e| format!("cannot read `{}`: {e}", path.display()))?;
    if read < want {
        return Err(refuse(format!("was shortened to {read} bytes")));
    }
    if let Some(recorded) = marks.digests.get(i)
        && format!("{:x}", hasher.clone().finalize()) != *recorded
    {
        return Err(refuse("was changed".into()));
    }
    Ok(hasher)
}

pub struct Summary {
    pub mean: f64,
    pub std: f64,
    pub min: f64,
    pub max: f64,
}

pub fn summary(xs: &[f64]) -> Summary {
    let n = xs.len().max(1) as f64;
    let mean = xs.iter().sum::<f64>() / n;
    let std = (xs.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / n).sqrt();
    let min = xs.iter().copied().fold(f64::INFINITY, f64::min);
    let max = xs.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    Summary {
        mean,
        std,
        min,
        max,
    }
}

pub fn write_json(path: &Path, value: &impl Serialize) -> Result<(), String> {
    let text = serde_json::to_string_pretty(value).map_err(|e| e.to_string())?;
    write_atomic(path, text.as_bytes())
}

/// Write to a temporary file and rename it over `path`: a reader (or a killed
/// process) never sees half a file. On failure (a full disk) the temporary file is removed.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), String> {
    let tmp = temporary_path(path);
    let written = std::fs::write(&tmp, bytes)
        .map_err(|e| format!("cannot write `{}`: {e}", tmp.display()))
        .and_then(|()| {
            std::fs::rename(&tmp, path)
                .map_err(|e| format!("cannot write `{}`: {e}", path.display()))
        });
    if written.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    written
}

/// The temporary file [`write_atomic`] writes before renaming it to `path`. Unique per
/// process: shards of one session may write the same report file at once.
pub fn temporary_path(path: &Path) -> PathBuf {
    let name = path.file_name().unwrap_or_default().to_string_lossy();
    path.with_file_name(format!(".{name}.{}.tmp", std::process::id()))
}

/// `status.json`, atomically; if the disk is full, overwritten in place instead (padded with
/// spaces to its old length, so no new block is needed): a failed run never stays `running`.
pub fn write_status(dir: &Path, status: &Status) -> Result<(), String> {
    let path = dir.join("status.json");
    let text = serde_json::to_string_pretty(status).map_err(|e| e.to_string())?;
    write_atomic(&path, text.as_bytes()).or_else(|atomic| {
        let old_len = std::fs::metadata(&path)
            .map(|m| m.len() as usize)
            .unwrap_or(0);
        let mut bytes = text.into_bytes();
        if bytes.len() < old_len {
            bytes.resize(old_len, b' ');
        }
        OpenOptions::new()
            .write(true)
            .open(&path)
            .and_then(|mut f| f.write_all(&bytes))
            .map_err(|e| format!("{atomic}; in place: {e}"))
    })
}

/// `YYYYMMDD-HHMMSS` (UTC) for run directory names.
pub fn timestamp() -> String {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let (days, rem) = (secs / 86_400, secs % 86_400);
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}{m:02}{d:02}-{:02}{:02}{:02}",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// The largest value of a `train.csv` column over the whole run, if the column exists.
pub fn train_column_max(dir: &Path, column: &str) -> Option<f64> {
    let text = std::fs::read_to_string(dir.join("train.csv")).ok()?;
    let mut lines = text.lines();
    let index = lines.next()?.split(',').position(|c| c == column)?;
    lines
        .filter_map(|l| l.split(',').nth(index)?.parse::<f64>().ok())
        .reduce(f64::max)
}
