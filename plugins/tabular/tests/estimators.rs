//! The sample-based estimators against the exact DP module: at a fixed policy and critic, with
//! (s, a, s') drawn i.i.d. from d_theta, P (the distribution the theory assumes), the average of
//! many batch estimates approaches the exact quantity it estimates. Tolerances come from the
//! samples: every coordinate within 5 standard errors, and the whole vector within 5% relative.

use acgap_exact::{Exact, Mdp, Vector};
use acgap_sdk::Term;
use acgap_sdk::spec::{EnvSpec, Space};
use acgap_sdk::{AgentInit, Batch, BatchKind};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use tabular::{ResCritic, ResCriticConfig, Stackelberg, TabularAc, Variant, default_config};

const BATCH: usize = 300;
const BATCHES: usize = 4000;

fn setup() -> (
    Mdp,
    acgap_sdk::spec::TabularModel,
    Vec<f64>,
    Vec<f64>,
    Vec<f64>,
) {
    let env = acgap_envs_model();
    let mdp = Mdp::new(&env).unwrap();
    let mut rng = ChaCha8Rng::seed_from_u64(5);
    let n = mdp.pairs();
    let theta = (0..n).map(|_| rng.random_range(-1.0..1.0)).collect();
    let q = (0..n).map(|_| rng.random_range(0.0..2.0)).collect();
    let w = (0..n).map(|_| rng.random_range(-0.5..0.5)).collect();
    (mdp, env, theta, q, w)
}

/// A small random MDP (built here to keep the plugin's tests free of the envs crate).
fn acgap_envs_model() -> acgap_sdk::spec::TabularModel {
    let mut rng = ChaCha8Rng::seed_from_u64(1);
    let (ns, na) = (6, 3);
    let transitions = (0..ns * na)
        .map(|_| {
            let a = rng.random_range(0..ns);
            let b = (a + 1 + rng.random_range(0..ns - 1)) % ns;
            let p = rng.random_range(0.2..0.8);
            vec![
                (a.min(b), if a < b { p } else { 1.0 - p }),
                (a.max(b), if a < b { 1.0 - p } else { p }),
            ]
        })
        .collect();
    acgap_sdk::spec::TabularModel {
        states: ns,
        actions: na,
        gamma: 0.9,
        mu0: vec![1.0 / ns as f64; ns],
        reward: (0..ns * na).map(|_| rng.random_range(0.0..1.0)).collect(),
        transitions,
    }
}

fn agent(variant: Variant, model: &acgap_sdk::spec::TabularModel, eta: f64) -> TabularAc {
    let mut config = default_config(variant);
    if variant == Variant::Stackelberg {
        config["eta"] = eta.into();
    }
    agent_with(variant, model, config)
}

fn agent_with(
    variant: Variant,
    model: &acgap_sdk::spec::TabularModel,
    config: serde_json::Value,
) -> TabularAc {
    let init = AgentInit {
        config,
        env: EnvSpec {
            id: "test".into(),
            observation: Space::Discrete { n: model.states },
            action: Space::Discrete { n: model.actions },
            max_episode_steps: None,
            tabular: Some(model.clone()),
        },
        seed: 0,
        device: "cpu".into(),
    };
    TabularAc::new(variant, &init).unwrap()
}

/// A res-critic holding table `w`.
fn res_critic(w: &[f64]) -> ResCritic {
    let mut r = ResCritic::new(w.len(), &ResCriticConfig::default()).unwrap();
    r.set_table(w);
    r
}

/// Draw index `i` with probability `p[i]`.
fn draw(rng: &mut ChaCha8Rng, p: impl Iterator<Item = f64>) -> usize {
    let u: f64 = rng.random();
    let mut acc = 0.0;
    let mut last = 0;
    for (i, x) in p.enumerate() {
        acc += x;
        last = i;
        if u < acc {
            return i;
        }
    }
    last
}

