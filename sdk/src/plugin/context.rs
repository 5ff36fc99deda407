//! [`SacContext`] across a library boundary: the SAC core's side answers named
//! queries ([`ContextServer`]); a loaded correction's side asks them
//! ([`RemoteContext`]). A new context method is one line in each `match`.

use super::abi::{ContextFfi, ContextRef};
use crate::agent::PluginResult;
use crate::batch::{Batch, BatchKind};
use crate::correction::{ContextInfo, SacContext, Sampled};
use abi_stable::std_types::{RErr, ROk, RResult, RSlice, RStr, RString, RVec};

/// Answers queries on behalf of a context owned by the caller.
pub(super) struct ContextServer<'a>(pub &'a dyn SacContext);

fn sampled_to_vec(s: Sampled) -> Vec<f32> {
    let mut v = s.actions;
    v.extend(s.log_prob);
    v
}

fn arg<'a>(args: &'a [&'a [f32]], i: usize, op: &str) -> PluginResult<&'a [f32]> {
    args.get(i)
        .copied()
        .ok_or_else(|| format!("context query `{op}` needs argument {i}"))
}

impl ContextServer<'_> {
    fn serve(&self, op: &str, args: &[&[f32]]) -> PluginResult<Vec<f32>> {
        let c = self.0;
        let b = c.batch();
        Ok(match op {
            "info" => {
                let i = c.info();
                let mut v = vec![
                    i.obs_dim as f32,
                    i.act_dim as f32,
                    i.batch_len as f32,
                    i.gamma,
                    i.alpha,
                    i.actor_params as f32,
                    i.critic_params as f32,
                ];
                v.extend(i.hidden.iter().map(|&h| h as f32));
                v
            }
            "batch.kind" => vec![b.kind as u8 as f32],
            "batch.obs" => b.obs.to_vec(),
            "batch.action" => b.action.to_vec(),
            "batch.reward" => b.reward.to_vec(),
            "batch.next_obs" => b.next_obs.to_vec(),
            "batch.terminated" => b.terminated.to_vec(),
            "batch.truncated" => b.truncated.to_vec(),
            "batch_actions" => c.batch_actions()?,
            "policy_actions" => sampled_to_vec(c.policy_actions()?),
            "next_actions" => sampled_to_vec(c.next_actions()?),
            "td_target" => c.td_target()?,
            "critic_values" => c.critic_values(arg(args, 0, op)?, arg(args, 1, op)?)?,
            "critic_jvp" => {
                c.critic_jvp(arg(args, 0, op)?, arg(args, 1, op)?, arg(args, 2, op)?)?
            }
            "critic_vjp" => {
                c.critic_vjp(arg(args, 0, op)?, arg(args, 1, op)?, arg(args, 2, op)?)?
            }
            "actor_vjp" => c.actor_vjp(arg(args, 0, op)?)?,
            "target_vjp" => c.target_vjp(arg(args, 0, op)?)?,
            "critic_gram" => c.critic_gram(arg(args, 0, op)?, arg(args, 1, op)?)?,
            "actor_gradient" => c.actor_gradient()?,
            "critic_action_gradient" => {
                c.critic_action_gradient(arg(args, 0, op)?, arg(args, 1, op)?, arg(args, 2, op)?)?
            }
            other => {
                return Err(format!(
                    "unknown context query `{other}` (correction built against a newer SDK?)"
                ));
            }
        })
    }
}

