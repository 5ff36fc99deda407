//! The continuous scorecard's truth, checked against what it claims to be (an in-process SAC
//! core: no plugin to build). The zero and oracle rows, a user's library and a failing
//! estimator are checked end to end in `host/tests/score.rs`.

use super::*;
use acgap_sdk::agent::AgentInit;
use acgap_toolkit::sac::SacCore;

fn pendulum() -> acgap_sdk::spec::EnvSpec {
    acgap_envs::make("pendulum", 0).unwrap().spec().clone()
}

/// A small SAC agent as initialised.
fn small_sac(gamma: f64, seed: u64) -> SacCore {
    let init = AgentInit {
        config: serde_json::json!({"hidden": [16, 16], "batch_size": 64, "gamma": gamma}),
        env: pendulum(),
        seed,
        device: "cpu".into(),
    };
    SacCore::new(&init, None).unwrap()
}

fn norm(v: &[f64]) -> f64 {
    v.iter().map(|x| x * x).sum::<f64>().sqrt()
}

/// States and the policy's actions at them (in `[-1, 1]`).
fn pairs(agent: &mut dyn Agent, n: usize, gamma: f64) -> (Vec<f32>, Vec<f32>) {
    let b = truth::on_policy_batch(agent, n, gamma, 7).unwrap();
    let a = agent.sample_for_diagnostics(&b.obs, n, 8).unwrap();
    (b.obs, a.actions.iter().map(|x| x / 2.0).collect())
}

/// Four times the rollouts halve the truth's standard error, and the two estimates agree
/// within it.
#[test]
fn more_rollouts_shrink_the_truths_standard_error_as_one_over_sqrt_n() {
    let mut agent = small_sac(0.9, 1);
    let (obs, actions) = pairs(&mut agent, 48, 0.9);
    let run = |agent: &mut SacCore, rollouts: usize, seed: u64| {
        let cfg = McConfig {
            gamma: 0.9,
            horizon: 60,
            rollouts,
            h: 0.05,
        };
        truth::action_gradients(agent, &obs, &actions, seed, &cfg).unwrap()
    };
    let (g4, se4) = run(&mut agent, 4, 11);
    let (g16, se16) = run(&mut agent, 16, 12);
    let ratio = norm(&se4) / norm(&se16);
    assert!(
        (1.6..2.5).contains(&ratio),
        "s.e. ratio {ratio}, expected about 2"
    );
    let diff: Vec<f64> = g4.iter().zip(&g16).map(|(a, b)| a - b).collect();
    let se: f64 = (norm(&se4).powi(2) + norm(&se16).powi(2)).sqrt();
    assert!(
        norm(&diff) < 3.0 * se,
        "|g4 - g16| = {} vs s.e. {se}",
        norm(&diff)
    );
}

