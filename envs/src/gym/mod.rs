//! Any Gymnasium environment, as `gym:<Id>` or `gym:<Id>:key=value,...` (the options are
//! `gymnasium.make` keyword arguments; a third-party module is `gym:<module>:<Id>`, as in
//! Gymnasium). Each [`GymEnv`] owns one Python worker process (`worker.py`), so parallel runs
//! never share an interpreter lock; the host talks to it over pipes in short binary frames.
//!
//! Semantics are Gymnasium's: `terminated` and `truncated` as the env returns them, the first
//! reset seeded with `reset(seed=...)` from the host's seed and later ones continuing the env's
//! own generator, Box actions clipped to the box (as acgap's native envs do), Discrete
//! observations and actions passed as the index. Box and Discrete spaces only; anything else
//! is refused when the env is made, naming the space.
//!
//! Snapshots are the pickled env (wrappers, step counter and NumPy generator included), so
//! resume is exact where the env pickles its state. Envs that pickle only their constructor
//! arguments (`gymnasium.utils.EzPickle`, e.g. the MuJoCo ones) cannot be snapshotted: a
//! restore then starts a new worker whose first reset is seeded from the saved seed and reset
//! count, and reports [`Restored::Restarted`] (the host records it in the run's status).

mod worker;

use crate::{Env, EnvError, EnvSpec, Fault, Options, Restored, Space, Step};
use serde_json::{Value, json};
use std::cell::RefCell;
use std::time::Duration;
use worker::{Reply, Worker};

/// The command that installs the pinned Gymnasium this bridge is tested with.
pub const SETUP_COMMAND: &str = "scripts/setup-gym";

/// One line for `host envs`.
pub const HELP: (&str, &str) = (
    "gym:<Id>[:key=value,...]",
    "any Gymnasium env (Box/Discrete spaces) in a Python worker; options are gymnasium.make keyword arguments; needs scripts/setup-gym or ACGAP_GYM_PYTHON",
);

/// The Python that runs workers: `$ACGAP_GYM_PYTHON`, else the one `scripts/setup-gym`
/// installed, else `python3` from `PATH`.
pub fn python() -> String {
    if let Ok(p) = std::env::var("ACGAP_GYM_PYTHON") {
        return p;
    }
    let installed = crate::install_home("ACGAP_GYM_HOME", "gym").join("venv/bin/python");
    if installed.exists() {
        return installed.to_string_lossy().into_owned();
    }
    "python3".into()
}

/// Whether Gymnasium can be reached; tests that need it print `why` and skip when not (and
/// fail instead when `ACGAP_REQUIRE_GYM` is set, as in `.ci/run`).
pub fn available_for_tests(why: &str) -> bool {
    match make("gym:CartPole-v1", 0) {
        Ok(_) => true,
        Err(e) if std::env::var_os("ACGAP_REQUIRE_GYM").is_some() => {
            panic!("ACGAP_REQUIRE_GYM is set but Gymnasium is not usable: {e}")
        }
        Err(e) => {
            eprintln!("skipping the {why}: {e} (run {SETUP_COMMAND})");
            false
        }
    }
}

fn timeout() -> Result<Duration, String> {
    let Ok(text) = std::env::var("ACGAP_GYM_TIMEOUT") else {
        return Ok(Duration::from_secs(60));
    };
    text.trim()
        .parse::<f64>()
        .ok()
        .filter(|s| *s > 0.0 && *s <= 1e6)
        .map(Duration::from_secs_f64)
        .ok_or_else(|| {
            format!(
                "ACGAP_GYM_TIMEOUT must be a number of seconds above 0 and at most 1e6, got `{text}`"
            )
        })
}

/// What `gymnasium.make` is called with.
#[derive(Clone)]
struct Request {
    gym_id: String,
    kwargs: serde_json::Map<String, Value>,
}

/// Split `gym:<Id>[:options]`: the part after the last `:` holds options when it has a `=`.
fn parse(id: &str) -> Result<Request, EnvError> {
    let rest = id.strip_prefix("gym:").unwrap_or(id);
    let (gym_id, opts) = match rest.rsplit_once(':') {
        Some((g, o)) if o.contains('=') => (g, o),
        _ => (rest, ""),
    };
    if gym_id.is_empty() {
        return Err(EnvError::Options {
            id: id.into(),
            message: "expected gym:<Id>, e.g. gym:Acrobot-v1".into(),
        });
    }
    let kwargs = Options::parse(opts)
        .map_err(|message| EnvError::Options {
            id: id.into(),
            message,
        })?
        .into_map();
    Ok(Request {
        gym_id: gym_id.into(),
        kwargs,
    })
}

