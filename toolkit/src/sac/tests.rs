//! Gradient checks for the SAC core and its correction context: every product
//! a correction can ask for is compared with central finite differences, and
//! the two kinds of correction term are shown to move the actor identically.

use super::context::{BatchTensors, StepContext};
use super::core::SacCore;
use crate::policy::SquashedGaussian;
use crate::tensor::{from_rows, normal_noise, to_vec};
use crate::{Adam, Mlp, device_from_name};
use acgap_sdk::agent::{Agent, AgentInit};
use acgap_sdk::batch::{Batch, BatchKind, UpdateStep};
use acgap_sdk::correction::{Correction, SacContext, SacCorrection, Term};
use acgap_sdk::spec::{EnvSpec, Space};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

const B: usize = 5;

fn spec() -> EnvSpec {
    EnvSpec {
        id: "test".into(),
        observation: Space::Box {
            low: vec![-1.0; 3],
            high: vec![1.0; 3],
        },
        action: Space::Box {
            low: vec![-2.0, -1.0],
            high: vec![2.0, 1.0],
        },
        max_episode_steps: None,
        tabular: None,
    }
}

fn core(seed: u64) -> SacCore {
    core_on(seed, "cpu")
}

fn core_on(seed: u64, device: &str) -> SacCore {
    let init = AgentInit {
        config: serde_json::json!({"hidden": [16, 16], "batch_size": B, "buffer_size": 100}),
        env: spec(),
        seed,
        device: device.into(),
    };
    SacCore::new(&init, None).unwrap()
}

struct Data {
    obs: Vec<f32>,
    action: Vec<f32>,
    reward: Vec<f32>,
    next_obs: Vec<f32>,
    terminated: Vec<f32>,
    truncated: Vec<f32>,
}

impl Data {
    fn random(seed: u64) -> Self {
        let mut r = ChaCha8Rng::seed_from_u64(seed);
        let mut u = |n: usize, lo: f32, hi: f32| {
            (0..n).map(|_| r.random_range(lo..hi)).collect::<Vec<f32>>()
        };
        Data {
            obs: u(B * 3, -1.0, 1.0),
            action: u(B * 2, -0.9, 0.9),
            reward: u(B, -1.0, 1.0),
            next_obs: u(B * 3, -1.0, 1.0),
            terminated: vec![0.0, 1.0, 0.0, 0.0, 0.0],
            truncated: vec![0.0, 0.0, 1.0, 0.0, 0.0],
        }
    }
    fn batch(&self) -> Batch<'_> {
        Batch {
            kind: BatchKind::Minibatch,
            len: B,
            obs: &self.obs,
            action: &self.action,
            reward: &self.reward,
            next_obs: &self.next_obs,
            terminated: &self.terminated,
            truncated: &self.truncated,
        }
    }
}

fn random_vec(n: usize, seed: u64) -> Vec<f32> {
    let mut r = ChaCha8Rng::seed_from_u64(seed);
    (0..n).map(|_| r.random_range(-1.0..1.0)).collect()
}

fn dot(a: &[f32], b: &[f32]) -> f64 {
    a.iter().zip(b).map(|(x, y)| *x as f64 * *y as f64).sum()
}

/// Central difference of `f` along `v` from `p`: (f(p + h v) - f(p - h v)) / 2h.
fn central(p: &[f32], v: &[f32], h: f32, mut f: impl FnMut(&[f32]) -> f64) -> f64 {
    let plus: Vec<f32> = p.iter().zip(v).map(|(a, b)| a + h * b).collect();
    let minus: Vec<f32> = p.iter().zip(v).map(|(a, b)| a - h * b).collect();
    (f(&plus) - f(&minus)) / (2.0 * h as f64)
}

fn assert_close(what: &str, got: f64, want: f64, rel: f64) {
    let err = (got - want).abs() / want.abs().max(1e-3);
    assert!(
        err < rel,
        "{what}: analytic {got} vs finite difference {want} (relative error {err:.2e})"
    );
}

