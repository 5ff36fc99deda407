//! Plain Rust <-> stable ABI, in both directions:
//! - plugin side: [`AgentAdapter`] and [`CorrectionAdapter`] wrap a `Box<dyn Agent>` /
//!   a [`Correction`] as ABI objects, every call guarded against panics; after a
//!   panic the object is marked broken and refuses further calls.
//! - caller side: [`LoadedAgent`] implements [`Agent`] on top of an ABI object, and
//!   [`LoadedCorrection`] is a correction in another library, seen through its family's trait
//!   (`LoadedSac`, `LoadedOnPolicy`, `LoadedTabular`), so the host and the cores use one
//!   trait whether the implementation is compiled in or loaded.

use super::abi::{
    AgentBox, AgentFfi, AgentFfi_TO, BatchFfi, ContextFfi_TO, ContextRef, CorrectionBox,
    CorrectionFfi, CorrectionFfi_TO, FAMILY_ONPOLICY, FAMILY_SAC, FAMILY_TABULAR,
    TabularContextFfi, TabularUpdateFfi, TermFfi,
};
use super::context::{ContextServer, RemoteContext};
use super::guard::guarded;
use super::onpolicy_context::{OnPolicyServer, RemoteOnPolicyContext};
use crate::agent::{Agent, Metrics, PluginResult, Training};
use crate::batch::{Batch, BatchKind, UpdateStep};
use crate::correction::{
    Correction, Family, OnPolicyContext, OnPolicyCorrection, Repr, SacContext, SacCorrection,
    TabularContext, TabularCorrection, TabularUpdate, Term,
};
use abi_stable::sabi_trait::TD_Opaque;
use abi_stable::std_types::{RErr, ROk, RResult, RSlice, RStr, RString, RVec};

fn to_r<T>(r: PluginResult<T>) -> RResult<T, RString> {
    match r {
        Ok(v) => ROk(v),
        Err(e) => RErr(e.into()),
    }
}

fn from_r<T>(r: RResult<T, RString>) -> PluginResult<T> {
    r.into_result().map_err(|e| e.into_string())
}

fn to_json(v: &impl serde::Serialize) -> PluginResult<RString> {
    serde_json::to_string(v)
        .map(RString::from)
        .map_err(|e| e.to_string())
}

fn from_json<T: serde::de::DeserializeOwned>(s: &str) -> PluginResult<T> {
    serde_json::from_str(s).map_err(|e| format!("plugin returned malformed JSON: {e}"))
}

/// A non-finite metric is a divergence (JSON has no NaN: it would arrive as `null`).
fn metrics_to_json(m: &Metrics) -> PluginResult<RString> {
    if let Some((name, v)) = m.iter().find(|(_, v)| !v.is_finite()) {
        return Err(crate::result::diverged(format!("metric `{name}` is {v}")));
    }
    serde_json::to_string(m)
        .map(RString::from)
        .map_err(|e| e.to_string())
}

fn metrics_from_json(s: &str) -> PluginResult<Metrics> {
    serde_json::from_str(s).map_err(|e| {
        // A plugin built before ABI 1.2 sends a non-finite metric as `null`: still a divergence.
        let named: Result<Vec<(String, Option<f64>)>, _> = serde_json::from_str(s);
        match named
            .ok()
            .and_then(|m| m.into_iter().find(|(_, v)| v.is_none()))
        {
            Some((name, _)) => crate::result::diverged(format!("metric `{name}` is not finite")),
            None => format!("plugin returned malformed metrics: {e}"),
        }
    })
}

pub(super) fn batch_to_ffi<'a>(b: &Batch<'a>) -> BatchFfi<'a> {
    BatchFfi {
        kind: b.kind as u8,
        len: b.len,
        obs: b.obs.into(),
        action: b.action.into(),
        reward: b.reward.into(),
        next_obs: b.next_obs.into(),
        terminated: b.terminated.into(),
        truncated: b.truncated.into(),
    }
}

pub(super) fn batch_from_ffi<'a>(b: &BatchFfi<'a>) -> Batch<'a> {
    Batch {
        kind: if b.kind == BatchKind::Rollout as u8 {
            BatchKind::Rollout
        } else {
            BatchKind::Minibatch
        },
        len: b.len,
        obs: b.obs.as_slice(),
        action: b.action.as_slice(),
        reward: b.reward.as_slice(),
        next_obs: b.next_obs.as_slice(),
        terminated: b.terminated.as_slice(),
        truncated: b.truncated.as_slice(),
    }
}

