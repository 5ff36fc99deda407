//! `host score --suite pendulum`: SAC-family gap estimators against the true policy gradient
//! on continuous control (docs/scorecard.md, "Continuous control"; the truth's derivation in
//! docs/algorithms.md §6).
//!
//! Points are SAC runs on Pendulum at several stages (`snapshots`). At each point the same
//! minibatches go to every row inside the agent's own actor update (`probe`): plain SAC
//! (`sac`), SAC plus each estimator, and an `oracle` built from an independent Monte-Carlo
//! estimate. The truth on a batch is SAC's actor gradient with the critic replaced by the
//! policy's true soft action value, whose action gradient `truth` estimates by Monte Carlo;
//! with `--states on-policy` the batches' states follow the policy's discounted state
//! distribution and the truth is the policy gradient of the normalised soft return itself.

mod probe;
mod snapshots;
pub mod truth;

use super::estimators::PluginSpec;
use super::stats::{self, Truth};
use super::{Cell, Options};
use acgap_sdk::batch::OwnedBatch;
use acgap_sdk::{Agent, Correction, CorrectionInit, Term, UpdateStep, seeds};
use probe::{Estimator, Mode, Probe, Seen};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use snapshots::Snapshot;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use truth::McConfig;

/// Where a batch's states come from.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum States {
    /// Uniform minibatches of the snapshot's replay buffer, as SAC trains.
    Replay,
    /// The policy's discounted state distribution: the truth is the policy gradient itself.
    OnPolicy,
}

impl States {
    /// As `--states` spells it.
    pub fn name(self) -> &'static str {
        match self {
            States::Replay => "replay",
            States::OnPolicy => "on-policy",
        }
    }
}

/// The suite's defaults where the tabular ones do not fit.
pub const BATCHES: usize = 24;
pub const WARMUP: usize = 1000;

/// What is scored when no estimator is named: every SAC-family estimator acgap ships (the
/// example where it is built) and the Monte-Carlo oracle.
const DEFAULT_ROWS: [&str; 4] = ["residual", "stackelberg", "action-penalty", "oracle"];

/// A row: plain SAC, SAC with an estimator, or the oracle.
#[derive(Clone, Debug)]
pub enum RowKind {
    Plain,
    /// `Term::Mean(dQ_MC/da - dQ_min/da)` from rollouts independent of the truth's.
    Oracle,
    Plugin(PluginSpec),
}

#[derive(Clone, Debug)]
pub struct Row {
    pub label: String,
    pub kind: RowKind,
}

/// `ESTIMATOR[:key=value,...]` as for `--correction`, or `oracle`.
fn parse_row(spec: &str) -> Result<Row, String> {
    let (name, sets) = super::estimators::split(spec);
    if name.is_empty() {
        return Err(format!("`{spec}` names no estimator"));
    }
    if ["agc+", "aoc+"].iter().any(|p| name.starts_with(p)) {
        return Err(format!(
            "`{spec}`: `agc+`/`aoc+` are the tabular suites' bases; the continuous suite's base is SAC"
        ));
    }
    let kind = match (name, sets) {
        ("oracle", Some(_)) => return Err("`oracle` takes no config overrides".into()),
        ("oracle", None) => RowKind::Oracle,
        _ => RowKind::Plugin(PluginSpec::parse(name, sets)?),
    };
    Ok(Row {
        label: format!("sac+{spec}"),
        kind,
    })
}

/// The rows: plain SAC, then the estimators (a name that finds no plugin is refused, except
/// among the defaults, where an unbuilt example is left out).
pub fn rows(specs: &[String]) -> Result<Vec<Row>, String> {
    let mut rows = vec![Row {
        label: "sac".into(),
        kind: RowKind::Plain,
    }];
    let named = !specs.is_empty();
    let specs: Vec<String> = if named {
        specs.to_vec()
    } else {
        DEFAULT_ROWS.iter().map(|s| s.to_string()).collect()
    };
    for spec in &specs {
        let row = parse_row(spec)?;
        if let RowKind::Plugin(p) = &row.kind {
            match p.check() {
                Ok(_) => {}
                Err(e) if named => return Err(e),
                Err(_) => continue,
            }
        }
        if !rows.iter().any(|r| r.label == row.label) {
            rows.push(row);
        }
    }
    Ok(rows)
}

