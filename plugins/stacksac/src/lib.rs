//! `libstacksac.so`: Stack-SAC (Wen et al. 2021, sections 5.3 and C.2; docs/algorithms.md
//! section 3) as one correction on the SDK's SAC core.
//!
//! The actor follows the Stackelberg gradient, treating the critic as the follower:
//!
//! ```text
//! g = grad_theta J_pi - (d2 J_Q / dtheta dphi)^T (G + eta I)^-1 dJ_pi/dphi
//!   = grad_theta J_pi + mean_b [ (grad_phi Q(s_b,a_b) . v) grad_theta y_b ],
//! v = (G + eta I)^-1 u,   u = dJ_pi/dphi = mean_s grad_phi q_phi(s, a~)   (to the arg-min critic)
//! G = mean_b grad_phi Q(s_b,a_b) grad_phi Q(s_b,a_b)^T   (Gauss-Newton, block-diagonal over Q1, Q2)
//! ```
//!
//! `y_b` depends on `theta` through `a' ~ pi_theta(.|s')` (reparameterised) and
//! `log pi(a'|s')`. The solve is exact (Woodbury through the `B x B` Gram matrix, see
//! `acgap_toolkit::implicit`), and the correction is a parameter-space term.
//!
//! Exports the agent `stacksac` (SAC core + this correction) and the correction
//! `stackelberg` (`host --plugin sac --correction stackelberg`).

use acgap_sdk::{
    AgentEntry, Correction, CorrectionEntry, CorrectionInit, Family, Metrics, PluginResult,
    SacContext, SacCorrection, Term,
};
use acgap_toolkit::implicit::{gram_solve, relative_residual, woodbury_combine};
use acgap_toolkit::sac::{SacConfig, build_with_correction, defaults_with_correction};
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct StackelbergConfig {
    /// Regularisation of the critic's Gauss-Newton matrix (paper: 0.5).
    pub eta: f64,
    /// Compute the diagnostics (solver residual, cosine with the plain gradient; three extra
    /// network passes) every this many actor steps; 0 = never.
    pub diagnostics_every: u64,
}

impl Default for StackelbergConfig {
    fn default() -> Self {
        Self {
            eta: 0.5,
            diagnostics_every: 10,
        }
    }
}

pub struct Stackelberg {
    eta: f64,
    diagnostics_every: u64,
    steps: u64,
}

impl Stackelberg {
    pub fn new(init: &CorrectionInit) -> PluginResult<Self> {
        let cfg: StackelbergConfig = serde_json::from_value(init.config.clone())
            .map_err(|e| format!("stackelberg config: {e}"))?;
        if cfg.eta.is_nan() || cfg.eta <= 0.0 {
            return Err(format!(
                "stackelberg config: `eta` must be positive, got {}",
                cfg.eta
            ));
        }
        Ok(Self {
            eta: cfg.eta,
            diagnostics_every: cfg.diagnostics_every,
            steps: 0,
        })
    }
}

fn to_f64(v: &[f32]) -> Vec<f64> {
    v.iter().map(|&x| x as f64).collect()
}

fn to_f32(v: &[f64]) -> Vec<f32> {
    v.iter().map(|&x| x as f32).collect()
}

fn norm(v: &[f32]) -> f64 {
    v.iter().map(|&x| (x as f64).powi(2)).sum::<f64>().sqrt()
}

