//! Plain Rust <-> stable ABI, in both directions:
//! - plugin side: [`AgentAdapter`] and [`CorrectionAdapter`] wrap a `Box<dyn Agent>` /
//!   `Box<dyn Correction>` as ABI objects, every call guarded against panics; after a
//!   panic the object is marked broken and refuses further calls.
//! - caller side: [`LoadedAgent`] and [`LoadedCorrection`] implement [`Agent`] /
//!   [`Correction`] on top of ABI objects, so the host and the SAC core use one trait
//!   whether the implementation is compiled in or loaded.

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
use crate::correction::{Correction, CorrectionTerm, SacContext};
use crate::onpolicy::{OnPolicyContext, OnPolicyCorrection, OnPolicyTerm};
use crate::tabular::{TabularContext, TabularCorrection, TabularUpdate};
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

fn metrics_to_json(m: &Metrics) -> PluginResult<RString> {
    serde_json::to_string(m)
        .map(RString::from)
        .map_err(|e| e.to_string())
}

fn metrics_from_json(s: &str) -> PluginResult<Metrics> {
    serde_json::from_str(s).map_err(|e| format!("plugin returned malformed metrics: {e}"))
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
            |a| match correction.family() {
                FAMILY_TABULAR => {
                    a.set_tabular_correction(Box::new(LoadedTabularCorrection::new(correction)))
                }
                FAMILY_ONPOLICY => {
                    a.set_onpolicy_correction(Box::new(LoadedOnPolicyCorrection::new(correction)))
                }
                _ => a.set_correction(Box::new(LoadedCorrection::new(correction))),
            },
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

    /// Attach a correction loaded from another library.
    pub fn set_loaded_correction(&mut self, correction: LoadedCorrection) -> PluginResult<()> {
        from_r(self.inner.set_correction(correction.inner))
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

    fn set_correction(&mut self, _correction: Box<dyn Correction>) -> PluginResult<()> {
        Err("a correction for a loaded agent must itself be loaded from a plugin (use set_loaded_correction)".into())
    }

    fn set_tabular_correction(
        &mut self,
        _correction: Box<dyn TabularCorrection>,
    ) -> PluginResult<()> {
        Err("a correction for a loaded agent must itself be loaded from a plugin (use set_loaded_correction)".into())
    }

    fn set_onpolicy_correction(
        &mut self,
        _correction: Box<dyn OnPolicyCorrection>,
    ) -> PluginResult<()> {
        Err("a correction for a loaded agent must itself be loaded from a plugin (use set_loaded_correction)".into())
    }
}

/// The three hooks a correction may implement.
pub(crate) enum AnyCorrection {
    Sac(Box<dyn Correction>),
    Tabular(Box<dyn TabularCorrection>),
    OnPolicy(Box<dyn OnPolicyCorrection>),
}

impl AnyCorrection {
    fn family(&self) -> &'static str {
        match self {
            AnyCorrection::Sac(_) => "a SAC-family correction (Correction)",
            AnyCorrection::Tabular(_) => "a tabular-family correction (TabularCorrection)",
            AnyCorrection::OnPolicy(_) => "an on-policy-family correction (OnPolicyCorrection)",
        }
    }
}

/// Plugin side of a correction.
pub(crate) struct CorrectionAdapter {
    inner: AnyCorrection,
    broken: Option<String>,
}

impl CorrectionAdapter {
    pub(crate) fn boxed(inner: AnyCorrection) -> CorrectionBox {
        CorrectionFfi_TO::from_value(
            CorrectionAdapter {
                inner,
                broken: None,
            },
            TD_Opaque,
        )
    }

