//! A multi-layer perceptron with ReLU (default) or tanh hidden layers and a linear output.

use super::adam::Adam;
use super::gram::Gram;
use super::host_mlp::{HostMlp, Tape, Wanted};
use super::tensor::{Device, Tensor, from_rows, from_vec, to_f64_rows, to_vec};
use burn::tensor::Gradients;
use burn::tensor::activation::{relu, sigmoid};
use faer::MatRef;
use rand::Rng;

/// One affine layer: `x W + b` with `W: in x out`, `b: 1 x out`.
#[derive(Clone, Debug)]
struct Linear {
    w: Tensor<2>,
    b: Tensor<2>,
}

/// Layer sizes `[in, hidden..., out]`; parameters in flat order are each layer's
/// `W` (row-major) then `b`.
///
/// ```
/// use acgap_toolkit::{Mlp, device_from_name, from_rows, to_vec};
/// use rand::SeedableRng;
/// let device = device_from_name("cpu").unwrap();
/// let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(0);
/// let net = Mlp::new(&[3, 8, 1], &mut rng, &device);
/// let y = net.forward(from_rows(&[0.1, 0.2, 0.3], 1, 3, &device));
/// assert_eq!(to_vec(y).len(), 1);
/// assert_eq!(net.param_count(), 3 * 8 + 8 + 8 + 1);
/// ```
#[derive(Clone, Debug)]
pub struct Mlp {
    sizes: Vec<usize>,
    layers: Vec<Linear>,
    activation: Activation,
}

/// The hidden layers' nonlinearity.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Activation {
    #[default]
    Relu,
    Tanh,
}

impl Activation {
    fn apply(self, z: Tensor<2>) -> Tensor<2> {
        match self {
            Activation::Relu => relu(z),
            // 2 sigmoid(2z) - 1: burn-flex's tanh calls libm's scalar tanhf per element, which
            // took three quarters of an on-policy update (measured with perf); its sigmoid is
            // several times faster.
            Activation::Tanh => sigmoid(z.mul_scalar(2.0)).mul_scalar(2.0).sub_scalar(1.0),
        }
    }

    /// The derivative, elementwise, from the activation's output `h = f(z)` (which every
    /// caller has already: computing it from `z` would evaluate the exponential twice).
    fn derivative_from_output(self, h: &Tensor<2>) -> Tensor<2> {
        match self {
            Activation::Relu => h.clone().greater_elem(0.0).float(),
            Activation::Tanh => h.clone().square().neg().add_scalar(1.0),
        }
    }
}

impl Mlp {
    /// PyTorch's default `nn.Linear` initialisation: `U(-1/sqrt(in), 1/sqrt(in))` for `W` and `b`.
    pub fn new(sizes: &[usize], rng: &mut impl Rng, device: &Device) -> Self {
        Self::with_activation(sizes, Activation::Relu, rng, device)
    }

    /// The same with another hidden nonlinearity.
    pub fn with_activation(
        sizes: &[usize],
        activation: Activation,
        rng: &mut impl Rng,
        device: &Device,
    ) -> Self {
        assert!(
            sizes.len() >= 2,
            "an MLP needs at least input and output sizes"
        );
        let layers = sizes
            .windows(2)
            .map(|io| {
                let (fan_in, fan_out) = (io[0], io[1]);
                let bound = 1.0 / (fan_in as f32).sqrt();
                let mut uniform = |n: usize| {
                    (0..n)
                        .map(|_| rng.random_range(-bound..bound))
                        .collect::<Vec<f32>>()
                };
                let w = uniform(fan_in * fan_out);
                let b = uniform(fan_out);
                Linear {
                    w: from_vec(w, fan_in, fan_out, device),
                    b: from_vec(b, 1, fan_out, device),
                }
            })
            .collect();
        Self {
            sizes: sizes.to_vec(),
            layers,
            activation,
        }
    }

