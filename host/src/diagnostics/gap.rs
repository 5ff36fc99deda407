//! Monte-Carlo gap diagnostics (Wen et al. 2021, Fig. 2, for continuous control): how far
//! the critic's estimate of the soft action value is from the policy's true soft return.
//!
//! A fixed set of (state, action) pairs is drawn uniformly from the transitions collected
//! before the first diagnostic (reservoir sampling, keeping each state's full env snapshot).
//! At every diagnostic, for each pair, `R` rollouts restart from the snapshot, take the
//! pair's action, then follow the current stochastic policy, accumulating the soft return
//! `r_0 + sum_{t>=1} gamma^t (r_t - alpha log pi(a_t|s_t))` until termination or the
//! horizon (a time-limit truncation is ignored: the critic bootstraps through it, so it
//! estimates the untruncated value). Each of the agent's value estimates (`q`, and e.g.
//! Res-SAC's `q+w`) is compared with the mean return: bias = estimate - q_MC.

use acgap_envs::{Env, Restored};
use acgap_sdk::Agent;
use rand::{Rng, RngCore, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

/// One diagnostic pair: the env's state before the transition, its observation and action.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct GapPair {
    snapshot: serde_json::Value,
    obs: Vec<f32>,
    action: Vec<f32>,
}

/// The pairs (a reservoir until the first diagnostic freezes it) and the rollouts' RNG.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct GapState {
    pairs: Vec<GapPair>,
    frozen: bool,
    seen: u64,
    rng: ChaCha8Rng,
}

/// What a diagnostic found for one value estimator.
#[derive(Clone, Debug, PartialEq)]
pub struct GapRow {
    pub estimator: String,
    pub q_mc_mean: f64,
    pub estimate_mean: f64,
    pub bias_mean: f64,
    pub abs_bias_mean: f64,
}

impl GapState {
    pub fn new(seed: u64) -> Self {
        Self {
            pairs: Vec::new(),
            frozen: false,
            seen: 0,
            rng: ChaCha8Rng::seed_from_u64(seed),
        }
    }

    /// Offer the transition about to be taken from `env`'s current state; keeps a uniform
    /// sample of `capacity` of all offered transitions until frozen.
    pub fn offer(&mut self, capacity: usize, env: &dyn Env, obs: &[f32], action: &[f32]) {
        if self.frozen || capacity == 0 {
            return;
        }
        self.seen += 1;
        let slot = if self.pairs.len() < capacity {
            Some(self.pairs.len())
        } else {
            let j = self.rng.random_range(0..self.seen) as usize;
            (j < capacity).then_some(j)
        };
        if let Some(i) = slot {
            let pair = GapPair {
                snapshot: env.snapshot(),
                obs: obs.to_vec(),
                action: action.to_vec(),
            };
            if i == self.pairs.len() {
                self.pairs.push(pair);
            } else {
                self.pairs[i] = pair;
            }
        }
    }

    /// Freeze the pairs and measure every estimator's bias against Monte-Carlo soft returns.
    pub fn measure(
        &mut self,
        agent: &mut dyn Agent,
        scratch: &dyn Env,
        rollouts: usize,
        horizon: usize,
        gamma: f64,
    ) -> Result<Vec<GapRow>, String> {
        self.frozen = true;
        let m = self.pairs.len();
        if m == 0 {
            return Ok(Vec::new());
        }
        let obs: Vec<f32> = self.pairs.iter().flat_map(|p| p.obs.clone()).collect();
        let act: Vec<f32> = self.pairs.iter().flat_map(|p| p.action.clone()).collect();
        let estimates = agent.value_estimates(&obs, &act, m)?;
        if estimates.is_empty() {
            return Err(
                "the agent reports no value estimates, so there is no gap to measure".into(),
            );
        }
        let mut q_mc = Vec::with_capacity(m);
        for p in &self.pairs {
            let seed = self.rng.next_u64();
            q_mc.push(soft_return(
                agent, scratch, p, rollouts, horizon, gamma, seed,
            )?);
        }
        let q_mc_mean = q_mc.iter().sum::<f64>() / m as f64;
        Ok(estimates
            .into_iter()
            .map(|(estimator, values)| {
                let bias: Vec<f64> = values
                    .iter()
                    .zip(&q_mc)
                    .map(|(v, q)| *v as f64 - q)
                    .collect();
                GapRow {
                    estimator,
                    q_mc_mean,
                    estimate_mean: values.iter().map(|&v| v as f64).sum::<f64>() / m as f64,
                    bias_mean: bias.iter().sum::<f64>() / m as f64,
                    abs_bias_mean: bias.iter().map(|b| b.abs()).sum::<f64>() / m as f64,
                }
            })
            .collect())
    }
}