/// The actor's flat parameters in the agent's checkpoint, replaced by `f(theta)`.
fn with_actor(bytes: &[u8], f: impl Fn(&[f32]) -> Vec<f32>) -> Vec<u8> {
    use safetensors::SafeTensors;
    use safetensors::tensor::TensorView;
    let st = SafeTensors::deserialize(bytes).unwrap();
    let (_, meta) = SafeTensors::read_metadata(bytes).unwrap();
    let data: Vec<(String, safetensors::Dtype, Vec<usize>, Vec<u8>)> = st
        .tensors()
        .into_iter()
        .map(|(name, v)| {
            let raw = if name == "actor" {
                let theta: Vec<f32> = v
                    .data()
                    .chunks_exact(4)
                    .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
                    .collect();
                f(&theta).iter().flat_map(|x| x.to_le_bytes()).collect()
            } else {
                v.data().to_vec()
            };
            (name, v.dtype(), v.shape().to_vec(), raw)
        })
        .collect();
    let views: Vec<(&str, TensorView<'_>)> = data
        .iter()
        .map(|(n, d, s, b)| (n.as_str(), TensorView::new(*d, s.clone(), b).unwrap()))
        .collect();
    safetensors::serialize(views, meta.metadata().clone()).unwrap()
}

/// `(1 - gamma) J` per start: the normalised soft return from `n` initial states, each
/// `sum_t gamma^t (r_t - alpha log pi(a_t|s_t))` over `horizon` steps, with noise fixed by
/// `seed` (common random numbers across policies).
fn soft_values(agent: &mut dyn Agent, n: usize, gamma: f64, horizon: usize, seed: u64) -> Vec<f64> {
    use acgap_envs::Dynamics;
    let mut states = truth::initial_states(n, &mut ChaCha8Rng::seed_from_u64(seed));
    let mut ret = vec![0.0; n];
    let mut discount = 1.0;
    for t in 0..horizon {
        let obs: Vec<f32> = states.iter().flat_map(|s| s.observe()).collect();
        let s = agent
            .sample_for_diagnostics(&obs, n, seed + 1 + t as u64)
            .unwrap();
        for (i, p) in states.iter_mut().enumerate() {
            let (r, _) = p.step(&s.actions[i..i + 1]);
            ret[i] += discount * (r - s.alpha as f64 * s.log_prob[i] as f64);
        }
        discount *= gamma;
    }
    ret.iter().map(|v| (1.0 - gamma) * v).collect()
}

/// The finite difference of `(1 - gamma) J` along unit `u` at the actor of `saved`, with its
/// standard error (8000 starts, common random numbers).
fn finite_difference(saved: &[u8], u: &[f64], gamma: f64) -> (f64, f64) {
    let delta = 0.02;
    let mut agent = small_sac(gamma, 3);
    let mut at = |sign: f64| {
        agent
            .load(&with_actor(saved, |theta| {
                theta
                    .iter()
                    .zip(u)
                    .map(|(t, d)| t + (sign * delta * d) as f32)
                    .collect()
            }))
            .unwrap();
        soft_values(&mut agent, 8000, gamma, 200, 99)
    };
    let (plus, minus) = (at(1.0), at(-1.0));
    let d: Vec<f64> = plus
        .iter()
        .zip(&minus)
        .map(|(p, m)| (p - m) / (2.0 * delta))
        .collect();
    mean_and_se(&d)
}

fn mean_and_se(v: &[f64]) -> (f64, f64) {
    let n = v.len() as f64;
    let m = v.iter().sum::<f64>() / n;
    (
        m,
        (v.iter().map(|x| (x - m).powi(2)).sum::<f64>() / (n - 1.0) / n).sqrt(),
    )
}

/// On states from the policy's discounted state distribution, the scorecard's truth is the
/// gradient of the normalised soft return: along its own direction and along plain SAC's it
/// matches a central finite difference of `(1 - gamma) J(theta)` (Monte Carlo with common
/// random numbers), within their standard errors.
#[test]
fn the_truth_is_the_gradient_of_the_soft_return() {
    let gamma = 0.9;
    let mut agent = small_sac(gamma, 3);
    // Trained a little on its own transitions, so that its critic's action gradients and its
    // policy are far from their initial values (the truth replaces the first; the states follow
    // the second).
    for k in 0..300 {
        let b = truth::on_policy_batch(&mut agent, 64, gamma, 1000 + k).unwrap();
        agent.update(&b.view(), UpdateStep::Critic).unwrap();
        agent.update(&b.view(), UpdateStep::Actor).unwrap();
    }
    let src = PointSource {
        replay: None,
        init: CorrectionInit {
            config: serde_json::Value::Null,
            env: pendulum(),
            seed: 0,
            device: "cpu".into(),
        },
        seed: 5,
    };
    let s = Settings {
        batches: 96,
        warmup: 0,
        rollouts: 6,
        horizon: Some(150),
        states: States::OnPolicy,
        fd_step: 0.02,
        seed: 0,
        seeds: 1,
        stages: Vec::new(),
    };
    let rows = vec![Row {
        label: "sac".into(),
        kind: RowKind::Plain,
    }];
    let saved = agent.save().unwrap();
    let scored = score_point(&mut agent, &src, &rows, &s).unwrap();
    let unit = |v: Vec<f64>| -> Vec<f64> { v.iter().map(|x| x / norm(&v)).collect() };
    let pg = Truth::PerBatch(&scored.truths).mean();
    let plain = stats::mean(scored.rows[0].1.as_ref().unwrap());
    let plain_u = unit(plain.clone());
    for (name, u) in [("the truth's", unit(pg)), ("plain SAC's", plain_u.clone())] {
        let along: Vec<f64> = scored
            .truths
            .iter()
            .map(|t| t.iter().zip(&u).map(|(a, b)| a * b).sum())
            .collect();
        let (truth, se_truth) = mean_and_se(&along);
        let (fd, se_fd) = finite_difference(&saved, &u, gamma);
        let se = (se_truth.powi(2) + se_fd.powi(2)).sqrt();
        assert!(
            (truth - fd).abs() < 3.0 * se,
            "along {name} direction: truth {truth} (s.e. {se_truth}) vs finite difference {fd} (s.e. {se_fd})"
        );
        if name == "the truth's" {
            // The check has power: the derivative is resolved, many standard errors from zero.
            assert!(fd > 6.0 * se, "along {name} direction: {fd} vs s.e. {se}");
        } else {
            // And it is not the critic's gradient: plain SAC's own slope there is far off.
            let sac = norm(&plain);
            assert!(
                (sac - fd).abs() > 6.0 * se,
                "plain SAC {sac} vs {fd} (s.e. {se})"
            );
        }
    }
}
