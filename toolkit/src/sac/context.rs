//! The minibatch as tensors, and [`StepContext`]: the SAC core seen by a correction.

use crate::Mlp;
use crate::tensor::Device;
use crate::tensor::{Tensor, from_rows, from_vec, to_vec};
use acgap_sdk::agent::PluginResult;
use acgap_sdk::batch::Batch;
use acgap_sdk::correction::{ContextInfo, SacContext, Sampled};
use burn::tensor::Gradients;
use std::cell::OnceCell;

/// What the context needs of the SAC core, which implements it (so the two files do not
/// import each other).
pub(super) trait Core {
    fn obs_dim(&self) -> usize;
    fn act_dim(&self) -> usize;
    fn device(&self) -> &Device;
    /// The actor's network.
    fn actor(&self) -> &Mlp;
    fn critics(&self) -> &[Mlp; 2];
    /// Sizes and constants at a batch of `batch_len` pairs.
    fn info(&self, batch_len: usize) -> ContextInfo;
    /// Env-unit actions to the actor's `[-1, 1]`.
    fn normalise_actions(&self, a: &[f32]) -> Vec<f32>;
    /// The soft TD target with `a'` drawn from `actor` with noise `eps_next`.
    fn soft_target(&self, actor: &Mlp, t: &BatchTensors, eps_next: Tensor<2>) -> Tensor<2>;
    /// The soft TD target at a given `(a', log pi(a'|s'))`.
    fn soft_target_at(&self, t: &BatchTensors, next: (Tensor<2>, Tensor<2>)) -> Tensor<2>;
    /// `J_pi` through `actor` with noise `eps`, with `log pi(a~|s)` and `a~`.
    fn actor_objective(
        &self,
        actor: &Mlp,
        t: &BatchTensors,
        eps: Tensor<2>,
    ) -> (Tensor<1>, Tensor<2>, Tensor<2>);
    /// On the fused path, the context's forward queries answered on the host copies of the
    /// networks (the maths of the fused steps), so that a correction that only reads values
    /// and returns an action gradient — Res-SAC — never has the burn view built; `None` on the
    /// burn path. The actor's samples `(a, log pi)` at `obs` with noise `eps`:
    fn host_sample(&self, obs: &[f32], eps: &[f32]) -> Option<(Vec<f32>, Vec<f32>)>;
    /// `(a~, log pi(a~|s))` through `actor` with noise `eps`, as the core samples.
    fn sample(&self, actor: &Mlp, obs: Tensor<2>, eps: Tensor<2>) -> (Tensor<2>, Tensor<2>);
    /// `Q1` rows then `Q2` rows at critic input rows `[obs | act]`.
    fn host_critics(&self, input: &[f32], rows: usize) -> Option<Vec<f32>>;
    /// The soft TD target of `batch` with `a'` drawn with noise `eps_next`.
    fn host_soft_target(&self, batch: &Batch<'_>, eps_next: &[f32]) -> Option<HostTarget>;
}

/// The soft TD target computed on the host copies, with the `(a', log pi(a'|s'))` it used.
pub(super) struct HostTarget {
    pub y: Vec<f32>,
    pub next_actions: Vec<f32>,
    pub next_log_prob: Vec<f32>,
}

/// `Q_i(s, a)` for a critic `net` (plain or tracked) on `[B, obs]`, `[B, act]`.
pub(super) fn q(net: &Mlp, obs: Tensor<2>, act: Tensor<2>) -> Tensor<2> {
    net.forward(Tensor::cat(vec![obs, act], 1))
}

/// A minibatch on the device, actions rescaled to the actor's `[-1, 1]`.
#[derive(Clone)]
pub(super) struct BatchTensors {
    pub obs: Tensor<2>,
    pub action: Tensor<2>,
    pub reward: Tensor<2>,
    pub next_obs: Tensor<2>,
    /// `1 - terminated`: truncated transitions bootstrap.
    pub not_terminated: Tensor<2>,
}

impl BatchTensors {
    pub fn new(core: &dyn Core, b: &Batch<'_>) -> PluginResult<Self> {
        check_batch(core, b)?;
        let (n, od, ad) = (b.len, core.obs_dim(), core.act_dim());
        let d = core.device();
        Ok(Self {
            obs: from_rows(b.obs, n, od, d),
            action: from_vec(core.normalise_actions(b.action), n, ad, d),
            reward: from_rows(b.reward, n, 1, d),
            next_obs: from_rows(b.next_obs, n, od, d),
            not_terminated: from_vec(b.terminated.iter().map(|t| 1.0 - t).collect(), n, 1, d),
        })
    }
}

/// A batch whose sizes match the core's, or an error saying how they differ.
pub(super) fn check_batch(core: &dyn Core, b: &Batch<'_>) -> PluginResult<()> {
    let (n, od, ad) = (b.len, core.obs_dim(), core.act_dim());
    if n == 0
        || b.obs.len() != n * od
        || b.next_obs.len() != n * od
        || b.action.len() != n * ad
        || b.reward.len() != n
        || b.terminated.len() != n
    {
        return Err(format!(
            "batch of {n} rows does not match obs dim {od} / action dim {ad}"
        ));
    }
    Ok(())
}

/// One update's view of the core: the batch, and this update's fixed noise for
/// `a~` (at `s`) and `a'` (at `s'`), so every query sees the same samples.
pub(super) struct StepContext<'a> {
    core: &'a dyn Core,
    batch: &'a Batch<'a>,
    t: BatchTensors,
    eps: Tensor<2>,
    eps_next: Tensor<2>,
    /// `(a', log pi(a'|s'))` from the current actor, computed once: both `next_actions` and
    /// `td_target` need it (Res-SAC's W step asks for both).
    next: OnceCell<(Tensor<2>, Tensor<2>)>,
    /// The fused path's soft target with its `a'`, computed once for the same reason (`None`:
    /// the burn path).
    host_next: OnceCell<Option<HostTarget>>,
    /// The noise as host vectors, for the fused path's queries.
    eps_host: OnceCell<Vec<f32>>,
}

