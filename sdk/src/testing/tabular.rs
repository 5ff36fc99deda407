//! [`random_tabular`]: a tabular context on a random batch, for unit tests of tabular
//! corrections. The tabular context is closed-form data already; its
//! [`TabularContext::actor_direction`] is the core's own ascent with a term added.

use super::Draws;
use crate::correction::tabular::{Base, TabularContext, Transition};

/// The context of one update of a tabular actor-critic with `states x actions` tables (random
/// logits and critic of order one), a batch of `batch_len` transitions that goes on from one
/// to the next (every fifth one terminal), start weights on state 0, and base `base`.
pub fn random_tabular(
    states: usize,
    actions: usize,
    batch_len: usize,
    base: Base,
    seed: u64,
) -> TabularContext {
    let mut d = Draws::new(seed);
    let mut pick = |n: usize| ((d.uniform(1, 0.5)[0] + 0.5) * n as f32) as usize % n;
    let (mut s, mut batch) = (pick(states), Vec::with_capacity(batch_len));
    for t in 0..batch_len {
        let (a, next_s) = (pick(actions), pick(states));
        let terminated = t % 5 == 4;
        batch.push(Transition {
            s,
            a,
            r: (t % 3) as f64 - 1.0,
            next_s,
            terminated,
            next_a: None,
        });
        s = if terminated { pick(states) } else { next_s };
    }
    // Bootstrapping follows the next action taken where the batch goes on.
    for t in 0..batch_len.saturating_sub(1) {
        if !batch[t].terminated {
            batch[t].next_a = Some(batch[t + 1].a);
        }
    }
    let mut d = Draws::new(seed ^ 0x5eed);
    let to64 = |v: Vec<f32>| v.into_iter().map(f64::from).collect::<Vec<f64>>();
    let theta = to64(d.uniform(states * actions, 1.0));
    let critic = to64(d.uniform(states * actions, 1.0));
    let mut start = vec![0.0; states];
    start[0] = 1.0;
    TabularContext::new((states, actions, 0.9), &theta, &critic, start, batch, base)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::correction::Term;

    #[test]
    fn the_batch_goes_on_and_a_mean_weight_is_an_averaged_log_pi_term() {
        let ctx = random_tabular(4, 3, 12, Base::ActorG, 5);
        for w in ctx.batch.windows(2) {
            if !w[0].terminated {
                assert_eq!((w[0].next_s, w[0].next_a), (w[1].s, Some(w[1].a)));
            }
        }
        // A mean of c and a sum of c / n move the actor the same way.
        let c: Vec<f64> = (0..12).map(|t| t as f64 * 0.1 - 0.5).collect();
        let mean = ctx.actor_direction(&Term::Mean(c.clone())).unwrap();
        let sum = ctx
            .actor_direction(&Term::Sum(c.iter().map(|x| x / 12.0).collect()))
            .unwrap();
        for (a, b) in mean.iter().zip(&sum) {
            assert!((a - b).abs() < 1e-12, "{a} vs {b}");
        }
        // And the difference to the base is mean_B c_b grad log pi(a_b|s_b).
        let mut want = ctx.base_direction.clone();
        for (tr, cb) in ctx.batch.iter().zip(&c) {
            ctx.add_log_pi_gradient(&mut want, tr.s, tr.a, cb / 12.0);
        }
        for (a, b) in mean.iter().zip(&want) {
            assert!((a - b).abs() < 1e-12, "{a} vs {b}");
        }
    }
}
