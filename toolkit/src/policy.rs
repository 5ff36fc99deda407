//! The tanh-squashed diagonal Gaussian policy of SAC (Haarnoja et al. 2018, appendix C).

use super::mlp::Mlp;
use super::tensor::Tensor;
use burn::tensor::activation::softplus;

/// `log_std` is clamped to this range (as Stable-Baselines3 does).
pub const LOG_STD_MIN: f64 = -20.0;
pub const LOG_STD_MAX: f64 = 2.0;
pub(crate) const HALF_LOG_2PI: f64 = 0.918_938_533_204_672_7;
const LN_2: f64 = std::f64::consts::LN_2;

/// An MLP head `obs -> (mean, log_std)`, actions `a = tanh(mean + std * eps)` in `[-1, 1]`.
#[derive(Clone, Debug)]
pub struct SquashedGaussian {
    pub net: Mlp,
    pub act_dim: usize,
}

impl SquashedGaussian {
    /// `hidden` layer sizes between the observation and the `2 * act_dim` head.
    pub fn new(
        obs_dim: usize,
        act_dim: usize,
        hidden: &[usize],
        rng: &mut impl rand::Rng,
        device: &super::Device,
    ) -> Self {
        let sizes: Vec<usize> = std::iter::once(obs_dim)
            .chain(hidden.iter().copied())
            .chain([2 * act_dim])
            .collect();
        Self {
            net: Mlp::new(&sizes, rng, device),
            act_dim,
        }
    }

    fn mean_log_std(net: &Mlp, act_dim: usize, obs: Tensor<2>) -> (Tensor<2>, Tensor<2>) {
        let out = net.forward(obs);
        let mean = out.clone().narrow(1, 0, act_dim);
        let log_std = out
            .narrow(1, act_dim, act_dim)
            .clamp(LOG_STD_MIN, LOG_STD_MAX);
        (mean, log_std)
    }

    /// Reparameterised sample with noise `eps` (`B x act_dim`) through `net` (plain or
    /// tracked): returns `a~` (`B x act_dim`) and `log pi(a~|s)` (`B x 1`), the latter
    /// including the tanh change of variables, written stably as
    /// `log(1 - tanh(u)^2) = 2 (ln 2 - u - softplus(-2u))`.
    pub fn sample(
        net: &Mlp,
        act_dim: usize,
        obs: Tensor<2>,
        eps: Tensor<2>,
    ) -> (Tensor<2>, Tensor<2>) {
        Self::sample_floored(net, act_dim, obs, eps, 0.0)
    }

    /// [`SquashedGaussian::sample`] with the tanh correction written as Stable-Baselines3
    /// writes it when `floor > 0`: `log(1 - tanh(u)^2 + floor)` (SB3's `epsilon`, 1e-6), which
    /// caps the correction of a saturated action at `log(floor)`; `floor = 0` is the exact form.
    pub fn sample_floored(
        net: &Mlp,
        act_dim: usize,
        obs: Tensor<2>,
        eps: Tensor<2>,
        floor: f64,
    ) -> (Tensor<2>, Tensor<2>) {
        let (mean, log_std) = Self::mean_log_std(net, act_dim, obs);
        let u = mean + log_std.clone().exp() * eps.clone();
        let gauss = (eps.square().mul_scalar(-0.5) - log_std)
            .sub_scalar(HALF_LOG_2PI)
            .sum_dim(1);
        let a = u.clone().tanh();
        let squash = if floor > 0.0 {
            a.clone()
                .square()
                .neg()
                .add_scalar(1.0 + floor)
                .log()
                .sum_dim(1)
        } else {
            (u.clone().neg().add_scalar(LN_2) - softplus(u.mul_scalar(-2.0), 1.0))
                .mul_scalar(2.0)
                .sum_dim(1)
        };
        (a, gauss - squash)
    }

    /// The deterministic action `tanh(mean)`.
    pub fn mode(&self, obs: Tensor<2>) -> Tensor<2> {
        Self::mean_log_std(&self.net, self.act_dim, obs).0.tanh()
    }
}