/// Mean soft return of `rollouts` rollouts from one pair, stepped in lockstep so the
/// policy samples for all live rollouts in one call.
fn soft_return(
    agent: &mut dyn Agent,
    scratch: &dyn Env,
    pair: &GapPair,
    rollouts: usize,
    horizon: usize,
    gamma: f64,
    seed: u64,
) -> Result<f64, String> {
    let mut seeds = ChaCha8Rng::seed_from_u64(seed);
    let mut envs = Vec::with_capacity(rollouts);
    let (mut returns, mut obs, mut alive) = (vec![0.0; rollouts], Vec::new(), vec![true; rollouts]);
    for r in 0..rollouts {
        let mut env = scratch.clone_env();
        if let Restored::Restarted { why, .. } = env.restore(&pair.snapshot)? {
            return Err(format!(
                "the gap diagnostics need exact env snapshots; `{}` has none: {why}",
                env.spec().id
            ));
        }
        let s = checked(env.as_mut(), &pair.action)?;
        returns[r] = s.reward;
        alive[r] = !s.terminated;
        obs.push(s.obs);
        envs.push(env);
    }
    let act_dim = pair.action.len();
    let mut discount = 1.0;
    for _ in 1..horizon {
        discount *= gamma;
        let live: Vec<usize> = (0..rollouts).filter(|&r| alive[r]).collect();
        if live.is_empty() {
            break;
        }
        let batch: Vec<f32> = live.iter().flat_map(|&r| obs[r].clone()).collect();
        let sample = agent.sample_for_diagnostics(&batch, live.len(), seeds.next_u64())?;
        for (k, &r) in live.iter().enumerate() {
            let s = checked(
                envs[r].as_mut(),
                &sample.actions[k * act_dim..(k + 1) * act_dim],
            )?;
            returns[r] += discount * (s.reward - sample.alpha as f64 * sample.log_prob[k] as f64);
            alive[r] = !s.terminated;
            obs[r] = s.obs;
        }
    }
    Ok(returns.iter().sum::<f64>() / rollouts as f64)
}

/// One rollout step; an env fault (a blown-up simulation, a failed worker) is an error.
fn checked(env: &mut dyn Env, action: &[f32]) -> Result<acgap_envs::Step, String> {
    let s = env.step(action);
    match env.fault() {
        Some(f) => Err(format!("gap rollout: {f}")),
        None => Ok(s),
    }
}

/// Rollout length at which `gamma^H` drops below 1%.
pub fn default_horizon(gamma: f64) -> usize {
    if gamma <= 0.0 || gamma >= 1.0 {
        1000
    } else {
        ((0.01f64).ln() / gamma.ln()).ceil() as usize
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use acgap_sdk::{Batch, PluginResult, SoftSample, Training, UpdateStep};

    /// A policy that always pushes with torque 0 and reports a fixed log-probability.
    struct Fixed;

    impl Agent for Fixed {
        fn training(&self) -> Training {
            Training::OnPolicy {
                rollout_len: 1,
                num_envs: 1,
            }
        }
        fn act(&mut self, _: &[f32], n: usize, _: bool) -> PluginResult<Vec<f32>> {
            Ok(vec![0.0; n])
        }
        fn update(&mut self, _: &Batch<'_>, _: UpdateStep) -> PluginResult<acgap_sdk::Metrics> {
            Ok(vec![])
        }
        fn save(&self) -> PluginResult<Vec<u8>> {
            Ok(vec![])
        }
        fn load(&mut self, _: &[u8]) -> PluginResult<()> {
            Ok(())
        }
        fn value_estimates(
            &mut self,
            _: &[f32],
            _: &[f32],
            n: usize,
        ) -> PluginResult<Vec<(String, Vec<f32>)>> {
            Ok(vec![("q".into(), vec![-100.0; n])])
        }
        fn sample_for_diagnostics(
            &mut self,
            _: &[f32],
            n: usize,
            _: u64,
        ) -> PluginResult<SoftSample> {
            Ok(SoftSample {
                actions: vec![0.0; n],
                log_prob: vec![-1.0; n],
                alpha: 0.5,
            })
        }
    }

    /// The soft return by hand: replay the same deterministic actions in a copy of the env.
    #[test]
    fn soft_return_matches_a_hand_computation() {
        let mut env = acgap_envs::make("pendulum", 3).unwrap();
        env.reset();
        let mut gap = GapState::new(0);
        gap.offer(1, env.as_ref(), &[0.0; 3], &[1.5]);
        let (gamma, horizon) = (0.9, 30);
        let rows = gap
            .measure(&mut Fixed, env.as_ref(), 3, horizon, gamma)
            .unwrap();
        let mut e = env.clone_env();
        let mut want = e.step(&[1.5]).reward;
        for t in 1..horizon {
            // alpha = 0.5, log pi = -1: the entropy bonus adds 0.5 per step.
            want += gamma.powi(t as i32) * (e.step(&[0.0]).reward + 0.5);
        }
        assert!(
            (rows[0].q_mc_mean - want).abs() < 1e-9,
            "{} vs {want}",
            rows[0].q_mc_mean
        );
        assert!((rows[0].bias_mean - (-100.0 - want)).abs() < 1e-9);
        assert_eq!(rows[0].estimator, "q");
    }

    #[test]
    fn reservoir_keeps_a_uniform_sample_and_freezes() {
        let env = acgap_envs::make("pendulum", 0).unwrap();
        let mut counts = [0usize; 10];
        for seed in 0..2000 {
            let mut gap = GapState::new(seed);
            for i in 0..10 {
                gap.offer(2, env.as_ref(), &[i as f32], &[0.0]);
            }
            for p in &gap.pairs {
                counts[p.obs[0] as usize] += 1;
            }
        }
        // Each of 10 transitions is kept with probability 2/10: about 400 of 2000.
        assert!(
            counts.iter().all(|&c| (320..480).contains(&c)),
            "{counts:?}"
        );
        let mut gap = GapState::new(0);
        gap.offer(1, env.as_ref(), &[1.0], &[0.0]);
        gap.frozen = true;
        gap.offer(1, env.as_ref(), &[2.0], &[0.0]);
        assert_eq!(gap.pairs[0].obs, vec![1.0]);
        assert_eq!(default_horizon(0.99), 459);
    }
}
