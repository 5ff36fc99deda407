//! REINFORCE with a state-value baseline (Williams 1992; Sutton & Barto 2018, section 13.4) for
//! discrete actions, written as a third party would: against the SDK and its toolkit only — the
//! categorical policy, `Mlp`, `Adam`, the state writer — with no burn import and the SDK's own
//! `rand`.
//!
//! Each update takes an in-order rollout of `rollout_len` steps, computes the discounted
//! returns `G_t` of every episode in it (bootstrapped with `V(s')` where the rollout or a time
//! limit cuts an episode), takes one policy step on `mean_t (G_t - V(s_t)) log pi(a_t|s_t)`
//! (advantages normalised per rollout) and `value_steps` regression steps of `V` towards `G_t`.
//!
//! ```text
//! host --plugin libreinforce.so --env cartpole --steps 100000
//! ```

use acgap_sdk::rand::SeedableRng;
use acgap_sdk::rand_chacha::ChaCha8Rng;
use acgap_sdk::spec::Space;
use acgap_sdk::{Agent, AgentEntry, AgentInit, Batch, Metrics, PluginResult, Training, UpdateStep};
use acgap_toolkit::{
    Activation, Adam, Categorical, Device, Mlp, StateReader, StateWriter, device_from_name,
};
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    pub rollout_len: usize,
    pub gamma: f64,
    pub policy_lr: f64,
    pub value_lr: f64,
    /// Regression steps of the baseline per rollout.
    pub value_steps: usize,
    pub hidden: Vec<usize>,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            rollout_len: 1000,
            gamma: 0.99,
            policy_lr: 0.005,
            value_lr: 0.005,
            value_steps: 20,
            hidden: vec![64, 64],
        }
    }
}

pub struct Reinforce {
    cfg: Config,
    obs_dim: usize,
    device: Device,
    policy: Categorical,
    value: Mlp,
    policy_opt: Adam,
    value_opt: Adam,
    rng: ChaCha8Rng,
}

impl Reinforce {
    pub fn new(init: &AgentInit) -> PluginResult<Self> {
        let cfg: Config = serde_json::from_value(init.config.clone())
            .map_err(|e| format!("invalid config: {e}"))?;
        let Space::Discrete { n } = init.env.action else {
            return Err(format!(
                "REINFORCE here is for discrete actions; `{}` has continuous ones",
                init.env.id
            ));
        };
        if cfg.rollout_len < 2 || !(0.0..1.0).contains(&cfg.gamma) {
            return Err("rollout_len must be >= 2 and gamma in [0, 1)".into());
        }
        let device = device_from_name(&init.device)?;
        let obs_dim = init.env.obs_dim();
        let mut rng = ChaCha8Rng::seed_from_u64(init.seed);
        let policy = Categorical::new(obs_dim, n, &cfg.hidden, &mut rng, &device);
        let sizes: Vec<usize> = std::iter::once(obs_dim)
            .chain(cfg.hidden.iter().copied())
            .chain([1])
            .collect();
        let value = Mlp::with_activation(&sizes, Activation::Tanh, &mut rng, &device);
        Ok(Self {
            policy_opt: policy.net.adam(cfg.policy_lr),
            value_opt: value.adam(cfg.value_lr),
            cfg,
            obs_dim,
            device,
            policy,
            value,
            rng,
        })
    }

    /// Discounted returns of each episode in the rollout; a cut episode (time limit or the
    /// rollout's end) is bootstrapped with `V(s')`, a terminated one is not.
    fn returns(&self, b: &Batch<'_>) -> PluginResult<Vec<f32>> {
        let n = b.len;
        let v_next = self.value.predict(b.next_obs, n)?;
        let gamma = self.cfg.gamma as f32;
        let mut g = vec![0.0f32; n];
        let mut next = 0.0f32;
        for t in (0..n).rev() {
            let terminated = b.terminated[t] > 0.5;
            let cut = terminated || b.truncated[t] > 0.5 || t + 1 == n;
            let bootstrap = if terminated { 0.0 } else { v_next[t] };
            g[t] = b.reward[t] + gamma * if cut { bootstrap } else { next };
            next = g[t];
        }
        Ok(g)
    }
}

impl Agent for Reinforce {
    fn training(&self) -> Training {
        Training::OnPolicy {
            rollout_len: self.cfg.rollout_len,
            num_envs: 1,
        }
    }

    fn act(&mut self, obs: &[f32], n: usize, deterministic: bool) -> PluginResult<Vec<f32>> {
        let a = self.policy.act(obs, n, &mut self.rng, deterministic)?;
        Ok(a.into_iter().map(|a| a as f32).collect())
    }

    fn update(&mut self, b: &Batch<'_>, step: UpdateStep) -> PluginResult<Metrics> {
        if step != UpdateStep::Rollout {
            return Err(format!(
                "REINFORCE learns from rollouts, not `{step:?}` steps"
            ));
        }
        let n = b.len;
        let g = self.returns(b)?;
        let v = self.value.predict(b.obs, n)?;
        let mut adv: Vec<f32> = g.iter().zip(&v).map(|(g, v)| g - v).collect();
        let mean = adv.iter().sum::<f32>() / n as f32;
        let std = (adv.iter().map(|a| (a - mean).powi(2)).sum::<f32>() / n as f32).sqrt();
        adv.iter_mut()
            .for_each(|a| *a = (*a - mean) / (std + 1e-8) / n as f32);
        let actions: Vec<usize> = b.action.iter().map(|&a| a as usize).collect();
        let objective = self
            .policy
            .ascend(&mut self.policy_opt, b.obs, n, &actions, &adv)?;
        let mut value_loss = 0.0;
        for i in 0..self.cfg.value_steps {
            let loss = self
                .value
                .regression_step(&mut self.value_opt, b.obs, n, &g)?;
            if i == 0 {
                value_loss = loss;
            }
        }
        Ok(vec![
            ("train/policy_objective".into(), objective as f64),
            ("train/value_loss".into(), value_loss as f64),
            (
                "train/return_mean".into(),
                g.iter().map(|&x| x as f64).sum::<f64>() / n as f64,
            ),
        ])
    }

    fn save(&self) -> PluginResult<Vec<u8>> {
        let mut w = StateWriter::default();
        w.tensor("policy", &self.policy.net.to_flat())
            .tensor("value", &self.value.to_flat())
            .meta("rng", &self.rng)
            .meta("config", &self.cfg);
        self.policy_opt.save_into(&mut w, "policy_opt");
        self.value_opt.save_into(&mut w, "value_opt");
        w.finish()
    }

    fn load(&mut self, bytes: &[u8]) -> PluginResult<()> {
        let r = StateReader::new(bytes)?;
        let cfg: Config = r.meta("config")?;
        if cfg.hidden != self.cfg.hidden {
            return Err("the checkpoint's network sizes differ from this agent's".into());
        }
        self.policy
            .net
            .set_flat(&r.tensor("policy")?, &self.device)?;
        self.value.set_flat(&r.tensor("value")?, &self.device)?;
        self.policy_opt.load_from(&r, "policy_opt")?;
        self.value_opt.load_from(&r, "value_opt")?;
        self.rng = r.meta("rng")?;
        let _ = self.obs_dim;
        Ok(())
    }
}

acgap_sdk::export_plugin! {
    agents: [AgentEntry {
        name: "reinforce",
        description: "REINFORCE with a learned state-value baseline (discrete actions), toolkit only",
        default_config: || serde_json::to_value(Config::default()).expect("serialises"),
        build: |init| Ok(Box::new(Reinforce::new(&init)?)),
    }],
    corrections: [],
}
