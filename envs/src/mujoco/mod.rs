//! MuJoCo tasks with Gymnasium v5 semantics: HalfCheetah, Hopper, Walker2d, Reacher.
//!
//! The physics is MuJoCo itself, reached through a small adaptor library (`envs/mujoco`)
//! loaded at run time, so the workspace builds and runs on a machine without MuJoCo; the
//! models are Gymnasium's own MJCF files, read from the installed `gymnasium` package; the
//! step, reset, observation, reward and termination logic is written here in Rust, following
//! Gymnasium 1.4's `*_v5.py` files (frame skip, reset noise, observation layout, reward
//! terms, healthy ranges, time limits). `scripts/setup-mujoco` installs both pinned versions
//! and builds the adaptor. Recorded Gymnasium trajectories check the result
//! (`envs/tests/mujoco_parity.rs`).
//!
//! Differences from Gymnasium, by design: the reset noise is drawn from the env's own
//! ChaCha8 stream (not NumPy's), observations are `f32`, and `mj_rnePostConstraint` (contact
//! forces that none of these tasks reads) is not computed after a step.

mod install;
mod sim;

pub use install::{GYMNASIUM_VERSION, MUJOCO_VERSION, SETUP_COMMAND};
pub use sim::Sim;

use crate::{Dynamics, Env, EnvError, EnvSpec, Options, Space, TimeLimited};
use rand::Rng;
use rand_chacha::ChaCha8Rng;
use rand_distr::StandardNormal;
use std::ffi::c_int;
use std::path::PathBuf;

/// The four tasks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Task {
    HalfCheetah,
    Hopper,
    Walker2d,
    Reacher,
}

impl Task {
    pub const ALL: [Task; 4] = [
        Task::HalfCheetah,
        Task::Hopper,
        Task::Walker2d,
        Task::Reacher,
    ];

    /// acgap's id and Gymnasium's.
    pub fn ids(self) -> (&'static str, &'static str) {
        match self {
            Task::HalfCheetah => ("halfcheetah", "HalfCheetah-v5"),
            Task::Hopper => ("hopper", "Hopper-v5"),
            Task::Walker2d => ("walker2d", "Walker2d-v5"),
            Task::Reacher => ("reacher", "Reacher-v5"),
        }
    }

    pub fn from_id(id: &str) -> Option<Task> {
        Task::ALL
            .into_iter()
            .find(|t| t.ids().0 == id || t.ids().1 == id)
    }

    /// What the task reads from its model: `(nq, nv, nu)` and the bodies it names. A model
    /// given with `xml=` must have exactly these (it may change masses, sizes, frictions,
    /// the time step...): another task's model would train under this task's name with
    /// other observations and another reward's meaning. HalfCheetah and Walker2d share
    /// their sizes; their bodies tell them apart.
    fn structure(self) -> ((usize, usize, usize), &'static [&'static str]) {
        match self {
            Task::HalfCheetah => (
                (9, 9, 6),
                &[
                    "torso", "bthigh", "bshin", "bfoot", "fthigh", "fshin", "ffoot",
                ],
            ),
            Task::Hopper => ((6, 6, 3), &["torso", "thigh", "leg", "foot"]),
            Task::Walker2d => (
                (9, 9, 6),
                &[
                    "torso",
                    "thigh",
                    "leg",
                    "foot",
                    "thigh_left",
                    "leg_left",
                    "foot_left",
                ],
            ),
            Task::Reacher => ((4, 4, 2), &["body0", "body1", "fingertip", "target"]),
        }
    }

    /// Gymnasium's default model file for the task.
    fn xml(self) -> &'static str {
        match self {
            Task::HalfCheetah => "half_cheetah.xml",
            Task::Hopper => "hopper.xml",
            Task::Walker2d => "walker2d_v5.xml",
            Task::Reacher => "reacher.xml",
        }
    }

    fn frame_skip(self) -> usize {
        match self {
            Task::HalfCheetah => 5,
            Task::Hopper | Task::Walker2d => 4,
            Task::Reacher => 2,
        }
    }

    fn max_episode_steps(self) -> usize {
        match self {
            Task::Reacher => 50,
            _ => 1000,
        }
    }

    /// Observation length from the model's sizes.
    fn obs_dim(self, nq: usize, nv: usize) -> usize {
        match self {
            // cos and sin of the two arm angles, the target's position, the arm's velocities,
            // fingertip minus target in the plane.
            Task::Reacher => 4 + (nq - 2) + 2 + 2,
            // `qpos` without the x position, then `qvel`.
            _ => nq - 1 + nv,
        }
    }
}