/// Runs `f` on a component unless an earlier call panicked; a new panic marks it broken.
fn call_guarded<C: ?Sized, T>(
    inner: &mut C,
    broken: &mut Option<String>,
    what: &str,
    f: impl FnOnce(&mut C) -> PluginResult<T>,
) -> RResult<T, RString> {
    if let Some(reason) = broken {
        return RErr(
            format!("{what} refused: this object is broken by an earlier panic ({reason})").into(),
        );
    }
    let result = guarded(what, || f(inner));
    if let Err(e) = &result
        && e.contains(" panicked: ")
    {
        *broken = Some(e.clone());
    }
    to_r(result)
}

/// Plugin side of an agent.
pub(crate) struct AgentAdapter {
    inner: Box<dyn Agent>,
    broken: Option<String>,
}

impl AgentAdapter {
    pub(crate) fn boxed(inner: Box<dyn Agent>) -> AgentBox {
        AgentFfi_TO::from_value(
            AgentAdapter {
                inner,
                broken: None,
            },
            TD_Opaque,
        )
    }
}

impl AgentFfi for AgentAdapter {
    fn training(&self) -> RResult<RString, RString> {
        to_r(guarded("agent.training", || {
            serde_json::to_string(&self.inner.training())
                .map(RString::from)
                .map_err(|e| e.to_string())
        }))
    }

    fn act(
        &mut self,
        obs: RSlice<'_, f32>,
        n: usize,
        deterministic: bool,
    ) -> RResult<RVec<f32>, RString> {
        call_guarded(&mut *self.inner, &mut self.broken, "agent.act", |a| {
            a.act(obs.as_slice(), n, deterministic).map(RVec::from)
        })
    }

    fn update(&mut self, batch: BatchFfi<'_>, step: u8) -> RResult<RString, RString> {
        call_guarded(&mut *self.inner, &mut self.broken, "agent.update", |a| {
            let step =
                UpdateStep::from_u8(step).ok_or_else(|| format!("unknown update step {step}"))?;
            metrics_to_json(&a.update(&batch_from_ffi(&batch), step)?)
        })
    }

    fn save(&self) -> RResult<RVec<u8>, RString> {
        to_r(guarded("agent.save", || self.inner.save().map(RVec::from)))
    }

    fn load(&mut self, bytes: RSlice<'_, u8>) -> RResult<(), RString> {
        call_guarded(&mut *self.inner, &mut self.broken, "agent.load", |a| {
            a.load(bytes.as_slice())
        })
    }

    fn set_correction(&mut self, correction: CorrectionBox) -> RResult<(), RString> {
        call_guarded(
            &mut *self.inner,
            &mut self.broken,
            "agent.set_correction",
            |a| a.attach(Correction(Repr::Loaded(LoadedCorrection::new(correction)))),
        )
    }

    fn value_estimates(
        &mut self,
        obs: RSlice<'_, f32>,
        act: RSlice<'_, f32>,
        n: usize,
    ) -> RResult<RString, RString> {
        call_guarded(
            &mut *self.inner,
            &mut self.broken,
            "agent.value_estimates",
            |a| to_json(&a.value_estimates(obs.as_slice(), act.as_slice(), n)?),
        )
    }

    fn sample_for_diagnostics(
        &mut self,
        obs: RSlice<'_, f32>,
        n: usize,
        seed: u64,
    ) -> RResult<RString, RString> {
        call_guarded(
            &mut *self.inner,
            &mut self.broken,
            "agent.sample_for_diagnostics",
            |a| to_json(&a.sample_for_diagnostics(obs.as_slice(), n, seed)?),
        )
    }

    fn tabular(&mut self) -> RResult<RString, RString> {
        call_guarded(&mut *self.inner, &mut self.broken, "agent.tabular", |a| {
            to_json(&a.tabular()?)
        })
    }