/// The scorecard's settings, resolved.
#[derive(Clone, Debug)]
pub struct Settings {
    pub batches: usize,
    pub warmup: usize,
    pub rollouts: usize,
    /// Rollout length; `None`: until `gamma^H < 1%`.
    pub horizon: Option<usize>,
    pub states: States,
    /// The central difference's half-width, in the actor's `[-1, 1]` action units.
    pub fd_step: f64,
    pub seed: u64,
    pub seeds: u64,
    pub stages: Vec<(String, usize)>,
}

impl Settings {
    /// The settings `o` asks for, or what is wrong with them.
    pub fn of(o: &Options) -> Result<Self, String> {
        if !(o.fd_step > 0.0 && o.fd_step <= 0.5) {
            return Err(format!(
                "`--fd-step {}`: the central difference's half-width must be in (0, 0.5] (action units of [-1, 1])",
                o.fd_step
            ));
        }
        if o.points.is_empty() || o.points.len() > 20 || o.points.windows(2).any(|w| w[0] >= w[1]) {
            return Err(format!(
                "`--points {:?}`: give 1 to 20 env step counts in increasing order",
                o.points
            ));
        }
        Ok(Self {
            batches: o.batches.unwrap_or(BATCHES),
            warmup: o.warmup.unwrap_or(WARMUP),
            rollouts: o.rollouts,
            horizon: (o.horizon > 0).then_some(o.horizon),
            states: o.states,
            fd_step: o.fd_step,
            seed: o.seed,
            seeds: o.seeds,
            stages: o
                .points
                .iter()
                .map(|&n| (format!("{n} steps"), n))
                .collect(),
        })
    }
}

/// What a point's scoring found besides the rows' scores.
#[derive(Clone, Debug, Default)]
pub struct PointInfo {
    /// `|dQ_min/da - dQ^pi/da| / |dQ^pi/da|` over the point's batches.
    pub critic_error: f64,
    /// `|PG|`, the norm of the truth's mean over batches.
    pub truth_norm: f64,
    /// The Monte-Carlo noise of the truth's action gradients: `sqrt(sum se^2 / sum (dQ/da)^2)`
    /// over the point's batches, `se` each entry's standard error over its rollout pairs.
    pub mc_rel_se: f64,
    pub horizon: usize,
    pub alpha: f64,
}

/// A row's direction on every scored batch, or why it failed.
pub type Directions = Result<Vec<Vec<f64>>, String>;

/// Every row's directions at one point, and the truth on each batch.
pub struct Scored {
    pub rows: Vec<(String, Directions)>,
    pub truths: Vec<Vec<f64>>,
    pub info: PointInfo,
}

fn widen(v: &[f32]) -> Vec<f64> {
    v.iter().map(|&x| x as f64).collect()
}

fn add(a: &[f32], b: &[f32]) -> Vec<f64> {
    a.iter()
        .zip(b)
        .map(|(x, y)| *x as f64 + *y as f64)
        .collect()
}

/// Run the probe for one update of `step` on `batch` in `mode`; the probe's own failure is
/// the update's.
fn probed(
    agent: &mut dyn Agent,
    probe: &Probe,
    batch: &OwnedBatch,
    step: UpdateStep,
    mode: Mode,
) -> Result<(), String> {
    probe.0.lock().mode = mode;
    agent.update(&batch.view(), step)?;
    match probe.0.lock().error.take() {
        Some(e) => Err(format!("the SAC context refused the scorecard: {e}")),
        None => Ok(()),
    }
}

/// What one scored batch gave: what the probe saw, the truth's action gradients with their
/// standard errors, the truth, and the oracle's direction if asked for.
struct OnBatch {
    seen: Seen,
    dq: Vec<f64>,
    se: Vec<f64>,
    truth: Vec<f64>,
    oracle_x: Option<Vec<f64>>,
}

