//! The papers' identities, checked against central finite differences of the exact J (and of
//! d_theta, Jq) in f64 on random MDPs (proptest) — docs/algorithms.md §1. FourRoom has its own test
//! in `fourroom.rs`. Each identity must hold to 1e-8 relative error, and a deliberately wrong
//! formula (the Stackelberg mixed term without the dependence of D_theta on theta) must fail.

mod common;
use common::*;
use proptest::prelude::*;

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    #[test]
    fn policy_gradient_is_the_gradient_of_j(case in mdp_case()) {
        let (mdp, theta, _) = case.build();
        let e = Exact::new(&mdp, &theta);
        let fd = fd_gradient(&theta, |t| Exact::new(&mdp, t).j);
        assert_close(&e.policy_gradient(), &fd, 1e-8, "grad J");
        // Sanity of the ground truth itself: d sums to 1, J = d . r, q is the Bellman fixed point.
        prop_assert!((e.d.sum() - 1.0).abs() < 1e-12);
        prop_assert!((e.j - e.d.dot(&mdp.r)).abs() < 1e-12);
        prop_assert!(e.residual(&e.q).amax() < 1e-10);
    }

    #[test]
    fn theorem_1_gaps_of_actor_o_and_actor_g(case in mdp_case()) {
        let (mdp, theta, q_phi) = case.build();
        let e = Exact::new(&mdp, &theta);
        let pg = e.policy_gradient();
        // grad J - Actor^o = d/dtheta [ d_theta . delta_theta,phi ]
        let fd = fd_gradient(&theta, |t| {
            let x = Exact::new(&mdp, t);
            x.d.dot(&x.residual(&q_phi))
        });
        assert_close(&(&pg - e.actor_o(&q_phi)), &fd, 1e-8, "Theorem 1, Actor^o");
        // grad J - Actor^g = d/dtheta [ d_theta . delta' ], delta' held at this theta
        let delta = e.residual(&q_phi);
        let fd = fd_gradient(&theta, |t| Exact::new(&mdp, t).d.dot(&delta));
        assert_close(&(&pg - e.actor_g(&q_phi)), &fd, 1e-8, "Theorem 1, Actor^g");
        // ... which is Upsilon delta (eq. 29).
        assert_close(&(&pg - e.actor_g(&q_phi)), &e.upsilon_times(&delta), 1e-10, "eq. 29");
    }

    #[test]
    fn theorem_2_occupancy_jacobian(case in mdp_case()) {
        let (mdp, theta, q_phi) = case.build();
        let e = Exact::new(&mdp, &theta);
        let upsilon = e.upsilon();
        let fd = fd_jacobian(&theta, |t| Exact::new(&mdp, t).d);
        assert_close_matrix(&upsilon, &fd, 1e-8, "Theorem 2");
        assert_close(&(&upsilon * &q_phi), &e.upsilon_times(&q_phi), 1e-10, "Upsilon x");
    }

    #[test]
    fn critic_gradients_br_and_td(case in mdp_case()) {
        let (mdp, theta, q_phi) = case.build();
        let e = Exact::new(&mdp, &theta);
        let fd = fd_gradient(q_phi.as_slice(), |q| e.critic_loss(&Vector::from_column_slice(q)));
        assert_close(&e.br_gradient(&q_phi), &fd, 1e-8, "BR gradient");
        // TD: the gradient with the target r + gamma P Pi q held fixed.
        let target = &mdp.r + mdp.gamma * &mdp.p * e.pi_apply(&q_phi);
        let fd = fd_gradient(q_phi.as_slice(), |q| {
            let q = Vector::from_column_slice(q);
            0.5 * e.d.dot(&(&target - &q).map(|x| x * x))
        });
        assert_close(&e.td_gradient(&q_phi), &fd, 1e-8, "TD semi-gradient");
    }

    #[test]
    fn theorem_3_stackelberg_gradient_is_the_policy_gradient(case in mdp_case()) {
        let (mdp, theta, q_phi) = case.build();
        let e = Exact::new(&mdp, &theta);
        let fd_pg = fd_gradient(&theta, |t| Exact::new(&mdp, t).j);
        assert_close(&e.stackelberg_full(&q_phi), &fd_pg, 1e-8, "Theorem 3, full Hessian");
        assert_close(&e.stackelberg_semi(&q_phi), &fd_pg, 1e-8, "Theorem 3, semi-gradient");
    }

    #[test]
    fn the_hand_derived_mixed_terms_match_finite_differences(case in mdp_case()) {
        let (mdp, theta, q_phi) = case.build();
        let e = Exact::new(&mdp, &theta);
        let v = Vector::from_fn(mdp.pairs(), |i, _| ((i * 7 % 5) as f64 - 2.0) / 3.0);
        // M = Jacobian in theta of the critic's gradient in q, at fixed q.
        let full = fd_jacobian(&theta, |t| Exact::new(&mdp, t).br_gradient(&q_phi));
        let semi = fd_jacobian(&theta, |t| Exact::new(&mdp, t).td_gradient(&q_phi));
        assert_close(&e.mixed_full_transpose_times(&q_phi, &v, true), &(&full * &v), 1e-8, "M_full^T v");
        assert_close(&e.mixed_semi_transpose_times(&q_phi, &v, true), &(&semi * &v), 1e-8, "M_semi^T v");
    }
}

/// The tests can fail: dropping the dependence of D_theta on theta from the mixed term (the
/// usual shortcut) breaks Theorem 3 wherever the critic's residual is not zero.
#[test]
fn a_wrong_stackelberg_formula_is_detected() {
    let mut failures = 0;
    for seed in 0..20 {
        let (mdp, theta, q_phi) = MdpCase {
            seed,
            states: 6,
            actions: 3,
        }
        .build();
        let e = Exact::new(&mdp, &theta);
        let u = (1.0 - mdp.gamma) * e.pi_transpose(&mdp.mu0);
        let v = e.psi_solve(&e.psi_t_solve(&u).component_div(&e.d));
        let wrong = e.actor_o(&q_phi) - e.mixed_full_transpose_times(&q_phi, &v, false);
        let wrong_semi = e.actor_o(&q_phi)
            - e.mixed_semi_transpose_times(&q_phi, &e.d.component_div(&e.d), false);
        let pg = e.policy_gradient();
        if relative_error(&wrong, &pg) > 1e-3 && relative_error(&wrong_semi, &pg) > 1e-3 {
            failures += 1;
        }
    }
    assert_eq!(
        failures, 20,
        "the wrong formula must be caught on every MDP"
    );
}
