//! Exact diagnostics of any plugin on a tabular env (`tabular.csv`): after every on-policy
//! update (and at every episode end for off-policy agents) the plugin's tables
//! ([`acgap_sdk::TabularView`]) are scored against the exact quantities of the env's model:
//! the exact J of its policy, the cosine and relative error between its last actor direction
//! and the true policy gradient, the critic's error `||q_phi - q_theta||_d` and, with a
//! res-critic, `||q_phi + w - q_theta||_d`, and the d_theta-averaged critic, critic + res-critic
//! and true values (paper Fig. 2).

use acgap_exact::{Exact, Mdp, Vector};
use acgap_sdk::TabularView;

pub const HEADER: &str = "step,J,pg_cosine,pg_relative_error,critic_error,corrected_critic_error,critic_mean,corrected_mean,true_mean\n";

/// One row of `tabular.csv` (empty cells where the plugin has no such table).
pub fn row(mdp: &Mdp, step: usize, view: &TabularView) -> Result<String, String> {
    let n = mdp.pairs();
    if view.policy.len() != n {
        return Err(format!(
            "the plugin's policy table has {} entries; the env has {n} state-action pairs",
            view.policy.len()
        ));
    }
    let e = Exact::from_policy(mdp, Vector::from_column_slice(&view.policy));
    let pg = e.policy_gradient();
    let table = |t: &Option<Vec<f64>>, what: &str| -> Result<Option<Vector>, String> {
        match t {
            Some(v) if v.len() != n => Err(format!(
                "the plugin's {what} has {} entries, not {n}",
                v.len()
            )),
            Some(v) => Ok(Some(Vector::from_column_slice(v))),
            None => Ok(None),
        }
    };
    let dir = table(&view.actor_direction, "actor direction")?;
    let q = table(&view.critic, "critic table")?;
    let w = table(&view.res_critic, "res-critic table")?;
    let corrected = match (&q, &w) {
        (Some(q), Some(w)) => Some(q + w),
        _ => None,
    };
    let d_norm = |x: &Vector| {
        x.iter()
            .zip(e.d.iter())
            .map(|(v, d)| d * v * v)
            .sum::<f64>()
            .sqrt()
    };
    let cell = |x: Option<f64>| x.map(|v| v.to_string()).unwrap_or_default();
    let (cos, rel) = match &dir {
        Some(g) => (
            Some(g.dot(&pg) / (g.norm() * pg.norm()).max(1e-300)),
            Some((g - &pg).norm() / pg.norm().max(1e-300)),
        ),
        None => (None, None),
    };
    Ok(format!(
        "{step},{},{},{},{},{},{},{},{}\n",
        e.j,
        cell(cos),
        cell(rel),
        cell(q.as_ref().map(|q| d_norm(&(q - &e.q)))),
        cell(corrected.as_ref().map(|c| d_norm(&(c - &e.q)))),
        cell(q.as_ref().map(|q| e.d.dot(q))),
        cell(corrected.as_ref().map(|c| e.d.dot(c))),
        e.d.dot(&e.q),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_true_gradient_and_critic_score_perfectly() {
        let env = acgap_envs::make("random-mdp:states=6,actions=3,seed=2", 0).unwrap();
        let mdp = Mdp::new(env.spec().tabular.as_ref().unwrap()).unwrap();
        let theta: Vec<f64> = (0..18).map(|i| (i as f64 * 0.37).sin()).collect();
        let e = Exact::new(&mdp, &theta);
        let view = TabularView {
            policy: e.pi.as_slice().to_vec(),
            actor_direction: Some(e.policy_gradient().as_slice().to_vec()),
            critic: Some(e.q.as_slice().to_vec()),
            res_critic: None,
        };
        let r = row(&mdp, 7, &view).unwrap();
        let cells: Vec<&str> = r.trim().split(',').collect();
        assert_eq!(cells[0], "7");
        assert!((cells[1].parse::<f64>().unwrap() - e.j).abs() < 1e-12);
        assert!(
            (cells[2].parse::<f64>().unwrap() - 1.0).abs() < 1e-12,
            "cosine 1"
        );
        assert!(
            cells[3].parse::<f64>().unwrap() < 1e-12,
            "no relative error"
        );
        assert!(cells[4].parse::<f64>().unwrap() < 1e-9, "exact critic");
        assert_eq!(cells[5], "", "no res-critic");
        let bad = TabularView {
            policy: vec![0.5; 4],
            ..view
        };
        assert!(row(&mdp, 0, &bad).unwrap_err().contains("4 entries"));
    }
}
