//! [`OnPolicyContext`] across a library boundary, through [`ContextFfi::call_f64`]: the core's
//! side answers named operations ([`OnPolicyServer`]), a loaded correction's side asks them
//! ([`RemoteOnPolicyContext`]). Every value travels as f64 — f32 data widens exactly and
//! narrows back unchanged — so a correction computes the same numbers loaded or compiled in.
//! Every operation is declared once, in the table below (see `super::ops`).

use super::abi::ContextFfi;
use super::ops::context_ops;
use crate::agent::PluginResult;
use crate::batch::BatchKind;
use crate::correction::{OnPolicyContext, RolloutInfo};
use abi_stable::std_types::{RErr, RResult, RSlice, RStr, RString, RVec};

context_ops! {
    // An on-policy context always holds a rollout (and ABI 1.0 cores do not answer `batch.kind`).
    context: OnPolicyContext, remote: RemoteOnPolicyContext, wire: f64, kind: Some(BatchKind::Rollout);
    fetch {
        "info" => fn info() -> RolloutInfo;
        "episode_starts" => fn episode_starts() -> Vec<bool>;
        "returns" => fn returns() -> Vec<f32>;
        "advantages" => fn advantages() -> Vec<f32>;
        "values" => fn values() -> Vec<f32>;
        "plain_weights" => fn plain_weights() -> Vec<f32>;
    }
    ask {
        "log_probs" => fn log_probs() -> Vec<f32>;
        "critic_values" => fn critic_values(obs: f32) -> Vec<f32>;
        "critic_jvp" => fn critic_jvp(obs: f32, x: f64) -> Vec<f64>;
        "critic_vjp" => fn critic_vjp(obs: f32, z: f64) -> Vec<f64>;
        "critic_gram" => fn critic_gram(obs: f32) -> Vec<f64>;
        "critic_hvp" => fn critic_hvp(obs: f32, targets: f32, x: f64) -> Vec<f64>;
        "log_prob_vjp" => fn log_prob_vjp(coef: f32) -> Vec<f32>;
    }
}

/// Answers operations on behalf of a context owned by the caller.
pub(super) struct OnPolicyServer<'a>(pub &'a dyn OnPolicyContext);

impl ContextFfi for OnPolicyServer<'_> {
    fn call(&self, op: RStr<'_>, _: RSlice<'_, RSlice<'_, f32>>) -> RResult<RVec<f32>, RString> {
        RErr(format!("the on-policy core's context has no f32 query `{op}` (a SAC correction given to an on-policy agent?)").into())
    }

    fn call_f64(
        &self,
        op: RStr<'_>,
        args: RSlice<'_, RSlice<'_, f64>>,
    ) -> RResult<RVec<f64>, RString> {
        super::ops::answer(op, args, |op, args| serve(self.0, op, args))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plugin::abi::ContextFfi_TO;
    use crate::testing::LinearOnPolicy;
    use abi_stable::sabi_trait::TD_Opaque;

    /// Every operation of the table, asked through the ABI, answers what the context itself
    /// answers.
    #[test]
    fn every_operation_crosses_the_boundary_unchanged() {
        let local = LinearOnPolicy::random(3, 2, 6, 7);
        let server = OnPolicyServer(&local);
        let remote =
            RemoteOnPolicyContext::new(ContextFfi_TO::from_ptr(&server, TD_Opaque)).unwrap();
        let obs = local.obs.clone();
        let x = vec![0.25; local.critic.len()];
        let (z, coef) = (vec![0.5; 6], vec![0.1f32; 6]);
        let targets = local.returns();
        assert_eq!(remote.info(), local.info());
        assert_eq!(remote.batch().obs, local.batch().obs);
        assert_eq!(remote.batch().terminated, local.batch().terminated);
        assert_eq!(remote.batch().kind, BatchKind::Rollout);
        assert_eq!(remote.episode_starts(), local.episode_starts());
        assert_eq!(remote.returns(), local.returns());
        assert_eq!(remote.advantages(), local.advantages());
        assert_eq!(remote.values(), local.values());
        assert_eq!(remote.plain_weights(), local.plain_weights());
        assert_eq!(remote.log_probs(), local.log_probs());
        assert_eq!(remote.critic_values(&obs), local.critic_values(&obs));
        assert_eq!(remote.critic_jvp(&obs, &x), local.critic_jvp(&obs, &x));
        assert_eq!(remote.critic_vjp(&obs, &z), local.critic_vjp(&obs, &z));
        assert_eq!(remote.critic_gram(&obs), local.critic_gram(&obs));
        assert_eq!(
            remote.critic_hvp(&obs, &targets, &x),
            local.critic_hvp(&obs, &targets, &x)
        );
        assert_eq!(remote.log_prob_vjp(&coef), local.log_prob_vjp(&coef));
        assert!(
            remote
                .log_prob_vjp(&[1.0])
                .unwrap_err()
                .contains("log_prob_vjp")
        );
        assert_eq!(
            OPS.len(),
            13,
            "a new operation: add it to the comparison above"
        );
    }
}
