//! `libressac.so`: Res-SAC (Wen et al. 2021, sections 4.3 and 6.2, appendix C.1 and D.2;
//! docs/algorithms.md §3) as one correction on the SDK's SAC core.
//!
//! The residual critic `W_psi(s, a)` learns the value of the critic's own soft TD error:
//!
//! ```text
//! delta  = y - q_phi(s, a),  y = r + gamma (1 - term)(min_i Qbar_i(s',a') - alpha log pi(a'|s'))
//! rr     = clip(delta, -c, c)                                          (residual reward)
//! J_W    = 1/2 mean (W(s,a) - (rr + gamma (1 - term) Wbar(s', a')))^2   (no entropy term)
//! actor: maximise mean [ q_phi(s, a~) + W(s, a~) - alpha log pi(a~|s) ]
//! ```
//!
//! so the correction is `grad_theta mean W(s, a~)`: an action-space term `dW/da~ / B` that
//! the core maps through the actor. `a'` is the same sample as in `y`.
//!
//! The library exports the agent `ressac` (SAC core + this correction, compiled in) and
//! the correction `residual` on its own (`host --plugin sac --correction ressac@residual`).
//! Both start identically for the same seed.

use acgap_sdk::seeds;
use acgap_sdk::{
    AgentEntry, Correction, CorrectionEntry, CorrectionInit, Family, Metrics, PluginResult,
    SacContext, SacCorrection, Term,
};
use acgap_toolkit::sac::{SacConfig, build_with_correction, defaults_with_correction};
use acgap_toolkit::{Adam, Mlp, device_from_name};
use rand::SeedableRng;
use serde::{Deserialize, Serialize};

/// Residual-critic hyperparameters.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ResidualConfig {
    /// Clip `c` of the residual reward; `null` takes the paper's value for the env
    /// (Pendulum 4.0, Reacher 1.0, HalfCheetah 6.0) and is an error elsewhere.
    pub clip: Option<f64>,
    /// Adam learning rate of W (paper: 3e-4 for every network).
    pub w_lr: f64,
    /// Polyak coefficient of Wbar.
    pub w_tau: f64,
    /// Hidden sizes of W; `null` = the base critics' (paper: same shape as a critic).
    pub w_hidden: Option<Vec<usize>>,
}

impl Default for ResidualConfig {
    fn default() -> Self {
        Self {
            clip: None,
            w_lr: 3e-4,
            w_tau: 0.005,
            w_hidden: None,
        }
    }
}

/// The paper's clip per environment (Table 3); `None` where it gives none.
pub fn paper_clip(env_id: &str) -> Option<f64> {
    match env_id {
        "pendulum" | "pendulum-v0" => Some(4.0),
        id if id.starts_with("reacher") => Some(1.0),
        id if id.starts_with("halfcheetah") => Some(6.0),
        _ => None,
    }
}

/// The residual critic and its estimator. Networks are built lazily at the first
/// call, when the base's sizes are known from the context.
pub struct Residual {
    cfg: ResidualConfig,
    clip: f32,
    seed: u64,
    device: String,
    nets: Option<Nets>,
}

struct Nets {
    w: Mlp,
    target: Mlp,
    adam: Adam,
}

impl Residual {
    pub fn new(init: &CorrectionInit) -> PluginResult<Self> {
        let cfg: ResidualConfig = serde_json::from_value(init.config.clone())
            .map_err(|e| format!("residual config: {e}"))?;
        let clip = match cfg.clip.or_else(|| paper_clip(&init.env.id)) {
            Some(c) if c > 0.0 => c as f32,
            Some(c) => return Err(format!("residual config: `clip` must be positive, got {c}")),
            None => {
                return Err(format!(
                    "residual config: the paper gives no `clip` for `{}`; set one (e.g. the largest |TD error| of a plain SAC run, `train/td_abs_max` in its train.csv)",
                    init.env.id
                ));
            }
        };
        if cfg.w_lr.is_nan() || cfg.w_lr <= 0.0 || !(0.0..=1.0).contains(&cfg.w_tau) {
            return Err("residual config: `w_lr` must be positive and `w_tau` in [0, 1]".into());
        }
        device_from_name(&init.device)?;
        Ok(Self {
            cfg,
            clip,
            seed: seeds::derive(init.seed, "residual-critic"),
            device: init.device.clone(),
            nets: None,
        })
    }

