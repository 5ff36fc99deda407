//! Exact products with a scalar value network `V_w` at a batch of states: `J x`, `J^T z` and the
//! Hessian-vector product of the value loss — what implicit (Stackelberg) terms are built from.
//! The on-policy core answers its corrections' context queries with these.

use super::mlp::Mlp;
use super::tensor::{Tensor, from_vec, to_vec};

/// `J x`: per-sample `grad_w V(s_k) . x` (forward mode, exact).
pub fn critic_jvp(critic: &Mlp, obs: &Tensor<2>, x: &[f64]) -> Vec<f64> {
    let device = obs.device();
    let x: Vec<f32> = x.iter().map(|&v| v as f32).collect();
    let d = critic.unflatten(&x, &device);
    to_vec(critic.jvp(obs.clone(), &d, None).1)
        .into_iter()
        .map(f64::from)
        .collect()
}

/// `J^T z = sum_k z_k grad_w V(s_k)`, flat.
pub fn critic_vjp(critic: &Mlp, obs: &Tensor<2>, z: &[f64]) -> Vec<f64> {
    let (n, device) = (z.len(), obs.device());
    let tracked = critic.tracked();
    let w: Vec<f32> = z.iter().map(|&v| v as f32).collect();
    let out = (tracked.forward(obs.clone()) * from_vec(w, n, 1, &device)).sum();
    tracked
        .grads(&out.backward())
        .into_iter()
        .flat_map(to_vec)
        .map(f64::from)
        .collect()
}

/// The exact Hessian-vector product `(d2L/dw2) x` of `L = mean_k (V(s_k) - G_k)^2`, reverse over
/// forward: the directional derivative `dL . x = 2 mean_k (V_k - G_k) (J x)_k` is computed in
/// forward mode on autodiff-tracked parameters, and its gradient is `H x`.
pub fn critic_hvp(critic: &Mlp, obs: &Tensor<2>, ret: &[f32], x: &[f64]) -> Vec<f64> {
    let (n, device) = (ret.len(), obs.device());
    let tracked = critic.tracked();
    let xs: Vec<f32> = x.iter().map(|&v| v as f32).collect();
    let dir = critic.unflatten(&xs, &device);
    let (v, jx) = tracked.jvp(obs.clone(), &dir, None);
    let g = from_vec(ret.to_vec(), n, 1, &device);
    let directional = ((v - g) * jx).sum().mul_scalar(2.0 / n as f32);
    tracked
        .grads(&directional.backward())
        .into_iter()
        .flat_map(to_vec)
        .map(f64::from)
        .collect()
}
