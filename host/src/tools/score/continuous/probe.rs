//! The probe: a SAC-family correction the scorecard attaches to the agent's own hook, so that
//! it meets each estimator exactly where a training run would — inside the agent's update, with
//! the context the SAC core builds for that minibatch and noise — and reads what it needs from
//! the same context: the reparameterised actions, the critics' action gradients, the plain
//! actor gradient, and actor vector-Jacobian products. It always returns no term; the
//! scorecard restores the agent after every probed update, so the snapshot never moves.
//!
//! This works with any agent that takes SAC-family corrections, through the stable ABI: the
//! host needs no learning code of its own.

use super::super::guarded;
use acgap_sdk::correction::{SacContext, SacCorrection};
use acgap_sdk::{Metrics, PluginResult, Term};
use parking_lot::Mutex;
use std::sync::Arc;

/// An estimator being scored, and why it failed if it did (its row then shows the reason).
pub struct Estimator {
    pub label: String,
    pub correction: Box<dyn SacCorrection>,
    pub failed: Option<String>,
}

/// What the next update call should do.
pub enum Mode {
    /// Nothing: the update only advances the agent's noise stream.
    Idle,
    /// Correction steps: every estimator that trains takes one.
    Train,
    /// An actor step: record the base quantities and every estimator's direction.
    Record,
    /// An actor step: the actor vector-Jacobian product of each of these action gradients.
    Vjp(Vec<Vec<f32>>),
}

/// What a `Record` update saw (actions in the actor's `[-1, 1]`, batch-major).
#[derive(Default)]
pub struct Seen {
    /// The reparameterised actions `a~_b` of this update.
    pub actions: Vec<f32>,
    /// `d min(Q1, Q2)(s_b, a~_b) / da`: the critic the actor ascends.
    pub dq_min: Vec<f32>,
    /// The plain actor gradient `grad_theta J_pi` (batch mean).
    pub base: Vec<f32>,
    /// What each estimator adds to the ascent direction, in the actor's parameter space.
    pub directions: Vec<Result<Vec<f32>, String>>,
    /// The answers of a `Vjp` update.
    pub vjps: Vec<Vec<f32>>,
    /// The entropy temperature of this update.
    pub alpha: f64,
}

pub struct Shared {
    pub mode: Mode,
    pub estimators: Vec<Estimator>,
    pub seen: Seen,
    /// A failure of the probe itself (the context refused a query).
    pub error: Option<String>,
}

#[derive(Clone)]
pub struct Probe(pub Arc<Mutex<Shared>>);

impl Probe {
    pub fn new(estimators: Vec<Estimator>) -> Self {
        Probe(Arc::new(Mutex::new(Shared {
            mode: Mode::Idle,
            estimators,
            seen: Seen::default(),
            error: None,
        })))
    }
}

impl SacCorrection for Probe {
    fn trains(&self) -> bool {
        true
    }

    fn train(&mut self, ctx: &dyn SacContext) -> PluginResult<Metrics> {
        let mut s = self.0.lock();
        if matches!(s.mode, Mode::Train) {
            for e in s.estimators.iter_mut().filter(|e| e.failed.is_none()) {
                if e.correction.trains()
                    && let Err(why) = guarded(|| e.correction.train(ctx))
                {
                    e.failed = Some(format!("train: {why}"));
                }
            }
        }
        Ok(Vec::new())
    }

    fn actor_term(&mut self, ctx: &dyn SacContext) -> PluginResult<(Term<f32>, Metrics)> {
        let mut s = self.0.lock();
        let result = match std::mem::replace(&mut s.mode, Mode::Idle) {
            Mode::Record => record(&mut s, ctx),
            Mode::Vjp(gs) => gs
                .iter()
                .map(|g| ctx.actor_vjp(g))
                .collect::<PluginResult<Vec<_>>>()
                .map(|v| s.seen.vjps = v),
            Mode::Idle | Mode::Train => Ok(()),
        };
        if let Err(e) = result {
            s.error = Some(e);
        }
        Ok((Term::Zero, Vec::new()))
    }
}

fn record(s: &mut Shared, ctx: &dyn SacContext) -> PluginResult<()> {
    let info = ctx.info();
    let (n, ad, params) = (info.batch_len, info.act_dim, info.actor_params);
    let actions = ctx.policy_actions()?.actions;
    let obs = ctx.batch().obs.to_vec();
    let q = ctx.critic_action_gradient(&obs, &actions, &vec![1.0; 2 * n])?;
    if q.len() != 2 * n + 2 * n * ad {
        return Err(format!(
            "critic_action_gradient returned {} values for {n} rows",
            q.len()
        ));
    }
    let (values, grads) = q.split_at(2 * n);
    let dq_min = (0..n)
        .flat_map(|b| {
            let which = if values[b] <= values[n + b] { 0 } else { n };
            grads[(which + b) * ad..(which + b + 1) * ad].to_vec()
        })
        .collect();
    let base = ctx.actor_gradient()?;
    let mut directions = Vec::with_capacity(s.estimators.len());
    for e in &mut s.estimators {
        if let Some(why) = &e.failed {
            directions.push(Err(why.clone()));
            continue;
        }
        let d = guarded(|| {
            let (term, _) = e.correction.actor_term(ctx)?;
            let term = term.checked(n * ad, params)?;
            if let Some(x) = term.non_finite() {
                return Err(format!("the term has a non-finite entry ({x})"));
            }
            // As the core applies a term: per-sample entries summed through d a~ / d theta.
            match term {
                Term::Zero => Ok(vec![0.0; params]),
                Term::Direction(d) => Ok(d),
                per_sample => ctx.actor_vjp(&per_sample.summed_entries(n).expect("per-sample")),
            }
        });
        if let Err(why) = &d {
            e.failed = Some(why.clone());
        }
        directions.push(d);
    }
    s.seen = Seen {
        actions,
        dq_min,
        base,
        directions,
        vjps: Vec::new(),
        alpha: info.alpha as f64,
    };
    Ok(())
}
