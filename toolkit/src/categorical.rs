//! A categorical policy over `n` actions: an MLP `obs -> logits` with sampling,
//! log-probabilities and the policy-gradient step on plain `f32` slices, so an agent with
//! discrete actions (REINFORCE, an actor-critic) is written without any burn type.

use super::adam::Adam;
use super::mlp::{Activation, Mlp};
use super::tensor::{Device, from_rows, from_vec, to_vec};
use acgap_sdk::PluginResult;
use burn::tensor::activation::log_softmax;
use rand::Rng;

#[derive(Clone, Debug)]
pub struct Categorical {
    pub net: Mlp,
    pub actions: usize,
}

impl Categorical {
    /// `hidden` tanh layers between the observation and the `actions` logits.
    pub fn new(
        obs_dim: usize,
        actions: usize,
        hidden: &[usize],
        rng: &mut impl Rng,
        device: &Device,
    ) -> Self {
        let sizes: Vec<usize> = std::iter::once(obs_dim)
            .chain(hidden.iter().copied())
            .chain([actions])
            .collect();
        Self {
            net: Mlp::with_activation(&sizes, Activation::Tanh, rng, device),
            actions,
        }
    }

    /// `pi(.|s)` for `rows` states, row-major `rows x actions`.
    pub fn probabilities(&self, obs: &[f32], rows: usize) -> PluginResult<Vec<f32>> {
        let logits = self.net.predict(obs, rows)?;
        Ok(logits
            .chunks(self.actions)
            .flat_map(|l| {
                let max = l.iter().copied().fold(f32::NEG_INFINITY, f32::max);
                let e: Vec<f64> = l.iter().map(|&x| ((x - max) as f64).exp()).collect();
                let z: f64 = e.iter().sum();
                e.into_iter().map(move |x| (x / z) as f32)
            })
            .collect())
    }

    /// One action per state: drawn from `pi(.|s)`, or its most likely action.
    pub fn act(
        &self,
        obs: &[f32],
        rows: usize,
        rng: &mut impl Rng,
        deterministic: bool,
    ) -> PluginResult<Vec<usize>> {
        let p = self.probabilities(obs, rows)?;
        Ok(p.chunks(self.actions)
            .map(|p| {
                if deterministic {
                    return (0..p.len())
                        .max_by(|&a, &b| p[a].total_cmp(&p[b]).then(b.cmp(&a)))
                        .unwrap_or(0);
                }
                let u: f32 = rng.random();
                let mut acc = 0.0;
                p.iter()
                    .position(|&x| {
                        acc += x;
                        u < acc
                    })
                    .unwrap_or(p.len() - 1)
            })
            .collect())
    }

    fn check(&self, rows: usize, actions: &[usize]) -> PluginResult<Vec<f32>> {
        if actions.len() != rows {
            return Err(format!("{} actions for {rows} states", actions.len()));
        }
        let mut onehot = vec![0.0f32; rows * self.actions];
        for (i, &a) in actions.iter().enumerate() {
            if a >= self.actions {
                return Err(format!("action {a} is not below {}", self.actions));
            }
            onehot[i * self.actions + a] = 1.0;
        }
        Ok(onehot)
    }

    /// `log pi(a_t|s_t)`.
    pub fn log_probs(&self, obs: &[f32], rows: usize, actions: &[usize]) -> PluginResult<Vec<f32>> {
        let onehot = self.check(rows, actions)?;
        let d = self.net_device();
        let x = from_rows(obs, rows, self.net.sizes()[0], &d);
        let lp = (log_softmax(self.net.forward(x), 1) * from_vec(onehot, rows, self.actions, &d))
            .sum_dim(1);
        Ok(to_vec(lp))
    }

    /// One Adam ascent step on `sum_t weights_t log pi(a_t|s_t)` (REINFORCE's
    /// `G_t - b(s_t)` over `N`, or any actor's per-sample weights); returns the objective
    /// before the step.
    pub fn ascend(
        &mut self,
        adam: &mut Adam,
        obs: &[f32],
        rows: usize,
        actions: &[usize],
        weights: &[f32],
    ) -> PluginResult<f32> {
        let onehot = self.check(rows, actions)?;
        if weights.len() != rows {
            return Err(format!("{} weights for {rows} states", weights.len()));
        }
        let d = self.net_device();
        let x = from_rows(obs, rows, self.net.sizes()[0], &d);
        let tracked = self.net.tracked();
        let lp = (log_softmax(tracked.forward(x), 1) * from_vec(onehot, rows, self.actions, &d))
            .sum_dim(1);
        let objective = (lp * from_vec(weights.to_vec(), rows, 1, &d)).sum();
        let value = to_vec(objective.clone().inner())[0];
        if !value.is_finite() {
            return Err(acgap_sdk::result::diverged(format!(
                "policy objective is {value}"
            )));
        }
        let grads = tracked.grads(&objective.neg().backward());
        adam.step(self.net.params_mut(), grads);
        Ok(value)
    }

    fn net_device(&self) -> Device {
        self.net.params()[0].device()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    /// The ascent step moves along `sum_t w_t grad log pi(a_t|s_t)`: after one small step the
    /// objective rises by about lr times the gradient's norm per coordinate (Adam's first step
    /// is the sign), and log-probabilities match the probabilities.
    #[test]
    fn log_probs_and_the_ascent_step() {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(3);
        let d = Device::default();
        let mut pi = Categorical::new(2, 3, &[8], &mut rng, &d);
        let obs = [0.1, -0.4, 0.7, 0.2, -0.3, 0.9];
        let actions = [2, 0, 1];
        let p = pi.probabilities(&obs, 3).unwrap();
        let lp = pi.log_probs(&obs, 3, &actions).unwrap();
        for (t, &a) in actions.iter().enumerate() {
            assert!((lp[t] - p[t * 3 + a].ln()).abs() < 1e-5);
        }
        let mut adam = pi.net.adam(1e-3);
        let w = [1.0, -0.5, 2.0];
        let before = pi.ascend(&mut adam, &obs, 3, &actions, &w).unwrap();
        let after: f32 = pi
            .log_probs(&obs, 3, &actions)
            .unwrap()
            .iter()
            .zip(&w)
            .map(|(l, w)| l * w)
            .sum();
        assert!(after > before, "{before} -> {after}");
        assert!(pi.ascend(&mut adam, &obs, 3, &[3, 0, 0], &w).is_err());
        assert!(pi.ascend(&mut adam, &obs, 3, &actions, &w[..2]).is_err());
        assert_eq!(pi.act(&obs, 3, &mut rng, true).unwrap().len(), 3);
    }
}