    pub fn sizes(&self) -> &[usize] {
        &self.sizes
    }

    pub fn forward(&self, mut x: Tensor<2>) -> Tensor<2> {
        let last = self.layers.len() - 1;
        for (i, layer) in self.layers.iter().enumerate() {
            x = x.matmul(layer.w.clone()) + layer.b.clone();
            if i < last {
                x = self.activation.apply(x);
            }
        }
        x
    }

    /// Forward-mode derivative: the output and its directional derivative when the
    /// parameters move along `dparams` (same layout as [`Mlp::params`]) and the input
    /// along `dx` (if any). Exact; one extra matmul pair per layer.
    pub fn jvp(
        &self,
        mut x: Tensor<2>,
        dparams: &[Tensor<2>],
        dx: Option<Tensor<2>>,
    ) -> (Tensor<2>, Tensor<2>) {
        assert_eq!(dparams.len(), 2 * self.layers.len());
        let last = self.layers.len() - 1;
        let mut dx = dx;
        for (i, layer) in self.layers.iter().enumerate() {
            let (dw, db) = (&dparams[2 * i], &dparams[2 * i + 1]);
            let z = x.clone().matmul(layer.w.clone()) + layer.b.clone();
            let mut dz = x.matmul(dw.clone()) + db.clone();
            if let Some(d) = dx {
                dz = dz + d.matmul(layer.w.clone());
            }
            if i < last {
                x = self.activation.apply(z);
                dx = Some(dz * self.activation.derivative_from_output(&x));
            } else {
                return (z, dz);
            }
        }
        unreachable!("the loop returns at the last layer")
    }

    /// Gram matrix of the per-sample parameter gradients of a scalar-output MLP,
    /// `K[b, c] = grad_p f(x_b) . grad_p f(x_c)`, computed layer by layer (see [`Gram`]) from
    /// each layer's inputs and the per-sample derivatives of `f` with respect to its
    /// pre-activations; the per-sample gradients themselves are never formed. `rows x rows`.
    pub fn per_sample_gram(&self, x: Tensor<2>) -> Gram {
        let mut gram = Gram::default();
        self.per_sample_gram_into(x, &mut gram);
        gram
    }