/// One batch: the probed actor update (every estimator's direction, SAC's own quantities), the
/// Monte-Carlo action gradients at its samples, then a second probed update with the same noise
/// for the actor VJPs that map them to the parameters. The agent is restored after each probed
/// update and its noise stream then advanced, so the next batch draws fresh noise.
fn on_batch(
    agent: &mut dyn Agent,
    probe: &Probe,
    b: &OwnedBatch,
    mc: &McConfig,
    (point_seed, k): (u64, usize),
    oracle: bool,
) -> Result<OnBatch, String> {
    let saved = agent.save()?;
    probed(agent, probe, b, UpdateStep::Actor, Mode::Record)?;
    let seen = std::mem::take(&mut probe.0.lock().seen);
    agent.load(&saved)?;
    let seed = |what: &str| seeds::derive(point_seed, &format!("{what}-{k}"));
    let (dq, se) = truth::action_gradients(agent, &b.obs, &seen.actions, seed("truth"), mc)?;
    // What the critic misses, per sample: the truth's (dQ^pi/da - dq_phi/da) / B.
    let n = b.len() as f64;
    let mut gs = vec![
        dq.iter()
            .zip(&seen.dq_min)
            .map(|(t, c)| ((t - *c as f64) / n) as f32)
            .collect::<Vec<f32>>(),
    ];
    if oracle {
        // Rollouts independent of the truth's, through the same path as a plugin's per-sample
        // term: a batch mean.
        let (dq_o, _) = truth::action_gradients(agent, &b.obs, &seen.actions, seed("oracle"), mc)?;
        let term = Term::Mean(
            dq_o.iter()
                .zip(&seen.dq_min)
                .map(|(t, c)| (t - *c as f64) as f32)
                .collect(),
        );
        gs.push(term.summed_entries(b.len()).expect("per-sample"));
    }
    probed(agent, probe, b, UpdateStep::Actor, Mode::Vjp(gs))?;
    let vjps = std::mem::take(&mut probe.0.lock().seen.vjps);
    agent.load(&saved)?;
    // A correction step draws as much noise as the probed update did and moves no network.
    probed(agent, probe, b, UpdateStep::Correction, Mode::Idle)?;
    Ok(OnBatch {
        truth: add(&seen.base, &vjps[0]),
        oracle_x: oracle.then(|| add(&seen.base, &vjps[1])),
        seen,
        dq,
        se,
    })
}

/// Where a point's minibatches come from, and the correction seed of its run.
pub struct PointSource<'a> {
    /// The run's replay buffer (`--states replay`).
    pub replay: Option<&'a crate::run::replay::ReplayBuffer>,
    /// What an estimator is built from (config replaced per estimator): the env's spec and
    /// the seed a `--correction` of the run would get.
    pub init: CorrectionInit,
    /// The seed of the point's batches and rollouts.
    pub seed: u64,
}

