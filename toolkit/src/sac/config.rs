//! SAC hyperparameters, with the paper's defaults (Wen et al. 2021, Table 3).

use acgap_sdk::agent::Training;
use serde::{Deserialize, Serialize};

/// Every key can be set with `host --set key=value` or a config file.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SacConfig {
    /// Discount factor.
    pub gamma: f64,
    /// Polyak coefficient of the target critics (target update every critic step).
    pub tau: f64,
    pub actor_lr: f64,
    pub critic_lr: f64,
    /// Learning rate of the entropy temperature (log alpha).
    pub alpha_lr: f64,
    /// Initial entropy temperature.
    pub init_alpha: f64,
    /// Tune alpha towards `target_entropy` (default `-dim(A)`); if false alpha stays `init_alpha`.
    pub autotune_alpha: bool,
    /// `null` means `-dim(A)`.
    pub target_entropy: Option<f64>,
    /// Hidden layer sizes of actor and critics.
    pub hidden: Vec<usize>,
    pub batch_size: usize,
    pub buffer_size: usize,
    /// Uniform random actions and no updates for this many env steps.
    pub learning_starts: usize,
    /// "x-y": x critic steps and y correction steps per iteration (then one actor step).
    pub schedule: String,
    /// E env steps per iteration (paper: 10; SAC-1-0 with E = 1 is the classic SAC).
    pub env_steps_per_iter: usize,
    /// Stable-Baselines3's form of the tanh correction, `log(1 - tanh(u)^2 + squash_floor)`
    /// (SB3: 1e-6); 0 is the exact `2 (ln 2 - u - softplus(-2u))`. For ablations against SB3.
    pub squash_floor: f64,
    /// The actor step uses the minibatch of the critic step just before it, as SB3 does (one
    /// minibatch per gradient step); off, every update gets a fresh one. For ablations.
    pub shared_minibatch: bool,
}

impl Default for SacConfig {
    fn default() -> Self {
        Self {
            gamma: 0.99,
            tau: 0.005,
            actor_lr: 3e-4,
            critic_lr: 3e-4,
            alpha_lr: 3e-4,
            init_alpha: 1.0,
            autotune_alpha: true,
            target_entropy: None,
            hidden: vec![128, 128],
            batch_size: 128,
            buffer_size: 1_000_000,
            learning_starts: 1000,
            schedule: "1-0".into(),
            env_steps_per_iter: 1,
            squash_floor: 0.0,
            shared_minibatch: false,
        }
    }
}

impl SacConfig {
    /// Parse and check a config object (the host has already merged defaults and overrides).
    pub fn from_json(v: &serde_json::Value) -> Result<Self, String> {
        let cfg: SacConfig =
            serde_json::from_value(v.clone()).map_err(|e| format!("SAC config: {e}"))?;
        cfg.training()?;
        let positive = [
            ("actor_lr", cfg.actor_lr),
            ("critic_lr", cfg.critic_lr),
            ("alpha_lr", cfg.alpha_lr),
            ("init_alpha", cfg.init_alpha),
        ];
        for (key, value) in positive {
            if !(value > 0.0 && value.is_finite()) {
                return Err(format!(
                    "SAC config: `{key}` must be a positive number, got {value}"
                ));
            }
        }
        if !(0.0..1.0).contains(&cfg.squash_floor) {
            return Err(format!(
                "SAC config: `squash_floor` must lie in [0, 1) (SB3's is 1e-6), got {}",
                cfg.squash_floor
            ));
        }
        if !(0.0..=1.0).contains(&cfg.gamma) || !(0.0..=1.0).contains(&cfg.tau) {
            return Err("SAC config: `gamma` and `tau` must lie in [0, 1]".into());
        }
        if cfg.hidden.is_empty()
            || cfg.hidden.contains(&0)
            || cfg.batch_size == 0
            || cfg.buffer_size < cfg.batch_size
        {
            return Err("SAC config: `hidden` needs positive sizes, `batch_size` > 0 and `buffer_size` >= `batch_size`".into());
        }
        // Five networks of about this size: the actor, two critics, two targets.
        acgap_sdk::memory::check_networks("SAC", &cfg.hidden, cfg.batch_size, 5)?;
        Ok(cfg)
    }

    /// The host's schedule, from `schedule = "x-y"` and `env_steps_per_iter`.
    pub fn training(&self) -> Result<Training, String> {
        let bad = || {
            format!(
                "SAC config: `schedule` must look like \"1-0\" or \"10-10\" (critic steps - correction steps), got {:?}",
                self.schedule
            )
        };
        let (x, y) = self.schedule.split_once('-').ok_or_else(bad)?;
        let critic_steps: usize = x.trim().parse().map_err(|_| bad())?;
        let correction_steps: usize = y.trim().parse().map_err(|_| bad())?;
        if self.env_steps_per_iter == 0 {
            return Err("SAC config: `env_steps_per_iter` must be at least 1".into());
        }
        Ok(Training::OffPolicy {
            batch_size: self.batch_size,
            buffer_size: self.buffer_size,
            learning_starts: self.learning_starts,
            env_steps_per_iter: self.env_steps_per_iter,
            critic_steps,
            correction_steps,
            actor_steps: 1,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schedule_parses_paper_notation() {
        let cfg = SacConfig {
            schedule: "10-10".into(),
            env_steps_per_iter: 10,
            ..Default::default()
        };
        match cfg.training().unwrap() {
            Training::OffPolicy {
                critic_steps,
                correction_steps,
                env_steps_per_iter,
                ..
            } => {
                assert_eq!(
                    (critic_steps, correction_steps, env_steps_per_iter),
                    (10, 10, 10)
                )
            }
            other => panic!("{other:?}"),
        }
        let bad = SacConfig {
            schedule: "ten".into(),
            ..Default::default()
        };
        assert!(bad.training().unwrap_err().contains("schedule"));
    }

    #[test]
    fn wrong_types_and_values_are_refused_with_the_key() {
        let err = SacConfig::from_json(&serde_json::json!({"batch_size": "big"})).unwrap_err();
        assert!(
            err.contains("batch_size") || err.contains("invalid type"),
            "{err}"
        );
        let err = SacConfig::from_json(&serde_json::json!({"actor_lr": -1.0})).unwrap_err();
        assert!(err.contains("actor_lr"), "{err}");
        let err = SacConfig::from_json(&serde_json::json!({"nope": 1})).unwrap_err();
        assert!(err.contains("nope"), "{err}");
    }
}