    /// [`Mlp::per_sample_gram`] into a reused `gram` (its buffers are kept).
    pub fn per_sample_gram_into(&self, x: Tensor<2>, gram: &mut Gram) {
        assert_eq!(
            self.sizes.last(),
            Some(&1),
            "per-sample Gram needs a scalar output"
        );
        let last = self.layers.len() - 1;
        let rows = x.dims()[0];
        let mut inputs = vec![x];
        for layer in &self.layers[..last] {
            let z = inputs[inputs.len() - 1].clone().matmul(layer.w.clone()) + layer.b.clone();
            inputs.push(self.activation.apply(z));
        }
        // Layer l's per-sample gradient is the outer product of its input (with a 1 for the
        // bias) and D_l, the output's derivative with respect to its pre-activations: 1 at the
        // output layer, D_l = (D_{l+1} W_{l+1}^T) o f'(z_l) below.
        let mut factors = Vec::new();
        let mut delta = Tensor::<2>::ones([rows, 1], &self.device());
        for l in (0..=last).rev() {
            let d = (l < last).then(|| to_f64_rows(&delta, false));
            factors.push((to_f64_rows(&inputs[l], true), d));
            if l > 0 {
                let slope = self.activation.derivative_from_output(&inputs[l]);
                delta = delta.matmul(self.layers[l].w.clone().transpose()) * slope;
            }
        }
        fn view((data, cols): &(Vec<f64>, usize)) -> MatRef<'_, f64> {
            MatRef::from_row_major_slice(data, data.len() / cols, *cols)
        }
        let layers: Vec<_> = factors
            .iter()
            .map(|(x, d)| (view(x), d.as_ref().map(view)))
            .collect();
        gram.compute(&layers);
    }

    /// A copy whose parameters are autodiff leaves, for one gradient computation.
    pub fn tracked(&self) -> Mlp {
        let track = |t: &Tensor<2>| t.clone().autodiff().require_grad();
        Mlp {
            sizes: self.sizes.clone(),
            activation: self.activation,
            layers: self
                .layers
                .iter()
                .map(|l| Linear {
                    w: track(&l.w),
                    b: track(&l.b),
                })
                .collect(),
        }
    }

    /// Gradients of a [`Mlp::tracked`] copy, in parameter order (zeros where none flowed).
    pub fn grads(&self, grads: &Gradients) -> Vec<Tensor<2>> {
        self.params()
            .into_iter()
            .map(|p| {
                p.grad(grads)
                    .unwrap_or_else(|| p.clone().inner().zeros_like())
            })
            .collect()
    }

    /// Parameter tensors in flat order (`W1, b1, W2, b2, ...`).
    pub fn params(&self) -> Vec<Tensor<2>> {
        self.layers
            .iter()
            .flat_map(|l| [l.w.clone(), l.b.clone()])
            .collect()
    }

    pub fn params_mut(&mut self) -> impl Iterator<Item = &mut Tensor<2>> {
        self.layers.iter_mut().flat_map(|l| [&mut l.w, &mut l.b])
    }

    pub fn param_count(&self) -> usize {
        self.sizes.windows(2).map(|io| io[0] * io[1] + io[1]).sum()
    }

    pub fn to_flat(&self) -> Vec<f32> {
        self.params().into_iter().flat_map(to_vec).collect()
    }

    /// Split a flat vector into tensors shaped like the parameters.
    pub fn unflatten(&self, flat: &[f32], device: &Device) -> Vec<Tensor<2>> {
        assert_eq!(flat.len(), self.param_count(), "flat vector length");
        let mut offset = 0;
        self.params()
            .iter()
            .map(|p| {
                let [r, c] = p.dims();
                let t = from_vec(flat[offset..offset + r * c].to_vec(), r, c, device);
                offset += r * c;
                t
            })
            .collect()
    }

    /// Replace every parameter from one flat vector (the layout of `flatten`); a vector of the
    /// wrong length (e.g. a checkpoint of another network size) is an error, not a panic.
    pub fn set_flat(&mut self, flat: &[f32], device: &Device) -> Result<(), String> {
        if flat.len() != self.param_count() {
            return Err(format!(
                "network {:?} has {} parameters, got {}",
                self.sizes,
                self.param_count(),
                flat.len()
            ));
        }
        let tensors = self.unflatten(flat, device);
        for (p, t) in self.params_mut().zip(tensors) {
            *p = t;
        }
        Ok(())
    }

    fn device(&self) -> Device {
        self.layers[0].w.device()
    }

    fn check_input(&self, x: &[f32], rows: usize) -> Result<(), String> {
        let width = self.sizes[0];
        if x.len() != rows * width {
            return Err(format!(
                "MLP input: {} values are not {rows} rows of {width}",
                x.len()
            ));
        }
        Ok(())
    }

    /// `rows` rows of output-shaped values, or an error naming them; returns the output width.
    fn check_outputs(&self, what: &str, values: &[f32], rows: usize) -> Result<usize, String> {
        let out = *self.sizes.last().expect("sizes");
        if values.len() != rows * out {
            return Err(format!(
                "MLP {what}: {} values are not {rows} rows of {out}",
                values.len()
            ));
        }
        Ok(out)
    }

    fn input_tensor(&self, x: &[f32], rows: usize) -> Result<Tensor<2>, String> {
        self.check_input(x, rows)?;
        Ok(from_rows(x, rows, self.sizes[0], &self.device()))
    }

    /// On the CPU device the slice-in, slice-out methods below ([`Mlp::predict`],
    /// [`Mlp::input_gradient`], [`Mlp::regression_step`]) run the fused passes of
    /// [`HostMlp`] on a host copy of the parameters instead of burn's operations.
    fn on_cpu(&self) -> bool {
        self.device() == Device::flex()
    }

    /// Outputs for `rows` inputs (row-major `f32` in and out).
    pub fn predict(&self, x: &[f32], rows: usize) -> Result<Vec<f32>, String> {
        if self.on_cpu() {
            self.check_input(x, rows)?;
            let mut tape = Tape::default();
            self.to_host().forward(x, rows, &mut tape);
            return Ok(tape.output().to_vec());
        }
        Ok(to_vec(self.forward(self.input_tensor(x, rows)?)))
    }

    /// The outputs `f(x)` (`rows x out`) and `d/dx sum_{r,o} weights[r,o] f(x)[r,o]`, the
    /// gradient with respect to the inputs, `rows x in` (e.g. `dW/da` for an action-space
    /// correction), from one forward pass.
    pub fn input_gradient(
        &self,
        x: &[f32],
        rows: usize,
        weights: &[f32],
    ) -> Result<(Vec<f32>, Vec<f32>), String> {
        let out = self.check_outputs("output weights", weights, rows)?;
        if self.on_cpu() {
            self.check_input(x, rows)?;
            let (host, mut tape, mut d_input) = (self.to_host(), Tape::default(), Vec::new());
            host.forward(x, rows, &mut tape);
            let wanted = Wanted {
                params: None,
                input: Some(&mut d_input),
            };
            host.backward(&mut tape, weights, wanted);
            return Ok((tape.output().to_vec(), d_input));
        }
        let x = self.input_tensor(x, rows)?.autodiff().require_grad();
        let w = from_rows(weights, rows, out, &self.device());
        let y = self.forward(x.clone());
        let grads = (y.clone() * w).sum().backward();
        let g = x.grad(&grads).ok_or("no gradient reached the MLP input")?;
        Ok((to_vec(y.inner()), to_vec(g)))
    }

    /// `d/dtheta sum_{r,o} weights[r,o] f(x)[r,o]`, the gradient with respect to the
    /// parameters, flat in [`Mlp::params`] order (a vector-Jacobian product).
    pub fn param_gradient(
        &self,
        x: &[f32],
        rows: usize,
        weights: &[f32],
    ) -> Result<Vec<f32>, String> {
        let out = self.check_outputs("output weights", weights, rows)?;
        if self.on_cpu() {
            self.check_input(x, rows)?;
            let (host, mut tape) = (self.to_host(), Tape::default());
            let mut grads = host.zeros_like();
            host.forward(x, rows, &mut tape);
            let wanted = Wanted {
                params: Some(&mut grads),
                input: None,
            };
            host.backward(&mut tape, weights, wanted);
            return Ok(grads.concat());
        }
        let tracked = self.tracked();
        let w = from_rows(weights, rows, out, &self.device());
        let s = (tracked.forward(self.input_tensor(x, rows)?.autodiff()) * w).sum();
        Ok(tracked
            .grads(&s.backward())
            .into_iter()
            .flat_map(to_vec)
            .collect())
    }

    /// An Adam optimiser for this network's parameters.
    pub fn adam(&self, lr: f64) -> Adam {
        Adam::new(&self.params(), lr)
    }

    /// One Adam step on `1/2 mean (f(x) - targets)^2`; returns the loss before the step.
    pub fn regression_step(
        &mut self,
        adam: &mut Adam,
        x: &[f32],
        rows: usize,
        targets: &[f32],
    ) -> Result<f32, String> {
        let out = self.check_outputs("targets", targets, rows)?;
        if self.on_cpu() {
            self.check_input(x, rows)?;
            let (mut host, mut tape) = (self.to_host(), Tape::default());
            host.forward(x, rows, &mut tape);
            let errors: Vec<f32> = tape
                .output()
                .iter()
                .zip(targets)
                .map(|(f, t)| f - t)
                .collect();
            let count = errors.len() as f32;
            let value = 0.5 * errors.iter().map(|e| e * e).sum::<f32>() / count;
            if !value.is_finite() {
                return Err(acgap_sdk::result::diverged(format!(
                    "regression loss is {value}"
                )));
            }
            // d/df of 1/2 mean (f - t)^2 is (f - t) / count.
            let d_out: Vec<f32> = errors.iter().map(|e| e / count).collect();
            let mut grads = host.zeros_like();
            let wanted = Wanted {
                params: Some(&mut grads),
                input: None,
            };
            host.backward(&mut tape, &d_out, wanted);
            adam.step_host(host.params_mut(), &grads);
            self.set_from_host(&host);
            return Ok(value);
        }
        let x = self.input_tensor(x, rows)?;
        let t = from_rows(targets, rows, out, &self.device());
        let tracked = self.tracked();
        let loss = (tracked.forward(x) - t).square().mean().mul_scalar(0.5);
        let value = to_vec(loss.clone().inner())[0];
        if !value.is_finite() {
            return Err(acgap_sdk::result::diverged(format!(
                "regression loss is {value}"
            )));
        }
        let grads = tracked.grads(&loss.backward());
        adam.step(self.params_mut(), grads);
        Ok(value)
    }

    /// A copy of the parameters on the host, for the fused CPU passes of [`HostMlp`].
    pub fn to_host(&self) -> HostMlp {
        HostMlp {
            sizes: self.sizes.clone(),
            activation: self.activation,
            params: self.params().into_iter().map(to_vec).collect(),
        }
    }

    /// Set the parameters from a [`HostMlp`] of the same sizes.
    pub fn set_from_host(&mut self, host: &HostMlp) {
        assert_eq!(host.sizes, self.sizes, "host network of other sizes");
        let device = self.device();
        for (p, h) in self.params_mut().zip(&host.params) {
            let [rows, cols] = p.dims();
            *p = from_rows(h, rows, cols, &device);
        }
    }

    /// Polyak averaging `self <- tau * online + (1 - tau) * self` (target networks).
    pub fn polyak_from(&mut self, online: &Mlp, tau: f32) {
        // One fused loop per tensor, [`HostMlp`]'s (three allocating tensor operations otherwise).
        let mut host = self.to_host();
        host.polyak_from(&online.to_host(), tau);
        self.set_from_host(&host);
    }
}