/// A Gymnasium env in its worker process.
pub struct GymEnv {
    request: Request,
    spec: EnvSpec,
    /// `None` once a copy could not be made. In a `RefCell` because [`Env::snapshot`] takes
    /// `&self` (a snapshot does not change the env) while talking to the worker needs `&mut`.
    worker: RefCell<Option<Worker>>,
    seed: u64,
    /// Resets done so far: the first passes `seed`, later ones continue the env's generator.
    resets: u64,
    fault: Option<Fault>,
}

/// Build `gym:<Id>...` with its first reset seeded from `seed`.
pub fn make(id: &str, seed: u64) -> Result<Box<dyn Env>, EnvError> {
    Ok(Box::new(GymEnv::start(id, parse(id)?, seed)?))
}

impl GymEnv {
    fn start(label: &str, request: Request, seed: u64) -> Result<Self, EnvError> {
        let unavailable = |message: String| EnvError::Unavailable {
            id: label.into(),
            message,
        };
        let python = python();
        let timeout = timeout().map_err(|message| EnvError::Options {
            id: label.into(),
            message,
        })?;
        let mut worker = Worker::spawn(&python, timeout).map_err(|e| {
            unavailable(format!(
                "cannot start the Python worker `{python}` ({e}); run {SETUP_COMMAND} or set ACGAP_GYM_PYTHON"
            ))
        })?;
        let ask = json!({"id": request.gym_id, "kwargs": request.kwargs}).to_string();
        let spec = match worker.request(b'm', ask.as_bytes()).map_err(&unavailable)? {
            Reply::Ok(body) => body,
            Reply::Error(e) if e.starts_with("cannot import gymnasium") => {
                return Err(unavailable(format!(
                    "{e}; run {SETUP_COMMAND} or set ACGAP_GYM_PYTHON to a Python with gymnasium"
                )));
            }
            Reply::Error(e) | Reply::NotPossible(e) => {
                return Err(unavailable(format!("cannot make it: {}", last_line(&e))));
            }
        };
        #[derive(serde::Deserialize)]
        struct Spaces {
            observation: Space,
            action: Space,
            max_episode_steps: Option<usize>,
        }
        let s: Spaces = serde_json::from_slice(&spec)
            .map_err(|e| unavailable(format!("the worker described the env badly: {e}")))?;
        Ok(Self {
            request,
            spec: EnvSpec {
                id: label.into(),
                observation: s.observation,
                action: s.action,
                max_episode_steps: s.max_episode_steps,
                tabular: None,
            },
            worker: RefCell::new(Some(worker)),
            seed,
            resets: 0,
            fault: None,
        })
    }

    /// Send a request; a failure (of the env or of its worker) becomes the env's fault.
    fn call(&mut self, op: u8, payload: &[u8], what: &str) -> Option<Vec<u8>> {
        if self.fault.is_some() {
            return None;
        }
        let id = &self.spec.id;
        let outcome = match self.worker.get_mut().as_mut() {
            None => Err("it has no worker".to_string()),
            Some(w) => w.request(op, payload),
        };
        let why = match outcome {
            Ok(Reply::Ok(body)) => return Some(body),
            Ok(Reply::Error(e)) | Ok(Reply::NotPossible(e)) => {
                format!("`{id}` raised in {what}:\n{}", tail(&e, 8))
            }
            Err(e) => format!("`{id}` in {what}: {e}"),
        };
        self.fault = Some(Fault::Failed(why));
        None
    }

    fn decode_obs(&mut self, bytes: &[u8]) -> Vec<f32> {
        let obs: Vec<f32> = bytes
            .chunks_exact(4)
            .map(|c| f32::from_le_bytes(c.try_into().unwrap()))
            .collect();
        if obs.len() != self.spec.obs_dim() {
            self.fault = Some(Fault::Failed(format!(
                "`{}` returned an observation of {} values; its space has {}",
                self.spec.id,
                obs.len(),
                self.spec.obs_dim()
            )));
        } else if obs.iter().any(|x| !x.is_finite()) {
            self.fault = Some(Fault::Diverged(format!(
                "`{}` returned a non-finite observation",
                self.spec.id
            )));
        }
        obs
    }

    /// The pickled env, or why there is none.
    fn pickle(&self) -> Result<Vec<u8>, String> {
        if let Some(f) = &self.fault {
            return Err(format!("the env had failed: {f}"));
        }
        let mut worker = self.worker.borrow_mut();
        let worker = worker.as_mut().ok_or("it has no worker")?;
        match worker.request(b'p', &[])? {
            Reply::Ok(b) => Ok(b),
            Reply::NotPossible(why) => Err(why),
            Reply::Error(e) => Err(last_line(&e).to_string()),
        }
    }

