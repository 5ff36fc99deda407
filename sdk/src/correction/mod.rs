//! The correction hook: one concept for the three families of actor-critic acgap has.
//!
//! A gap estimator ("correction") changes what an actor-critic's actor ascends. Whatever the
//! family, it is built from a [`CorrectionInit`], returns a [`Term`] at every actor update, and
//! travels as one value, [`Correction`], which knows its family: an agent is given it with
//! [`crate::Agent::attach`], and an agent of another family refuses it with a message naming
//! both families. The families differ only in what the estimator sees (its context):
//!
//! | family | trait | context | the agents that take it |
//! |---|---|---|---|
//! | [`Family::Sac`] | [`SacCorrection`] | [`SacContext`]: products with the SAC core's networks | `sac`, `ressac`, `stacksac` |
//! | [`Family::OnPolicy`] | [`OnPolicyCorrection`] | [`OnPolicyContext`]: the rollout and products with `V_w` | `agc`, `stac` |
//! | [`Family::Tabular`] | [`TabularCorrection`] | [`TabularContext`]: the tables themselves | `libtabular.so`'s agents, `host score` |
//!
//! **One convention** (docs/plugins.md, "One convention"): a [`Term`] is *added to the ascent
//! direction* of the actor's objective, a batch mean. Per-sample entries say who averages:
//! [`Term::Mean`] — the core divides by the batch size; [`Term::Sum`] — the core adds them as
//! they are (you included any `1/B`). Each per-sample entry multiplies the same per-sample
//! derivative in every family's formula: `d a~_b / d theta` (SAC: the entries are action
//! gradients, `act_dim` per sample) or `grad_theta log pi(a_b|s_b)` (on-policy, tabular: one
//! weight per sample). [`Term::Direction`] is a vector in the actor's parameter space, added
//! as is. Metrics a correction returns are logged as `correction/<metric>` in every family;
//! name them `<your-name>/...`.

pub mod onpolicy;
pub mod sac;
pub mod tabular;

pub use onpolicy::{GramTarget, OnPolicyContext, OnPolicyCorrection, RolloutInfo};
pub use sac::{ContextInfo, SacContext, SacCorrection, Sampled};
pub use tabular::{TabularContext, TabularCorrection, TabularUpdate};

use crate::result::PluginResult;
use crate::spec::EnvSpec;
use serde::{Deserialize, Serialize};

/// Which actor-critic family a correction is written for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Family {
    Sac,
    OnPolicy,
    Tabular,
}

impl Family {
    /// The name `host inspect` shows and session files use: `sac`, `onpolicy`, `tabular`.
    pub fn name(self) -> &'static str {
        match self {
            Family::Sac => "sac",
            Family::OnPolicy => "onpolicy",
            Family::Tabular => "tabular",
        }
    }

    /// The family's label and its trait, for messages.
    fn words(self) -> (&'static str, &'static str) {
        match self {
            Family::Sac => ("SAC", "SacCorrection"),
            Family::OnPolicy => ("on-policy", "OnPolicyCorrection"),
            Family::Tabular => ("tabular", "TabularCorrection"),
        }
    }

    /// `"a SAC-family correction (SacCorrection)"`, for messages.
    pub fn described(self) -> String {
        let article = if self == Family::OnPolicy { "an" } else { "a" };
        let (label, name) = self.words();
        format!("{article} {label}-family correction ({name})")
    }

    /// The core that takes this family's corrections.
    pub fn core(self) -> &'static str {
        match self {
            Family::Sac => "the SAC core",
            Family::OnPolicy => "the on-policy actor-critic",
            Family::Tabular => "the tabular actor-critics",
        }
    }

    /// The one refusal message: `taker`'s core was given a correction of family `given`.
    pub fn refusal(taker: Option<Family>, given: Family) -> String {
        match taker {
            Some(t) => format!(
                "{} takes {}-family corrections ({}); this one is {}",
                t.core(),
                t.words().0,
                t.words().1,
                given.described()
            ),
            None => format!(
                "this agent has no correction hook; the correction is {}",
                given.described()
            ),
        }
    }
}

