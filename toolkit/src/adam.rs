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
    /// First and second moments per parameter, flat (row-major), on the host: the step is one
    /// fused loop per parameter instead of a dozen elementwise tensor operations, each of which
    /// allocates (perf showed them dominating Res-SAC's small-network iterations).
    m: Vec<Vec<f32>>,
    v: Vec<Vec<f32>>,
}

impl Adam {
    /// Zero moments shaped like `params`.
    pub fn new(params: &[Tensor<2>], lr: f64) -> Self {
        let sizes: Vec<usize> = params.iter().map(|p| p.dims().iter().product()).collect();
        Self::for_sizes(&sizes, lr)
    }

    /// Zero moments for parameters of these element counts.
    pub(crate) fn for_sizes(sizes: &[usize], lr: f64) -> Self {
        let zeros: Vec<Vec<f32>> = sizes.iter().map(|&n| vec![0.0; n]).collect();
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
        let params: Vec<&mut Tensor<2>> = params.collect();
        let mut values: Vec<Vec<f32>> = params.iter().map(|p| to_vec((*p).clone())).collect();
        let grads: Vec<Vec<f32>> = grads.into_iter().map(to_vec).collect();
        self.step_host(&mut values, &grads);
        for (p, v) in params.into_iter().zip(values) {
            let [rows, cols] = p.dims();
            let device = p.device();
            *p = from_vec(v, rows, cols, &device);
        }
    }

    /// The same step on parameters and gradients held on the host (row-major, flat).
    pub fn step_host(&mut self, params: &mut [Vec<f32>], grads: &[Vec<f32>]) {
        self.t += 1;
        let bc1 = 1.0 - self.beta1.powi(self.t as i32);
        let bc2 = 1.0 - self.beta2.powi(self.t as i32);
        let (b1, b2, eps) = (self.beta1 as f32, self.beta2 as f32, self.eps as f32);
        let (c1, c2) = ((1.0 - self.beta1) as f32, (1.0 - self.beta2) as f32);
        let (step, sqrt_bc2) = ((self.lr / bc1) as f32, bc2.sqrt() as f32);
        for (((x, g), m), v) in params
            .iter_mut()
            .zip(grads)
            .zip(&mut self.m)
            .zip(&mut self.v)
        {
            assert_eq!(x.len(), g.len(), "gradient shaped like its parameter");
            super::wide::vectors(|| {
                // Iterators, not indices: without bounds checks the loop vectorises.
                for ((x, g), (m, v)) in x.iter_mut().zip(g).zip(m.iter_mut().zip(v.iter_mut())) {
                    *m = b1 * *m + c1 * g;
                    *v = b2 * *v + c2 * g * g;
                    *x -= step * *m / (v.sqrt() / sqrt_bc2 + eps);
                }
            });
        }
    }

    /// Moments as flat vectors (m then v for each parameter) for checkpoints.
    pub fn moments(&self) -> Vec<Vec<f32>> {
        self.m.iter().chain(&self.v).cloned().collect()
    }

    pub fn set_moments(&mut self, moments: &[Vec<f32>], _device: &Device) -> Result<(), String> {
        let n = self.m.len();
        if moments.len() != 2 * n {
            return Err(format!(
                "optimiser state has {} tensors, expected {}",
                moments.len(),
                2 * n
            ));
        }
        for (i, slot) in self.m.iter_mut().chain(self.v.iter_mut()).enumerate() {
            if moments[i].len() != slot.len() {
                return Err("optimiser state does not match the network's shape".into());
            }
            slot.clone_from(&moments[i]);
        }
        Ok(())
    }

    /// Write the moments and the step count into a checkpoint under `name`.
    pub fn save_into(&self, w: &mut super::StateWriter, name: &str) {
        w.tensors(name, &self.moments())
            .meta(&format!("{name}_t"), &self.t);
    }

    /// Read what [`Adam::save_into`] wrote under `name`.
    pub fn load_from(&mut self, r: &super::StateReader, name: &str) -> Result<(), String> {
        let moments = r.tensors(name, 2 * self.m.len())?;
        self.set_moments(&moments, &Device::default())?;
        self.t = r.meta(&format!("{name}_t"))?;
        Ok(())
    }
}