    /// Reset with `seed` (`None`: continue the env's generator).
    fn reset_with(&mut self, seed: Option<u64>) -> Vec<f32> {
        let mut payload = [0u8; 9];
        payload[0] = seed.is_some() as u8;
        payload[1..].copy_from_slice(&seed.unwrap_or(0).to_le_bytes());
        self.resets += 1;
        match self.call(b'r', &payload, "reset") {
            Some(body) => self.decode_obs(&body),
            None => vec![0.0; self.spec.obs_dim()],
        }
    }
}

impl Env for GymEnv {
    fn spec(&self) -> &EnvSpec {
        &self.spec
    }

    fn reset(&mut self) -> Vec<f32> {
        let seed = (self.resets == 0).then_some(self.seed);
        self.reset_with(seed)
    }

    fn step(&mut self, action: &[f32]) -> Step {
        let payload: Vec<u8> = action.iter().flat_map(|x| x.to_le_bytes()).collect();
        let Some(body) = self.call(b's', &payload, "step").filter(|b| b.len() >= 10) else {
            return Step {
                obs: vec![0.0; self.spec.obs_dim()],
                reward: 0.0,
                terminated: true,
                truncated: false,
            };
        };
        let reward = f64::from_le_bytes(body[..8].try_into().unwrap());
        let obs = self.decode_obs(&body[10..]);
        if !reward.is_finite() && self.fault.is_none() {
            self.fault = Some(Fault::Diverged(format!(
                "`{}` returned a non-finite reward ({reward})",
                self.spec.id
            )));
        }
        Step {
            obs,
            reward,
            terminated: body[8] != 0,
            truncated: body[9] != 0,
        }
    }

    /// The pickled env as hex, or why there is none.
    fn snapshot(&self) -> Value {
        match self.pickle() {
            Ok(bytes) => {
                json!({"env": self.spec.id, "resets": self.resets, "pickle": hex(&bytes)})
            }
            Err(why) => {
                json!({"env": self.spec.id, "resets": self.resets, "pickle": null, "why": why})
            }
        }
    }

    fn restore(&mut self, snapshot: &Value) -> Result<Restored, String> {
        let id = snapshot.get("env").and_then(Value::as_str).unwrap_or("?");
        if id != self.spec.id {
            return Err(format!("snapshot is of env `{id}`, not `{}`", self.spec.id));
        }
        self.resets = snapshot["resets"]
            .as_u64()
            .ok_or("snapshot has no `resets`")?;
        match snapshot["pickle"].as_str() {
            Some(h) => {
                let bytes = unhex(h).ok_or("the snapshot's pickle is not hex")?;
                self.call(b'l', &bytes, "restore");
                match self.fault.take() {
                    Some(Fault::Failed(e)) | Some(Fault::Diverged(e)) => Err(e),
                    None => Ok(Restored::Exact),
                }
            }
            None => {
                // A new episode, seeded so that it is not a repeat of an earlier one.
                let stream = format!("gym_restart/{}", self.resets);
                let seed = acgap_sdk::seeds::derive(self.seed, &stream);
                let obs = self.reset_with(Some(seed));
                if let Some(Fault::Failed(e) | Fault::Diverged(e)) = self.fault.take() {
                    return Err(e);
                }
                let why = snapshot["why"]
                    .as_str()
                    .unwrap_or("no snapshot")
                    .to_string();
                Ok(Restored::Restarted { obs, why })
            }
        }
    }

    fn fault(&self) -> Option<Fault> {
        self.fault.clone()
    }

    fn clone_env(&self) -> Box<dyn Env> {
        let copy = GymEnv::start(&self.spec.id, self.request.clone(), self.seed)
            .map_err(|e| e.to_string())
            .and_then(|mut c| match c.restore(&self.snapshot())? {
                Restored::Exact => Ok(c),
                Restored::Restarted { why, .. } => Err(format!("cannot copy it: {why}")),
            });
        match copy {
            Ok(c) => Box::new(c),
            Err(why) => Box::new(GymEnv {
                request: self.request.clone(),
                spec: self.spec.clone(),
                worker: RefCell::new(None),
                seed: self.seed,
                resets: self.resets,
                fault: Some(Fault::Failed(format!("`{}`: {why}", self.spec.id))),
            }),
        }
    }
}

fn last_line(s: &str) -> &str {
    s.lines().rev().find(|l| !l.trim().is_empty()).unwrap_or(s)
}

fn tail(s: &str, n: usize) -> String {
    let lines: Vec<&str> = s.lines().filter(|l| !l.trim().is_empty()).collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn unhex(s: &str) -> Option<Vec<u8>> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(s.get(i..i + 2)?, 16).ok())
        .collect()
}
