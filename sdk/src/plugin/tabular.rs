//! [`TabularContext`] and [`TabularUpdate`] across a library boundary: plain conversions
//! to and from the `repr(C)` forms of [`super::abi`]; every f64 crosses unchanged.

use super::abi::{TabularContextFfi, TabularUpdateFfi, TransitionFfi};
use crate::agent::PluginResult;
use crate::correction::Family;
use crate::correction::tabular::{Base, TabularContext, TabularUpdate, Transition};
use abi_stable::std_types::{RString, RVec};

pub(super) fn transitions_to_ffi(batch: &[Transition]) -> Vec<TransitionFfi> {
    batch
        .iter()
        .map(|t| TransitionFfi {
            s: t.s as u64,
            a: t.a as u64,
            r: t.r,
            next_s: t.next_s as u64,
            next_a: t.next_a.map_or(-1, |a| a as i64),
            terminated: t.terminated,
        })
        .collect()
}

pub(super) fn context_to_ffi<'a>(
    c: &'a TabularContext,
    batch: &'a [TransitionFfi],
) -> TabularContextFfi<'a> {
    TabularContextFfi {
        states: c.states as u64,
        actions: c.actions as u64,
        gamma: c.gamma,
        base: match c.base {
            Base::ActorO => 0,
            Base::ActorG => 1,
        },
        batch: batch.into(),
        policy: c.policy.as_slice().into(),
        critic: c.critic.as_slice().into(),
        start_weights: c.start_weights.as_slice().into(),
        base_direction: c.base_direction.as_slice().into(),
    }
}

pub(super) fn context_from_ffi(c: &TabularContextFfi<'_>) -> PluginResult<TabularContext> {
    let (states, actions) = (c.states as usize, c.actions as usize);
    let pairs = states * actions;
    for (what, len, want) in [
        ("policy", c.policy.len(), pairs),
        ("critic", c.critic.len(), pairs),
        ("start weights", c.start_weights.len(), states),
        ("base direction", c.base_direction.len(), pairs),
    ] {
        if len != want {
            return Err(format!(
                "tabular context: {what} has {len} entries, not {want}"
            ));
        }
    }
    let batch = c
        .batch
        .iter()
        .map(|t| Transition {
            s: t.s as usize,
            a: t.a as usize,
            r: t.r,
            next_s: t.next_s as usize,
            next_a: (t.next_a >= 0).then_some(t.next_a as usize),
            terminated: t.terminated,
        })
        .collect();
    Ok(TabularContext {
        states,
        actions,
        gamma: c.gamma,
        batch,
        policy: c.policy.to_vec(),
        critic: c.critic.to_vec(),
        start_weights: c.start_weights.to_vec(),
        base: if c.base == 0 {
            Base::ActorO
        } else {
            Base::ActorG
        },
        base_direction: c.base_direction.to_vec(),
    })
}

pub(super) fn update_to_ffi(
    kind: u8,
    values: Vec<f64>,
    critic_correction: Option<Vec<f64>>,
    metrics: &crate::result::Metrics,
) -> PluginResult<TabularUpdateFfi> {
    Ok(TabularUpdateFfi {
        kind,
        values: values.into(),
        has_critic_correction: critic_correction.is_some(),
        critic_correction: critic_correction.unwrap_or_default().into(),
        metrics_json: serde_json::to_string(metrics)
            .map(RString::from)
            .map_err(|e| e.to_string())?,
    })
}

pub(super) fn update_from_ffi(u: TabularUpdateFfi) -> PluginResult<TabularUpdate> {
    let term = super::adapters::term_from_ffi(u.kind, RVec::into_vec(u.values), Family::Tabular)
        .map_err(|e| format!("tabular {e}"))?;
    Ok(TabularUpdate {
        term,
        metrics: serde_json::from_str(&u.metrics_json)
            .map_err(|e| format!("tabular correction returned malformed metrics: {e}"))?,
        critic_correction: u
            .has_critic_correction
            .then(|| RVec::into_vec(u.critic_correction)),
    })
}