    fn nets(&mut self, ctx: &dyn SacContext) -> PluginResult<&mut Nets> {
        if self.nets.is_none() {
            let info = ctx.info();
            let hidden = self.cfg.w_hidden.clone().unwrap_or(info.hidden);
            let sizes: Vec<usize> = std::iter::once(info.obs_dim + info.act_dim)
                .chain(hidden)
                .chain([1])
                .collect();
            let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(self.seed);
            let w = Mlp::new(&sizes, &mut rng, &device_from_name(&self.device)?);
            self.nets = Some(Nets {
                target: w.clone(),
                adam: Adam::new(&w.params(), self.cfg.w_lr),
                w,
            });
        }
        Ok(self.nets.as_mut().expect("just built"))
    }
}

/// Row-wise concatenation `[obs | act]`, the input of W.
fn pairs(obs: &[f32], act: &[f32], rows: usize) -> Vec<f32> {
    let (od, ad) = (obs.len() / rows, act.len() / rows);
    (0..rows)
        .flat_map(|r| {
            obs[r * od..(r + 1) * od]
                .iter()
                .chain(&act[r * ad..(r + 1) * ad])
                .copied()
        })
        .collect()
}

impl SacCorrection for Residual {
    /// W learns in the correction steps: a schedule without them is refused.
    fn trains(&self) -> bool {
        true
    }

    /// One res-critic step (docs/algorithms.md §3, "W loss").
    fn train(&mut self, ctx: &dyn SacContext) -> PluginResult<Metrics> {
        let (info, b) = (ctx.info(), ctx.batch());
        let n = b.len;
        let act = ctx.batch_actions()?;
        let y = ctx.td_target()?;
        let q = ctx.critic_values(b.obs, &act)?; // Q1 rows then Q2 rows
        let next_a = ctx.next_actions()?.actions; // the a' of y
        let (clip, tau) = (self.clip, self.cfg.w_tau as f32);
        // rr = clip(y - min(Q1, Q2), -c, c)
        let delta: Vec<f32> = (0..n).map(|i| y[i] - q[i].min(q[n + i])).collect();
        let rr: Vec<f32> = delta.iter().map(|d| d.clamp(-clip, clip)).collect();
        let nets = self.nets(ctx)?;
        let w_next = nets.target.predict(&pairs(b.next_obs, &next_a, n), n)?;
        let target: Vec<f32> = (0..n)
            .map(|i| rr[i] + info.gamma * (1.0 - b.terminated[i]) * w_next[i])
            .collect();
        let loss = nets
            .w
            .regression_step(&mut nets.adam, &pairs(b.obs, &act, n), n, &target)?;
        nets.target.polyak_from(&nets.w, tau);
        let clipped = delta.iter().filter(|d| d.abs() > clip).count() as f64 / n as f64;
        Ok(vec![
            ("residual/w_loss".into(), loss as f64),
            (
                "residual/rr_abs_mean".into(),
                rr.iter().map(|x| x.abs() as f64).sum::<f64>() / n as f64,
            ),
            ("residual/clipped_fraction".into(), clipped),
        ])
    }

