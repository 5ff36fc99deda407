//! The critic and actor steps on the CPU device, in host memory ([`HostMlp`]): the maths of
//! the burn path in `core.rs` (docs/algorithms.md §3) with the squashed Gaussian's and the
//! soft target's derivatives written out, so that a step is a few GEMMs and fused loops
//! instead of a graph of allocating tensor operations. `tests.rs` checks that both paths
//! take the same steps.

use super::core::ActorTerm;
use super::core::SacCore;
use crate::policy::{HALF_LOG_2PI, LOG_STD_MAX, LOG_STD_MIN};
use crate::{Adam, HostMlp, Mlp, Tape, Wanted};
use acgap_sdk::agent::PluginResult;
use acgap_sdk::batch::Batch;
use std::ops::Range;

const LN_2: f32 = std::f32::consts::LN_2;

/// The networks on the host with the buffers their passes reuse: the parameters on the CPU
/// device (`nets.rs` builds burn views of them when something reads those: a correction's
/// context, diagnostics, which a plain SAC run never does).
pub(super) struct HostNets {
    actor: HostMlp,
    critics: [HostMlp; 2],
    targets: [HostMlp; 2],
    /// One per thread: a step's rows are split into contiguous shares, each lane runs every
    /// pass of the step on its share, and the lanes' gradients are summed before Adam.
    lanes: Vec<Lane>,
    /// With `threads > 1` (`--threads N`): the pool the lanes run on.
    pool: Option<rayon::ThreadPool>,
}

/// The tapes and gradients of one lane's passes.
#[derive(Default)]
struct Lane {
    actor_tape: Tape,
    actor_grads: Vec<Vec<f32>>,
    critic_tapes: [Tape; 2],
    target_tapes: [Tape; 2],
    critic_grads: [Vec<Vec<f32>>; 2],
    /// A critic tape restricted to some of its rows (the actor step's backward passes).
    selected: Tape,
}

impl HostNets {
    /// Host copies of the networks; `threads > 1` makes a pool of that many threads.
    pub fn new(
        actor: &Mlp,
        critics: &[Mlp; 2],
        targets: &[Mlp; 2],
        threads: usize,
    ) -> PluginResult<Self> {
        let pool = match threads {
            0 | 1 => None,
            n => Some(
                rayon::ThreadPoolBuilder::new()
                    .num_threads(n)
                    .build()
                    .map_err(|e| format!("cannot start {n} compute threads: {e}"))?,
            ),
        };
        let mut nets = Self {
            actor: actor.to_host(),
            critics: [critics[0].to_host(), critics[1].to_host()],
            targets: [targets[0].to_host(), targets[1].to_host()],
            lanes: Vec::new(),
            pool,
        };
        nets.lanes = (0..threads.max(1))
            .map(|_| Lane {
                actor_grads: nets.actor.zeros_like(),
                critic_grads: [nets.critics[0].zeros_like(), nets.critics[1].zeros_like()],
                ..Lane::default()
            })
            .collect();
        Ok(nets)
    }

    /// Set the host networks from the burn ones (after a checkpoint was loaded into those).
    pub fn reload(&mut self, actor: &Mlp, critics: &[Mlp; 2], targets: &[Mlp; 2]) {
        self.actor = actor.to_host();
        for i in 0..2 {
            self.critics[i] = critics[i].to_host();
            self.targets[i] = targets[i].to_host();
        }
    }

    /// Set burn networks from the host ones.
    pub fn write_into(&self, actor: &mut Mlp, critics: &mut [Mlp; 2], targets: &mut [Mlp; 2]) {
        actor.set_from_host(&self.actor);
        for i in 0..2 {
            critics[i].set_from_host(&self.critics[i]);
            targets[i].set_from_host(&self.targets[i]);
        }
    }
}

