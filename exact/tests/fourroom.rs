//! The theorems on FourRoom itself (104 states x 4 actions = 416 parameters), at a random
//! policy and a random critic, against finite differences of the exact J and d_theta.

mod common;
use acgap_envs::{FourRoom, fourroom};
use common::*;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

fn setup(slip: f64) -> (Mdp, Vec<f64>, Vector) {
    let model = fourroom(&FourRoom {
        slip,
        ..FourRoom::default()
    })
    .unwrap();
    let mdp = Mdp::new(&model).unwrap();
    let mut rng = ChaCha8Rng::seed_from_u64(11);
    let theta: Vec<f64> = (0..mdp.pairs())
        .map(|_| rng.random_range(-1.0..1.0))
        .collect();
    let q_phi = Vector::from_fn(mdp.pairs(), |_, _| rng.random_range(0.0..1.0));
    (mdp, theta, q_phi)
}

#[test]
fn theorems_hold_on_fourroom() {
    for slip in [0.0, 0.1] {
        let (mdp, theta, q_phi) = setup(slip);
        let e = Exact::new(&mdp, &theta);
        let fd_pg = fd_gradient(&theta, |t| Exact::new(&mdp, t).j);
        let pg = e.policy_gradient();
        assert_close(&pg, &fd_pg, 1e-8, "grad J");
        let fd = fd_gradient(&theta, |t| {
            let x = Exact::new(&mdp, t);
            x.d.dot(&x.residual(&q_phi))
        });
        assert_close(&(&pg - e.actor_o(&q_phi)), &fd, 1e-8, "Theorem 1 (Actor^o)");
        let delta = e.residual(&q_phi);
        let fd = fd_gradient(&theta, |t| Exact::new(&mdp, t).d.dot(&delta));
        assert_close(&(&pg - e.actor_g(&q_phi)), &fd, 1e-8, "Theorem 1 (Actor^g)");
        let fd_d = fd_jacobian(&theta, |t| Exact::new(&mdp, t).d);
        assert_close_matrix(&e.upsilon(), &fd_d, 1e-8, "Theorem 2");
        assert_close(
            &e.stackelberg_full(&q_phi),
            &fd_pg,
            1e-8,
            "Theorem 3 (full)",
        );
        assert_close(
            &e.stackelberg_semi(&q_phi),
            &fd_pg,
            1e-8,
            "Theorem 3 (semi)",
        );
        // ... and the shortcut without d D_theta / d theta does not.
        let ones = e.d.component_div(&e.d);
        let wrong = e.actor_o(&q_phi) - e.mixed_semi_transpose_times(&q_phi, &ones, false);
        assert!(relative_error(&wrong, &pg) > 1e-3);
    }
}