/// Score every row at one point: the agent in the point's state, probed on the same batches.
pub fn score_point(
    agent: &mut dyn Agent,
    src: &PointSource<'_>,
    rows: &[Row],
    s: &Settings,
) -> Result<Scored, String> {
    let gamma = agent
        .discount()
        .ok_or("the agent does not report its discount")?;
    let batch_len = match agent.training() {
        acgap_sdk::Training::OffPolicy { batch_size, .. } => batch_size,
        other => return Err(format!("the agent is not off-policy ({other:?})")),
    };
    let (point_seed, init) = (src.seed, &src.init);
    // Estimators that cannot be built fail their rows; the others are scored.
    let mut estimators = Vec::new();
    let mut refused: Vec<(String, String)> = Vec::new();
    for row in rows {
        if let RowKind::Plugin(p) = &row.kind {
            match p
                .build(init)
                .and_then(|(c, from)| c.into_sac().map_err(|e| format!("{from}: {e}")))
            {
                Ok(correction) => estimators.push(Estimator {
                    label: row.label.clone(),
                    correction,
                    failed: None,
                }),
                Err(e) => refused.push((row.label.clone(), e)),
            }
        }
    }
    let trains = estimators.iter().any(|e| e.correction.trains());
    let probe = Probe::new(estimators);
    agent.attach(Correction::sac(probe.clone()))?;
    let mc = McConfig {
        gamma,
        horizon: s.horizon.unwrap_or_else(|| truth::default_horizon(gamma)),
        rollouts: s.rollouts,
        h: s.fd_step,
    };
    let mut rng = ChaCha8Rng::seed_from_u64(point_seed);
    let mut minibatch = crate::run::replay::Minibatch::default();
    let mut draw = |agent: &mut dyn Agent, k: usize| -> Result<OwnedBatch, String> {
        match s.states {
            States::Replay => {
                let replay = src.replay.ok_or("no replay buffer to draw from")?;
                replay.sample(batch_len, &mut rng, &mut minibatch);
                Ok(OwnedBatch::of(&minibatch.view()))
            }
            States::OnPolicy => truth::on_policy_batch(
                agent,
                batch_len,
                gamma,
                seeds::derive(point_seed, &format!("states-{k}")),
            ),
        }
    };
    if trains {
        for k in 0..s.warmup {
            let b = draw(agent, k)?;
            probed(agent, &probe, &b, UpdateStep::Correction, Mode::Train)?;
        }
    }
    let oracle = rows.iter().any(|r| matches!(r.kind, RowKind::Oracle));
    let n_est = probe.0.lock().estimators.len();
    let mut plain = Vec::new();
    let mut with_estimator: Vec<Directions> = vec![Ok(Vec::new()); n_est];
    let mut oracle_xs = Vec::new();
    let mut truths = Vec::new();
    let (mut err2, mut dq2, mut se2, mut alpha) = (0.0, 0.0, 0.0, f64::NAN);
    for k in 0..s.batches {
        let b = draw(agent, s.warmup + k)?;
        let OnBatch {
            seen,
            dq,
            se,
            truth,
            oracle_x,
        } = on_batch(agent, &probe, &b, &mc, (point_seed, k), oracle)?;
        for ((t, c), e) in dq.iter().zip(&seen.dq_min).zip(&se) {
            err2 += (t - *c as f64).powi(2);
            dq2 += t * t;
            se2 += e * e;
        }
        alpha = seen.alpha;
        truths.push(truth);
        oracle_xs.extend(oracle_x);
        for (slot, d) in with_estimator.iter_mut().zip(&seen.directions) {
            if let Ok(xs) = slot {
                match d {
                    Ok(d) => xs.push(add(&seen.base, d)),
                    Err(e) => *slot = Err(e.clone()),
                }
            }
        }
        plain.push(widen(&seen.base));
    }
    let labels: Vec<String> = probe
        .0
        .lock()
        .estimators
        .iter()
        .map(|e| e.label.clone())
        .collect();
    let mut out = Vec::new();
    for row in rows {
        let xs = match &row.kind {
            RowKind::Plain => Ok(plain.clone()),
            RowKind::Oracle => Ok(oracle_xs.clone()),
            RowKind::Plugin(_) => match labels.iter().position(|l| *l == row.label) {
                Some(i) => with_estimator[i].clone(),
                None => Err(refused
                    .iter()
                    .find(|(l, _)| *l == row.label)
                    .map(|(_, e)| e.clone())
                    .unwrap_or_else(|| "not built".into())),
            },
        };
        out.push((row.label.clone(), xs));
    }
    let pg = Truth::PerBatch(&truths).mean();
    let info = PointInfo {
        critic_error: (err2 / dq2.max(1e-300)).sqrt(),
        truth_norm: pg.iter().map(|x| x * x).sum::<f64>().sqrt(),
        mc_rel_se: (se2 / dq2.max(1e-300)).sqrt(),
        horizon: mc.horizon,
        alpha,
    };
    Ok(Scored {
        rows: out,
        truths,
        info,
    })
}