#[cfg(test)]
mod tests {

    #[test]
    fn set_flat_refuses_a_vector_of_the_wrong_length() {
        use rand::SeedableRng;
        let device = super::super::tensor::device_from_name("cpu").unwrap();
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(0);
        let mut net = Mlp::new(&[3, 4, 1], &mut rng, &device);
        let err = net.set_flat(&[0.0; 5], &device).unwrap_err();
        assert!(err.contains("21 parameters, got 5"), "{err}");
        let flat = vec![0.5; net.param_count()];
        net.set_flat(&flat, &device).unwrap();
    }

    use super::*;
    use crate::tensor::device_from_name;
    use rand::SeedableRng;

    /// Per-sample gradients by autodiff, one sample at a time (flat, `params()` order).
    fn sample_gradient(net: &Mlp, x: &[f32]) -> Vec<f32> {
        let device = net.device();
        let tracked = net.tracked();
        let y = tracked
            .forward(from_rows(x, 1, x.len(), &device).autodiff())
            .sum();
        tracked
            .grads(&y.backward())
            .into_iter()
            .flat_map(to_vec)
            .collect()
    }

    #[test]
    fn jvp_and_per_sample_gram_match_autodiff_for_both_activations() {
        let device = device_from_name("cpu").unwrap();
        for activation in [Activation::Relu, Activation::Tanh] {
            let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(3);
            let net = Mlp::with_activation(&[3, 5, 4, 1], activation, &mut rng, &device);
            let rows = 4;
            let x: Vec<f32> = (0..rows * 3).map(|_| rng.random_range(-1.0..1.0)).collect();
            let grads: Vec<Vec<f32>> = x.chunks(3).map(|r| sample_gradient(&net, r)).collect();
            let gram = net
                .per_sample_gram(from_rows(&x, rows, 3, &device))
                .to_row_major_f32();
            for b in 0..rows {
                for c in 0..rows {
                    let dot: f32 = grads[b].iter().zip(&grads[c]).map(|(p, q)| p * q).sum();
                    let got = gram[b * rows + c];
                    assert!(
                        (got - dot).abs() <= 1e-4 * dot.abs().max(1.0),
                        "{activation:?} K[{b},{c}] {got} vs {dot}"
                    );
                }
            }
            // JVP along a parameter direction v: per sample, grad . v.
            let v: Vec<f32> = (0..net.param_count())
                .map(|_| rng.random_range(-1.0..1.0))
                .collect();
            let (_, dy) = net.jvp(
                from_rows(&x, rows, 3, &device),
                &net.unflatten(&v, &device),
                None,
            );
            let dy = to_vec(dy);
            for b in 0..rows {
                let want: f32 = grads[b].iter().zip(&v).map(|(g, u)| g * u).sum();
                assert!(
                    (dy[b] - want).abs() <= 1e-4 * want.abs().max(1.0),
                    "{activation:?} jvp {} vs {want}",
                    dy[b]
                );
            }
        }
    }