    fn call(&mut self, op: RStr<'_>, _input: RStr<'_>) -> RResult<RString, RString> {
        call_guarded(
            &mut *self.inner,
            &mut self.broken,
            "agent.call",
            |a| match op.as_str() {
                // ABI 1.1
                "discount" => to_json(&a.discount()),
                // ABI 1.3
                "kernels" => to_json(&a.kernels()),
                other => Err(unknown_op(other)),
            },
        )
    }
}

/// The answer of a plugin to an operation its SDK does not know.
fn unknown_op(op: &str) -> String {
    format!(
        "unknown operation `{op}` (the plugin was built against ABI {})",
        super::ABI_VERSION
    )
}

/// Caller side of an agent: implements [`Agent`] by calling into its library.
pub struct LoadedAgent {
    inner: AgentBox,
}

impl LoadedAgent {
    pub(crate) fn new(inner: AgentBox) -> Self {
        Self { inner }
    }

    /// How the host must feed the agent, or the plugin's error (the `Agent::training` of the
    /// trait cannot return one).
    pub fn try_training(&self) -> PluginResult<Training> {
        from_json(&from_r(self.inner.training())?)
    }
}

impl Agent for LoadedAgent {
    fn value_estimates(
        &mut self,
        obs: &[f32],
        act: &[f32],
        n: usize,
    ) -> PluginResult<Vec<(String, Vec<f32>)>> {
        from_json(&from_r(self.inner.value_estimates(
            obs.into(),
            act.into(),
            n,
        ))?)
    }

    fn sample_for_diagnostics(
        &mut self,
        obs: &[f32],
        n: usize,
        seed: u64,
    ) -> PluginResult<crate::agent::SoftSample> {
        from_json(&from_r(self.inner.sample_for_diagnostics(
            obs.into(),
            n,
            seed,
        ))?)
    }

    fn tabular(&mut self) -> PluginResult<Option<crate::agent::TabularView>> {
        from_json(&from_r(self.inner.tabular())?)
    }

    /// `None` also for a plugin older than ABI 1.1, which has no such operation.
    fn discount(&mut self) -> Option<f64> {
        from_r(self.inner.call("discount".into(), "".into()))
            .ok()
            .and_then(|json| serde_json::from_str::<Option<f64>>(&json).ok())
            .flatten()
    }

    fn kernels(&mut self) -> Option<String> {
        from_r(self.inner.call("kernels".into(), "".into()))
            .ok()
            .and_then(|json| serde_json::from_str::<Option<String>>(&json).ok())
            .flatten()
    }

    fn training(&self) -> Training {
        // The host checks `try_training` when it builds the agent, so this cannot fail later;
        // a broken answer still becomes a schedule the host refuses.
        self.try_training().unwrap_or(Training::OnPolicy {
            rollout_len: 0,
            num_envs: 1,
        })
    }

    fn act(&mut self, obs: &[f32], n: usize, deterministic: bool) -> PluginResult<Vec<f32>> {
        from_r(self.inner.act(obs.into(), n, deterministic)).map(RVec::into_vec)
    }

    fn update(&mut self, batch: &Batch<'_>, step: UpdateStep) -> PluginResult<Metrics> {
        let json = from_r(self.inner.update(batch_to_ffi(batch), step as u8))?;
        metrics_from_json(&json)
    }

    fn save(&self) -> PluginResult<Vec<u8>> {
        from_r(self.inner.save()).map(RVec::into_vec)
    }

    fn load(&mut self, bytes: &[u8]) -> PluginResult<()> {
        from_r(self.inner.load(bytes.into()))
    }

    /// A correction from another library goes to the agent's library as it is; one written
    /// here is wrapped as an ABI object first.
    fn attach(&mut self, correction: Correction) -> PluginResult<()> {
        let boxed = match correction.0 {
            Repr::Loaded(c) => c.inner,
            other => CorrectionAdapter::boxed(Correction(other)),
        };
        from_r(self.inner.set_correction(boxed))
    }
}

/// Term kinds on the wire ([`TermFfi::kind`], [`TabularUpdateFfi::kind`]): 0 zero, 2 a
/// direction; ABI 1.0 had one per-sample form per family as kind 1 (the SAC and on-policy
/// cores summed theirs, the tabular ones averaged), and ABI 1.2 added the other as kind 3.
fn term_to_ffi<T>(term: Term<T>, family: Family) -> (u8, Vec<T>) {
    let sums = family != Family::Tabular;
    match term {
        Term::Zero => (0, Vec::new()),
        Term::Sum(v) => (if sums { 1 } else { 3 }, v),
        Term::Mean(v) => (if sums { 3 } else { 1 }, v),
        Term::Direction(v) => (2, v),
    }
}