/// What a correction adds to the actor's ascent direction, in every family (`f32` for the
/// SAC and on-policy families, `f64` for the tabular one). See the module's convention.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum Term<T> {
    /// Nothing this step.
    Zero,
    /// Per-sample entries whose batch **mean** the core takes (it divides by `B`).
    Mean(Vec<T>),
    /// Per-sample entries the core **sums** as they are (any `1/B` is already in them).
    Sum(Vec<T>),
    /// A direction in the actor's flat parameter space, added as is.
    Direction(Vec<T>),
}

/// The float types terms are made of.
pub trait Real: Copy + PartialEq + std::fmt::Display + std::ops::Div<Output = Self> {
    fn from_usize(n: usize) -> Self;
    fn finite(self) -> bool;
}

impl Real for f32 {
    fn from_usize(n: usize) -> Self {
        n as f32
    }
    fn finite(self) -> bool {
        self.is_finite()
    }
}

impl Real for f64 {
    fn from_usize(n: usize) -> Self {
        n as f64
    }
    fn finite(self) -> bool {
        self.is_finite()
    }
}

impl<T: Real> Term<T> {
    /// Checks the term's length against the core's shapes (`per_sample`: entries of a per-sample
    /// term, `params`: of a direction), with a message saying which the core expected.
    pub fn checked(self, per_sample: usize, params: usize) -> PluginResult<Self> {
        let (values, want, what) = match &self {
            Term::Zero => return Ok(self),
            Term::Mean(v) | Term::Sum(v) => (v, per_sample, "per-sample term"),
            Term::Direction(v) => (v, params, "parameter direction"),
        };
        if values.len() != want {
            return Err(format!(
                "the correction returned a {what} of {} values; expected {want}",
                values.len()
            ));
        }
        Ok(self)
    }

    /// The first non-finite entry, if any.
    pub fn non_finite(&self) -> Option<T> {
        match self {
            Term::Zero => None,
            Term::Mean(v) | Term::Sum(v) | Term::Direction(v) => {
                v.iter().copied().find(|x| !x.finite())
            }
        }
    }

    /// The per-sample entries as the core sums them: [`Term::Mean`]'s divided by `n` samples,
    /// [`Term::Sum`]'s as they are; `None` for the other forms.
    pub fn summed_entries(self, n: usize) -> Option<Vec<T>> {
        match self {
            Term::Mean(v) => {
                let n = T::from_usize(n);
                Some(v.into_iter().map(|x| x / n).collect())
            }
            Term::Sum(v) => Some(v),
            Term::Zero | Term::Direction(_) => None,
        }
    }
}

/// Everything a correction is built from.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct CorrectionInit {
    /// The correction's config: its defaults merged with the user's overrides.
    pub config: serde_json::Value,
    pub env: EnvSpec,
    /// The seed of the agent this correction is attached to; derive the correction's own
    /// streams from it with [`crate::seeds::derive`] and a name of your own.
    pub seed: u64,
    pub device: String,
}

/// A gap estimator of any family, as one value: what an entry's `build` returns and what
/// [`crate::Agent::attach`] takes. Make one with [`Correction::sac`], [`Correction::onpolicy`]
/// or [`Correction::tabular`] (or `From` a boxed trait object).
pub struct Correction(pub(crate) Repr);

pub(crate) enum Repr {
    Sac(Box<dyn SacCorrection>),
    OnPolicy(Box<dyn OnPolicyCorrection>),
    Tabular(Box<dyn TabularCorrection>),
    /// A correction living in another library, reached through the ABI.
    Loaded(crate::plugin::LoadedCorrection),
}

impl Correction {
    pub fn sac(c: impl SacCorrection + 'static) -> Self {
        Self(Repr::Sac(Box::new(c)))
    }

    pub fn onpolicy(c: impl OnPolicyCorrection + 'static) -> Self {
        Self(Repr::OnPolicy(Box::new(c)))
    }

    pub fn tabular(c: impl TabularCorrection + 'static) -> Self {
        Self(Repr::Tabular(Box::new(c)))
    }

    pub fn family(&self) -> Family {
        match &self.0 {
            Repr::Sac(_) => Family::Sac,
            Repr::OnPolicy(_) => Family::OnPolicy,
            Repr::Tabular(_) => Family::Tabular,
            Repr::Loaded(c) => c.family(),
        }
    }