impl SacCorrection for Stackelberg {
    fn actor_term(&mut self, ctx: &dyn SacContext) -> PluginResult<(Term<f32>, Metrics)> {
        let (info, b) = (ctx.info(), ctx.batch());
        let (n, p) = (b.len, info.critic_params);
        let act = ctx.batch_actions()?;
        let obs = b.obs;

        // u = dJ_pi/dphi = mean_s grad_phi min(Q1, Q2)(s, a~): weight 1/n on the arg-min critic.
        let a_pi = ctx.policy_actions()?.actions;
        let q = ctx.critic_values(obs, &a_pi)?;
        let mut w = vec![0.0_f32; 2 * n];
        for s in 0..n {
            let argmin = if q[s] <= q[n + s] { 0 } else { 1 };
            w[argmin * n + s] = 1.0 / n as f32;
        }
        let u = to_f64(&ctx.critic_vjp(obs, &a_pi, &w)?);

        // v_i = (J_i^T J_i / n + eta I)^-1 u_i for each critic, J_i at the batch's (s, a), by
        // Woodbury; both critics' products go through one JVP and one VJP call.
        let gram = to_f64(&ctx.critic_gram(obs, &act)?);
        let ju = to_f64(&ctx.critic_jvp(obs, &act, &to_f32(&u))?);
        let mut z = Vec::with_capacity(2 * n);
        for i in 0..2 {
            z.extend(gram_solve(
                &gram[i * n * n..(i + 1) * n * n],
                n,
                self.eta,
                &ju[i * n..(i + 1) * n],
            )?);
        }
        let jtz = to_f64(&ctx.critic_vjp(obs, &act, &to_f32(&z))?);
        let v = woodbury_combine(&u, &jtz, self.eta)?;

        // c_b = sum_i grad_phi Q_i(s_b, a_b) . v_i;  term = mean_b c_b grad_theta y_b.
        let jv = ctx.critic_jvp(obs, &act, &to_f32(&v))?;
        let c: Vec<f32> = (0..n).map(|s| (jv[s] + jv[n + s]) / n as f32).collect();
        let term = ctx.target_vjp(&c)?;

        let mut metrics = vec![("stackelberg/implicit_norm".into(), norm(&term))];
        self.steps += 1;
        if self.diagnostics_every > 0 && (self.steps - 1).is_multiple_of(self.diagnostics_every) {
            // How exact the solve was, and how the term relates to the plain gradient.
            let jtjv = to_f64(&ctx.critic_vjp(obs, &act, &jv)?); // J_i^T J_i v_i, block by block
            let residual = (0..2)
                .map(|i| {
                    relative_residual(
                        &v[i * p..(i + 1) * p],
                        &u[i * p..(i + 1) * p],
                        n,
                        self.eta,
                        &jtjv[i * p..(i + 1) * p],
                    )
                })
                .fold(0.0, f64::max);
            let plain = ctx.actor_gradient()?;
            let cosine = plain
                .iter()
                .zip(&term)
                .map(|(a, b)| *a as f64 * *b as f64)
                .sum::<f64>()
                / (norm(&plain) * norm(&term)).max(1e-30);
            metrics.extend([
                ("stackelberg/plain_grad_norm".into(), norm(&plain)),
                ("stackelberg/cosine_with_plain".into(), cosine),
                ("stackelberg/solver_residual_max".into(), residual),
            ]);
        }
        Ok((Term::Direction(term), metrics))
    }

    fn save(&self) -> PluginResult<Vec<u8>> {
        Ok(self.steps.to_le_bytes().to_vec())
    }

    fn load(&mut self, bytes: &[u8]) -> PluginResult<()> {
        self.steps = u64::from_le_bytes(
            bytes
                .try_into()
                .map_err(|_| "stackelberg: bad checkpoint state".to_string())?,
        );
        Ok(())
    }
}

fn stackelberg_defaults() -> serde_json::Value {
    serde_json::to_value(StackelbergConfig::default()).expect("serialises")
}

acgap_sdk::export_plugin! {
    agents: [AgentEntry {
        name: "stacksac",
        description: "Stack-SAC: SAC whose actor follows the Stackelberg gradient (exact Gauss-Newton implicit term, eta-regularised)",
        default_config: || defaults_with_correction(SacConfig::default(), stackelberg_defaults()),
        build: |init| build_with_correction(init, &stackelberg_defaults(), Stackelberg::new),
    }],
    corrections: [CorrectionEntry {
        name: "stackelberg",
        description: "Stack-SAC's implicit term as a correction for any SAC-core agent",
        default_config: stackelberg_defaults,
        family: Family::Sac,
        build: |init| Ok(Correction::sac(Stackelberg::new(&init)?)),
    }],
}

#[cfg(test)]
mod tests {
    //! The assembled Stackelberg term against the formula computed with dense linear
    //! algebra from explicit per-sample critic gradients, on the real SAC core.

    use super::*;
    use acgap_sdk::spec::{EnvSpec, Space};
    use acgap_sdk::{AgentInit, Batch, BatchKind};
    use acgap_toolkit::sac::SacCore;

