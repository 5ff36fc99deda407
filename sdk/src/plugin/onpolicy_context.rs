//! [`OnPolicyContext`] across a library boundary, through [`ContextFfi::call_f64`]: the core's
//! side answers named queries ([`OnPolicyServer`]), a loaded correction's side asks them
//! ([`RemoteOnPolicyContext`]). Every value travels as f64 — f32 data widens exactly and
//! narrows back unchanged — so a correction computes the same numbers loaded or compiled in.

use super::abi::{ContextFfi, ContextRef};
use crate::agent::PluginResult;
use crate::batch::{Batch, BatchKind};
use crate::onpolicy::{OnPolicyContext, RolloutInfo};
use abi_stable::std_types::{RErr, ROk, RResult, RSlice, RStr, RString, RVec};

/// Answers queries on behalf of a context owned by the caller.
pub(super) struct OnPolicyServer<'a>(pub &'a dyn OnPolicyContext);

fn wide(v: &[f32]) -> Vec<f64> {
    v.iter().map(|&x| x as f64).collect()
}

fn narrow(v: &[f64]) -> Vec<f32> {
    v.iter().map(|&x| x as f32).collect()
}

fn arg<'a>(args: &'a [&'a [f64]], i: usize, op: &str) -> PluginResult<&'a [f64]> {
    args.get(i)
        .copied()
        .ok_or_else(|| format!("context query `{op}` needs argument {i}"))
}

impl OnPolicyServer<'_> {
    fn serve(&self, op: &str, args: &[&[f64]]) -> PluginResult<Vec<f64>> {
        let c = self.0;
        let b = c.batch();
        let obs = || arg(args, 0, op).map(narrow);
        Ok(match op {
            "info" => {
                let i = c.info();
                let mut v = vec![
                    i.obs_dim as f64,
                    i.act_dim as f64,
                    i.batch_len as f64,
                    i.gamma,
                    i.gae_lambda,
                    i.critic_params as f64,
                    i.actor_params as f64,
                    i.update as f64,
                ];
                v.extend(i.hidden.iter().map(|&h| h as f64));
                v
            }
            "batch.obs" => wide(b.obs),
            "batch.action" => wide(b.action),
            "batch.reward" => wide(b.reward),
            "batch.next_obs" => wide(b.next_obs),
            "batch.terminated" => wide(b.terminated),
            "batch.truncated" => wide(b.truncated),
            "episode_starts" => c
                .episode_starts()
                .iter()
                .map(|&s| if s { 1.0 } else { 0.0 })
                .collect(),
            "returns" => wide(&c.returns()),
            "advantages" => wide(&c.advantages()),
            "values" => wide(&c.values()),
            "plain_weights" => wide(&c.plain_weights()),
            "log_probs" => wide(&c.log_probs()?),
            "critic_values" => wide(&c.critic_values(&obs()?)?),
            "critic_jvp" => c.critic_jvp(&obs()?, arg(args, 1, op)?)?,
            "critic_vjp" => c.critic_vjp(&obs()?, arg(args, 1, op)?)?,
            "critic_gram" => c.critic_gram(&obs()?)?,
            "critic_hvp" => c.critic_hvp(&obs()?, &narrow(arg(args, 1, op)?), arg(args, 2, op)?)?,
            "log_prob_vjp" => wide(&c.log_prob_vjp(&narrow(arg(args, 0, op)?))?),
            other => {
                return Err(format!(
                    "unknown on-policy context query `{other}` (correction built against a newer SDK?)"
                ));
            }
        })
    }
}

impl ContextFfi for OnPolicyServer<'_> {
    fn call(&self, op: RStr<'_>, _: RSlice<'_, RSlice<'_, f32>>) -> RResult<RVec<f32>, RString> {
        RErr(format!("the on-policy core's context has no f32 query `{op}` (a SAC correction given to an on-policy agent?)").into())
    }

    fn call_f64(
        &self,
        op: RStr<'_>,
        args: RSlice<'_, RSlice<'_, f64>>,
    ) -> RResult<RVec<f64>, RString> {
        let args: Vec<&[f64]> = args.iter().map(|a| a.as_slice()).collect();
        match super::guard::guarded("context query", || self.serve(op.as_str(), &args)) {
            Ok(v) => ROk(v.into()),
            Err(e) => RErr(e.into()),
        }
    }
}