/// `work(lane, rows)` for every lane and its contiguous share of `n` rows, on `pool` if there
/// is one; the results in lane order, one per lane that had rows (the first ones: with fewer
/// rows than lanes the last lanes idle, and their buffers must not be read).
fn on_lanes<R: Send>(
    lanes: &mut [Lane],
    pool: Option<&rayon::ThreadPool>,
    n: usize,
    work: impl Fn(&mut Lane, Range<usize>) -> R + Sync,
) -> Vec<R> {
    let share = n.div_ceil(lanes.len());
    let jobs = lanes
        .iter_mut()
        .enumerate()
        .map(|(k, lane)| (lane, (k * share).min(n)..((k + 1) * share).min(n)))
        .filter(|(_, rows)| !rows.is_empty());
    match pool {
        None => jobs.map(|(lane, rows)| work(lane, rows)).collect(),
        Some(pool) => {
            use rayon::prelude::*;
            let jobs: Vec<_> = jobs.collect();
            // The pool's threads enter the step's floating-point mode themselves.
            pool.install(|| {
                jobs.into_par_iter()
                    .map(|(lane, rows)| crate::flush_subnormals(|| work(lane, rows)))
                    .collect()
            })
        }
    }
}

/// `a()` and `b()`, side by side on `pool` if there is one.
fn both<RA: Send, RB: Send>(
    pool: Option<&rayon::ThreadPool>,
    a: impl FnOnce() -> RA + Send,
    b: impl FnOnce() -> RB + Send,
) -> (RA, RB) {
    match pool {
        Some(p) => p.join(|| crate::flush_subnormals(a), || crate::flush_subnormals(b)),
        None => (a(), b()),
    }
}

/// Add the other lanes' gradients into the first's (the rows' shares add up).
fn sum_into_first<'a>(
    mut grads: impl Iterator<Item = &'a mut Vec<Vec<f32>>>,
) -> &'a mut Vec<Vec<f32>> {
    let first = grads.next().expect("one lane at least");
    for other in grads {
        for (f, o) in first.iter_mut().zip(other.iter()) {
            f.iter_mut().zip(o).for_each(|(f, o)| *f += o);
        }
    }
    first
}

/// A reparameterised squashed-Gaussian sample per row, and what its backward pass needs.
struct Sample {
    /// `a = tanh(u)`, `rows x act_dim`.
    action: Vec<f32>,
    /// `log pi(a|s)`, one per row.
    log_prob: Vec<f32>,
    /// `std = exp(log_std)`, zero where `log_std` was clamped (no gradient flows there).
    std_in_range: Vec<f32>,
    /// The tanh correction's floor (`SacConfig::squash_floor`; 0: exact).
    floor: f32,
}

/// The soft TD target `y = r + gamma (1 - terminated) (min_i Qbar_i(s', a') - alpha log pi(a'|s'))`
/// on `rows` of `batch`, `a'` drawn from `actor` with noise `eps_next` (those rows'), on the given
/// tapes; returns `y` and the sample `a'`. The critic step's target and the context's.
fn soft_target_rows(
    (actor, targets): (&HostMlp, &[HostMlp; 2]),
    (actor_tape, target_tapes): (&mut Tape, &mut [Tape; 2]),
    batch: &Batch<'_>,
    rows: Range<usize>,
    eps_next: &[f32],
    (alpha, gamma, floor): (f32, f32, f32),
) -> (Vec<f32>, Sample) {
    let (r, od) = (rows.len(), batch.obs_dim());
    let ad = eps_next.len() / r.max(1);
    let next_obs = &batch.next_obs[rows.start * od..rows.end * od];
    actor.forward(next_obs, r, actor_tape);
    let next = sample(actor_tape.output(), eps_next, ad, floor);
    let next_input = concat(next_obs, od, &next.action, ad);
    for (target, tape) in targets.iter().zip(target_tapes.iter_mut()) {
        target.forward(&next_input, r, tape);
    }
    let (q0, q1) = (target_tapes[0].output(), target_tapes[1].output());
    let y = rows
        .enumerate()
        .map(|(j, b)| {
            let soft_v = q0[j].min(q1[j]) - next.log_prob[j] * alpha;
            batch.reward[b] + (1.0 - batch.terminated[b]) * soft_v * gamma
        })
        .collect();
    (y, next)
}