    const N: usize = 6;

    /// `(J^T J / n + eta I)^-1 u` with the P x P matrix formed explicitly.
    fn dense_solve(j: &[Vec<f64>], u: &[f64], eta: f64) -> Vec<f64> {
        let p = u.len();
        let jm = nalgebra::DMatrix::from_fn(j.len(), p, |r, c| j[r][c]);
        let a = jm.transpose() * &jm / N as f64 + nalgebra::DMatrix::identity(p, p) * eta;
        a.lu()
            .solve(&nalgebra::DVector::from_column_slice(u))
            .expect("regularised system is invertible")
            .as_slice()
            .to_vec()
    }

    #[test]
    fn implicit_term_matches_the_dense_formula() {
        let env = EnvSpec {
            id: "test".into(),
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
        let init = AgentInit {
            config: serde_json::json!({"hidden": [6, 6], "batch_size": N, "buffer_size": 10}),
            env: env.clone(),
            seed: 3,
            device: "cpu".into(),
        };
        let mut core = SacCore::new(&init, None).unwrap();
        let f = |k: usize, s: f32| {
            (0..k)
                .map(|i| (i as f32 * 0.77 + s).sin() * 0.8)
                .collect::<Vec<f32>>()
        };
        let (obs, act, rew, next) = (f(2 * N, 0.1), f(N, 0.2), f(N, 0.3), f(2 * N, 0.4));
        let term_flags = vec![0.0, 0.0, 1.0, 0.0, 0.0, 0.0];
        let batch = Batch {
            kind: BatchKind::Minibatch,
            len: N,
            obs: &obs,
            action: &act,
            reward: &rew,
            next_obs: &next,
            terminated: &term_flags,
            truncated: &term_flags,
        };
        let eta = 0.5;
        let mut stack = Stackelberg::new(&CorrectionInit {
            config: serde_json::json!({"eta": eta}),
            env,
            seed: 0,
            device: "cpu".into(),
        })
        .unwrap();
        core.with_context(&batch, 9, |ctx| {
            let (Term::Direction(term), _) = stack.actor_term(ctx).unwrap() else {
                panic!("expected a parameter term")
            };
            let p = ctx.info().critic_params;
            let a = ctx.batch_actions().unwrap();
            let a_pi = ctx.policy_actions().unwrap().actions;
            let q = ctx.critic_values(&obs, &a_pi).unwrap();
            // Explicit per-sample gradients: rows of J_i at (s, a) and at (s, a~).
            let grads = |acts: &[f32], i: usize, b: usize| -> Vec<f64> {
                let mut w = vec![0.0; 2 * N];
                w[i * N + b] = 1.0;
                ctx.critic_vjp(&obs, acts, &w).unwrap()[i * p..(i + 1) * p]
                    .iter()
                    .map(|&x| x as f64)
                    .collect()
            };
            let mut c = [0.0_f64; N];
            for i in 0..2 {
                let j: Vec<Vec<f64>> = (0..N).map(|b| grads(&a, i, b)).collect();
                // u_i = mean over samples whose smaller critic is Q_i of grad Q_i(s, a~)
                let mut u = vec![0.0; p];
                for b in 0..N {
                    let argmin = if q[b] <= q[N + b] { 0 } else { 1 };
                    if argmin == i {
                        for (uk, gk) in u.iter_mut().zip(grads(&a_pi, i, b)) {
                            *uk += gk / N as f64;
                        }
                    }
                }
                let v = dense_solve(&j, &u, eta);
                for b in 0..N {
                    c[b] += j[b].iter().zip(&v).map(|(x, y)| x * y).sum::<f64>();
                }
            }
            let c: Vec<f32> = c.iter().map(|x| (x / N as f64) as f32).collect();
            let want = ctx.target_vjp(&c).unwrap();
            let err = term
                .iter()
                .zip(&want)
                .map(|(x, y)| ((x - y) as f64).powi(2))
                .sum::<f64>()
                .sqrt()
                / norm(&want).max(1e-12);
            assert!(
                err < 1e-3,
                "Stackelberg term vs dense formula: relative error {err:e}"
            );
        })
        .unwrap();
    }
}