pub(super) fn term_from_ffi<T>(kind: u8, values: Vec<T>, family: Family) -> PluginResult<Term<T>> {
    let sums = family != Family::Tabular;
    Ok(match (kind, sums) {
        (0, _) => Term::Zero,
        (1, true) | (3, false) => Term::Sum(values),
        (1, false) | (3, true) => Term::Mean(values),
        (2, _) => Term::Direction(values),
        (k, _) => return Err(format!("correction returned unknown term kind {k}")),
    })
}

fn family_from_u8(family: u8) -> Family {
    match family {
        FAMILY_TABULAR => Family::Tabular,
        FAMILY_ONPOLICY => Family::OnPolicy,
        _ => Family::Sac,
    }
}

/// Plugin side of a correction: one of the three family traits.
pub(crate) struct CorrectionAdapter {
    inner: Repr,
    broken: Option<String>,
}

impl CorrectionAdapter {
    pub(crate) fn boxed(correction: Correction) -> CorrectionBox {
        let family = correction.family();
        // A correction this library itself loaded from another one is passed through its
        // family's trait.
        let inner = match correction.0 {
            Repr::Loaded(c) => match family {
                Family::Sac => Repr::Sac(Box::new(c.into_sac())),
                Family::OnPolicy => Repr::OnPolicy(Box::new(c.into_onpolicy())),
                Family::Tabular => Repr::Tabular(Box::new(c.into_tabular())),
            },
            inner => inner,
        };
        CorrectionFfi_TO::from_value(
            CorrectionAdapter {
                inner,
                broken: None,
            },
            TD_Opaque,
        )
    }

    fn family(&self) -> Family {
        match self.inner {
            Repr::Sac(_) | Repr::Loaded(_) => Family::Sac,
            Repr::OnPolicy(_) => Family::OnPolicy,
            Repr::Tabular(_) => Family::Tabular,
        }
    }

    /// Runs `f` on a SAC-family correction (another family refuses, naming both).
    fn sac<T>(
        &mut self,
        what: &str,
        f: impl FnOnce(&mut dyn SacCorrection) -> PluginResult<T>,
    ) -> RResult<T, RString> {
        let family = self.family();
        match &mut self.inner {
            Repr::Sac(c) => call_guarded(&mut **c, &mut self.broken, what, |c| f(c)),
            _ => RErr(format!("{what}: {}", Family::refusal(Some(Family::Sac), family)).into()),
        }
    }
}

impl CorrectionFfi for CorrectionAdapter {
    fn train(&mut self, ctx: ContextRef<'_>) -> RResult<RString, RString> {
        self.sac("correction.train", |c| {
            let remote = RemoteContext::new(ctx)?;
            metrics_to_json(&c.train(&remote)?)
        })
    }

    fn actor_term(&mut self, ctx: ContextRef<'_>) -> RResult<TermFfi, RString> {
        self.sac("correction.actor_term", |c| {
            let remote = RemoteContext::new(ctx)?;
            let (term, metrics) = c.actor_term(&remote)?;
            let (kind, values) = term_to_ffi(term, Family::Sac);
            Ok(TermFfi {
                kind,
                values: values.into(),
                metrics_json: metrics_to_json(&metrics)?,
            })
        })
    }

    fn save(&self) -> RResult<RVec<u8>, RString> {
        to_r(guarded("correction.save", || {
            match &self.inner {
                Repr::Sac(c) => c.save(),
                Repr::Tabular(c) => c.save(),
                Repr::OnPolicy(c) => c.save(),
                Repr::Loaded(_) => unreachable!("unwrapped in `boxed`"),
            }
            .map(RVec::from)
        }))
    }

