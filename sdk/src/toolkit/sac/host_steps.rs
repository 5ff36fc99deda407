//! The critic and actor steps on the CPU device, in host memory ([`HostMlp`]): the maths of
//! the burn path in `core.rs` (docs/algorithms.md §3) with the squashed Gaussian's and the
//! soft target's derivatives written out, so that a step is a few GEMMs and fused loops
//! instead of a graph of allocating tensor operations. `tests.rs` checks that both paths
//! take the same steps.

use super::core::SacCore;
use crate::agent::PluginResult;
use crate::batch::Batch;
use crate::correction::CorrectionTerm;
use crate::toolkit::policy::{LOG_STD_MAX, LOG_STD_MIN};
use crate::toolkit::{HostMlp, Mlp, Tape, Wanted};

const HALF_LOG_2PI: f32 = 0.918_938_5;
const LN_2: f32 = std::f32::consts::LN_2;

/// The networks on the host with the buffers their passes reuse. They lead: the core's burn
/// networks are set from them only when something reads those (a correction's context,
/// diagnostics), which a plain SAC run never does.
pub(super) struct HostNets {
    /// The host networks have moved since the burn networks were last set from them.
    burn_stale: bool,
    actor: HostMlp,
    critics: [HostMlp; 2],
    targets: [HostMlp; 2],
    actor_tape: Tape,
    critic_tapes: [Tape; 2],
    critic_grads: [Vec<Vec<f32>>; 2],
    actor_grads: Vec<Vec<f32>>,
}

impl HostNets {
    pub fn new(actor: &Mlp, critics: &[Mlp; 2], targets: &[Mlp; 2]) -> Self {
        let actor = actor.to_host();
        let critics = [critics[0].to_host(), critics[1].to_host()];
        Self {
            burn_stale: false,
            actor_grads: actor.zeros_like(),
            critic_grads: [critics[0].zeros_like(), critics[1].zeros_like()],
            targets: [targets[0].to_host(), targets[1].to_host()],
            actor,
            critics,
            actor_tape: Tape::default(),
            critic_tapes: Default::default(),
        }
    }
}

/// A reparameterised squashed-Gaussian sample per row, and what its backward pass needs.
struct Sample {
    /// `a = tanh(u)`, `rows x act_dim`.
    action: Vec<f32>,
    /// `log pi(a|s)`, one per row.
    log_prob: Vec<f32>,
    /// `std = exp(log_std)`, zero where `log_std` was clamped (no gradient flows there).
    std_in_range: Vec<f32>,
}

/// The sample for the actor's head output `out` (`rows x 2 act_dim`: mean, raw log std) and
/// noise `eps` — `SquashedGaussian::sample`, row by row.
fn sample(out: &[f32], eps: &[f32], ad: usize) -> Sample {
    let rows = eps.len() / ad;
    let mut s = Sample {
        action: Vec::with_capacity(rows * ad),
        log_prob: Vec::with_capacity(rows),
        std_in_range: Vec::with_capacity(rows * ad),
    };
    for (head, eps) in out.chunks_exact(2 * ad).zip(eps.chunks_exact(ad)) {
        let (mut gauss, mut squash) = (0.0_f32, 0.0_f32);
        for j in 0..ad {
            let raw = head[ad + j];
            let log_std = raw.clamp(LOG_STD_MIN as f32, LOG_STD_MAX as f32);
            let std = log_std.exp();
            let u = head[j] + std * eps[j];
            gauss += -0.5 * eps[j] * eps[j] - log_std - HALF_LOG_2PI;
            // log(1 - tanh(u)^2) = 2 (ln 2 - u - softplus(-2u))
            squash += 2.0 * (LN_2 - u - softplus(-2.0 * u));
            s.action.push(u.tanh());
            let in_range = (LOG_STD_MIN as f32..=LOG_STD_MAX as f32).contains(&raw);
            s.std_in_range.push(if in_range { std } else { 0.0 });
        }
        s.log_prob.push(gauss - squash);
    }
    s
}

/// burn's softplus: the identity above 20.
fn softplus(x: f32) -> f32 {
    if x > 20.0 { x } else { x.exp().ln_1p() }
}