    /// Runs `f` on a SAC-family correction (a tabular one refuses, naming both families).
    fn sac<T>(
        &mut self,
        what: &str,
        f: impl FnOnce(&mut dyn Correction) -> PluginResult<T>,
    ) -> RResult<T, RString> {
        match &mut self.inner {
            AnyCorrection::Sac(c) => call_guarded(&mut **c, &mut self.broken, what, |c| f(c)),
            other => RErr(
                format!(
                    "{what}: this is {}; the SAC core takes SAC-family corrections",
                    other.family()
                )
                .into(),
            ),
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
            let (kind, values) = match term {
                CorrectionTerm::Zero => (0, Vec::new()),
                CorrectionTerm::ActionGrad(v) => (1, v),
                CorrectionTerm::ParamGrad(v) => (2, v),
            };
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
                AnyCorrection::Sac(c) => c.save(),
                AnyCorrection::Tabular(c) => c.save(),
                AnyCorrection::OnPolicy(c) => c.save(),
            }
            .map(RVec::from)
        }))
    }

    fn load(&mut self, bytes: RSlice<'_, u8>) -> RResult<(), RString> {
        match &mut self.inner {
            AnyCorrection::Sac(c) => {
                call_guarded(&mut **c, &mut self.broken, "correction.load", |c| {
                    c.load(bytes.as_slice())
                })
            }
            AnyCorrection::Tabular(c) => {
                call_guarded(&mut **c, &mut self.broken, "correction.load", |c| {
                    c.load(bytes.as_slice())
                })
            }
            AnyCorrection::OnPolicy(c) => {
                call_guarded(&mut **c, &mut self.broken, "correction.load", |c| {
                    c.load(bytes.as_slice())
                })
            }
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
        match self.inner {
            AnyCorrection::Sac(_) => FAMILY_SAC,
            AnyCorrection::Tabular(_) => FAMILY_TABULAR,
            AnyCorrection::OnPolicy(_) => FAMILY_ONPOLICY,
        }
    }

    fn tabular_update(&mut self, ctx: TabularContextFfi<'_>) -> RResult<TabularUpdateFfi, RString> {
        match &mut self.inner {
            AnyCorrection::Tabular(c) => call_guarded(
                &mut **c,
                &mut self.broken,
                "correction.tabular_update",
                |c| {
                    let ctx = super::tabular::context_from_ffi(&ctx)?;
                    super::tabular::update_to_ffi(c.update(&ctx)?)
                },
            ),
            other => RErr(
                format!(
                    "this is {}; the tabular actor-critics take tabular-family corrections",
                    other.family()
                )
                .into(),
            ),
        }
    }

    fn onpolicy_term(&mut self, ctx: ContextRef<'_>) -> RResult<TermFfi, RString> {
        match &mut self.inner {
            AnyCorrection::OnPolicy(c) => call_guarded(
                &mut **c,
                &mut self.broken,
                "correction.onpolicy_term",
                |c| {
                    let remote = RemoteOnPolicyContext::new(ctx)?;
                    let (term, metrics) = c.actor_term(&remote)?;
                    let (kind, values) = match term {
                        OnPolicyTerm::Zero => (0, Vec::new()),
                        OnPolicyTerm::LogPiWeights(v) => (1, v),
                        OnPolicyTerm::ParamGrad(v) => (2, v),
                    };
                    Ok(TermFfi {
                        kind,
                        values: values.into(),
                        metrics_json: metrics_to_json(&metrics)?,
                    })
                },
            ),
            other => RErr(
                format!(
                    "this is {}; the on-policy actor-critic takes on-policy-family corrections",
                    other.family()
                )
                .into(),
            ),
        }
    }

    fn call(&mut self, op: RStr<'_>, _input: RStr<'_>) -> RResult<RString, RString> {
        RErr(unknown_op(op.as_str()).into())
    }
}

/// Caller side of a correction: implements [`Correction`] by calling into its library.
pub struct LoadedCorrection {
    inner: CorrectionBox,
}

impl LoadedCorrection {
    pub(crate) fn new(inner: CorrectionBox) -> Self {
        Self { inner }
    }

    /// [`FAMILY_SAC`] or [`FAMILY_TABULAR`].
    pub fn family(&self) -> u8 {
        self.inner.family()
    }

    /// The same object seen through the tabular hook (refused for a SAC-family correction).
    pub fn into_tabular(self) -> PluginResult<LoadedTabularCorrection> {
        if self.family() != FAMILY_TABULAR {
            return Err("this is a SAC-family correction (Correction), not a tabular-family one (TabularCorrection)".into());
        }
        Ok(LoadedTabularCorrection::new(self.inner))
    }
}