    /// The slice methods' fused CPU path against burn's autodiff: outputs, input gradients
    /// and one regression step (loss and new parameters).
    #[test]
    fn slice_methods_match_burn_autodiff() {
        let device = device_from_name("cpu").unwrap();
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(11);
        let mut net = Mlp::new(&[3, 6, 2], &mut rng, &device);
        let rows = 4;
        let x: Vec<f32> = (0..rows * 3).map(|_| rng.random_range(-1.0..1.0)).collect();
        let w: Vec<f32> = (0..rows * 2).map(|_| rng.random_range(-1.0..1.0)).collect();
        let close = |a: &[f32], b: &[f32], what: &str| {
            let d = a
                .iter()
                .zip(b)
                .map(|(p, q)| (p - q).abs())
                .fold(0.0, f32::max);
            assert!(a.len() == b.len() && d < 1e-5, "{what}: differs by {d}");
        };
        let xt = from_rows(&x, rows, 3, &device);
        close(
            &net.predict(&x, rows).unwrap(),
            &to_vec(net.forward(xt.clone())),
            "predict",
        );
        let (y, g) = net.input_gradient(&x, rows, &w).unwrap();
        let tracked_x = xt.clone().autodiff().require_grad();
        let grads = (net.forward(tracked_x.clone()) * from_rows(&w, rows, 2, &device))
            .sum()
            .backward();
        close(
            &y,
            &to_vec(net.forward(xt.clone())),
            "input_gradient outputs",
        );
        close(
            &g,
            &to_vec(tracked_x.grad(&grads).unwrap()),
            "input gradient",
        );
        // One regression step each way from the same parameters and moments.
        let mut burn_net = net.clone();
        let (mut adam, mut burn_adam) = (net.adam(0.01), net.adam(0.01));
        let loss = net.regression_step(&mut adam, &x, rows, &w).unwrap();
        let tracked = burn_net.tracked();
        let burn_loss = (tracked.forward(xt) - from_rows(&w, rows, 2, &device))
            .square()
            .mean()
            .mul_scalar(0.5);
        let burn_value = to_vec(burn_loss.clone().inner())[0];
        let g = tracked.grads(&burn_loss.backward());
        burn_adam.step(burn_net.params_mut(), g);
        assert!(
            (loss - burn_value).abs() < 1e-6,
            "loss {loss} vs {burn_value}"
        );
        close(
            &net.to_flat(),
            &burn_net.to_flat(),
            "parameters after a step",
        );
    }
}