    fn load(&mut self, bytes: RSlice<'_, u8>) -> RResult<(), RString> {
        let bytes = bytes.as_slice();
        let broken = &mut self.broken;
        match &mut self.inner {
            Repr::Sac(c) => call_guarded(&mut **c, broken, "correction.load", |c| c.load(bytes)),
            Repr::Tabular(c) => {
                call_guarded(&mut **c, broken, "correction.load", |c| c.load(bytes))
            }
            Repr::OnPolicy(c) => {
                call_guarded(&mut **c, broken, "correction.load", |c| c.load(bytes))
            }
            Repr::Loaded(_) => unreachable!("unwrapped in `boxed`"),
        }
    }

    fn value_terms(
        &mut self,
        obs: RSlice<'_, f32>,
        act: RSlice<'_, f32>,
        n: usize,
    ) -> RResult<RString, RString> {
        self.sac("correction.value_terms", |c| {
            to_json(&c.value_terms(obs.as_slice(), act.as_slice(), n)?)
        })
    }

    fn family(&self) -> u8 {
        match CorrectionAdapter::family(self) {
            Family::Sac => FAMILY_SAC,
            Family::Tabular => FAMILY_TABULAR,
            Family::OnPolicy => FAMILY_ONPOLICY,
        }
    }

    fn tabular_update(&mut self, ctx: TabularContextFfi<'_>) -> RResult<TabularUpdateFfi, RString> {
        let family = CorrectionAdapter::family(self);
        match &mut self.inner {
            Repr::Tabular(c) => call_guarded(
                &mut **c,
                &mut self.broken,
                "correction.tabular_update",
                |c| {
                    let ctx = super::tabular::context_from_ffi(&ctx)?;
                    let update = c.update(&ctx)?;
                    let (kind, values) = term_to_ffi(update.term, Family::Tabular);
                    super::tabular::update_to_ffi(
                        kind,
                        values,
                        update.critic_correction,
                        &update.metrics,
                    )
                },
            ),
            _ => RErr(Family::refusal(Some(Family::Tabular), family).into()),
        }
    }

    fn onpolicy_term(&mut self, ctx: ContextRef<'_>) -> RResult<TermFfi, RString> {
        let family = CorrectionAdapter::family(self);
        match &mut self.inner {
            Repr::OnPolicy(c) => call_guarded(
                &mut **c,
                &mut self.broken,
                "correction.onpolicy_term",
                |c| {
                    let remote = RemoteOnPolicyContext::new(ctx)?;
                    let (term, metrics) = c.actor_term(&remote)?;
                    let (kind, values) = term_to_ffi(term, Family::OnPolicy);
                    Ok(TermFfi {
                        kind,
                        values: values.into(),
                        metrics_json: metrics_to_json(&metrics)?,
                    })
                },
            ),
            _ => RErr(Family::refusal(Some(Family::OnPolicy), family).into()),
        }
    }

    fn call(&mut self, op: RStr<'_>, _input: RStr<'_>) -> RResult<RString, RString> {
        match op.as_str() {
            // ABI 1.2
            "trains" => {
                let trains = match &self.inner {
                    Repr::Sac(c) => c.trains(),
                    _ => false,
                };
                to_r(to_json(&trains))
            }
            other => RErr(unknown_op(other).into()),
        }
    }
}

/// A correction living in another library (what `Plugin::new_correction` builds), before a
/// core takes it through its family's trait.
pub struct LoadedCorrection {
    inner: CorrectionBox,
}

impl LoadedCorrection {
    pub(crate) fn new(inner: CorrectionBox) -> Self {
        Self { inner }
    }

    pub fn family(&self) -> Family {
        family_from_u8(self.inner.family())
    }

    /// [`SacCorrection::trains`] across the boundary; `None` from a plugin older than ABI 1.2.
    pub fn trains(&mut self) -> Option<bool> {
        from_r(self.inner.call("trains".into(), "".into()))
            .ok()
            .and_then(|json| serde_json::from_str(&json).ok())
    }

    pub(crate) fn into_sac(self) -> LoadedSac {
        LoadedSac(self.inner)
    }

    pub(crate) fn into_onpolicy(self) -> LoadedOnPolicy {
        LoadedOnPolicy(self.inner)
    }

    pub(crate) fn into_tabular(self) -> LoadedTabular {
        LoadedTabular(self.inner)
    }
}

/// A loaded SAC-family correction, as a [`SacCorrection`].
pub(crate) struct LoadedSac(CorrectionBox);