/// A context owned by another library, seen as an [`OnPolicyContext`]. The rollout and the
/// core's per-transition vectors are fetched once.
pub(super) struct RemoteOnPolicyContext<'a> {
    ctx: ContextRef<'a>,
    info: RolloutInfo,
    columns: [Vec<f32>; 6],
    starts: Vec<bool>,
    vectors: [Vec<f32>; 4],
}

impl<'a> RemoteOnPolicyContext<'a> {
    pub(super) fn new(ctx: ContextRef<'a>) -> PluginResult<Self> {
        let ask = |op: &str| ask(&ctx, op, &[]);
        let i = ask("info")?;
        if i.len() < 8 {
            return Err("on-policy context `info` answer is too short".into());
        }
        let info = RolloutInfo {
            obs_dim: i[0] as usize,
            act_dim: i[1] as usize,
            batch_len: i[2] as usize,
            gamma: i[3],
            gae_lambda: i[4],
            critic_params: i[5] as usize,
            actor_params: i[6] as usize,
            update: i[7] as u64,
            hidden: i[8..].iter().map(|&h| h as usize).collect(),
        };
        let f32s = |op: &str| ask(op).map(|v| narrow(&v));
        Ok(Self {
            columns: [
                f32s("batch.obs")?,
                f32s("batch.action")?,
                f32s("batch.reward")?,
                f32s("batch.next_obs")?,
                f32s("batch.terminated")?,
                f32s("batch.truncated")?,
            ],
            starts: ask("episode_starts")?.iter().map(|&s| s > 0.5).collect(),
            vectors: [
                f32s("returns")?,
                f32s("advantages")?,
                f32s("values")?,
                f32s("plain_weights")?,
            ],
            ctx,
            info,
        })
    }
}

fn ask(ctx: &ContextRef<'_>, op: &str, args: &[&[f64]]) -> PluginResult<Vec<f64>> {
    let args: Vec<RSlice<'_, f64>> = args.iter().map(|a| RSlice::from_slice(a)).collect();
    ctx.call_f64(op.into(), RSlice::from_slice(&args))
        .into_result()
        .map_err(RString::into_string)
        .map(RVec::into_vec)
}

impl OnPolicyContext for RemoteOnPolicyContext<'_> {
    fn info(&self) -> RolloutInfo {
        self.info.clone()
    }
    fn batch(&self) -> Batch<'_> {
        let [obs, action, reward, next_obs, terminated, truncated] = &self.columns;
        Batch {
            kind: BatchKind::Rollout,
            len: self.info.batch_len,
            obs,
            action,
            reward,
            next_obs,
            terminated,
            truncated,
        }
    }
    fn episode_starts(&self) -> Vec<bool> {
        self.starts.clone()
    }
    fn returns(&self) -> Vec<f32> {
        self.vectors[0].clone()
    }
    fn advantages(&self) -> Vec<f32> {
        self.vectors[1].clone()
    }
    fn values(&self) -> Vec<f32> {
        self.vectors[2].clone()
    }
    fn plain_weights(&self) -> Vec<f32> {
        self.vectors[3].clone()
    }
    fn log_probs(&self) -> PluginResult<Vec<f32>> {
        ask(&self.ctx, "log_probs", &[]).map(|v| narrow(&v))
    }
    fn critic_values(&self, obs: &[f32]) -> PluginResult<Vec<f32>> {
        ask(&self.ctx, "critic_values", &[&wide(obs)]).map(|v| narrow(&v))
    }
    fn critic_jvp(&self, obs: &[f32], x: &[f64]) -> PluginResult<Vec<f64>> {
        ask(&self.ctx, "critic_jvp", &[&wide(obs), x])
    }
    fn critic_vjp(&self, obs: &[f32], z: &[f64]) -> PluginResult<Vec<f64>> {
        ask(&self.ctx, "critic_vjp", &[&wide(obs), z])
    }
    fn critic_gram(&self, obs: &[f32]) -> PluginResult<Vec<f64>> {
        ask(&self.ctx, "critic_gram", &[&wide(obs)])
    }
    fn critic_hvp(&self, obs: &[f32], targets: &[f32], x: &[f64]) -> PluginResult<Vec<f64>> {
        ask(&self.ctx, "critic_hvp", &[&wide(obs), &wide(targets), x])
    }
    fn log_prob_vjp(&self, coef: &[f32]) -> PluginResult<Vec<f32>> {
        ask(&self.ctx, "log_prob_vjp", &[&wide(coef)]).map(|v| narrow(&v))
    }
}
