//! The continuous scorecard's truth on Pendulum (docs/algorithms.md §6): the action gradient of
//! the current policy's true soft action value, `dQ^pi(s, a)/da`, by central differences of
//! Monte-Carlo soft returns with common random numbers; and states drawn from the policy's
//! discounted state distribution.
//!
//! Pendulum's observation `(cos th, sin th, thdot)` is its whole state, so a rollout can start
//! from any replay observation. The rollouts use the native dynamics directly (no trait
//! object, no time limit: the critic bootstraps through Pendulum's truncation, so it estimates
//! the untruncated value, and so do these returns), and the agent's policy through
//! [`Agent::sample_for_diagnostics`], whose noise is fixed by a seed: the `+h` and `-h`
//! rollouts of a pair draw the same noise at every step.

use acgap_envs::{Dynamics, Pendulum, PendulumVersion};
use acgap_sdk::batch::OwnedBatch;
use acgap_sdk::{Agent, seeds};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// Pendulum-v1's observation and action sizes.
pub const OBS_DIM: usize = 3;
pub const ACT_DIM: usize = 1;
/// Pendulum-v1's torque box, `[-2, 2]`.
const MAX_TORQUE: f32 = 2.0;

/// How the Monte-Carlo estimates are made.
#[derive(Clone, Copy, Debug)]
pub struct McConfig {
    pub gamma: f64,
    /// Steps of each rollout, the first (given) action included.
    pub horizon: usize,
    /// Rollout pairs per state; each pair is a `+h` and a `-h` rollout with the same noise.
    pub rollouts: usize,
    /// Half-width of the central difference in the actor's `[-1, 1]` action units.
    pub h: f64,
}

/// The horizon at which `gamma^H` falls below 1% (the gap diagnostics' rule).
pub fn default_horizon(gamma: f64) -> usize {
    if gamma <= 0.0 {
        return 1;
    }
    ((0.01f64).ln() / gamma.ln()).ceil().clamp(1.0, 100_000.0) as usize
}

/// The Pendulum in the state an observation shows.
pub fn pendulum_at(obs: &[f32]) -> Pendulum {
    let mut p = Pendulum::new(PendulumVersion::V1);
    p.th = (obs[1] as f64).atan2(obs[0] as f64);
    p.thdot = obs[2] as f64;
    p
}

/// An action of the actor's `[-1, 1]` in torque units.
fn torque(unit: f64) -> f32 {
    (unit as f32) * MAX_TORQUE
}

/// Soft returns `r_0 + sum_{t=1}^{H-1} gamma^t (r_t - alpha log pi(a_t|s_t))` from `states`,
/// whose first actions are `first` (torque); the policy's noise at step `t` is drawn from
/// `seed` and `t`, the same for every call with the same seed and row count.
fn soft_returns(
    agent: &mut dyn Agent,
    mut states: Vec<Pendulum>,
    first: &[f32],
    seed: u64,
    cfg: &McConfig,
) -> Result<Vec<f64>, String> {
    let n = states.len();
    let mut ret: Vec<f64> = states
        .iter_mut()
        .zip(first.chunks(ACT_DIM))
        .map(|(s, a)| s.step(a).0)
        .collect();
    let mut obs = Vec::with_capacity(n * OBS_DIM);
    let mut discount = 1.0;
    for t in 1..cfg.horizon {
        discount *= cfg.gamma;
        obs.clear();
        states.iter().for_each(|s| obs.extend(s.observe()));
        let sample = agent.sample_for_diagnostics(&obs, n, seeds::derive(seed, &t.to_string()))?;
        check_sample(&sample, n)?;
        let alpha = sample.alpha as f64;
        for (i, s) in states.iter_mut().enumerate() {
            let (r, _) = s.step(&sample.actions[i * ACT_DIM..(i + 1) * ACT_DIM]);
            ret[i] += discount * (r - alpha * sample.log_prob[i] as f64);
        }
    }
    Ok(ret)
}

