//! What `host score` scores on: finite MDPs with exact models, (policy, critic) points on
//! each, and batches drawn the way the tabular actor-critics' training draws them (one
//! on-policy episode from the start distribution per batch).

use acgap_exact::{Adam, Exact, Mdp};
use acgap_sdk::spec::{EnvSpec, TabularModel};
use acgap_sdk::tabular::{Base, TabularContext, Transition, sample_index, softmax_table};
use rand::Rng;
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, StandardNormal};

/// One MDP of the suite.
pub struct Task {
    /// Short name for tables and plots.
    pub name: String,
    pub spec: EnvSpec,
    pub model: TabularModel,
    pub mdp: Mdp,
}

impl Task {
    pub fn new(name: &str, env_id: &str) -> Result<Self, String> {
        let env = acgap_envs::make(env_id, 0).map_err(|e| e.to_string())?;
        let spec = env.spec();
        let model = spec
            .tabular
            .clone()
            .ok_or_else(|| format!("`{env_id}` has no exact model"))?;
        let mdp = Mdp::new(&model)?;
        Ok(Self {
            name: name.into(),
            spec: spec.clone(),
            model,
            mdp,
        })
    }

    fn pairs(&self) -> usize {
        self.mdp.pairs()
    }
}

/// The suites: `default` (two Garnet MDPs, FourRoom with and without slip) and `quick`.
pub fn tasks(suite: &str) -> Result<Vec<Task>, String> {
    let list: &[(&str, &str)] = match suite {
        "default" => &[
            (
                "garnet-10x3",
                "random-mdp:states=10,actions=3,branching=3,seed=1",
            ),
            (
                "garnet-40x4",
                "random-mdp:states=40,actions=4,branching=3,seed=2",
            ),
            ("fourroom", "fourroom"),
            ("fourroom-slip", "fourroom:slip=0.2"),
        ],
        "quick" => &[(
            "garnet-10x3",
            "random-mdp:states=10,actions=3,branching=3,seed=1",
        )],
        other => {
            return Err(format!(
                "unknown suite `{other}` (default, quick, pendulum)"
            ));
        }
    };
    list.iter().map(|(n, id)| Task::new(n, id)).collect()
}

/// A policy (logits) and a critic at which estimators are scored.
pub struct Point {
    pub name: String,
    pub theta: Vec<f64>,
    pub critic: Vec<f64>,
}

/// Relative critic errors of the random points: `||q_phi - q_theta|| / ||q_theta||` (RMS).
pub const CRITIC_ERRORS: [f64; 3] = [0.0, 0.3, 1.0];
/// Updates of the AgC run whose tables are scored.
pub const TRAINING_UPDATES: [usize; 2] = [100, 400];
/// Steps per batch: one FourRoom episode, the tabular agents' default rollout.
pub const BATCH_LEN: usize = 300;

/// Two random softmax policies, each with the true critic perturbed by every error in
/// [`CRITIC_ERRORS`], and the tables of an Actor^g-Critic run at [`TRAINING_UPDATES`].
pub fn points(task: &Task, rng: &mut ChaCha8Rng) -> Vec<Point> {
    let n = task.pairs();
    let mut out = Vec::new();
    for p in 0..2 {
        let theta: Vec<f64> = (0..n).map(|_| rng.random_range(-2.0..2.0)).collect();
        let q = Exact::new(&task.mdp, &theta).q;
        let rms = (q.norm_squared() / n as f64).sqrt().max(1e-12);
        for &err in &CRITIC_ERRORS {
            let critic = q
                .iter()
                .map(|&v| v + err * rms * Distribution::<f64>::sample(&StandardNormal, rng))
                .collect();
            out.push(Point {
                name: format!("random{p}-err{err}"),
                theta: theta.clone(),
                critic,
            });
        }
    }
    out.extend(agc_run(task, rng));
    out
}