/// Whether MuJoCo tasks can run here, or the message saying what to do.
pub fn availability() -> Result<(), String> {
    sim::adaptor().map(|_| ())
}

/// The Python that `scripts/setup-mujoco` installed with Gymnasium, if any.
pub fn python() -> Option<PathBuf> {
    sim::adaptor()
        .ok()?
        .install
        .python
        .clone()
        .filter(|p| p.is_file())
}

/// Gymnasium's model file of a task, in the installed `gymnasium` package.
pub fn model_file(task: Task) -> Result<PathBuf, String> {
    Ok(sim::adaptor()?.install.assets.join(task.xml()))
}

/// For tests: whether MuJoCo tests should run. Without MuJoCo they skip with a message,
/// unless `ACGAP_REQUIRE_MUJOCO=1` (set by `.ci/run`), where a missing setup fails them.
pub fn available_for_tests(test: &str) -> bool {
    match availability() {
        Ok(()) => true,
        Err(e) if std::env::var("ACGAP_REQUIRE_MUJOCO").is_ok_and(|v| v == "1") => {
            panic!("{test}: ACGAP_REQUIRE_MUJOCO=1 but MuJoCo is unavailable: {e}")
        }
        Err(e) => {
            eprintln!("skipping {test}: {e}");
            false
        }
    }
}

/// Build a MuJoCo task; option `xml=PATH` replaces Gymnasium's model file.
pub fn make(task: Task, id: &str, opts: &mut Options, seed: u64) -> Result<Box<dyn Env>, EnvError> {
    let bad = |message: String| EnvError::Options {
        id: id.to_string(),
        message,
    };
    let xml = match opts.take_str("xml").map_err(bad)? {
        Some(path) => PathBuf::from(path),
        None => model_file(task).map_err(|message| EnvError::Unavailable {
            id: id.to_string(),
            message,
        })?,
    };
    let dynamics = Mujoco::load(task, &xml).map_err(|message| EnvError::Unavailable {
        id: id.to_string(),
        message,
    })?;
    Ok(Box::new(TimeLimited::new(dynamics, seed)))
}

/// One MuJoCo task: the simulation, what the task needs from the model, and the current
/// `qpos`/`qvel` (read once after every change).
#[derive(Clone)]
pub struct Mujoco {
    task: Task,
    sim: Sim,
    spec: EnvSpec,
    init_qpos: Vec<f64>,
    /// `opt.timestep * frame_skip`, Gymnasium's `dt`.
    dt: f64,
    /// Reacher's `fingertip` and `target` bodies.
    reacher_bodies: Option<(c_int, c_int)>,
    qpos: Vec<f64>,
    qvel: Vec<f64>,
    ctrl: Vec<f64>,
    fault: Option<String>,
}