fn check_sample(s: &acgap_sdk::agent::SoftSample, n: usize) -> Result<(), String> {
    if s.actions.len() != n * ACT_DIM || s.log_prob.len() != n {
        return Err(format!(
            "the agent's sample_for_diagnostics returned {} actions and {} log-probabilities for {n} rows",
            s.actions.len(),
            s.log_prob.len()
        ));
    }
    Ok(())
}

/// Rollout pairs of the pilot that allocates the others (see [`action_gradients`]).
const PILOT: usize = 2;

/// `dQ^pi(s_b, a_b)/da` at `n` pairs (observations, actions in `[-1, 1]`), in the actor's
/// action units, with each entry's standard error.
///
/// In two phases: a pilot of [`PILOT`] rollout pairs per state measures how noisy each
/// state's difference is; then `rollouts * n` fresh pairs are shared out in proportion to the
/// pilot's spread (Neyman allocation, at least 2 per state), and the estimate is the mean of a
/// state's fresh pairs only — the pilot only decides how many, so the estimate stays unbiased.
/// A few states near a swing-up decision have differences hundreds of times the others';
/// they get most of the rollouts. Near the box's edge the difference is one-sided (an action
/// past the edge is the edge: Pendulum clips it).
pub fn action_gradients(
    agent: &mut dyn Agent,
    obs: &[f32],
    actions: &[f32],
    seed: u64,
    cfg: &McConfig,
) -> Result<(Vec<f64>, Vec<f64>), String> {
    let n = actions.len() / ACT_DIM;
    let pilot = differences(
        agent,
        obs,
        actions,
        &vec![PILOT; n],
        seeds::derive(seed, "pilot"),
        cfg,
    )?;
    let mut grad = vec![0.0; n * ACT_DIM];
    let mut se = vec![0.0; n * ACT_DIM];
    for j in 0..ACT_DIM {
        let spread: Vec<f64> = (0..n).map(|b| sd(&pilot[b * ACT_DIM + j])).collect();
        let floor = super::stats::median(spread.clone()).max(1e-12);
        let weight: Vec<f64> = spread.iter().map(|s| s + floor).collect();
        let total: f64 = weight.iter().sum();
        let budget = (cfg.rollouts * n) as f64;
        let counts: Vec<usize> = weight
            .iter()
            .map(|w| ((budget * w / total).round() as usize).max(2))
            .collect();
        let fresh = differences(
            agent,
            obs,
            actions,
            &counts,
            seeds::derive(seed, "fresh"),
            cfg,
        )?;
        for b in 0..n {
            let d = &fresh[b * ACT_DIM + j];
            let m = d.iter().sum::<f64>() / d.len() as f64;
            grad[b * ACT_DIM + j] = m;
            se[b * ACT_DIM + j] = sd(d) / (d.len() as f64).sqrt();
        }
    }
    Ok((grad, se))
}

/// The sample standard deviation (0 for fewer than two values).
fn sd(d: &[f64]) -> f64 {
    if d.len() < 2 {
        return 0.0;
    }
    let m = d.iter().sum::<f64>() / d.len() as f64;
    (d.iter().map(|x| (x - m).powi(2)).sum::<f64>() / (d.len() - 1) as f64).sqrt()
}

/// `counts[b]` central differences `(Q(s_b, a_b + h e_j) - Q(s_b, a_b - h e_j)) / 2h` per state
/// and action dimension, each from a `+h` and a `-h` rollout with common noise: entry
/// `b * act_dim + j` lists state `b`'s for dimension `j`.
fn differences(
    agent: &mut dyn Agent,
    obs: &[f32],
    actions: &[f32],
    counts: &[usize],
    seed: u64,
    cfg: &McConfig,
) -> Result<Vec<Vec<f64>>, String> {
    let n = counts.len();
    let starts: Vec<Pendulum> = (0..n)
        .flat_map(|b| std::iter::repeat_n(pendulum_at(&obs[b * OBS_DIM..]), counts[b]))
        .collect();
    let mut out = vec![Vec::new(); n * ACT_DIM];
    for j in 0..ACT_DIM {
        let (mut up, mut down, mut width) = (Vec::new(), Vec::new(), Vec::new());
        for b in 0..n {
            let a = &actions[b * ACT_DIM..(b + 1) * ACT_DIM];
            let hi = (a[j] as f64 + cfg.h).min(1.0);
            let lo = (a[j] as f64 - cfg.h).max(-1.0);
            for _ in 0..counts[b] {
                for (k, &x) in a.iter().enumerate() {
                    up.push(if k == j { torque(hi) } else { torque(x as f64) });
                    down.push(if k == j { torque(lo) } else { torque(x as f64) });
                }
            }
            width.push(hi - lo);
        }
        let s = seeds::derive(seed, &format!("dim-{j}"));
        let plus = soft_returns(agent, starts.clone(), &up, s, cfg)?;
        let minus = soft_returns(agent, starts.clone(), &down, s, cfg)?;
        let mut row = 0;
        for b in 0..n {
            out[b * ACT_DIM + j] = (row..row + counts[b])
                .map(|k| (plus[k] - minus[k]) / width[b])
                .collect();
            row += counts[b];
        }
    }
    Ok(out)
}