/// Actor^g-Critic from zero tables with the tabular plugin's defaults (Adam, actor lr 0.01,
/// critic lr 0.02, one episode per update), its tables kept at [`TRAINING_UPDATES`].
fn agc_run(task: &Task, rng: &mut ChaCha8Rng) -> Vec<Point> {
    let n = task.pairs();
    let (mut theta, mut q) = (vec![0.0; n], vec![0.0; n]);
    let (mut actor, mut critic) = (Adam::new(n, 0.01), Adam::new(n, 0.02));
    let last = *TRAINING_UPDATES.iter().max().unwrap_or(&0);
    let mut out = Vec::new();
    for update in 1..=last {
        let batch = episode(&task.model, &softmax_table(&theta, task.model.actions), rng);
        let ctx = context(task, &theta, &q, batch, Base::ActorG);
        actor.ascend(&mut theta, &ctx.base_direction);
        critic.descend(&mut q, &ctx.critic_gradient().0);
        if TRAINING_UPDATES.contains(&update) {
            out.push(Point {
                name: format!("agc-run-{update}"),
                theta: theta.clone(),
                critic: q.clone(),
            });
        }
    }
    out
}

/// The context of one batch. Actor^o weights the start states by `(1 - gamma) mu0`: the exact
/// Actor^o of Wen et al. eq. 12, in the units of the normalised `J` whose gradient the scores
/// compare with, and in which Theorem 3's Stackelberg term is derived. (The tabular agents'
/// Actor^o averages over start states, `1 / (1 - gamma)` times this; see docs/scorecard.md.)
pub fn context(
    task: &Task,
    theta: &[f64],
    critic: &[f64],
    batch: Vec<Transition>,
    base: Base,
) -> TabularContext {
    let m = &task.model;
    TabularContext::new(
        (m.states, m.actions, m.gamma),
        theta,
        critic,
        m.mu0.iter().map(|p| (1.0 - m.gamma) * p).collect(),
        batch,
        base,
    )
}

/// How batches are drawn.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Sampling {
    /// One on-policy episode of [`BATCH_LEN`] steps from `mu0`, as the tabular agents train.
    Rollout,
    /// [`BATCH_LEN`] transitions i.i.d. from `d_theta`, `pi` and `P` (the distribution the
    /// theorems assume), each bootstrapping with the expectation over `a'`.
    ExactD,
}

/// One batch under `pi` (`d_s`: the state marginal of `d_theta`, for [`Sampling::ExactD`]).
pub fn batch(
    sampling: Sampling,
    model: &TabularModel,
    pi: &[f64],
    d_s: &[f64],
    rng: &mut ChaCha8Rng,
) -> Vec<Transition> {
    match sampling {
        Sampling::Rollout => episode(model, pi, rng),
        Sampling::ExactD => (0..BATCH_LEN)
            .map(|_| {
                let s = sample_index(rng, d_s.iter().copied().enumerate());
                let na = model.actions;
                let a = sample_index(rng, pi[s * na..(s + 1) * na].iter().copied().enumerate());
                let sa = s * na + a;
                Transition {
                    s,
                    a,
                    r: model.reward[sa],
                    next_s: sample_index(rng, model.transitions[sa].iter().copied()),
                    terminated: false,
                    next_a: None,
                }
            })
            .collect(),
    }
}

/// One on-policy episode of [`BATCH_LEN`] steps from `mu0` under `pi`, simulated from the
/// model (the tabular envs never terminate; the expected reward is the reward, as in the envs).
fn episode(model: &TabularModel, pi: &[f64], rng: &mut ChaCha8Rng) -> Vec<Transition> {
    let na = model.actions;
    let mut s = sample_index(rng, model.mu0.iter().copied().enumerate());
    let mut out: Vec<Transition> = Vec::with_capacity(BATCH_LEN);
    for t in 0..BATCH_LEN {
        let a = sample_index(rng, pi[s * na..(s + 1) * na].iter().copied().enumerate());
        if t > 0 {
            out[t - 1].next_a = Some(a);
        }
        let sa = s * na + a;
        let next_s = sample_index(rng, model.transitions[sa].iter().copied());
        out.push(Transition {
            s,
            a,
            r: model.reward[sa],
            next_s,
            terminated: false,
            next_a: None,
        });
        s = next_s;
    }
    out
}