impl Mujoco {
    pub fn load(task: Task, xml: &std::path::Path) -> Result<Mujoco, String> {
        let sim = Sim::load(xml)?;
        let info = sim.info;
        let (nq, nv, nu) = (info.nq as usize, info.nv as usize, info.nu as usize);
        let (init_qpos, range) = sim.defaults();
        let (sizes, bodies) = task.structure();
        let not_the_task = |what: String| {
            format!(
                "`{}` is not a {} model: {what} (a model given with `xml=` may change the \
                 task's parameters, not its structure)",
                xml.display(),
                task.ids().1
            )
        };
        if (nq, nv, nu) != sizes {
            return Err(not_the_task(format!(
                "it has nq {nq}, nv {nv}, nu {nu} where the task has nq {}, nv {}, nu {}",
                sizes.0, sizes.1, sizes.2
            )));
        }
        if let Some(missing) = bodies.iter().find(|b| sim.body(b).is_err()) {
            return Err(not_the_task(format!("it has no body named `{missing}`")));
        }
        let reacher_bodies = match task {
            Task::Reacher => Some((sim.body("fingertip")?, sim.body("target")?)),
            _ => None,
        };
        let inf = vec![f32::INFINITY; task.obs_dim(nq, nv)];
        let spec = EnvSpec {
            id: task.ids().0.into(),
            observation: Space::Box {
                low: inf.iter().map(|x| -x).collect(),
                high: inf,
            },
            action: Space::Box {
                low: range.iter().step_by(2).map(|&x| x as f32).collect(),
                high: range.iter().skip(1).step_by(2).map(|&x| x as f32).collect(),
            },
            max_episode_steps: Some(task.max_episode_steps()),
            tabular: None,
        };
        let mut env = Mujoco {
            task,
            dt: info.timestep * task.frame_skip() as f64,
            sim,
            spec,
            init_qpos,
            reacher_bodies,
            qpos: vec![0.0; nq],
            qvel: vec![0.0; nv],
            ctrl: vec![0.0; nu],
            fault: None,
        };
        let zero = vec![0.0; nv];
        env.set_state(&env.init_qpos.clone(), &zero);
        Ok(env)
    }

    /// Gymnasium's `reset` with the given initial `qpos`, `qvel` (no noise): the parity
    /// tests start recorded trajectories this way.
    pub fn set_state(&mut self, qpos: &[f64], qvel: &[f64]) {
        self.sim.reset_to(qpos, qvel);
        self.fault = None;
        self.read_state();
    }

    /// The simulation and the frame skip, for benchmarks of the physics alone.
    pub fn sim_mut(&mut self) -> (&mut Sim, usize) {
        (&mut self.sim, self.task.frame_skip())
    }

    fn read_state(&mut self) {
        self.sim.qpos_qvel(&mut self.qpos, &mut self.qvel);
    }

    /// Fingertip minus target (Reacher), from the last forward pass.
    fn reach_vector(&self) -> [f64; 3] {
        let (tip, target) = self.reacher_bodies.expect("Reacher bodies");
        let (a, b) = (self.sim.xpos(tip), self.sim.xpos(target));
        [a[0] - b[0], a[1] - b[1], a[2] - b[2]]
    }

    /// Gymnasium's healthy test (Hopper, Walker2d).
    fn is_healthy(&self) -> bool {
        let (z, angle) = (self.qpos[1], self.qpos[2]);
        let inside = |x: f64, (lo, hi): (f64, f64)| lo < x && x < hi;
        match self.task {
            Task::Hopper => {
                let state = self.qpos[2..].iter().chain(&self.qvel);
                state.into_iter().all(|&x| inside(x, (-100.0, 100.0)))
                    && inside(z, (0.7, f64::INFINITY))
                    && inside(angle, (-0.2, 0.2))
            }
            Task::Walker2d => inside(z, (0.8, 2.0)) && inside(angle, (-1.0, 1.0)),
            _ => true,
        }
    }
}

/// `weight * sum(action^2)` as Gymnasium computes it for a float32 action under NumPy 2:
/// in float32, summed in order (NumPy's pairwise sum is a plain loop below 8 elements).
fn control_cost(action: &[f32], weight: f32) -> f64 {
    (weight * action.iter().fold(0.0_f32, |s, a| s + a * a)) as f64
}

impl Dynamics for Mujoco {
    fn spec(&self) -> EnvSpec {
        self.spec.clone()
    }