/// The head-output gradient from `d_action` (`rows x ad`) and `d_log_prob` (per row):
/// `u = mean + std eps`, `a = tanh u`, `log pi = sum(-eps^2/2 - log_std - c) - sum log(1 - a^2)`,
/// so `dL/du = dL/da (1 - a^2) + dL/dlogpi 2a`, `dL/dmean = dL/du`,
/// `dL/dlog_std = dL/du std eps - dL/dlogpi` (zero where clamped).
fn sample_backward(s: &Sample, eps: &[f32], d_action: &[f32], d_log_prob: &[f32]) -> Vec<f32> {
    let ad = eps.len() / d_log_prob.len();
    let mut d_out = Vec::with_capacity(2 * eps.len());
    for (b, &dl) in d_log_prob.iter().enumerate() {
        let row = b * ad..(b + 1) * ad;
        let du: Vec<f32> = s.action[row.clone()]
            .iter()
            .zip(&d_action[row.clone()])
            .map(|(&a, &da)| da * (1.0 - a * a) + dl * 2.0 * a)
            .collect();
        d_out.extend_from_slice(&du);
        for ((du, &e), &std) in du.iter().zip(&eps[row.clone()]).zip(&s.std_in_range[row]) {
            d_out.push(if std > 0.0 { du * std * e - dl } else { 0.0 });
        }
    }
    d_out
}

/// Rows of `[x | y]`.
fn concat(x: &[f32], xw: usize, y: &[f32], yw: usize) -> Vec<f32> {
    x.chunks_exact(xw)
        .zip(y.chunks_exact(yw))
        .flat_map(|(a, b)| a.iter().chain(b).copied())
        .collect()
}

impl SacCore {
    /// Set the burn networks from the host ones if steps have moved those since.
    pub(super) fn sync_burn_nets(&mut self) {
        if let Some(host) = self.host.as_mut().filter(|h| h.burn_stale) {
            self.actor.net.set_from_host(&host.actor);
            for i in 0..2 {
                self.critics[i].set_from_host(&host.critics[i]);
                self.targets[i].set_from_host(&host.targets[i]);
            }
            host.burn_stale = false;
        }
    }

    /// Flat parameters of the actor, the critics and the targets, in that order, from
    /// whichever copy leads.
    pub(super) fn net_flats(&self) -> [Vec<f32>; 5] {
        match &self.host {
            Some(h) => [
                &h.actor,
                &h.critics[0],
                &h.critics[1],
                &h.targets[0],
                &h.targets[1],
            ]
            .map(|n| n.params().concat()),
            None => [
                &self.actor.net,
                &self.critics[0],
                &self.critics[1],
                &self.targets[0],
                &self.targets[1],
            ]
            .map(|n| n.to_flat()),
        }
    }

    /// Actions in `[-1, 1]` for `n` observations from the host actor: `tanh(mean)`, or a
    /// sample with noise `eps`.
    pub(super) fn act_host(&mut self, obs: &[f32], n: usize, eps: Option<Vec<f32>>) -> Vec<f32> {
        let ad = self.act_dim;
        let host = self.host.as_mut().expect("the host path");
        host.actor.forward(obs, n, &mut host.actor_tape);
        let out = host.actor_tape.output();
        match eps {
            Some(eps) => sample(out, &eps, ad).action,
            None => out
                .chunks_exact(2 * ad)
                .flat_map(|head| head[..ad].iter().map(|m| m.tanh()))
                .collect(),
        }
    }

    /// The fused critic step; returns the loss (before the step) and `y - min(Q1, Q2)`.
    pub(super) fn critic_step_host(
        &mut self,
        batch: &Batch<'_>,
        eps_next: &[f32],
    ) -> PluginResult<(f32, Vec<f32>)> {
        let (n, od, ad) = (batch.len, self.obs_dim, self.act_dim);
        let (alpha, gamma, tau) = (self.alpha(), self.cfg.gamma as f32, self.cfg.tau as f32);
        let action = self.normalise_actions(batch.action);
        let counter = self.counters.critic;
        let host = self.host.as_mut().expect("the host path");
        host.burn_stale = true;
        // The soft target with a' from the current actor.
        host.actor.forward(batch.next_obs, n, &mut host.actor_tape);
        let next = sample(host.actor_tape.output(), eps_next, ad);
        let next_input = concat(batch.next_obs, od, &next.action, ad);
        let mut target_q = [Vec::new(), Vec::new()];
        for (i, q) in target_q.iter_mut().enumerate() {
            host.targets[i].forward(&next_input, n, &mut host.critic_tapes[i]);
            *q = host.critic_tapes[i].output().to_vec();
        }
        let y: Vec<f32> = (0..n)
            .map(|b| {
                let soft_v = target_q[0][b].min(target_q[1][b]) - next.log_prob[b] * alpha;
                batch.reward[b] + (1.0 - batch.terminated[b]) * soft_v * gamma
            })
            .collect();
        // min_phi sum_i 1/2 mean (Q_i(s,a) - y)^2
        let input = concat(batch.obs, od, &action, ad);
        let mut loss = 0.0_f32;
        let mut errors = [Vec::new(), Vec::new()];
        for (i, e) in errors.iter_mut().enumerate() {
            host.critics[i].forward(&input, n, &mut host.critic_tapes[i]);
            *e = host.critic_tapes[i]
                .output()
                .iter()
                .zip(&y)
                .map(|(q, y)| q - y)
                .collect();
            loss += e.iter().map(|e| e * e).sum::<f32>() / n as f32;
        }
        let loss = 0.5 * loss;
        super::core::check_finite("critic loss", loss, counter)?;
        for i in 0..2 {
            let d_q: Vec<f32> = errors[i].iter().map(|e| e / n as f32).collect();
            host.critics[i].backward(
                &host.critic_tapes[i],
                &d_q,
                Wanted {
                    params: Some(&mut host.critic_grads[i]),
                    input: None,
                },
            );
            self.critic_opts[i].step_host(host.critics[i].params_mut(), &host.critic_grads[i]);
            host.targets[i].polyak_from(&host.critics[i], tau);
        }
        // y - min(Q1, Q2) = -min(e1, e2)
        let delta = errors[0]
            .iter()
            .zip(&errors[1])
            .map(|(a, b)| -a.min(*b))
            .collect();
        Ok((loss, delta))
    }

