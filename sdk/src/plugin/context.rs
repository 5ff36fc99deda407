//! [`SacContext`] across a library boundary: the SAC core's side answers named operations
//! ([`ContextServer`]); a loaded correction's side asks them ([`RemoteContext`]). Every
//! operation is declared once, in the table below (see `super::ops`).

use super::abi::{ContextFfi, ContextRef};
use super::ops::{Columns, context_ops};
use crate::agent::PluginResult;
use crate::batch::Batch;
use crate::correction::{ContextInfo, SacContext, Sampled};
use abi_stable::std_types::{RErr, ROk, RResult, RSlice, RStr, RString, RVec};
use std::borrow::Cow;

context_ops! {
    context: SacContext, remote: RemoteContext, wire: f32;
    fetch {
        "info" => fn info() -> ContextInfo;
    }
    ask {
        "batch_actions" => fn batch_actions() -> Vec<f32>;
        "policy_actions" => fn policy_actions() -> Sampled;
        "next_actions" => fn next_actions() -> Sampled;
        "td_target" => fn td_target() -> Vec<f32>;
        "critic_values" => fn critic_values(obs: f32, act: f32) -> Vec<f32>;
        "critic_jvp" => fn critic_jvp(obs: f32, act: f32, v: f32) -> Vec<f32>;
        "critic_vjp" => fn critic_vjp(obs: f32, act: f32, w: f32) -> Vec<f32>;
        "actor_vjp" => fn actor_vjp(g: f32) -> Vec<f32>;
        "target_vjp" => fn target_vjp(c: f32) -> Vec<f32>;
        "critic_gram" => fn critic_gram(obs: f32, act: f32) -> Vec<f32>;
        "actor_gradient" => fn actor_gradient() -> Vec<f32>;
        "critic_action_gradient" => fn critic_action_gradient(obs: f32, act: f32, w: f32) -> Vec<f32>;
    }
    extra {
        fn batch(&self) -> Batch<'_> {
            self.columns.batch()
        }
    }
}

/// Answers operations on behalf of a context owned by the caller.
pub(super) struct ContextServer<'a>(pub &'a dyn SacContext);

impl ContextFfi for ContextServer<'_> {
    fn call(&self, op: RStr<'_>, args: RSlice<'_, RSlice<'_, f32>>) -> RResult<RVec<f32>, RString> {
        let args: Vec<&[f32]> = args.iter().map(|a| a.as_slice()).collect();
        let op = op.as_str();
        let answer = super::guard::guarded("context query", || {
            let batch = self.0.batch();
            match serve_op(self.0, op, &args) {
                Some(answer) => answer,
                None => super::ops::serve_batch(&batch, op).ok_or_else(|| {
                    format!("unknown context query `{op}` (correction built against a newer SDK?)")
                }),
            }
        });
        match answer {
            Ok(v) => ROk(v.into()),
            Err(e) => RErr(e.into()),
        }
    }

    fn call_f64(
        &self,
        op: RStr<'_>,
        _: RSlice<'_, RSlice<'_, f64>>,
    ) -> RResult<RVec<f64>, RString> {
        RErr(format!("the SAC core's context has no f64 query `{op}` (an on-policy correction given to a SAC agent?)").into())
    }
}

/// A context owned by another library, seen as a [`SacContext`]; its sizes and batch are
/// fetched once.
pub(super) struct RemoteContext<'a> {
    ctx: ContextRef<'a>,
    fetched: Fetched,
    columns: Columns,
}

impl<'a> RemoteContext<'a> {
    pub(super) fn new(ctx: ContextRef<'a>) -> PluginResult<Self> {
        let ask = |op: &str| ask(&ctx, op, &[]);
        let fetched = Fetched::new(ask, 0)?;
        let columns = Columns::fetch(ask, fetched.info.batch_len, None)?;
        Ok(Self {
            ctx,
            fetched,
            columns,
        })
    }

    fn rows(&self) -> usize {
        self.fetched.info.batch_len
    }

    fn ask(&self, op: &str, args: &[Cow<'_, [f32]>]) -> PluginResult<Vec<f32>> {
        ask(&self.ctx, op, args)
    }
}

fn ask(ctx: &ContextRef<'_>, op: &str, args: &[Cow<'_, [f32]>]) -> PluginResult<Vec<f32>> {
    let args: Vec<RSlice<'_, f32>> = args.iter().map(|a| RSlice::from_slice(a)).collect();
    ctx.call(op.into(), RSlice::from_slice(&args))
        .into_result()
        .map_err(RString::into_string)
        .map(RVec::into_vec)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plugin::abi::ContextFfi_TO;
    use crate::testing::LinearSac;
    use abi_stable::sabi_trait::TD_Opaque;

    /// Every operation of the table, asked through the ABI, answers what the context itself
    /// answers (and the names are unique).
    #[test]
    fn every_operation_crosses_the_boundary_unchanged() {
        let mut names = OPS.to_vec();
        names.sort();
        names.dedup();
        assert_eq!(names.len(), OPS.len(), "an operation name is used twice");
        let local = LinearSac::random(3, 2, 4, 7);
        let server = ContextServer(&local);
        let remote = RemoteContext::new(ContextFfi_TO::from_ptr(&server, TD_Opaque)).unwrap();
        let (obs, act) = (local.obs.clone(), local.action.clone());
        let v = vec![0.25; 2 * local.critics[0].len()];
        let (w, g, c) = (vec![0.5; 8], vec![0.1; 8], vec![1.0; 4]);
        assert_eq!(remote.info(), local.info());
        assert_eq!(remote.batch().obs, local.batch().obs);
        assert_eq!(remote.batch().truncated, local.batch().truncated);
        assert_eq!(remote.batch().kind, local.batch().kind);
        assert_eq!(remote.batch_actions(), local.batch_actions());
        assert_eq!(remote.policy_actions(), local.policy_actions());
        assert_eq!(remote.next_actions(), local.next_actions());
        assert_eq!(remote.td_target(), local.td_target());
        assert_eq!(
            remote.critic_values(&obs, &act),
            local.critic_values(&obs, &act)
        );
        assert_eq!(
            remote.critic_jvp(&obs, &act, &v),
            local.critic_jvp(&obs, &act, &v)
        );
        assert_eq!(
            remote.critic_vjp(&obs, &act, &w),
            local.critic_vjp(&obs, &act, &w)
        );
        assert_eq!(remote.actor_vjp(&g), local.actor_vjp(&g));
        assert_eq!(remote.target_vjp(&c), local.target_vjp(&c));
        assert_eq!(
            remote.critic_gram(&obs, &act),
            local.critic_gram(&obs, &act)
        );
        assert_eq!(remote.actor_gradient(), local.actor_gradient());
        assert_eq!(
            remote.critic_action_gradient(&obs, &act, &w),
            local.critic_action_gradient(&obs, &act, &w)
        );
        // An error crosses as an error.
        assert!(remote.actor_vjp(&[1.0]).unwrap_err().contains("actor_vjp"));
        assert_eq!(
            OPS.len(),
            13,
            "a new operation: add it to the comparison above"
        );
    }
}