impl<'a> StepContext<'a> {
    pub fn new(
        core: &'a dyn Core,
        batch: &'a Batch<'a>,
        t: BatchTensors,
        eps: Tensor<2>,
        eps_next: Tensor<2>,
    ) -> Self {
        Self {
            core,
            batch,
            t,
            eps,
            eps_next,
            next: OnceCell::new(),
            host_next: OnceCell::new(),
            eps_host: OnceCell::new(),
        }
    }

    fn host_next(&self) -> Option<&HostTarget> {
        self.host_next
            .get_or_init(|| {
                let eps_next = to_vec(self.eps_next.clone());
                self.core.host_soft_target(self.batch, &eps_next)
            })
            .as_ref()
    }

    fn next_sample(&self) -> (Tensor<2>, Tensor<2>) {
        self.next
            .get_or_init(|| self.sample(&self.t.next_obs, &self.eps_next))
            .clone()
    }

    /// The number of `(obs, act)` rows, or an error if the values do not form rows.
    fn row_count(&self, obs: &[f32], act: &[f32]) -> PluginResult<usize> {
        let (od, ad) = (self.core.obs_dim(), self.core.act_dim());
        let n = obs.len() / od;
        if n == 0 || obs.len() != n * od || act.len() != n * ad {
            return Err(format!(
                "critic query: {} obs values and {} action values do not form rows of {od} and {ad}",
                obs.len(),
                act.len()
            ));
        }
        Ok(n)
    }

    fn rows(&self, obs: &[f32], act: &[f32]) -> PluginResult<(Tensor<2>, Tensor<2>, usize)> {
        let n = self.row_count(obs, act)?;
        let (d, od, ad) = (self.core.device(), self.core.obs_dim(), self.core.act_dim());
        Ok((from_rows(obs, n, od, d), from_rows(act, n, ad, d), n))
    }

    /// The critics' input rows `[obs | act]`.
    fn critic_inputs(&self, obs: &[f32], act: &[f32]) -> Vec<f32> {
        let (od, ad) = (self.core.obs_dim(), self.core.act_dim());
        obs.chunks(od)
            .zip(act.chunks(ad))
            .flat_map(|(o, a)| o.iter().chain(a).copied())
            .collect()
    }

    fn sample(&self, obs: &Tensor<2>, eps: &Tensor<2>) -> (Tensor<2>, Tensor<2>) {
        self.core
            .sample(self.core.actor(), obs.clone(), eps.clone())
    }

    fn to_sampled((a, logp): (Tensor<2>, Tensor<2>)) -> Sampled {
        Sampled {
            actions: to_vec(a),
            log_prob: to_vec(logp),
        }
    }

    fn flat_grads(net: &Mlp, grads: &Gradients) -> Vec<f32> {
        net.grads(grads).into_iter().flat_map(to_vec).collect()
    }

    fn check_len(what: &str, got: usize, want: usize) -> PluginResult<()> {
        if got == want {
            Ok(())
        } else {
            Err(format!("{what}: got {got} values, expected {want}"))
        }
    }
}

