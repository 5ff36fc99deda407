//! [`SacContext`] across a library boundary: the SAC core's side answers named operations
//! ([`ContextServer`]); a loaded correction's side asks them ([`RemoteContext`]). Every
//! operation is declared once, in the table below (see `super::ops`).

use super::abi::ContextFfi;
use super::ops::context_ops;
use crate::agent::PluginResult;
use crate::correction::{ContextInfo, SacContext, Sampled};
use abi_stable::std_types::{RErr, RResult, RSlice, RStr, RString, RVec};

context_ops! {
    context: SacContext, remote: RemoteContext, wire: f32, kind: None;
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
}

/// Answers operations on behalf of a context owned by the caller.
pub(super) struct ContextServer<'a>(pub &'a dyn SacContext);

impl ContextFfi for ContextServer<'_> {
    fn call(&self, op: RStr<'_>, args: RSlice<'_, RSlice<'_, f32>>) -> RResult<RVec<f32>, RString> {
        super::ops::answer(op, args, |op, args| serve(self.0, op, args))
    }

    fn call_f64(
        &self,
        op: RStr<'_>,
        _: RSlice<'_, RSlice<'_, f64>>,
    ) -> RResult<RVec<f64>, RString> {
        RErr(format!("the SAC core's context has no f64 query `{op}` (an on-policy correction given to a SAC agent?)").into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plugin::abi::ContextFfi_TO;
    use crate::testing::LinearSac;
    use abi_stable::sabi_trait::TD_Opaque;

    /// Every operation of the table, asked through the ABI, answers what the context itself
    /// answers.
    #[test]
    fn every_operation_crosses_the_boundary_unchanged() {
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