// SAFETY of Send: CorrectionBox is `Send` by its trait bound.
impl Correction for LoadedCorrection {
    fn value_terms(
        &mut self,
        obs: &[f32],
        act: &[f32],
        n: usize,
    ) -> PluginResult<Vec<(String, Vec<f32>)>> {
        from_json(&from_r(self.inner.value_terms(obs.into(), act.into(), n))?)
    }

    fn train(&mut self, ctx: &dyn SacContext) -> PluginResult<Metrics> {
        let server = ContextServer(ctx);
        let json = from_r(
            self.inner
                .train(ContextFfi_TO::from_ptr(&server, TD_Opaque)),
        )?;
        metrics_from_json(&json)
    }

    fn actor_term(&mut self, ctx: &dyn SacContext) -> PluginResult<(CorrectionTerm, Metrics)> {
        let server = ContextServer(ctx);
        let term = from_r(
            self.inner
                .actor_term(ContextFfi_TO::from_ptr(&server, TD_Opaque)),
        )?;
        let (kind, values, metrics) = term_parts(term)?;
        let term = match kind {
            0 => CorrectionTerm::Zero,
            1 => CorrectionTerm::ActionGrad(values),
            _ => CorrectionTerm::ParamGrad(values),
        };
        Ok((term, metrics))
    }

    fn save(&self) -> PluginResult<Vec<u8>> {
        from_r(self.inner.save()).map(RVec::into_vec)
    }

    fn load(&mut self, bytes: &[u8]) -> PluginResult<()> {
        from_r(self.inner.load(bytes.into()))
    }
}

/// A term as it crossed the boundary: its kind (0, 1 or 2, checked), values and metrics.
fn term_parts(term: TermFfi) -> PluginResult<(u8, Vec<f32>, Metrics)> {
    if term.kind > 2 {
        return Err(format!(
            "correction returned unknown term kind {}",
            term.kind
        ));
    }
    let metrics = metrics_from_json(&term.metrics_json)?;
    Ok((term.kind, term.values.into_vec(), metrics))
}

/// Caller side of a tabular correction: implements [`TabularCorrection`] by calling into its library.
pub struct LoadedTabularCorrection {
    inner: CorrectionBox,
}

impl LoadedTabularCorrection {
    fn new(inner: CorrectionBox) -> Self {
        Self { inner }
    }
}

impl TabularCorrection for LoadedTabularCorrection {
    fn update(&mut self, ctx: &TabularContext) -> PluginResult<TabularUpdate> {
        let batch = super::tabular::transitions_to_ffi(&ctx.batch);
        let ffi = super::tabular::context_to_ffi(ctx, &batch);
        super::tabular::update_from_ffi(from_r(self.inner.tabular_update(ffi))?)
    }

    fn save(&self) -> PluginResult<Vec<u8>> {
        from_r(self.inner.save()).map(RVec::into_vec)
    }

    fn load(&mut self, bytes: &[u8]) -> PluginResult<()> {
        from_r(self.inner.load(bytes.into()))
    }
}

/// Caller side of an on-policy correction: implements [`OnPolicyCorrection`] by calling into
/// its library.
pub struct LoadedOnPolicyCorrection {
    inner: CorrectionBox,
}

impl LoadedOnPolicyCorrection {
    fn new(inner: CorrectionBox) -> Self {
        Self { inner }
    }
}

impl OnPolicyCorrection for LoadedOnPolicyCorrection {
    fn actor_term(
        &mut self,
        ctx: &dyn OnPolicyContext,
    ) -> PluginResult<(OnPolicyTerm, crate::agent::Metrics)> {
        let server = OnPolicyServer(ctx);
        let term = from_r(
            self.inner
                .onpolicy_term(ContextFfi_TO::from_ptr(&server, TD_Opaque)),
        )?;
        let (kind, values, metrics) = term_parts(term)?;
        let term = match kind {
            0 => OnPolicyTerm::Zero,
            1 => OnPolicyTerm::LogPiWeights(values),
            _ => OnPolicyTerm::ParamGrad(values),
        };
        Ok((term, metrics))
    }

    fn save(&self) -> PluginResult<Vec<u8>> {
        from_r(self.inner.save()).map(RVec::into_vec)
    }

    fn load(&mut self, bytes: &[u8]) -> PluginResult<()> {
        from_r(self.inner.load(bytes.into()))
    }
}