/// Mean and standard error of each coordinate of `f(batch)` over i.i.d. batches from d_theta.
fn average(
    model: &acgap_sdk::spec::TabularModel,
    d: &Vector,
    mut f: impl FnMut(&Batch<'_>) -> Vec<f64>,
) -> (Vector, Vector) {
    let mut rng = ChaCha8Rng::seed_from_u64(9);
    let na = model.actions;
    let (mut sum, mut sq) = (Vector::zeros(d.len()), Vector::zeros(d.len()));
    for _ in 0..BATCHES {
        let (mut obs, mut act, mut next, mut reward) = (vec![], vec![], vec![], vec![]);
        for _ in 0..BATCH {
            let sa = draw(&mut rng, d.iter().copied());
            let row = &model.transitions[sa];
            let s2 = row[draw(&mut rng, row.iter().map(|e| e.1))].0;
            obs.push((sa / na) as f32);
            act.push((sa % na) as f32);
            next.push(s2 as f32);
            reward.push(model.reward[sa] as f32);
        }
        let zeros = vec![0.0f32; BATCH];
        // Every transition its own episode: no a' chaining; O gets each batch's states.
        let ones = vec![1.0f32; BATCH];
        let b = Batch {
            kind: BatchKind::Rollout,
            len: BATCH,
            obs: &obs,
            action: &act,
            reward: &reward,
            next_obs: &next,
            terminated: &zeros,
            truncated: &ones,
        };
        let g = Vector::from_vec(f(&b));
        sq += g.map(|x| x * x);
        sum += g;
    }
    let k = BATCHES as f64;
    let mean = sum / k;
    let var = sq / k - mean.map(|x| x * x);
    (mean.clone(), var.map(|v| (v.max(0.0) / k).sqrt()))
}

fn assert_estimates(mean: &Vector, se: &Vector, truth: &Vector, what: &str) {
    for i in 0..truth.len() {
        assert!(
            (mean[i] - truth[i]).abs() <= 5.0 * se[i] + 1e-12,
            "{what}[{i}]: sample mean {} vs exact {} (standard error {})",
            mean[i],
            truth[i],
            se[i]
        );
    }
    let rel = (mean - truth).norm() / truth.norm();
    assert!(rel < 0.05, "{what}: relative error {rel}");
}

#[test]
fn agc_and_res_ac_estimate_the_actor_g_gradient() {
    let (mdp, model, theta, q, w) = setup();
    let e = Exact::new(&mdp, &theta);
    let (qv, wv) = (Vector::from_vec(q.clone()), Vector::from_vec(w.clone()));
    let mut agc = agent(Variant::ActorG, &model, 0.5);
    agc.set_tables(&theta, &q);
    let (mean, se) = average(&model, &e.d, |b| agc.context(b).unwrap().base_direction);
    assert_estimates(&mean, &se, &e.actor_g(&qv), "AgC");
    let res = res_critic(&w);
    let (mean, se) = average(&model, &e.d, |b| {
        let c = agc.context(b).unwrap();
        c.actor_direction(&res.term(&c)).unwrap()
    });
    assert_estimates(&mean, &se, &e.actor_g(&(&qv + &wv)), "Res-AC");
}

#[test]
fn stack_ac_adds_the_theorem_1_correction_as_eta_vanishes() {
    let (mdp, model, theta, q, w) = setup();
    let e = Exact::new(&mdp, &theta);
    let qv = Vector::from_vec(q.clone());
    // Same batches into Actor^o and Stack-AC: their difference is the Stackelberg term, which
    // for eta -> 0 estimates gamma E_d[d/dtheta sum_a' pi(a'|s') q(s',a')] = (d delta/d theta)^T d,
    // the part of Theorem 1's correction that samples can see (section 5.3).
    let mut aoc = agent(Variant::ActorO, &model, 0.5);
    aoc.set_tables(&theta, &q);
    let stack = Stackelberg { eta: 1e-9 };
    let _ = &w;
    let (mean, se) = average(&model, &e.d, |b| {
        match stack.term(&aoc.context(b).unwrap()) {
            Term::Direction(d) => d,
            other => panic!("Stack-AC returns a direction, not {other:?}"),
        }
    });
    let ones = e.d.component_div(&e.d);
    let truth = -e.mixed_semi_transpose_times(&qv, &ones, false);
    assert_estimates(&mean, &se, &truth, "Stack-AC term");
}

#[test]
fn the_critic_step_estimates_the_td_semi_gradient() {
    let (mdp, model, theta, q, w) = setup();
    let e = Exact::new(&mdp, &theta);
    let _ = &w;
    let mut agc = agent(Variant::ActorG, &model, 0.5);
    agc.set_tables(&theta, &q);
    // With a' from the policy's expectation (every transition is an episode's last), the
    // critic's batch gradient estimates the exact TD direction -D delta.
    let (mean, se) = average(&model, &e.d, |b| {
        agc.context(b).unwrap().critic_gradient().0
    });
    assert_estimates(
        &mean,
        &se,
        &e.td_gradient(&Vector::from_vec(q.clone())),
        "critic",
    );
}

/// `sampling = "exact_d"`: whatever the rollout, the update's transitions come i.i.d. from
/// d_theta and P, so AgC's and Res-AC's actor directions estimate Actor^g's exact direction
/// (and the critic step the TD direction) without the episodes' correlations.
#[test]
fn exact_d_sampling_draws_the_batch_from_d_theta() {
    let (mdp, model, theta, q, w) = setup();
    let e = Exact::new(&mdp, &theta);
    let (qv, wv) = (Vector::from_vec(q.clone()), Vector::from_vec(w.clone()));
    let mut config = default_config(Variant::ActorG);
    config["sampling"] = "exact_d".into();
    let mut a = agent_with(Variant::ActorG, &model, config);
    a.set_tables(&theta, &q);
    let res = res_critic(&w);
    for (with_res, value) in [(false, qv.clone()), (true, &qv + &wv)] {
        // The batches `average` draws only feed the start-state counts here.
        let (mean, se) = average(&model, &e.d, |b| {
            let c = a.context(b).unwrap();
            let term = if with_res { res.term(&c) } else { Term::Zero };
            c.actor_direction(&term).unwrap()
        });
        assert_estimates(
            &mean,
            &se,
            &e.actor_g(&value),
            &format!("res-critic {with_res}, exact_d"),
        );
    }
}

/// `with_context` shows the context the agent's next update would build, and leaves the agent
/// as it was (its start counts included).
#[test]
fn with_context_is_the_next_updates_context_and_changes_nothing() {
    use acgap_sdk::Agent;
    let (_, model, theta, q, _) = setup();
    let mut aoc = agent(Variant::ActorO, &model, 0.5);
    aoc.set_tables(&theta, &q);
    let (obs, act, next) = ([0.0f32, 2.0, 4.0], [1.0f32, 0.0, 2.0], [2.0f32, 4.0, 5.0]);
    let (reward, zeros, last) = ([0.5f32, 0.0, 1.0], [0.0f32; 3], [0.0f32, 0.0, 1.0]);
    let b = Batch {
        kind: BatchKind::Rollout,
        len: 3,
        obs: &obs,
        action: &act,
        reward: &reward,
        next_obs: &next,
        terminated: &zeros,
        truncated: &last,
    };
    let before = aoc.save().unwrap();
    let shown = aoc.with_context(&b, |ctx| ctx.clone()).unwrap();
    assert_eq!(
        aoc.save().unwrap(),
        before,
        "with_context changed the agent"
    );
    assert_eq!(aoc.context(&b).unwrap(), shown);
    assert_eq!(shown.start_weights[0], 1.0, "state 0 starts the rollout");
}