impl SacContext for StepContext<'_> {
    fn info(&self) -> ContextInfo {
        self.core.info(self.batch.len)
    }

    fn batch(&self) -> Batch<'_> {
        *self.batch
    }

    fn batch_actions(&self) -> PluginResult<Vec<f32>> {
        Ok(to_vec(self.t.action.clone()))
    }

    fn policy_actions(&self) -> PluginResult<Sampled> {
        let eps = self.eps_host.get_or_init(|| to_vec(self.eps.clone()));
        if let Some((actions, log_prob)) = self.core.host_sample(self.batch.obs, eps) {
            return Ok(Sampled { actions, log_prob });
        }
        Ok(Self::to_sampled(self.sample(&self.t.obs, &self.eps)))
    }

    fn next_actions(&self) -> PluginResult<Sampled> {
        if let Some(h) = self.host_next() {
            return Ok(Sampled {
                actions: h.next_actions.clone(),
                log_prob: h.next_log_prob.clone(),
            });
        }
        Ok(Self::to_sampled(self.next_sample()))
    }

    fn td_target(&self) -> PluginResult<Vec<f32>> {
        if let Some(h) = self.host_next() {
            return Ok(h.y.clone());
        }
        Ok(to_vec(
            self.core.soft_target_at(&self.t, self.next_sample()),
        ))
    }

    fn critic_values(&self, obs: &[f32], act: &[f32]) -> PluginResult<Vec<f32>> {
        let n = self.row_count(obs, act)?;
        let inputs = self.critic_inputs(obs, act);
        if let Some(q) = self.core.host_critics(&inputs, n) {
            return Ok(q);
        }
        let mut v = self.core.critics()[0].predict(&inputs, n)?;
        v.extend(self.core.critics()[1].predict(&inputs, n)?);
        Ok(v)
    }

    fn critic_action_gradient(
        &self,
        obs: &[f32],
        act: &[f32],
        w: &[f32],
    ) -> PluginResult<Vec<f32>> {
        let n = self.row_count(obs, act)?;
        Self::check_len("critic_action_gradient weights", w.len(), 2 * n)?;
        let (od, ad) = (self.core.obs_dim(), self.core.act_dim());
        let inputs = self.critic_inputs(obs, act);
        let (mut values, mut grads) = (Vec::new(), Vec::new());
        for (i, critic) in self.core.critics().iter().enumerate() {
            let (q, g) = critic.input_gradient(&inputs, n, &w[i * n..(i + 1) * n])?;
            values.extend(q);
            // The input gradient's action columns.
            grads.extend(g.chunks(od + ad).flat_map(|row| row[od..].to_vec()));
        }
        values.extend(grads);
        Ok(values)
    }

    fn critic_jvp(&self, obs: &[f32], act: &[f32], v: &[f32]) -> PluginResult<Vec<f32>> {
        let (o, a, _) = self.rows(obs, act)?;
        let p = self.core.critics()[0].param_count();
        Self::check_len("critic_jvp direction", v.len(), 2 * p)?;
        let mut out = Vec::new();
        for (i, critic) in self.core.critics().iter().enumerate() {
            let dp = critic.unflatten(&v[i * p..(i + 1) * p], self.core.device());
            let (_, dq) = critic.jvp(Tensor::cat(vec![o.clone(), a.clone()], 1), &dp, None);
            out.extend(to_vec(dq));
        }
        Ok(out)
    }

    fn critic_vjp(&self, obs: &[f32], act: &[f32], w: &[f32]) -> PluginResult<Vec<f32>> {
        let n = self.row_count(obs, act)?;
        Self::check_len("critic_vjp weights", w.len(), 2 * n)?;
        let inputs = self.critic_inputs(obs, act);
        let mut out = Vec::new();
        for (i, critic) in self.core.critics().iter().enumerate() {
            out.extend(critic.param_gradient(&inputs, n, &w[i * n..(i + 1) * n])?);
        }
        Ok(out)
    }

    fn critic_gram(&self, obs: &[f32], act: &[f32]) -> PluginResult<Vec<f32>> {
        let (o, a, _) = self.rows(obs, act)?;
        let x = Tensor::cat(vec![o, a], 1);
        let mut out = self.core.critics()[0]
            .per_sample_gram(x.clone())
            .to_row_major_f32();
        out.extend(self.core.critics()[1].per_sample_gram(x).to_row_major_f32());
        Ok(out)
    }

    fn actor_gradient(&self) -> PluginResult<Vec<f32>> {
        let tracked = self.core.actor().tracked();
        let (objective, ..) = self
            .core
            .actor_objective(&tracked, &self.t, self.eps.clone());
        Ok(Self::flat_grads(&tracked, &objective.backward()))
    }

    fn actor_vjp(&self, g: &[f32]) -> PluginResult<Vec<f32>> {
        let (n, ad) = (self.batch.len, self.core.act_dim());
        Self::check_len("actor_vjp", g.len(), n * ad)?;
        let tracked = self.core.actor().tracked();
        let (a, _) = self
            .core
            .sample(&tracked, self.t.obs.clone(), self.eps.clone());
        let s = (a * from_rows(g, n, ad, self.core.device())).sum();
        Ok(Self::flat_grads(&tracked, &s.backward()))
    }

    fn target_vjp(&self, c: &[f32]) -> PluginResult<Vec<f32>> {
        let n = self.batch.len;
        Self::check_len("target_vjp", c.len(), n)?;
        let tracked = self.core.actor().tracked();
        let y = self
            .core
            .soft_target(&tracked, &self.t, self.eps_next.clone());
        let s = (y * from_rows(c, n, 1, self.core.device())).sum();
        Ok(Self::flat_grads(&tracked, &s.backward()))
    }
}
