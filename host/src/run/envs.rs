//! A run's envs, one per role, each made once: the training env and the evaluation env here
//! (the parallel envs of a vectorised on-policy agent are made where its schedule is known,
//! `setup.rs`). The agent is built from the training env's spec, so nothing else makes an env
//! for a run: a `gym:` run starts exactly one worker per role.

use crate::run::spec::RunSpec;
use acgap_envs::{Env, EnvSpec};
use acgap_sdk::seeds;

pub struct Envs {
    pub train: Box<dyn Env>,
    pub eval: Box<dyn Env>,
}

impl Envs {
    /// The envs of `spec`'s run. A fresh run seeds them from its master seed (streams `env`
    /// and `eval_env`); one continuing from a checkpoint restores their state from it, so they
    /// are made with seed 0 (what an env it cannot restore exactly starts from, as before).
    pub fn make(spec: &RunSpec, from_checkpoint: bool) -> Result<Envs, String> {
        let seed = |stream: &str| {
            if from_checkpoint {
                0
            } else {
                seeds::derive(spec.seed, stream)
            }
        };
        let make =
            |stream: &str| acgap_envs::make(&spec.env, seed(stream)).map_err(|e| e.to_string());
        Ok(Envs {
            train: make("env")?,
            eval: make("eval_env")?,
        })
    }

    pub fn spec(&self) -> &EnvSpec {
        self.train.spec()
    }
}