    /// `grad_theta mean_s W(s, a~)` as the action gradients `dW/da~ / B`, summed by the core
    /// (the `1/B` is the backward pass's seed).
    fn actor_term(&mut self, ctx: &dyn SacContext) -> PluginResult<(Term<f32>, Metrics)> {
        let b = ctx.batch();
        let n = b.len;
        let od = ctx.info().obs_dim;
        let a = ctx.policy_actions()?.actions;
        let nets = self.nets(ctx)?;
        let x = pairs(b.obs, &a, n);
        let (w, dx) = nets.w.input_gradient(&x, n, &vec![1.0 / n as f32; n])?;
        let width = dx.len() / n;
        let g: Vec<f32> = (0..n)
            .flat_map(|r| dx[r * width + od..(r + 1) * width].to_vec())
            .collect();
        let w_mean = w.iter().map(|&v| v as f64).sum::<f64>() / n as f64;
        Ok((
            Term::Sum(g),
            vec![("residual/w_at_policy_mean".into(), w_mean)],
        ))
    }

    /// `W(s, a)`: the core reports `q+w`, the corrected estimate of the soft value.
    fn value_terms(
        &mut self,
        obs: &[f32],
        act: &[f32],
        n: usize,
    ) -> PluginResult<Vec<(String, Vec<f32>)>> {
        match &self.nets {
            Some(nets) => Ok(vec![("w".into(), nets.w.predict(&pairs(obs, act, n), n)?)]),
            None => Ok(Vec::new()), // not trained yet
        }
    }

    fn save(&self) -> PluginResult<Vec<u8>> {
        let mut w = acgap_toolkit::StateWriter::default();
        if let Some(n) = &self.nets {
            w.tensor("w", &n.w.to_flat())
                .tensor("target", &n.target.to_flat())
                .tensors("adam", &n.adam.moments());
            w.meta("sizes", &n.w.sizes()).meta("adam_t", &n.adam.t);
        }
        w.finish()
    }

    fn load(&mut self, bytes: &[u8]) -> PluginResult<()> {
        let r = acgap_toolkit::StateReader::new(bytes)?;
        let Ok(sizes) = r.meta::<Vec<usize>>("sizes") else {
            self.nets = None; // saved before the first update
            return Ok(());
        };
        let device = device_from_name(&self.device)?;
        let mut w = Mlp::new(
            &sizes,
            &mut rand_chacha::ChaCha8Rng::seed_from_u64(self.seed),
            &device,
        );
        w.set_flat(&r.tensor("w")?, &device)?;
        let mut target = w.clone();
        target.set_flat(&r.tensor("target")?, &device)?;
        let mut adam = Adam::new(&w.params(), self.cfg.w_lr);
        adam.set_moments(&r.tensors("adam", 2 * w.params().len())?, &device)?;
        adam.t = r.meta("adam_t")?;
        self.nets = Some(Nets { w, target, adam });
        Ok(())
    }
}

fn residual_defaults() -> serde_json::Value {
    serde_json::to_value(ResidualConfig::default()).expect("serialises")
}

/// `ressac` = the SAC core (schedule 1-1: one W step per iteration) + the residual critic;
/// its config holds the SAC keys and `clip`, `w_lr`, `w_tau`, `w_hidden`.
fn ressac_defaults() -> serde_json::Value {
    defaults_with_correction(
        SacConfig {
            schedule: "1-1".into(),
            ..Default::default()
        },
        residual_defaults(),
    )
}

acgap_sdk::export_plugin! {
    agents: [AgentEntry {
        name: "ressac",
        description: "Res-SAC: SAC whose actor also ascends a residual critic W of the critic's clipped TD error",
        default_config: ressac_defaults,
        build: |init| build_with_correction(init, &residual_defaults(), Residual::new),
    }],
    corrections: [CorrectionEntry {
        name: "residual",
        description: "Res-SAC's residual critic as a correction for any SAC-core agent",
        default_config: residual_defaults,
        family: Family::Sac,
        build: |init| Ok(Correction::sac(Residual::new(&init)?)),
    }],
}

#[cfg(test)]
mod tests {
    //! The residual estimator against hand computations on a mock context: the
    //! residual reward and W's TD target, and the action gradient of mean W against
    //! finite differences. (The SAC core's products it relies on are checked in the SDK.)

    use super::*;
    use acgap_sdk::spec::{EnvSpec, Space};
    use acgap_sdk::{Batch, BatchKind, ContextInfo, Sampled};

