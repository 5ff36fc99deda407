//! Adam (Kingma & Ba), with PyTorch's defaults and update rule.
//!
//! Written here rather than taken from `burn-optim` because the SAC core needs
//! (a) the moments as plain tensors for bit-exact checkpoints and (b) to add a
//! correction's direction to the gradient before the step; both are awkward
//! through burn's module-record optimiser API. It is a dozen lines.

use super::tensor::{Device, Tensor, from_vec, to_vec};

#[derive(Clone, Debug)]
pub struct Adam {
    pub lr: f64,
    pub beta1: f64,
    pub beta2: f64,
    pub eps: f64,
    /// Steps taken.
    pub t: u64,
    m: Vec<Tensor<2>>,
    v: Vec<Tensor<2>>,
}

impl Adam {
    /// Zero moments shaped like `params`.
    pub fn new(params: &[Tensor<2>], lr: f64) -> Self {
        let zeros: Vec<Tensor<2>> = params.iter().map(|p| p.zeros_like()).collect();
        Self {
            lr,
            beta1: 0.9,
            beta2: 0.999,
            eps: 1e-8,
            t: 0,
            m: zeros.clone(),
            v: zeros,
        }
    }

    /// One descent step `p <- p - lr * m_hat / (sqrt(v_hat) + eps)` on every parameter.
    pub fn step<'a>(
        &mut self,
        params: impl Iterator<Item = &'a mut Tensor<2>>,
        grads: Vec<Tensor<2>>,
    ) {
        self.t += 1;
        let bc1 = 1.0 - self.beta1.powi(self.t as i32);
        let bc2 = 1.0 - self.beta2.powi(self.t as i32);
        let step = self.lr / bc1;
        for (((p, g), m), v) in params.zip(grads).zip(&mut self.m).zip(&mut self.v) {
            *m = m.clone().mul_scalar(self.beta1) + g.clone().mul_scalar(1.0 - self.beta1);
            *v = v.clone().mul_scalar(self.beta2) + g.square().mul_scalar(1.0 - self.beta2);
            let denom = v.clone().sqrt().div_scalar(bc2.sqrt()).add_scalar(self.eps);
            *p = p.clone() - m.clone().div(denom).mul_scalar(step);
        }
    }

    /// Moments as flat vectors (m then v for each parameter) for checkpoints.
    pub fn moments(&self) -> Vec<Vec<f32>> {
        self.m
            .iter()
            .chain(&self.v)
            .map(|t| to_vec(t.clone()))
            .collect()
    }

    pub fn set_moments(&mut self, moments: &[Vec<f32>], device: &Device) -> Result<(), String> {
        let n = self.m.len();
        if moments.len() != 2 * n {
            return Err(format!(
                "optimiser state has {} tensors, expected {}",
                moments.len(),
                2 * n
            ));
        }
        for (i, slot) in self.m.iter_mut().chain(self.v.iter_mut()).enumerate() {
            let [r, c] = slot.dims();
            if moments[i].len() != r * c {
                return Err("optimiser state does not match the network's shape".into());
            }
            *slot = from_vec(moments[i].clone(), r, c, device);
        }
        Ok(())
    }
}