impl ContextFfi for ContextServer<'_> {
    fn call(&self, op: RStr<'_>, args: RSlice<'_, RSlice<'_, f32>>) -> RResult<RVec<f32>, RString> {
        let args: Vec<&[f32]> = args.iter().map(|a| a.as_slice()).collect();
        match super::guard::guarded("context query", || self.serve(op.as_str(), &args)) {
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

/// A context owned by another library, seen as a [`SacContext`].
pub(super) struct RemoteContext<'a> {
    ctx: ContextRef<'a>,
    info: ContextInfo,
    kind: BatchKind,
    columns: [Vec<f32>; 6],
}

impl<'a> RemoteContext<'a> {
    pub(super) fn new(ctx: ContextRef<'a>) -> PluginResult<Self> {
        let ask = |op: &str| -> PluginResult<Vec<f32>> {
            ctx.call(op.into(), RSlice::from_slice(&[]))
                .into_result()
                .map_err(RString::into_string)
                .map(RVec::into_vec)
        };
        let i = ask("info")?;
        if i.len() < 7 {
            return Err("context `info` answer is too short".into());
        }
        let info = ContextInfo {
            obs_dim: i[0] as usize,
            act_dim: i[1] as usize,
            batch_len: i[2] as usize,
            gamma: i[3],
            alpha: i[4],
            actor_params: i[5] as usize,
            critic_params: i[6] as usize,
            hidden: i[7..].iter().map(|&h| h as usize).collect(),
        };
        let kind = if ask("batch.kind")?.first() == Some(&1.0) {
            BatchKind::Rollout
        } else {
            BatchKind::Minibatch
        };
        let columns = [
            ask("batch.obs")?,
            ask("batch.action")?,
            ask("batch.reward")?,
            ask("batch.next_obs")?,
            ask("batch.terminated")?,
            ask("batch.truncated")?,
        ];
        Ok(Self {
            ctx,
            info,
            kind,
            columns,
        })
    }

    fn ask(&self, op: &str, args: &[&[f32]]) -> PluginResult<Vec<f32>> {
        let args: Vec<RSlice<'_, f32>> = args.iter().map(|a| RSlice::from_slice(a)).collect();
        self.ctx
            .call(op.into(), RSlice::from_slice(&args))
            .into_result()
            .map_err(RString::into_string)
            .map(RVec::into_vec)
    }

    fn sampled(&self, op: &str) -> PluginResult<Sampled> {
        let mut v = self.ask(op, &[])?;
        let n = self.info.batch_len;
        if v.len() != n * (self.info.act_dim + 1) {
            return Err(format!(
                "context `{op}` returned {} values, expected {}",
                v.len(),
                n * (self.info.act_dim + 1)
            ));
        }
        let log_prob = v.split_off(n * self.info.act_dim);
        Ok(Sampled {
            actions: v,
            log_prob,
        })
    }
}

impl SacContext for RemoteContext<'_> {
    fn info(&self) -> ContextInfo {
        self.info.clone()
    }
    fn batch(&self) -> Batch<'_> {
        let [obs, action, reward, next_obs, terminated, truncated] = &self.columns;
        Batch {
            kind: self.kind,
            len: self.info.batch_len,
            obs,
            action,
            reward,
            next_obs,
            terminated,
            truncated,
        }
    }
    fn batch_actions(&self) -> PluginResult<Vec<f32>> {
        self.ask("batch_actions", &[])
    }
    fn policy_actions(&self) -> PluginResult<Sampled> {
        self.sampled("policy_actions")
    }
    fn next_actions(&self) -> PluginResult<Sampled> {
        self.sampled("next_actions")
    }
    fn td_target(&self) -> PluginResult<Vec<f32>> {
        self.ask("td_target", &[])
    }
    fn critic_values(&self, obs: &[f32], act: &[f32]) -> PluginResult<Vec<f32>> {
        self.ask("critic_values", &[obs, act])
    }
    fn critic_jvp(&self, obs: &[f32], act: &[f32], v: &[f32]) -> PluginResult<Vec<f32>> {
        self.ask("critic_jvp", &[obs, act, v])
    }
    fn critic_vjp(&self, obs: &[f32], act: &[f32], w: &[f32]) -> PluginResult<Vec<f32>> {
        self.ask("critic_vjp", &[obs, act, w])
    }
    fn actor_vjp(&self, g: &[f32]) -> PluginResult<Vec<f32>> {
        self.ask("actor_vjp", &[g])
    }
    fn target_vjp(&self, c: &[f32]) -> PluginResult<Vec<f32>> {
        self.ask("target_vjp", &[c])
    }
    fn critic_gram(&self, obs: &[f32], act: &[f32]) -> PluginResult<Vec<f32>> {
        self.ask("critic_gram", &[obs, act])
    }
    fn actor_gradient(&self) -> PluginResult<Vec<f32>> {
        self.ask("actor_gradient", &[])
    }
    fn critic_action_gradient(
        &self,
        obs: &[f32],
        act: &[f32],
        w: &[f32],
    ) -> PluginResult<Vec<f32>> {
        self.ask("critic_action_gradient", &[obs, act, w])
    }
}