/// The agent of a snapshot, as its run built it, in the snapshot's state.
fn agent_at(snap: &Snapshot) -> Result<Box<dyn Agent>, String> {
    let env = acgap_envs::make(&snap.spec.env, 0).map_err(|e| e.to_string())?;
    let mut spec = snap.spec.clone();
    spec.correction = None;
    let mut agent = crate::run::spec::build_agent(&spec, env.spec())?;
    agent.load(&snap.agent)?;
    Ok(agent)
}

/// One scored point: its cells, and a line for the points table.
fn cells_of(snap: &Snapshot, scored: &Scored) -> Vec<Cell> {
    let truth = Truth::PerBatch(&scored.truths);
    let base_gap = scored
        .rows
        .iter()
        .find(|(l, _)| l == "sac")
        .and_then(|(_, xs)| xs.as_ref().ok())
        .map(|xs| stats::mean_gap(xs, truth));
    scored
        .rows
        .iter()
        .map(|(label, xs)| Cell {
            task: snap.stage.clone(),
            point: format!("seed-{}", snap.seed),
            critic_error: scored.info.critic_error,
            row: label.clone(),
            result: xs.as_ref().map_err(|e| e.clone()).map(|xs| {
                let base = (label != "sac").then_some(()).and(base_gap.as_deref());
                stats::score(xs, truth, base)
            }),
        })
        .collect()
}

/// A point's line in the points table.
struct PointLine {
    stage: String,
    seed: u64,
    steps: usize,
    eval: f64,
    info: PointInfo,
}

impl PointLine {
    fn of(snap: &Snapshot, info: &PointInfo) -> Self {
        Self {
            stage: snap.stage.clone(),
            seed: snap.seed,
            steps: snap.steps,
            eval: snap.eval,
            info: info.clone(),
        }
    }

    fn line(&self) -> String {
        let i = &self.info;
        format!(
            "| {} | {} | {} | {:.1} | {:.3} | {:.3} | {:.3} | {:.3} | {} |\n",
            self.stage,
            self.seed,
            self.steps,
            self.eval,
            i.alpha,
            i.critic_error,
            i.truth_norm,
            i.mc_rel_se,
            i.horizon
        )
    }
}

/// One scored point: its line in the points table and its cells.
struct ScoredPoint {
    line: PointLine,
    cells: Vec<Cell>,
}

/// Train seed `seed`'s SAC run through every stage and score each point.
fn score_seed(
    dir: &Path,
    seed: u64,
    rows: &[Row],
    s: &Settings,
    progress: Option<std::time::Instant>,
) -> Result<Vec<ScoredPoint>, String> {
    let sac = crate::run::spec::Entry {
        plugin: "sac".into(),
        ..Default::default()
    };
    let stages: Vec<(&str, usize)> = s.stages.iter().map(|(a, b)| (a.as_str(), *b)).collect();
    let mut out = Vec::new();
    for snap in snapshots::train(&dir.join("runs"), &sac, seed, &stages)? {
        let mut agent = agent_at(&snap)?;
        let env = acgap_envs::make(&snap.spec.env, 0).map_err(|e| e.to_string())?;
        let src = PointSource {
            replay: Some(&snap.replay),
            init: CorrectionInit {
                config: serde_json::Value::Null,
                env: env.spec().clone(),
                seed: seeds::derive(snap.spec.seed, "plugin"),
                device: snap.spec.device.clone(),
            },
            seed: seeds::derive(s.seed, &format!("{}/{}", snap.stage, snap.seed)),
        };
        let scored = score_point(agent.as_mut(), &src, rows, s)?;
        if let Some(started) = progress {
            eprintln!(
                "scored seed {} after {} env steps ({:.0} s)",
                snap.seed,
                snap.steps,
                started.elapsed().as_secs_f64()
            );
        }
        out.push(ScoredPoint {
            line: PointLine::of(&snap, &scored.info),
            cells: cells_of(&snap, &scored),
        });
    }
    Ok(out)
}