    /// Whether the estimator trains networks of its own ([`SacCorrection::trains`]; the other
    /// families train inside their term's call). `None` for a loaded correction built before
    /// ABI 1.2, which cannot say.
    pub fn trains(&mut self) -> Option<bool> {
        match &mut self.0 {
            Repr::Sac(c) => Some(c.trains()),
            Repr::OnPolicy(_) | Repr::Tabular(_) => Some(false),
            Repr::Loaded(c) => c.trains(),
        }
    }

    /// The SAC-family estimator, for a SAC core's `attach`: any other family is refused with
    /// [`Family::refusal`].
    pub fn into_sac(self) -> PluginResult<Box<dyn SacCorrection>> {
        match self.0 {
            Repr::Sac(c) => Ok(c),
            Repr::Loaded(c) if c.family() == Family::Sac => Ok(Box::new(c.into_sac())),
            other => Err(Family::refusal(
                Some(Family::Sac),
                Correction(other).family(),
            )),
        }
    }

    /// The on-policy-family estimator; any other family is refused.
    pub fn into_onpolicy(self) -> PluginResult<Box<dyn OnPolicyCorrection>> {
        match self.0 {
            Repr::OnPolicy(c) => Ok(c),
            Repr::Loaded(c) if c.family() == Family::OnPolicy => Ok(Box::new(c.into_onpolicy())),
            other => Err(Family::refusal(
                Some(Family::OnPolicy),
                Correction(other).family(),
            )),
        }
    }

    /// The tabular-family estimator; any other family is refused.
    pub fn into_tabular(self) -> PluginResult<Box<dyn TabularCorrection>> {
        match self.0 {
            Repr::Tabular(c) => Ok(c),
            Repr::Loaded(c) if c.family() == Family::Tabular => Ok(Box::new(c.into_tabular())),
            other => Err(Family::refusal(
                Some(Family::Tabular),
                Correction(other).family(),
            )),
        }
    }
}

impl From<Box<dyn SacCorrection>> for Correction {
    fn from(c: Box<dyn SacCorrection>) -> Self {
        Self(Repr::Sac(c))
    }
}

impl From<Box<dyn OnPolicyCorrection>> for Correction {
    fn from(c: Box<dyn OnPolicyCorrection>) -> Self {
        Self(Repr::OnPolicy(c))
    }
}

impl From<Box<dyn TabularCorrection>> for Correction {
    fn from(c: Box<dyn TabularCorrection>) -> Self {
        Self(Repr::Tabular(c))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn terms_are_checked() {
        assert_eq!(
            Term::Sum(vec![1.0f64, 0.0]).checked(2, 5),
            Ok(Term::Sum(vec![1.0, 0.0]))
        );
        let e = Term::Direction(vec![0.0f32; 4]).checked(3, 5).unwrap_err();
        assert!(
            e.contains("parameter direction of 4 values; expected 5"),
            "{e}"
        );
        let e = Term::Mean(vec![1.0f32; 2]).checked(3, 5).unwrap_err();
        assert!(e.contains("per-sample term of 2 values; expected 3"), "{e}");
        assert!(
            Term::Sum(vec![1.0, f64::NAN])
                .non_finite()
                .unwrap()
                .is_nan()
        );
        assert_eq!(Term::Sum(vec![1.0f32]).non_finite(), None);
    }

    #[test]
    fn a_mean_is_divided_by_the_batch_and_a_sum_is_not() {
        assert_eq!(
            Term::Mean(vec![2.0f32, 4.0]).summed_entries(2),
            Some(vec![1.0, 2.0])
        );
        assert_eq!(
            Term::Sum(vec![2.0f32, 4.0]).summed_entries(2),
            Some(vec![2.0, 4.0])
        );
        assert_eq!(Term::<f32>::Direction(vec![1.0]).summed_entries(2), None);
    }

    #[test]
    fn the_refusal_names_both_families() {
        let m = Family::refusal(Some(Family::Sac), Family::Tabular);
        assert_eq!(
            m,
            "the SAC core takes SAC-family corrections (SacCorrection); \
             this one is a tabular-family correction (TabularCorrection)"
        );
        let m = Family::refusal(None, Family::OnPolicy);
        assert!(
            m.contains("no correction hook") && m.contains("OnPolicyCorrection"),
            "{m}"
        );
    }
}