impl SacCorrection for LoadedSac {
    fn value_terms(
        &mut self,
        obs: &[f32],
        act: &[f32],
        n: usize,
    ) -> PluginResult<Vec<(String, Vec<f32>)>> {
        from_json(&from_r(self.0.value_terms(obs.into(), act.into(), n))?)
    }

    fn train(&mut self, ctx: &dyn SacContext) -> PluginResult<Metrics> {
        let server = ContextServer(ctx);
        let json = from_r(self.0.train(ContextFfi_TO::from_ptr(&server, TD_Opaque)))?;
        metrics_from_json(&json)
    }

    // `trains` keeps its default: the host asks the loaded object itself
    // (`Correction::trains`) before it attaches it.

    fn actor_term(&mut self, ctx: &dyn SacContext) -> PluginResult<(Term<f32>, Metrics)> {
        let server = ContextServer(ctx);
        let term = from_r(
            self.0
                .actor_term(ContextFfi_TO::from_ptr(&server, TD_Opaque)),
        )?;
        term_parts(term, Family::Sac)
    }

    fn save(&self) -> PluginResult<Vec<u8>> {
        from_r(self.0.save()).map(RVec::into_vec)
    }

    fn load(&mut self, bytes: &[u8]) -> PluginResult<()> {
        from_r(self.0.load(bytes.into()))
    }
}

/// A term as it crossed the boundary, with its metrics.
fn term_parts(term: TermFfi, family: Family) -> PluginResult<(Term<f32>, Metrics)> {
    let metrics = metrics_from_json(&term.metrics_json)?;
    Ok((
        term_from_ffi(term.kind, term.values.into_vec(), family)?,
        metrics,
    ))
}

/// A loaded tabular-family correction, as a [`TabularCorrection`].
pub(crate) struct LoadedTabular(CorrectionBox);

impl TabularCorrection for LoadedTabular {
    fn update(&mut self, ctx: &TabularContext) -> PluginResult<TabularUpdate> {
        let batch = super::tabular::transitions_to_ffi(&ctx.batch);
        let ffi = super::tabular::context_to_ffi(ctx, &batch);
        super::tabular::update_from_ffi(from_r(self.0.tabular_update(ffi))?)
    }

    fn save(&self) -> PluginResult<Vec<u8>> {
        from_r(self.0.save()).map(RVec::into_vec)
    }

    fn load(&mut self, bytes: &[u8]) -> PluginResult<()> {
        from_r(self.0.load(bytes.into()))
    }
}

/// A loaded on-policy-family correction, as an [`OnPolicyCorrection`].
pub(crate) struct LoadedOnPolicy(CorrectionBox);

impl OnPolicyCorrection for LoadedOnPolicy {
    fn actor_term(&mut self, ctx: &dyn OnPolicyContext) -> PluginResult<(Term<f32>, Metrics)> {
        let server = OnPolicyServer(ctx);
        let term = from_r(
            self.0
                .onpolicy_term(ContextFfi_TO::from_ptr(&server, TD_Opaque)),
        )?;
        term_parts(term, Family::OnPolicy)
    }

    fn save(&self) -> PluginResult<Vec<u8>> {
        from_r(self.0.save()).map(RVec::into_vec)
    }

    fn load(&mut self, bytes: &[u8]) -> PluginResult<()> {
        from_r(self.0.load(bytes.into()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::result::{ErrorKind, error_kind};

    #[test]
    fn a_non_finite_metric_is_a_divergence_on_both_sides() {
        let e = metrics_to_json(&vec![("train/alpha".into(), f64::INFINITY)]).unwrap_err();
        assert_eq!(error_kind(&e), ErrorKind::Diverged);
        assert!(e.contains("`train/alpha` is inf"), "{e}");
        // What a plugin built before ABI 1.2 sends for a NaN metric.
        let e = metrics_from_json(r#"[["train/loss", 1.0], ["train/alpha", null]]"#).unwrap_err();
        assert_eq!(error_kind(&e), ErrorKind::Diverged);
        assert!(e.contains("`train/alpha`"), "{e}");
        let e = metrics_from_json("[1, 2]").unwrap_err();
        assert_eq!(error_kind(&e), ErrorKind::Failed);
        assert!(metrics_to_json(&vec![("a".into(), 1.0)]).is_ok());
    }
}