/// `host score --suite pendulum`: train the points, score every row, write the scorecard.
pub fn run(o: &Options, runs: &Path) -> Result<PathBuf, String> {
    let s = Settings::of(o)?;
    let rows = rows(&o.estimators)?;
    let started = std::time::Instant::now();
    let dir = crate::output::folder::create_unique(&runs.join("score").join(format!(
        "{}-{}",
        o.suite,
        crate::output::run_dir::timestamp()
    )))?;
    // Each seed's run and its points on a thread of its own, as many at once as there are cores.
    let jobs = std::thread::available_parallelism().map_or(1, |n| n.get());
    let seeds: Vec<u64> = (o.seed..o.seed + s.seeds).collect();
    let progress = (!o.quiet).then_some(started);
    let mut scored = Vec::new();
    for chunk in seeds.chunks(jobs) {
        let results: Vec<Result<Vec<ScoredPoint>, String>> = std::thread::scope(|scope| {
            let handles: Vec<_> = chunk
                .iter()
                .map(|&seed| {
                    let (dir, rows, s) = (&dir, &rows, &s);
                    scope.spawn(move || score_seed(dir, seed, rows, s, progress))
                })
                .collect();
            handles
                .into_iter()
                .map(|h| {
                    h.join()
                        .unwrap_or_else(|_| Err("a scoring thread panicked".into()))
                })
                .collect()
        });
        for r in results {
            scored.extend(r?);
        }
    }
    // Points in stage order, then seed.
    scored.sort_by_key(|p| {
        let stage = s.stages.iter().position(|(n, _)| *n == p.line.stage);
        (stage, p.line.seed)
    });
    let points: String = scored.iter().map(|p| p.line.line()).collect();
    let cells: Vec<Cell> = scored.into_iter().flat_map(|p| p.cells).collect();
    let seconds = started.elapsed().as_secs_f64();
    let labels: Vec<String> = rows.iter().map(|r| r.label.clone()).collect();
    let stage_names: Vec<String> = s.stages.iter().map(|(n, _)| n.clone()).collect();
    let md = markdown(o, &s, &labels, &stage_names, &cells, &points, seconds);
    super::card::write_files(&dir, &md, &stage_names, &labels, &cells)?;
    if !o.quiet {
        print!("{md}");
    }
    Ok(dir)
}

fn markdown(
    o: &Options,
    s: &Settings,
    labels: &[String],
    stages: &[String],
    cells: &[Cell],
    points: &str,
    seconds: f64,
) -> String {
    let mut md = String::from(
        "# Scorecard: SAC-family gap estimators against the true policy gradient (Pendulum)\n\n",
    );
    let stage_list: Vec<String> = s.stages.iter().map(|(_, k)| k.to_string()).collect();
    let _ = writeln!(
        md,
        "SAC (the `sac` plugin's defaults) on Pendulum-v1, seeds {}..{}, scored after {} env steps; states `{}`; {} scored minibatches per point after {} warm-up correction steps; the truth from {} rollout pairs per state. {seconds:.0} s.\n",
        o.seed,
        o.seed + s.seeds - 1,
        stage_list.join(", "),
        s.states.name(),
        s.batches,
        s.warmup,
        s.rollouts,
    );
    md.push_str("Truth on a batch: SAC's actor gradient with the critic replaced by the policy's true soft action value (Monte Carlo, docs/algorithms.md §6). Medians over points; relative to |PG| (|PG|^2 for variance and MSE); the bias's s.e. is paired (row minus truth, batch by batch); gap closed = 1 - |E[sac + c] - PG| / |E[sac] - PG| on the same batches.\n\n");
    md.push_str("## All points\n\n");
    super::card::table(&mut md, labels, cells, None);
    for t in stages {
        let _ = writeln!(md, "\n## {t}\n");
        super::card::table(&mut md, labels, cells, Some(t));
    }
    md.push_str("\n## Points\n\n| point | seed | env steps | eval return | alpha | critic's dQ/da rel. error | abs(PG) | truth's dQ/da MC rel. s.e. | rollout steps |\n|---|---|---|---|---|---|---|---|---|\n");
    md.push_str(points);
    md
}

#[cfg(test)]
mod tests;