    const N: usize = 4;

    struct Mock {
        obs: Vec<f32>,
        act: Vec<f32>,
        reward: Vec<f32>,
        next_obs: Vec<f32>,
        term: Vec<f32>,
        y: Vec<f32>,
        q: Vec<f32>,
        next_a: Vec<f32>,
        policy_a: Vec<f32>,
    }

    impl Mock {
        fn new() -> Self {
            let r = |k: usize, s: f32| {
                (0..k)
                    .map(|i| (i as f32 * 1.7 + s).sin() * 0.9)
                    .collect::<Vec<f32>>()
            };
            Mock {
                obs: r(N * 3, 0.1),
                act: r(N, 0.2),
                reward: r(N, 0.3),
                next_obs: r(N * 3, 0.4),
                term: vec![0.0, 1.0, 0.0, 0.0],
                // TD errors y - min(Q1,Q2) = [10, -0.5, -9, 0.25]: two of them beyond c = 4.
                y: vec![10.0, 0.5, -8.0, 1.25],
                q: vec![0.0, 1.0, 1.0, 1.0, 0.5, 2.0, 3.0, 1.5],
                next_a: r(N, 0.5),
                policy_a: r(N, 0.6),
            }
        }
    }

    impl SacContext for Mock {
        fn info(&self) -> ContextInfo {
            ContextInfo {
                obs_dim: 3,
                act_dim: 1,
                batch_len: N,
                gamma: 0.9,
                alpha: 0.2,
                actor_params: 0,
                critic_params: 0,
                hidden: vec![8, 8],
            }
        }
        fn batch(&self) -> Batch<'_> {
            Batch {
                kind: BatchKind::Minibatch,
                len: N,
                obs: &self.obs,
                action: &self.act,
                reward: &self.reward,
                next_obs: &self.next_obs,
                terminated: &self.term,
                truncated: &self.term,
            }
        }
        fn batch_actions(&self) -> PluginResult<Vec<f32>> {
            Ok(self.act.clone())
        }
        fn policy_actions(&self) -> PluginResult<Sampled> {
            Ok(Sampled {
                actions: self.policy_a.clone(),
                log_prob: vec![0.0; N],
            })
        }
        fn next_actions(&self) -> PluginResult<Sampled> {
            Ok(Sampled {
                actions: self.next_a.clone(),
                log_prob: vec![0.0; N],
            })
        }
        fn td_target(&self) -> PluginResult<Vec<f32>> {
            Ok(self.y.clone())
        }
        fn critic_values(&self, _: &[f32], _: &[f32]) -> PluginResult<Vec<f32>> {
            Ok(self.q.clone())
        }
        fn critic_jvp(&self, _: &[f32], _: &[f32], _: &[f32]) -> PluginResult<Vec<f32>> {
            Err("not used".into())
        }
        fn critic_vjp(&self, _: &[f32], _: &[f32], _: &[f32]) -> PluginResult<Vec<f32>> {
            Err("not used".into())
        }
        fn actor_vjp(&self, _: &[f32]) -> PluginResult<Vec<f32>> {
            Err("not used".into())
        }
        fn target_vjp(&self, _: &[f32]) -> PluginResult<Vec<f32>> {
            Err("not used".into())
        }
    }

    fn residual(config: serde_json::Value) -> PluginResult<Residual> {
        let env = EnvSpec {
            id: "pendulum".into(),
            observation: Space::Box {
                low: vec![-1.0; 3],
                high: vec![1.0; 3],
            },
            action: Space::Box {
                low: vec![-2.0],
                high: vec![2.0],
            },
            max_episode_steps: Some(200),
            tabular: None,
        };
        Residual::new(&CorrectionInit {
            config,
            env,
            seed: 7,
            device: "cpu".into(),
        })
    }

    #[test]
    fn w_loss_uses_the_clipped_residual_reward_and_the_target_w() {
        let ctx = Mock::new();
        let mut res = residual(serde_json::json!({})).unwrap();
        assert_eq!(res.clip, 4.0, "the paper's Pendulum clip");
        let nets = res.nets(&ctx).unwrap();
        let w_sa = nets.w.predict(&pairs(&ctx.obs, &ctx.act, N), N).unwrap();
        let w_next = nets
            .target
            .predict(&pairs(&ctx.next_obs, &ctx.next_a, N), N)
            .unwrap();
        // rr = clip(y - min(Q1, Q2), -4, 4) = [4, -0.5, -4, 0.25]
        let rr = [4.0_f32, -0.5, -4.0, 0.25];
        let want: f32 = (0..N)
            .map(|i| (w_sa[i] - (rr[i] + 0.9 * (1.0 - ctx.term[i]) * w_next[i])).powi(2))
            .sum::<f32>()
            / (2.0 * N as f32);
        let m = res.train(&ctx).unwrap();
        let get = |k: &str| m.iter().find(|(n, _)| n == k).unwrap().1;
        assert!(
            (get("residual/w_loss") - want as f64).abs() < 1e-5,
            "{} vs {want}",
            get("residual/w_loss")
        );
        assert_eq!(get("residual/clipped_fraction"), 0.5);
        assert!((get("residual/rr_abs_mean") - 2.1875).abs() < 1e-6);
    }

    #[test]
    fn actor_term_is_the_action_gradient_of_mean_w() {
        let ctx = Mock::new();
        let mut res = residual(serde_json::json!({"w_hidden": [16, 16]})).unwrap();
        let (term, _) = res.actor_term(&ctx).unwrap();
        let Term::Sum(g) = term else {
            panic!("expected an action gradient")
        };
        let w = &res.nets.as_ref().unwrap().w;
        let mean_w = |a: &[f32]| {
            w.predict(&pairs(&ctx.obs, a, N), N)
                .unwrap()
                .iter()
                .map(|&x| x as f64)
                .sum::<f64>()
                / N as f64
        };
        for i in 0..N {
            let h = 1e-3;
            let (mut up, mut down) = (ctx.policy_a.clone(), ctx.policy_a.clone());
            up[i] += h;
            down[i] -= h;
            let fd = (mean_w(&up) - mean_w(&down)) / (2.0 * h as f64);
            assert!(
                (g[i] as f64 - fd).abs() < 1e-3 * fd.abs().max(0.1),
                "sample {i}: {} vs {fd}",
                g[i]
            );
        }
    }

    #[test]
    fn clip_is_required_where_the_paper_gives_none() {
        let env = EnvSpec {
            id: "mountaincar-continuous".into(),
            observation: Space::Box {
                low: vec![-1.0; 2],
                high: vec![1.0; 2],
            },
            action: Space::Box {
                low: vec![-1.0],
                high: vec![1.0],
            },
            max_episode_steps: None,
            tabular: None,
        };
        let err = Residual::new(&CorrectionInit {
            config: serde_json::json!({}),
            env,
            seed: 0,
            device: "cpu".into(),
        })
        .err()
        .unwrap();
        assert!(
            err.contains("`clip`") && err.contains("td_abs_max"),
            "{err}"
        );
        assert!(
            residual(serde_json::json!({"clip": -1.0}))
                .err()
                .unwrap()
                .contains("positive")
        );
    }

    #[test]
    fn state_round_trips() {
        let ctx = Mock::new();
        let mut a = residual(serde_json::json!({})).unwrap();
        a.train(&ctx).unwrap();
        let mut b = residual(serde_json::json!({})).unwrap();
        b.load(&a.save().unwrap()).unwrap();
        assert_eq!(a.train(&ctx).unwrap(), b.train(&ctx).unwrap());
        let fresh = residual(serde_json::json!({})).unwrap();
        let mut c = residual(serde_json::json!({})).unwrap();
        c.load(&fresh.save().unwrap()).unwrap();
        assert!(c.nets.is_none());
    }
}