fn with_context<T>(
    c: &SacCore,
    data: &Data,
    seed: u64,
    f: impl FnOnce(&StepContext<'_>) -> T,
) -> T {
    let batch = data.batch();
    let t = BatchTensors::new(c, &batch).unwrap();
    let mut r = ChaCha8Rng::seed_from_u64(seed);
    let (eps, eps_next) = (
        normal_noise(&mut r, B, 2, &c.device),
        normal_noise(&mut r, B, 2, &c.device),
    );
    f(&StepContext::new(c, &batch, t, eps, eps_next))
}

#[test]
fn mlp_jvp_matches_finite_differences() {
    let d = device_from_name("cpu").unwrap();
    let mut rng = ChaCha8Rng::seed_from_u64(1);
    let mut net = Mlp::new(&[4, 12, 12, 2], &mut rng, &d);
    let x = random_vec(3 * 4, 2);
    let p0 = net.to_flat();
    let v = random_vec(p0.len(), 3);
    let w = random_vec(3 * 2, 4);
    let (_, dy) = net.jvp(from_rows(&x, 3, 4, &d), &net.unflatten(&v, &d), None);
    let analytic = dot(&to_vec(dy), &w);
    let fd = central(&p0, &v, 1e-3, |p| {
        net.set_flat(p, &d).unwrap();
        dot(&to_vec(net.forward(from_rows(&x, 3, 4, &d))), &w)
    });
    assert_close("MLP JVP", analytic, fd, 1e-2);
}

#[test]
fn squashed_gaussian_log_prob_matches_the_change_of_variables() {
    let d = device_from_name("cpu").unwrap();
    let mut rng = ChaCha8Rng::seed_from_u64(5);
    let pi = SquashedGaussian::new(3, 2, &[8], &mut rng, &d);
    let obs = random_vec(4 * 3, 6);
    let eps = random_vec(4 * 2, 7);
    let (a, logp) = SquashedGaussian::sample(
        &pi.net,
        2,
        from_rows(&obs, 4, 3, &d),
        from_rows(&eps, 4, 2, &d),
    );
    let (a, logp) = (to_vec(a), to_vec(logp));
    let out = to_vec(pi.net.forward(from_rows(&obs, 4, 3, &d)));
    for b in 0..4 {
        let mut want = 0.0_f64;
        for j in 0..2 {
            let (mean, log_std) = (
                out[b * 4 + j] as f64,
                (out[b * 4 + 2 + j] as f64).clamp(-20.0, 2.0),
            );
            let u = mean + log_std.exp() * eps[b * 2 + j] as f64;
            let gauss = -0.5 * (eps[b * 2 + j] as f64).powi(2)
                - log_std
                - 0.5 * (2.0 * std::f64::consts::PI).ln();
            want += gauss - (1.0 - u.tanh().powi(2)).ln();
            assert!((a[b * 2 + j] as f64 - u.tanh()).abs() < 1e-5);
        }
        assert!(
            (logp[b] as f64 - want).abs() < 1e-4,
            "row {b}: {} vs {want}",
            logp[b]
        );
    }
}

#[test]
fn critic_products_match_finite_differences() {
    // Burn path: the test moves the burn networks themselves.
    let mut c = core(11).without_host_path();
    let data = Data::random(12);
    let p = c.nets.burn().critics[0].param_count();
    let v = random_vec(2 * p, 13);
    let w = random_vec(2 * B, 14);
    let act = random_vec(B * 2, 15);
    let (jvp, vjp) = with_context(&c, &data, 16, |ctx| {
        (
            ctx.critic_jvp(&data.obs, &act, &v).unwrap(),
            ctx.critic_vjp(&data.obs, &act, &w).unwrap(),
        )
    });
    // The two products are adjoint: w . (J v) = (J^T w) . v, exactly up to rounding.
    assert_close("JVP/VJP adjointness", dot(&w, &jvp), dot(&vjp, &v), 1e-4);
    let critics = &c.nets.burn().critics;
    let p0: Vec<f32> = critics[0]
        .to_flat()
        .into_iter()
        .chain(critics[1].to_flat())
        .collect();
    let d = c.device.clone();
    let fd = central(&p0, &v, 1e-3, |flat| {
        let critics = &mut c.nets.burn_to_step().critics;
        critics[0].set_flat(&flat[..p], &d).unwrap();
        critics[1].set_flat(&flat[p..], &d).unwrap();
        with_context(&c, &data, 16, |ctx| {
            dot(&ctx.critic_values(&data.obs, &act).unwrap(), &w)
        })
    });
    assert_close("critic JVP", dot(&w, &jvp), fd, 1e-2);
}

/// `critic_action_gradient`: the values equal `critic_values`, and `w . dQ/da` matches central
/// differences of `w . Q` along a random action direction.
#[test]
fn critic_action_gradients_match_finite_differences() {
    let c = core(31);
    let data = Data::random(32);
    let act = random_vec(B * 2, 33);
    let w = random_vec(2 * B, 34);
    let dir = random_vec(B * 2, 35);
    with_context(&c, &data, 36, |ctx| {
        let out = ctx.critic_action_gradient(&data.obs, &act, &w).unwrap();
        assert_eq!(out.len(), 2 * B + 2 * B * 2);
        assert_eq!(
            &out[..2 * B],
            ctx.critic_values(&data.obs, &act).unwrap().as_slice()
        );
        let (g1, g2) = out[2 * B..].split_at(B * 2);
        let analytic = dot(g1, &dir) + dot(g2, &dir);
        let fd = central(&act, &dir, 1e-3, |a| {
            dot(&ctx.critic_values(&data.obs, a).unwrap(), &w)
        });
        assert_close("critic action gradient", analytic, fd, 1e-2);
        assert!(
            ctx.critic_action_gradient(&data.obs, &act, &w[1..])
                .is_err()
        );
    });
}

#[test]
fn actor_products_match_finite_differences() {
    let mut c = core(21).without_host_path();
    let data = Data::random(22);
    let p0 = c.nets.burn().actor.net.to_flat();
    let v = random_vec(p0.len(), 23);
    let g = random_vec(B * 2, 24);
    let cw = random_vec(B, 25);
    let (avjp, tvjp) = with_context(&c, &data, 26, |ctx| {
        (ctx.actor_vjp(&g).unwrap(), ctx.target_vjp(&cw).unwrap())
    });
    let d = c.device.clone();
    let fd_actions = central(&p0, &v, 1e-3, |flat| {
        c.nets.burn_to_step().actor.net.set_flat(flat, &d).unwrap();
        with_context(&c, &data, 26, |ctx| {
            dot(&ctx.policy_actions().unwrap().actions, &g)
        })
    });
    assert_close("actor VJP through a~", dot(&avjp, &v), fd_actions, 1e-2);
    let fd_target = central(&p0, &v, 1e-3, |flat| {
        c.nets.burn_to_step().actor.net.set_flat(flat, &d).unwrap();
        with_context(&c, &data, 26, |ctx| dot(&ctx.td_target().unwrap(), &cw))
    });
    assert_close(
        "actor VJP through the soft target",
        dot(&tvjp, &v),
        fd_target,
        2e-2,
    );
}

/// A correction that returns a fixed action gradient either as is (summed), as a mean of
/// `B g`, or turned into a parameter direction with `actor_vjp`: all must move the actor
/// identically.
struct FixedTerm {
    g: Vec<f32>,
    as_param: bool,
}

impl SacCorrection for FixedTerm {
    fn actor_term(
        &mut self,
        ctx: &dyn SacContext,
    ) -> acgap_sdk::agent::PluginResult<(Term<f32>, acgap_sdk::agent::Metrics)> {
        let term = if self.as_param {
            Term::Direction(ctx.actor_vjp(&self.g)?)
        } else {
            Term::Sum(self.g.clone())
        };
        Ok((term, vec![]))
    }
}

/// [`FixedTerm`]'s action gradient given as a batch mean.
struct MeanTerm(Vec<f32>);

impl SacCorrection for MeanTerm {
    fn actor_term(
        &mut self,
        ctx: &dyn SacContext,
    ) -> acgap_sdk::agent::PluginResult<(Term<f32>, acgap_sdk::agent::Metrics)> {
        let b = ctx.info().batch_len as f32;
        Ok((Term::Mean(self.0.iter().map(|g| g * b).collect()), vec![]))
    }
}

#[test]
fn action_and_parameter_terms_give_the_same_actor_step() {
    let data = Data::random(31);
    let g = random_vec(B * 2, 32);
    let run = |as_param: bool, correction: bool| {
        let mut c = core(33);
        if correction {
            c.attach(Correction::sac(FixedTerm {
                g: g.clone(),
                as_param,
            }))
            .unwrap();
        }
        c.update(&data.batch(), UpdateStep::Actor).unwrap();
        c.net_flats()[0].clone()
    };
    let (plain, via_action, via_param) = (run(false, false), run(false, true), run(true, true));
    let mut c = core(33);
    c.attach(Correction::sac(MeanTerm(g.clone()))).unwrap();
    c.update(&data.batch(), UpdateStep::Actor).unwrap();
    let via_mean = c.net_flats()[0].clone();
    let diff = |a: &[f32], b: &[f32]| {
        a.iter()
            .zip(b)
            .map(|(x, y)| (x - y).abs())
            .fold(0.0, f32::max)
    };
    assert!(
        diff(&via_action, &via_param) < 1e-6,
        "the two term kinds disagree by {}",
        diff(&via_action, &via_param)
    );
    assert!(
        diff(&plain, &via_action) > 1e-5,
        "the correction had no effect on the actor"
    );
    assert!(
        diff(&via_mean, &via_action) < 1e-6,
        "a mean of B g is not the sum of g: {}",
        diff(&via_mean, &via_action)
    );
}

#[test]
fn an_action_gradient_of_the_wrong_length_is_refused() {
    let data = Data::random(34);
    let mut c = core(35);
    c.attach(Correction::sac(FixedTerm {
        g: vec![1.0; 3],
        as_param: false,
    }))
    .unwrap();
    let err = c.update(&data.batch(), UpdateStep::Actor).unwrap_err();
    assert!(
        err.contains("per-sample term of 3 values") && err.contains("expected"),
        "{err}"
    );
}

#[test]
fn save_and_load_continue_bit_exactly() {
    let data = Data::random(41);
    let mut a = core(42);
    for step in [
        UpdateStep::Critic,
        UpdateStep::Actor,
        UpdateStep::Critic,
        UpdateStep::Actor,
    ] {
        a.update(&data.batch(), step).unwrap();
    }
    let bytes = a.save().unwrap();
    let mut b = core(999);
    b.load(&bytes).unwrap();
    for step in [UpdateStep::Critic, UpdateStep::Actor] {
        let ma = a.update(&data.batch(), step).unwrap();
        let mb = b.update(&data.batch(), step).unwrap();
        assert_eq!(ma, mb);
    }
    assert_eq!(
        a.act(&data.obs, B, false).unwrap(),
        b.act(&data.obs, B, false).unwrap()
    );
    assert!(
        a.net_flats() == b.net_flats(),
        "networks differ after resume"
    );
}

#[test]
fn adam_matches_the_pytorch_rule() {
    let d = device_from_name("cpu").unwrap();
    let mut p = vec![from_rows(&[1.0, -2.0], 1, 2, &d)];
    let mut adam = Adam::new(&p, 0.1);
    let g = [0.5_f64, -4.0];
    for _ in 0..2 {
        adam.step(p.iter_mut(), vec![from_rows(&[0.5, -4.0], 1, 2, &d)]);
    }
    // With a constant gradient, m_hat = g and v_hat = g^2 at every step: each step moves by lr * g / (|g| + eps').
    let got = to_vec(p[0].clone());
    for (j, start) in [1.0_f64, -2.0].iter().enumerate() {
        let want = start - 2.0 * 0.1 * g[j] / (g[j].abs() + 1e-8);
        assert!((got[j] as f64 - want).abs() < 1e-6, "{} vs {want}", got[j]);
    }
}

#[test]
fn nan_loss_is_reported_as_divergence() {
    let mut data = Data::random(51);
    data.reward[0] = f32::NAN;
    let mut c = core(52);
    let err = c.update(&data.batch(), UpdateStep::Critic).unwrap_err();
    assert!(
        err.starts_with("diverged: critic loss is NaN at update 1"),
        "{err}"
    );
}

/// The critics' per-sample Gram matrix against `J J^T` from explicit per-sample gradients,
/// and the Woodbury solve through the context's products against a dense solve (f32 data).
#[test]
fn critic_gram_and_the_implicit_solve_match_dense_linear_algebra() {
    use crate::implicit::solve_gauss_newton;
    use nalgebra::{DMatrix, DVector};
    let c = core(61);
    let data = Data::random(62);
    let p = c.nets.burn().critics[0].param_count();
    let eta = 0.5;
    with_context(&c, &data, 63, |ctx| {
        let (obs, act) = (&data.obs, &data.action);
        // Row b of J_i = grad_phi Q_i(s_b, a_b), from one-hot vector-Jacobian products.
        let mut jac = [DMatrix::<f64>::zeros(B, p), DMatrix::<f64>::zeros(B, p)];
        for b in 0..B {
            for (i, j) in jac.iter_mut().enumerate() {
                let mut w = vec![0.0; 2 * B];
                w[i * B + b] = 1.0;
                let g = ctx.critic_vjp(obs, act, &w).unwrap();
                for k in 0..p {
                    j[(b, k)] = g[i * p + k] as f64;
                }
            }
        }
        let gram = ctx.critic_gram(obs, act).unwrap();
        let u = random_vec(2 * p, 64);
        for (i, j) in jac.iter().enumerate() {
            let k = j * j.transpose();
            for b in 0..B {
                for d in 0..B {
                    let got = gram[i * B * B + b * B + d] as f64;
                    assert!(
                        (got - k[(b, d)]).abs() <= 1e-4 * k[(b, d)].abs().max(1.0),
                        "K{i}[{b},{d}] = {got} vs {}",
                        k[(b, d)]
                    );
                }
            }
            let ui: Vec<f64> = u[i * p..(i + 1) * p].iter().map(|&x| x as f64).collect();
            let gram_i: Vec<f64> = gram[i * B * B..(i + 1) * B * B]
                .iter()
                .map(|&x| x as f64)
                .collect();
            let pad = |x: &[f64], len: usize, at: usize| {
                let mut v = vec![0.0_f32; 2 * len];
                for (k, &xk) in x.iter().enumerate() {
                    v[at * len + k] = xk as f32;
                }
                v
            };
            let v = solve_gauss_newton(
                &gram_i,
                B,
                eta,
                &ui,
                |x| {
                    Ok(ctx.critic_jvp(obs, act, &pad(x, p, i))?[i * B..(i + 1) * B]
                        .iter()
                        .map(|&y| y as f64)
                        .collect())
                },
                |z| {
                    Ok(ctx.critic_vjp(obs, act, &pad(z, B, i))?[i * p..(i + 1) * p]
                        .iter()
                        .map(|&y| y as f64)
                        .collect())
                },
            )
            .unwrap();
            let dense = (j.transpose() * j / B as f64 + DMatrix::identity(p, p) * eta)
                .lu()
                .solve(&DVector::from_vec(ui))
                .unwrap();
            let err = (DVector::from_vec(v) - &dense).norm() / dense.norm();
            assert!(
                err < 1e-4,
                "critic {i}: Woodbury vs dense relative error {err:e}"
            );
        }
    });
}

#[test]
fn actor_gradient_matches_finite_differences_of_j_pi() {
    let mut c = core(71).without_host_path();
    let data = Data::random(72);
    let p0 = c.nets.burn().actor.net.to_flat();
    let v = random_vec(p0.len(), 73);
    let grad = with_context(&c, &data, 74, |ctx| ctx.actor_gradient().unwrap());
    let d = c.device.clone();
    let fd = central(&p0, &v, 1e-3, |flat| {
        c.nets.burn_to_step().actor.net.set_flat(flat, &d).unwrap();
        let batch = data.batch();
        let t = BatchTensors::new(&c, &batch).unwrap();
        let mut r = ChaCha8Rng::seed_from_u64(74);
        let eps = normal_noise(&mut r, B, 2, &c.device);
        to_vec(c.actor_objective(&c.nets.burn().actor.net, &t, eps).0)[0] as f64
    });
    assert_close("grad_theta J_pi", dot(&grad, &v), fd, 1e-2);
}

/// A core from seed 83 on `device`, with a `FixedTerm` correction of `g` if `term` says which
/// kind (`Some(as_param)`).
fn core_with_term(device: &str, term: Option<bool>, g: &[f32]) -> SacCore {
    let mut c = core_on(83, device);
    if let Some(as_param) = term {
        c.attach(Correction::sac(FixedTerm {
            g: g.to_vec(),
            as_param,
        }))
        .unwrap();
    }
    c
}

/// Three critic + actor iterations of `a` and `b` on the same batch give metrics and networks
/// within `tolerance` (relative for metrics, absolute for parameters).
fn assert_same_steps(what: &str, a: &mut SacCore, b: &mut SacCore, data: &Data, tolerance: f64) {
    for _ in 0..3 {
        for step in [UpdateStep::Critic, UpdateStep::Actor] {
            let (ma, mb) = (
                a.update(&data.batch(), step).unwrap(),
                b.update(&data.batch(), step).unwrap(),
            );
            for ((ka, va), (kb, vb)) in ma.iter().zip(&mb) {
                assert_eq!(ka, kb);
                assert!(
                    (va - vb).abs() <= tolerance * vb.abs().max(1.0),
                    "{what} {ka}: {va} vs {vb}"
                );
            }
        }
    }
    assert_same_networks(what, a, b, tolerance as f32);
}

/// Every parameter of the five networks of `a` and `b` within `tolerance`.
fn assert_same_networks(what: &str, a: &SacCore, b: &SacCore, tolerance: f32) {
    for (i, (x, y)) in a.net_flats().iter().zip(&b.net_flats()).enumerate() {
        let diff = x
            .iter()
            .zip(y)
            .map(|(p, q)| (p - q).abs())
            .fold(0.0, f32::max);
        assert!(diff < tolerance, "{what}: network {i} differs by {diff}");
    }
}

/// The fused CPU steps (`host_steps.rs`) and the burn autodiff steps move every network the
/// same way over several iterations, with no correction, an action-gradient term and a
/// parameter-direction term; the metrics agree too; and the burn networks read after the steps
/// are the host ones.
#[test]
fn host_and_burn_steps_agree() {
    let data = Data::random(81);
    let g = random_vec(B * 2, 82);
    for term in [None, Some(false), Some(true)] {
        let mut fused = core_with_term("cpu", term, &g);
        let mut burn = core_with_term("cpu", term, &g).without_host_path();
        assert!(fused.nets.fused() && !burn.nets.fused());
        assert_same_steps(&format!("{term:?}"), &mut fused, &mut burn, &data, 1e-4);
        // The burn view of the fused core, read after its steps, is its host networks.
        assert!(fused.nets.burn().flats() == fused.net_flats());
    }
}

/// `cpu:N` splits each step's rows over N threads and sums their gradients: the same steps as
/// one thread up to the order of those sums (N = 3 leaves the 5 rows in shares 2, 2, 1; N = 8
/// has idle threads), with and without a correction term.
#[test]
fn threads_take_the_same_steps_as_one() {
    let data = Data::random(91);
    let g = random_vec(B * 2, 92);
    for device in ["cpu:2", "cpu:3", "cpu:8"] {
        for term in [None, Some(false), Some(true)] {
            let mut one = core_with_term("cpu", term, &g);
            let mut many = core_with_term(device, term, &g);
            assert_same_steps(
                &format!("{device} {term:?}"),
                &mut many,
                &mut one,
                &data,
                1e-5,
            );
            assert_eq!(
                one.act(&data.obs, B, true).unwrap(),
                many.act(&data.obs, B, true).unwrap()
            );
        }
    }
}
#[test]
fn cpu_device_names_give_thread_counts() {
    use crate::cpu_threads;
    assert_eq!(cpu_threads("cpu"), Some(1));
    assert_eq!(cpu_threads("cpu:4"), Some(4));
    for bad in ["cpu:0", "cpu:", "cpu:x", "cpux", "wgpu"] {
        assert_eq!(cpu_threads(bad), None, "{bad}");
    }
    let err = device_from_name("cpu:0").unwrap_err();
    assert!(err.contains("at least one thread"), "{err}");
}

/// A smaller batch after a full one leaves the last lanes idle: their gradients from the
/// full batch must not be summed in (3 lanes: 5 rows in shares 2, 2, 1, then 2 rows in 1, 1).
#[test]
fn idle_lanes_add_nothing() {
    let data = Data::random(95);
    let rows = 2;
    let small = Batch {
        len: rows,
        obs: &data.obs[..rows * 3],
        action: &data.action[..rows * 2],
        reward: &data.reward[..rows],
        next_obs: &data.next_obs[..rows * 3],
        terminated: &data.terminated[..rows],
        truncated: &data.truncated[..rows],
        ..data.batch()
    };
    let (mut one, mut three) = (core_on(96, "cpu"), core_on(96, "cpu:3"));
    for batch in [data.batch(), small] {
        for step in [UpdateStep::Critic, UpdateStep::Actor] {
            one.update(&batch, step).unwrap();
            three.update(&batch, step).unwrap();
        }
    }
    assert_same_networks("idle lanes", &one, &three, 1e-5);
}

/// A context built after fused steps sees the networks those steps moved (the burn view is
/// rebuilt on first read, never a stale copy): its critic values follow the burn path's.
#[test]
fn a_context_after_fused_steps_sees_the_moved_networks() {
    let data = Data::random(91);
    let (mut fused, mut burn) = (core(92), core(92).without_host_path());
    let q = |c: &mut SacCore| {
        c.with_context(&data.batch(), 5, |ctx| {
            ctx.critic_values(&data.obs, &data.action).unwrap()
        })
        .unwrap()
    };
    let before = q(&mut fused);
    for step in [UpdateStep::Critic, UpdateStep::Actor, UpdateStep::Critic] {
        fused.update(&data.batch(), step).unwrap();
        burn.update(&data.batch(), step).unwrap();
        let (a, b) = (q(&mut fused), q(&mut burn));
        let gap = a
            .iter()
            .zip(&b)
            .map(|(x, y)| (x - y).abs())
            .fold(0.0, f32::max);
        assert!(
            gap < 1e-4,
            "{step:?}: the fused core's context is {gap} off"
        );
    }
    assert_ne!(q(&mut fused), before, "the critic steps moved nothing");
}

fn core_with(seed: u64, extra: serde_json::Value) -> SacCore {
    let mut config = serde_json::json!({"hidden": [16, 16], "batch_size": B, "buffer_size": 100});
    config
        .as_object_mut()
        .unwrap()
        .extend(extra.as_object().unwrap().clone());
    let init = AgentInit {
        config,
        env: spec(),
        seed,
        device: "cpu".into(),
    };
    SacCore::new(&init, None).unwrap()
}

/// `squash_floor` is Stable-Baselines3's `log(1 - tanh(u)^2 + eps)`: it gives that density
/// (checked against the closed form, where it differs from the exact one), and the fused and
/// burn steps agree with it as they do without it.
#[test]
fn the_squash_floor_is_sb3s_density_on_both_paths() {
    let d = device_from_name("cpu").unwrap();
    let mut rng = ChaCha8Rng::seed_from_u64(5);
    let pi = SquashedGaussian::new(3, 2, &[8], &mut rng, &d);
    let obs = random_vec(4 * 3, 6);
    // Large noise: saturated actions, where the floor matters.
    let eps: Vec<f32> = random_vec(4 * 2, 7).iter().map(|e| 40.0 * e).collect();
    let sample = |floor| {
        let (a, logp) = SquashedGaussian::sample_floored(
            &pi.net,
            2,
            from_rows(&obs, 4, 3, &d),
            from_rows(&eps, 4, 2, &d),
            floor,
        );
        (to_vec(a), to_vec(logp))
    };
    let ((a, exact), (_, floored)) = (sample(0.0), sample(1e-6));
    let out = to_vec(pi.net.forward(from_rows(&obs, 4, 3, &d)));
    let mut differs = false;
    for b in 0..4 {
        let mut want = 0.0_f64;
        for j in 0..2 {
            let log_std = (out[b * 4 + 2 + j] as f64).clamp(-20.0, 2.0);
            let e = eps[b * 2 + j] as f64;
            let gauss = -0.5 * e * e - log_std - 0.5 * (2.0 * std::f64::consts::PI).ln();
            let a = a[b * 2 + j] as f64;
            want += gauss - (1.0 - a * a + 1e-6).ln();
        }
        assert!((floored[b] as f64 - want).abs() < 1e-3 * want.abs().max(1.0));
        differs |= (floored[b] - exact[b]).abs() > 1.0;
    }
    assert!(differs, "saturated actions: the floor caps the correction");
    let data = Data::random(81);
    let floor = serde_json::json!({"squash_floor": 1e-6});
    let mut fused = core_with(83, floor.clone());
    let mut burn = core_with(83, floor).without_host_path();
    assert_same_steps("squash floor", &mut fused, &mut burn, &data, 1e-4);
}

/// With `shared_minibatch` the actor step uses the critic step's minibatch, whatever it is
/// handed: the same networks as a core without it that is handed that minibatch twice.
#[test]
fn a_shared_minibatch_is_the_critic_steps() {
    let (first, other) = (Data::random(91), Data::random(92));
    let mut shared = core_with(84, serde_json::json!({"shared_minibatch": true}));
    let mut fresh = core_with(84, serde_json::json!({}));
    for _ in 0..3 {
        shared.update(&first.batch(), UpdateStep::Critic).unwrap();
        shared.update(&other.batch(), UpdateStep::Actor).unwrap();
        fresh.update(&first.batch(), UpdateStep::Critic).unwrap();
        fresh.update(&first.batch(), UpdateStep::Actor).unwrap();
    }
    assert!(shared.net_flats() == fresh.net_flats());
    // And without the flag the minibatch handed to the actor step is used (the test can tell).
    let step = |actor_batch: &Data| {
        let mut c = core_with(84, serde_json::json!({}));
        c.update(&first.batch(), UpdateStep::Critic).unwrap();
        c.update(&actor_batch.batch(), UpdateStep::Actor).unwrap();
        c.net_flats()
    };
    assert!(step(&other) != step(&first));
}

/// A `squash_floor` outside [0, 1) is refused with a message naming the key and SB3's value.
#[test]
fn a_squash_floor_outside_its_range_is_refused() {
    for bad in [-1e-6, 1.0, 2.0] {
        let init = AgentInit {
            config: serde_json::json!({"squash_floor": bad}),
            env: spec(),
            seed: 0,
            device: "cpu".into(),
        };
        let err = SacCore::new(&init, None).err().expect("refused");
        assert!(
            err.contains("squash_floor") && err.contains("1e-6"),
            "{err}"
        );
    }
}