/// The sample for the actor's head output `out` (`rows x 2 act_dim`: mean, raw log std) and
/// noise `eps` — `SquashedGaussian::sample`, row by row.
fn sample(out: &[f32], eps: &[f32], ad: usize, floor: f32) -> Sample {
    let rows = eps.len() / ad;
    let mut s = Sample {
        action: Vec::with_capacity(rows * ad),
        log_prob: Vec::with_capacity(rows),
        std_in_range: Vec::with_capacity(rows * ad),
        floor,
    };
    for (head, eps) in out.chunks_exact(2 * ad).zip(eps.chunks_exact(ad)) {
        let (mut gauss, mut squash) = (0.0_f32, 0.0_f32);
        for j in 0..ad {
            let raw = head[ad + j];
            let log_std = raw.clamp(LOG_STD_MIN as f32, LOG_STD_MAX as f32);
            let std = log_std.exp();
            let u = head[j] + std * eps[j];
            gauss += -0.5 * eps[j] * eps[j] - log_std - HALF_LOG_2PI as f32;
            let a = u.tanh();
            squash += if floor > 0.0 {
                (1.0 - a * a + floor).ln()
            } else {
                // log(1 - tanh(u)^2) = 2 (ln 2 - u - softplus(-2u))
                2.0 * (LN_2 - u - softplus(-2.0 * u))
            };
            s.action.push(a);
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
/// `dL/dlog_std = dL/du std eps - dL/dlogpi` (zero where clamped). With a floor `f`, the
/// correction is `log(1 - a^2 + f)` and its share of `dL/du` is `dL/dlogpi 2a (1 - a^2) / (1 - a^2 + f)`.
fn sample_backward(s: &Sample, eps: &[f32], d_action: &[f32], d_log_prob: &[f32]) -> Vec<f32> {
    let ad = eps.len() / d_log_prob.len();
    let mut d_out = Vec::with_capacity(2 * eps.len());
    for (b, &dl) in d_log_prob.iter().enumerate() {
        let row = b * ad..(b + 1) * ad;
        let du: Vec<f32> = s.action[row.clone()]
            .iter()
            .zip(&d_action[row.clone()])
            .map(|(&a, &da)| {
                let squash = if s.floor > 0.0 {
                    2.0 * a * (1.0 - a * a) / (1.0 - a * a + s.floor)
                } else {
                    2.0 * a
                };
                da * (1.0 - a * a) + dl * squash
            })
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
    /// The context's forward queries on the fused path (`context.rs`, `Core::host_sample`):
    /// the actor's samples at `obs` with noise `eps`; `None` on the burn path.
    pub(super) fn host_sample(&self, obs: &[f32], eps: &[f32]) -> Option<(Vec<f32>, Vec<f32>)> {
        let host = self.nets.host()?;
        let mut tape = Tape::default();
        host.actor.forward(obs, eps.len() / self.act_dim, &mut tape);
        let s = sample(
            tape.output(),
            eps,
            self.act_dim,
            self.cfg.squash_floor as f32,
        );
        Some((s.action, s.log_prob))
    }

    /// `Q1` rows then `Q2` rows at critic input rows `[obs | act]`, on the host copies.
    pub(super) fn host_critics(&self, input: &[f32], rows: usize) -> Option<Vec<f32>> {
        let host = self.nets.host()?;
        let mut out = Vec::with_capacity(2 * rows);
        for critic in &host.critics {
            let mut tape = Tape::default();
            critic.forward(input, rows, &mut tape);
            out.extend_from_slice(tape.output());
        }
        Some(out)
    }

    /// The soft TD target of `batch` on the host copies (the critic step's own computation).
    pub(super) fn host_soft_target(
        &self,
        batch: &Batch<'_>,
        eps_next: &[f32],
    ) -> Option<super::context::HostTarget> {
        let host = self.nets.host()?;
        let (mut actor_tape, mut target_tapes) = (Tape::default(), <[Tape; 2]>::default());
        let (y, next) = soft_target_rows(
            (&host.actor, &host.targets),
            (&mut actor_tape, &mut target_tapes),
            batch,
            0..batch.len,
            eps_next,
            (
                self.alpha(),
                self.cfg.gamma as f32,
                self.cfg.squash_floor as f32,
            ),
        );
        Some(super::context::HostTarget {
            y,
            next_actions: next.action,
            next_log_prob: next.log_prob,
        })
    }

    /// Flat parameters of the actor, the critics and the targets, in that order, from
    /// whichever copy leads.
    pub(super) fn net_flats(&self) -> [Vec<f32>; 5] {
        match self.nets.host() {
            Some(h) => [
                &h.actor,
                &h.critics[0],
                &h.critics[1],
                &h.targets[0],
                &h.targets[1],
            ]
            .map(|n| n.params().concat()),
            None => self.nets.burn().flats(),
        }
    }

    /// Actions in `[-1, 1]` for `n` observations from the host actor: `tanh(mean)`, or a
    /// sample with noise `eps`.
    pub(super) fn act_host(&mut self, obs: &[f32], n: usize, eps: Option<Vec<f32>>) -> Vec<f32> {
        let ad = self.act_dim;
        let host = self.nets.host_to_read().expect("the host path");
        let tape = &mut host.lanes[0].actor_tape;
        host.actor.forward(obs, n, tape);
        match eps {
            Some(eps) => sample(tape.output(), &eps, ad, 0.0).action,
            None => tape
                .output()
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
        let floor = self.cfg.squash_floor as f32;
        let action = self.normalise_actions(batch.action);
        let counter = self.counters.critic;
        let host = self.nets.host_to_step().expect("the host path");
        let HostNets {
            actor,
            critics,
            targets,
            lanes,
            pool,
        } = host;
        let (actor, critics, targets) = (&*actor, &*critics, &*targets);
        // Each lane: the soft target y on its rows (a' from the current actor), then the
        // gradients of sum_i 1/2 mean (Q_i(s,a) - y)^2 from them; returns Q_i - y per critic.
        let errors = on_lanes(lanes, pool.as_ref(), n, |lane, rows| {
            let r = rows.len();
            let (y, _) = soft_target_rows(
                (actor, targets),
                (&mut lane.actor_tape, &mut lane.target_tapes),
                batch,
                rows.clone(),
                &eps_next[rows.start * ad..rows.end * ad],
                (alpha, gamma, floor),
            );
            let input = concat(
                &batch.obs[rows.start * od..rows.end * od],
                od,
                &action[rows.start * ad..rows.end * ad],
                ad,
            );
            let mut errors: [Vec<f32>; 2] = Default::default();
            for i in 0..2 {
                critics[i].forward(&input, r, &mut lane.critic_tapes[i]);
                errors[i] = lane.critic_tapes[i]
                    .output()
                    .iter()
                    .zip(&y)
                    .map(|(q, y)| q - y)
                    .collect();
                let d_q: Vec<f32> = errors[i].iter().map(|e| e / n as f32).collect();
                critics[i].backward(
                    &mut lane.critic_tapes[i],
                    &d_q,
                    Wanted {
                        params: Some(&mut lane.critic_grads[i]),
                        input: None,
                    },
                );
            }
            errors
        });
        let [e0, e1] = [0, 1].map(|i| {
            errors
                .iter()
                .flat_map(|e| e[i].iter().copied())
                .collect::<Vec<f32>>()
        });
        let mean_square = |e: &[f32]| e.iter().map(|e| e * e).sum::<f32>() / n as f32;
        let loss = 0.5 * (mean_square(&e0) + mean_square(&e1));
        super::core::check_finite("critic loss", loss, counter)?;
        let [c0, c1] = &mut host.critics;
        let [t0, t1] = &mut host.targets;
        let [o0, o1] = &mut self.critic_opts;
        // The lanes that had rows (a prefix: the shares are contiguous).
        let (lanes0, lanes1): (Vec<_>, Vec<_>) = host
            .lanes
            .iter_mut()
            .take(errors.len())
            .map(|l| {
                let [g0, g1] = &mut l.critic_grads;
                (g0, g1)
            })
            .unzip();
        let learn = |critic: &mut HostMlp,
                     target: &mut HostMlp,
                     opt: &mut Adam,
                     grads: Vec<&mut Vec<Vec<f32>>>| {
            opt.step_host(critic.params_mut(), sum_into_first(grads.into_iter()));
            target.polyak_from(critic, tau);
        };
        both(
            host.pool.as_ref(),
            || learn(c0, t0, o0, lanes0),
            || learn(c1, t1, o1, lanes1),
        );
        // y - min(Q1, Q2) = -min(e1, e2)
        let delta = e0.iter().zip(&e1).map(|(a, b)| -a.min(*b)).collect();
        Ok((loss, delta))
    }

    /// The fused actor step along `grad J_pi + term`; returns the loss `-J_pi` (before the
    /// step) and the mean `log pi(a~|s)`.
    pub(super) fn actor_step_host(
        &mut self,
        batch: &Batch<'_>,
        eps: &[f32],
        term: ActorTerm,
    ) -> PluginResult<(f32, f64)> {
        let (n, od, ad) = (batch.len, self.obs_dim, self.act_dim);
        let (alpha, floor) = (self.alpha(), self.cfg.squash_floor as f32);
        let counter = self.counters.actor;
        let host = self.nets.host_to_step().expect("the host path");
        let (actor, critics) = (&host.actor, &host.critics);
        let action_term = match &term {
            ActorTerm::ActionGrad(g) => Some(g.as_slice()),
            _ => None,
        };
        // Each lane: J_pi's terms on its rows and their gradient in the actor's parameters,
        // with descent on -J: d(-J)/dq = -1/n through the smaller critic of each row.
        let parts = on_lanes(&mut host.lanes, host.pool.as_ref(), n, |lane, rows| {
            let r = rows.len();
            let obs = &batch.obs[rows.start * od..rows.end * od];
            let eps = &eps[rows.start * ad..rows.end * ad];
            actor.forward(obs, r, &mut lane.actor_tape);
            let s = sample(lane.actor_tape.output(), eps, ad, floor);
            let input = concat(obs, od, &s.action, ad);
            for (critic, tape) in critics.iter().zip(&mut lane.critic_tapes) {
                critic.forward(&input, r, tape);
            }
            let (q0, q1) = (lane.critic_tapes[0].output(), lane.critic_tapes[1].output());
            let objective: f32 = (0..r)
                .map(|j| q0[j].min(q1[j]) - s.log_prob[j] * alpha)
                .sum();
            let mut d_action = match action_term {
                Some(g) => g[rows.start * ad..rows.end * ad]
                    .iter()
                    .map(|g| -g)
                    .collect(),
                None => vec![0.0; r * ad],
            };
            // d(-J)/dq = -1/n through the smaller critic of each row and zero through the
            // other, so each critic's backward pass runs on the rows where it is the smaller
            // only (about half: the zero rows would add nothing).
            let first_is_min: Vec<bool> = (0..r).map(|j| q0[j] <= q1[j]).collect();
            for (i, (critic, tape)) in critics.iter().zip(&lane.critic_tapes).enumerate() {
                let chosen: Vec<usize> = (0..r).filter(|&j| first_is_min[j] == (i == 0)).collect();
                if chosen.is_empty() {
                    continue;
                }
                tape.select_rows(&chosen, &mut lane.selected);
                let mut d_input = Vec::new();
                critic.backward(
                    &mut lane.selected,
                    &vec![-1.0 / n as f32; chosen.len()],
                    Wanted {
                        params: None,
                        input: Some(&mut d_input),
                    },
                );
                for (&j, row) in chosen.iter().zip(d_input.chunks_exact(od + ad)) {
                    let d = &mut d_action[j * ad..(j + 1) * ad];
                    d.iter_mut().zip(&row[od..]).for_each(|(d, g)| *d += g);
                }
            }
            let d_out = sample_backward(&s, eps, &d_action, &vec![alpha / n as f32; r]);
            actor.backward(
                &mut lane.actor_tape,
                &d_out,
                Wanted {
                    params: Some(&mut lane.actor_grads),
                    input: None,
                },
            );
            (objective, s.log_prob.iter().sum::<f32>())
        });
        let objective = parts.iter().map(|p| p.0).sum::<f32>() / n as f32;
        super::core::check_finite("actor loss", -objective, counter)?;
        let worked = host.lanes.iter_mut().take(parts.len());
        let grads = sum_into_first(worked.map(|l| &mut l.actor_grads));
        if let ActorTerm::Direction(d) = term {
            // Descent on -J: subtracting the correction adds it to the ascent direction.
            let mut offset = 0;
            for g in grads.iter_mut() {
                g.iter_mut().zip(&d[offset..]).for_each(|(g, d)| *g -= d);
                offset += g.len();
            }
        }
        self.actor_opt.step_host(host.actor.params_mut(), grads);
        let logp_mean = parts.iter().map(|p| p.1).sum::<f32>() / n as f32;
        Ok((-objective, logp_mean as f64))
    }
}