    /// The fused actor step along `grad J_pi + term`; returns the loss `-J_pi` (before the
    /// step) and the mean `log pi(a~|s)`.
    pub(super) fn actor_step_host(
        &mut self,
        batch: &Batch<'_>,
        eps: &[f32],
        term: CorrectionTerm,
    ) -> PluginResult<(f32, f64)> {
        let (n, od, ad) = (batch.len, self.obs_dim, self.act_dim);
        let alpha = self.alpha();
        let counter = self.counters.actor;
        let host = self.host.as_mut().expect("the host path");
        host.actor.forward(batch.obs, n, &mut host.actor_tape);
        let s = sample(host.actor_tape.output(), eps, ad);
        let input = concat(batch.obs, od, &s.action, ad);
        for i in 0..2 {
            host.critics[i].forward(&input, n, &mut host.critic_tapes[i]);
        }
        host.burn_stale = true;
        let (q1, q2) = (host.critic_tapes[0].output(), host.critic_tapes[1].output());
        let objective = (0..n)
            .map(|b| q1[b].min(q2[b]) - s.log_prob[b] * alpha)
            .sum::<f32>()
            / n as f32;
        super::core::check_finite("actor loss", -objective, counter)?;
        // Descent on -J: d(-J)/dq = -1/n through the smaller critic of each row.
        let first_is_min: Vec<bool> = (0..n).map(|b| q1[b] <= q2[b]).collect();
        let mut d_action = match &term {
            CorrectionTerm::ActionGrad(g) => g.iter().map(|g| -g).collect(),
            _ => vec![0.0; n * ad],
        };
        for i in 0..2 {
            let d_q: Vec<f32> = first_is_min
                .iter()
                .map(|&first| {
                    if first == (i == 0) {
                        -1.0 / n as f32
                    } else {
                        0.0
                    }
                })
                .collect();
            let mut d_input = Vec::new();
            host.critics[i].backward(
                &host.critic_tapes[i],
                &d_q,
                Wanted {
                    params: None,
                    input: Some(&mut d_input),
                },
            );
            for (d, row) in d_action
                .chunks_exact_mut(ad)
                .zip(d_input.chunks_exact(od + ad))
            {
                d.iter_mut().zip(&row[od..]).for_each(|(d, g)| *d += g);
            }
        }
        let d_log_prob = vec![alpha / n as f32; n];
        let d_out = sample_backward(&s, eps, &d_action, &d_log_prob);
        host.actor.backward(
            &host.actor_tape,
            &d_out,
            Wanted {
                params: Some(&mut host.actor_grads),
                input: None,
            },
        );
        if let CorrectionTerm::ParamGrad(d) = term {
            // Descent on -J: subtracting the correction adds it to the ascent direction.
            let mut offset = 0;
            for g in &mut host.actor_grads {
                g.iter_mut().zip(&d[offset..]).for_each(|(g, d)| *g -= d);
                offset += g.len();
            }
        }
        self.actor_opt
            .step_host(host.actor.params_mut(), &host.actor_grads);
        let logp_mean = s.log_prob.iter().sum::<f32>() / n as f32;
        Ok((-objective, logp_mean as f64))
    }
}