/// `n` draws from Pendulum's initial distribution.
pub fn initial_states(n: usize, rng: &mut ChaCha8Rng) -> Vec<Pendulum> {
    (0..n)
        .map(|_| {
            let mut p = Pendulum::new(PendulumVersion::V1);
            p.reset(rng);
            p
        })
        .collect()
}

/// The most steps a state of [`on_policy_batch`] is walked from its start (a geometric time
/// past it has probability `gamma^5000`, 1.5e-22 at `gamma = 0.99`).
const MAX_WALK: usize = 5000;

/// `n` transitions at states drawn from the policy's normalised discounted state distribution
/// `d(s) = (1 - gamma) sum_t gamma^t P(s_t = s)`: from Pendulum's initial distribution the
/// policy acts for `T ~ Geometric(1 - gamma)` steps, then takes one more action, whose
/// transition is the row.
pub fn on_policy_batch(
    agent: &mut dyn Agent,
    n: usize,
    gamma: f64,
    seed: u64,
) -> Result<OwnedBatch, String> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut states = initial_states(n, &mut rng);
    let times: Vec<usize> = (0..n)
        .map(|_| {
            let u: f64 = 1.0 - rng.random::<f64>();
            ((u.ln() / gamma.ln()).floor() as usize).min(MAX_WALK)
        })
        .collect();
    let longest = times.iter().copied().max().unwrap_or(0);
    let mut obs = Vec::new();
    for t in 0..longest {
        let walking: Vec<usize> = (0..n).filter(|&i| times[i] > t).collect();
        obs.clear();
        walking
            .iter()
            .for_each(|&i| obs.extend(states[i].observe()));
        let seed_t = seeds::derive(seed, &format!("walk-{t}"));
        let sample = agent.sample_for_diagnostics(&obs, walking.len(), seed_t)?;
        check_sample(&sample, walking.len())?;
        for (k, &i) in walking.iter().enumerate() {
            states[i].step(&sample.actions[k * ACT_DIM..(k + 1) * ACT_DIM]);
        }
    }
    let mut b = OwnedBatch::default();
    states.iter().for_each(|s| b.obs.extend(s.observe()));
    let sample = agent.sample_for_diagnostics(&b.obs, n, seeds::derive(seed, "act"))?;
    check_sample(&sample, n)?;
    for (i, s) in states.iter_mut().enumerate() {
        let a = &sample.actions[i * ACT_DIM..(i + 1) * ACT_DIM];
        let (r, _) = s.step(a);
        b.action.extend_from_slice(a);
        b.reward.push(r as f32);
        b.next_obs.extend(s.observe());
    }
    b.terminated = vec![0.0; n];
    b.truncated = vec![0.0; n];
    Ok(b)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_pendulum_restarts_from_its_observation() {
        let mut p = Pendulum::new(PendulumVersion::V1);
        p.th = 2.5;
        p.thdot = -3.25;
        let q = pendulum_at(&p.observe());
        assert!((q.th - 2.5).abs() < 1e-6 && q.thdot == -3.25);
        assert_eq!(default_horizon(0.99), 459);
    }
}