    fn reset(&mut self, rng: &mut ChaCha8Rng) {
        let (nq, nv) = (self.qpos.len(), self.qvel.len());
        let mut uniform = |scale: f64, n: usize| -> Vec<f64> {
            (0..n).map(|_| rng.random_range(-scale..scale)).collect()
        };
        let (mut qpos, mut qvel) = match self.task {
            Task::HalfCheetah => {
                let qpos = uniform(0.1, nq);
                let qvel = (0..nv)
                    .map(|_| 0.1 * rng.sample::<f64, _>(StandardNormal))
                    .collect();
                (qpos, qvel)
            }
            Task::Hopper | Task::Walker2d => (uniform(5e-3, nq), uniform(5e-3, nv)),
            Task::Reacher => (uniform(0.1, nq), uniform(0.005, nv)),
        };
        for (q, q0) in qpos.iter_mut().zip(&self.init_qpos) {
            *q += q0;
        }
        if self.task == Task::Reacher {
            // A goal in the disc of radius 0.2, by rejection as Gymnasium draws it.
            let goal = loop {
                let g = [rng.random_range(-0.2..0.2), rng.random_range(-0.2..0.2)];
                if g[0] * g[0] + g[1] * g[1] < 0.04 {
                    break g;
                }
            };
            qpos[nq - 2..].copy_from_slice(&goal);
            qvel[nv - 2..].fill(0.0);
        }
        self.set_state(&qpos, &qvel);
    }

    fn step(&mut self, action: &[f32]) -> (f64, bool) {
        for (c, a) in self.ctrl.iter_mut().zip(action) {
            *c = *a as f64;
        }
        let x_before = self.qpos[0];
        let bad = self.sim.step(&self.ctrl, self.task.frame_skip());
        self.read_state();
        if bad > 0 || self.qpos.iter().chain(&self.qvel).any(|x| !x.is_finite()) {
            self.fault = Some(format!(
                "MuJoCo's physics blew up in `{}` (bad accelerations {bad} times in one step; the simulation state is no longer valid)",
                self.task.ids().1
            ));
        }
        let x_velocity = (self.qpos[0] - x_before) / self.dt;
        match self.task {
            Task::HalfCheetah => (x_velocity - control_cost(action, 0.1), false),
            Task::Hopper | Task::Walker2d => {
                let healthy = self.is_healthy();
                let healthy_reward = if healthy { 1.0 } else { 0.0 };
                (
                    x_velocity + healthy_reward - control_cost(action, 1e-3),
                    !healthy,
                )
            }
            Task::Reacher => {
                let v = self.reach_vector();
                let dist = (v[0] * v[0] + v[1] * v[1] + v[2] * v[2]).sqrt();
                (-dist - control_cost(action, 1.0), false)
            }
        }
    }

    fn observe(&self) -> Vec<f32> {
        let f = |x: &f64| *x as f32;
        match self.task {
            Task::HalfCheetah => self.qpos[1..].iter().chain(&self.qvel).map(f).collect(),
            Task::Hopper | Task::Walker2d => self.qpos[1..]
                .iter()
                .map(f)
                .chain(self.qvel.iter().map(|v| v.clamp(-10.0, 10.0) as f32))
                .collect(),
            Task::Reacher => {
                let (q, v) = (&self.qpos, &self.qvel);
                let d = self.reach_vector();
                [q[0].cos(), q[1].cos(), q[0].sin(), q[1].sin()]
                    .iter()
                    .chain(&q[2..])
                    .chain(&v[..2])
                    .chain(&d[..2])
                    .map(f)
                    .collect()
            }
        }
    }

    fn save(&self) -> serde_json::Value {
        serde_json::json!({ "mujoco": self.sim.snapshot() })
    }

    fn load(&mut self, state: &serde_json::Value) -> Result<(), String> {
        let values: Vec<f64> = state
            .get("mujoco")
            .and_then(|v| serde_json::from_value(v.clone()).ok())
            .ok_or("snapshot has no MuJoCo state")?;
        self.sim.restore(&values)?;
        self.fault = None;
        self.read_state();
        Ok(())
    }

    fn fault(&self) -> Option<String> {
        self.fault.clone()
    }
}
