//! The MLP's training passes on host memory, fused: per layer one GEMM (the bias
//! accumulated into it) and one loop for the activation; backward, one GEMM per gradient
//! that is asked for. The SAC core runs its critic and actor steps this way on the CPU
//! device: burn's autodiff computes the same maths one operation at a time, each
//! allocating and copying, which cost about a third of a 2 x 256 update (docs/performance.md).
//! Tests check both passes against burn's autodiff and against finite differences.

use super::mlp::Activation;
use crate::kernels::Matmul;
use gemm::{Parallelism, gemm};

/// An MLP's parameters on the host, in [`super::Mlp::params`] order: per layer `W`
/// (`in x out`, row-major) then `b`.
#[derive(Clone, Debug, PartialEq)]
pub struct HostMlp {
    pub(crate) sizes: Vec<usize>,
    pub(crate) activation: Activation,
    pub(crate) params: Vec<Vec<f32>>,
}

/// What a forward pass keeps for the backward pass: every layer's input (the first is the
/// network's input) and, last, the output.
#[derive(Clone, Debug, Default)]
pub struct Tape {
    rows: usize,
    values: Vec<Vec<f32>>,
    /// The backward pass's two gradient buffers, kept so that later passes reuse them.
    scratch: [Vec<f32>; 2],
}

impl Tape {
    /// The network's output, `rows x out`.
    pub fn output(&self) -> &[f32] {
        self.values.last().expect("a forward pass filled the tape")
    }

    pub fn rows(&self) -> usize {
        self.rows
    }

    /// The tape of the given rows only, in that order, into `into` (its buffers are reused):
    /// a backward pass from it is the full pass restricted to those rows, which is all of it
    /// when the output gradient is zero on the other rows.
    pub fn select_rows(&self, rows: &[usize], into: &mut Tape) {
        into.rows = rows.len();
        into.values.resize_with(self.values.len(), Vec::new);
        for (from, to) in self.values.iter().zip(&mut into.values) {
            let width = from.len() / self.rows;
            to.clear();
            for &r in rows {
                to.extend_from_slice(&from[r * width..(r + 1) * width]);
            }
        }
    }
}

/// Which gradients a backward pass computes (the others cost nothing).
pub struct Wanted<'a> {
    /// Parameter gradients, written (not added) in [`HostMlp::params`] layout.
    pub params: Option<&'a mut [Vec<f32>]>,
    /// The gradient with respect to the input, `rows x in`.
    pub input: Option<&'a mut Vec<f32>>,
}

impl HostMlp {
    pub fn sizes(&self) -> &[usize] {
        &self.sizes
    }

    pub fn params(&self) -> &[Vec<f32>] {
        &self.params
    }

    pub fn params_mut(&mut self) -> &mut [Vec<f32>] {
        &mut self.params
    }

    /// Zero vectors shaped like the parameters (for gradients).
    pub fn zeros_like(&self) -> Vec<Vec<f32>> {
        self.params.iter().map(|p| vec![0.0; p.len()]).collect()
    }

    fn layers(&self) -> usize {
        self.sizes.len() - 1
    }

    /// The forward pass on `rows` inputs (row-major), kept in `tape` (its buffers are reused).
    pub fn forward(&self, x: &[f32], rows: usize, tape: &mut Tape) {
        assert_eq!(x.len(), rows * self.sizes[0], "MLP input size");
        tape.rows = rows;
        tape.values.resize_with(self.sizes.len(), Vec::new);
        tape.values[0].clear();
        tape.values[0].extend_from_slice(x);
        let last = self.layers() - 1;
        for l in 0..=last {
            let (fan_in, fan_out) = (self.sizes[l], self.sizes[l + 1]);
            let (done, rest) = tape.values.split_at_mut(l + 1);
            let (input, out) = (&done[l], &mut rest[0]);
            out.clear();
            for _ in 0..rows {
                out.extend_from_slice(&self.params[2 * l + 1]);
            }
            // out += input W
            matmul(
                out,
                true,
                [rows, fan_out, fan_in],
                Operand::rows(input, fan_in),
                Operand::rows(&self.params[2 * l], fan_out),
            );
            if l < last {
                activate(self.activation, out);
            }
        }
    }

    /// The backward pass of the last [`HostMlp::forward`] in `tape`, from `d_out`
    /// (`rows x out`, the loss's derivative with respect to the outputs).
    pub fn backward(&self, tape: &mut Tape, d_out: &[f32], wanted: Wanted<'_>) {
        let rows = tape.rows;
        let Wanted {
            mut params,
            mut input,
        } = wanted;
        assert_eq!(
            d_out.len(),
            rows * self.sizes[self.layers()],
            "output gradient size"
        );
        let [mut dz, mut dx] = std::mem::take(&mut tape.scratch);
        dz.clear();
        dz.extend_from_slice(d_out);
        for l in (0..self.layers()).rev() {
            let (fan_in, fan_out) = (self.sizes[l], self.sizes[l + 1]);
            let layer_input = &tape.values[l];
            if let Some(grads) = params.as_deref_mut() {
                // dW = input^T dZ, db = column sums of dZ.
                let dw = &mut grads[2 * l];
                dw.resize(fan_in * fan_out, 0.0);
                matmul(
                    dw,
                    false,
                    [fan_in, fan_out, rows],
                    Operand::cols(layer_input, fan_in),
                    Operand::rows(&dz, fan_out),
                );
                let db = &mut grads[2 * l + 1];
                db.clear();
                db.resize(fan_out, 0.0);
                for row in dz.chunks_exact(fan_out) {
                    for (s, v) in db.iter_mut().zip(row) {
                        *s += v;
                    }
                }
            }
            if l == 0 && input.is_none() {
                break;
            }
            // dX = dZ W^T
            dx.resize(rows * fan_in, 0.0);
            matmul(
                &mut dx,
                false,
                [rows, fan_in, fan_out],
                Operand::rows(&dz, fan_out),
                Operand::cols(&self.params[2 * l], fan_out),
            );
            if l == 0 {
                if let Some(out) = input.as_deref_mut() {
                    out.clear();
                    out.extend_from_slice(&dx);
                }
                break;
            }
            // Into the previous layer's pre-activations: times f'(z), from its output.
            derivative_times(self.activation, layer_input, &mut dx);
            std::mem::swap(&mut dz, &mut dx);
        }
        tape.scratch = [dz, dx];
    }

    /// Polyak averaging `self <- tau * online + (1 - tau) * self`.
    pub fn polyak_from(&mut self, online: &HostMlp, tau: f32) {
        for (t, o) in self.params.iter_mut().zip(&online.params) {
            super::wide::vectors(|| {
                for (x, y) in t.iter_mut().zip(o) {
                    *x = (1.0 - tau) * *x + tau * y;
                }
            });
        }
    }
}

fn activate(activation: Activation, z: &mut [f32]) {
    super::wide::vectors(|| match activation {
        Activation::Relu => z.iter_mut().for_each(|v| *v = v.max(0.0)),
        // The burn path's formula, 2 sigmoid(2z) - 1, so both paths agree closely.
        Activation::Tanh => z
            .iter_mut()
            .for_each(|v| *v = 2.0 / (1.0 + (-2.0 * *v).exp()) - 1.0),
    })
}

/// `d *= f'(z)`, elementwise, with `f'` from the activation's output `h = f(z)`.
fn derivative_times(activation: Activation, h: &[f32], d: &mut [f32]) {
    super::wide::vectors(|| match activation {
        // A select, not a conditional store: this form vectorises.
        Activation::Relu => d
            .iter_mut()
            .zip(h)
            .for_each(|(d, &h)| *d = if h > 0.0 { *d } else { 0.0 }),
        Activation::Tanh => d.iter_mut().zip(h).for_each(|(d, &h)| *d *= 1.0 - h * h),
    })
}

/// A matrix operand: its data with row and column strides.
#[derive(Clone, Copy)]
pub(crate) struct Operand<'a> {
    data: &'a [f32],
    row_stride: isize,
    col_stride: isize,
}

impl<'a> Operand<'a> {
    /// A row-major matrix with `cols` columns.
    pub(crate) fn rows(data: &'a [f32], cols: usize) -> Self {
        Self {
            data,
            row_stride: cols as isize,
            col_stride: 1,
        }
    }

    /// The transpose of a row-major matrix with `cols` columns.
    pub(crate) fn cols(data: &'a [f32], cols: usize) -> Self {
        Self {
            data,
            row_stride: 1,
            col_stride: cols as isize,
        }
    }
}

/// `dst (m x n, row-major) = [dst +] a (m x k) b (k x n)`, with this process's kernel.
fn matmul(dst: &mut [f32], accumulate: bool, mnk: [usize; 3], a: Operand<'_>, b: Operand<'_>) {
    matmul_with(crate::kernels::current().matmul, dst, accumulate, mnk, a, b);
}

/// [`matmul`] with a given kernel (the calibration times each).
pub(crate) fn matmul_with(
    kernel: Matmul,
    dst: &mut [f32],
    accumulate: bool,
    [m, n, k]: [usize; 3],
    a: Operand<'_>,
    b: Operand<'_>,
) {
    assert!(dst.len() >= m * n && a.data.len() >= m * k && b.data.len() >= k * n);
    match kernel {
        // SAFETY: the asserts above keep every index the strides describe inside the slices
        // (a row-major or transposed view of an `m x k`, `k x n` or `m x n` matrix), and `dst`
        // is borrowed mutably, so it aliases neither operand.
        Matmul::Gemm => unsafe {
            gemm(
                m,
                n,
                k,
                dst.as_mut_ptr(),
                1,
                n as isize,
                accumulate,
                a.data.as_ptr(),
                a.col_stride,
                a.row_stride,
                b.data.as_ptr(),
                b.col_stride,
                b.row_stride,
                1.0,
                1.0,
                false,
                false,
                false,
                Parallelism::None,
            );
        },
        Matmul::Faer => {
            // SAFETY: as for `gemm` above: the views stay inside their slices, and only `dst`
            // is written.
            let (dst, a, b) = unsafe {
                (
                    faer::MatMut::from_raw_parts_mut(dst.as_mut_ptr(), m, n, n as isize, 1),
                    faer::MatRef::from_raw_parts(a.data.as_ptr(), m, k, a.row_stride, a.col_stride),
                    faer::MatRef::from_raw_parts(b.data.as_ptr(), k, n, b.row_stride, b.col_stride),
                )
            };
            let accum = if accumulate {
                faer::Accum::Add
            } else {
                faer::Accum::Replace
            };
            faer::linalg::matmul::matmul(dst, accum, a, b, 1.0, faer::Par::Seq);
            crate::gram::clean_vector_state();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Mlp, device_from_name, from_rows, to_vec};
    use rand::{Rng, SeedableRng};
    use rand_chacha::ChaCha8Rng;

    fn random(n: usize, rng: &mut impl Rng) -> Vec<f32> {
        (0..n).map(|_| rng.random_range(-1.0..1.0)).collect()
    }

    fn max_diff(a: &[f32], b: &[f32]) -> f32 {
        assert_eq!(a.len(), b.len());
        a.iter()
            .zip(b)
            .map(|(x, y)| (x - y).abs())
            .fold(0.0, f32::max)
    }

    /// The output, parameter gradients and input gradient of `sum(w * f(x))`.
    fn passes(
        host: &HostMlp,
        x: &[f32],
        rows: usize,
        w: &[f32],
    ) -> (Vec<f32>, Vec<Vec<f32>>, Vec<f32>) {
        let mut tape = Tape::default();
        host.forward(x, rows, &mut tape);
        let (mut grads, mut d_input) = (host.zeros_like(), Vec::new());
        let wanted = Wanted {
            params: Some(&mut grads),
            input: Some(&mut d_input),
        };
        host.backward(&mut tape, w, wanted);
        (tape.output().to_vec(), grads, d_input)
    }

    /// Forward, parameter gradients and input gradient against burn's autodiff of
    /// `sum(w * f(x))`, for both activations.
    #[test]
    fn passes_match_burn_autodiff() {
        let device = device_from_name("cpu").unwrap();
        for activation in [Activation::Relu, Activation::Tanh] {
            let mut rng = ChaCha8Rng::seed_from_u64(5);
            let net = Mlp::with_activation(&[3, 7, 6, 2], activation, &mut rng, &device);
            let rows = 5;
            let (x, w) = (random(rows * 3, &mut rng), random(rows * 2, &mut rng));
            let (output, grads, d_input) = passes(&net.to_host(), &x, rows, &w);
            let burn_out = to_vec(net.forward(from_rows(&x, rows, 3, &device)));
            assert!(
                max_diff(&output, &burn_out) < 1e-6,
                "{activation:?} forward"
            );
            let tracked = net.tracked();
            let xt = from_rows(&x, rows, 3, &device).autodiff().require_grad();
            let y = (tracked.forward(xt.clone()) * from_rows(&w, rows, 2, &device)).sum();
            let g = y.backward();
            for (i, (got, want)) in grads.iter().zip(tracked.grads(&g)).enumerate() {
                assert!(
                    max_diff(got, &to_vec(want)) < 1e-5,
                    "{activation:?} param {i}"
                );
            }
            let want_input = to_vec(xt.grad(&g).unwrap());
            assert!(
                max_diff(&d_input, &want_input) < 1e-5,
                "{activation:?} input"
            );
        }
    }

    /// The backward pass against central differences of `sum(w * f(x))` along random
    /// parameter and input directions.
    #[test]
    fn backward_matches_finite_differences() {
        let device = device_from_name("cpu").unwrap();
        let mut rng = ChaCha8Rng::seed_from_u64(9);
        let net = Mlp::with_activation(&[4, 8, 8, 3], Activation::Tanh, &mut rng, &device);
        let rows = 3;
        let (x, w) = (random(rows * 4, &mut rng), random(rows * 3, &mut rng));
        let host = net.to_host();
        let objective = |h: &HostMlp, x: &[f32]| {
            let mut tape = Tape::default();
            h.forward(x, rows, &mut tape);
            tape.output()
                .iter()
                .zip(&w)
                .map(|(y, w)| f64::from(y * w))
                .sum::<f64>()
        };
        let (_, grads, d_input) = passes(&host, &x, rows, &w);
        let h = 1e-2_f32;
        let direction: Vec<Vec<f32>> = host
            .params
            .iter()
            .map(|p| random(p.len(), &mut rng))
            .collect();
        let moved = |sign: f32| {
            let mut m = host.clone();
            for (p, d) in m.params.iter_mut().zip(&direction) {
                p.iter_mut().zip(d).for_each(|(p, d)| *p += sign * h * d);
            }
            objective(&m, &x)
        };
        let fd = (moved(1.0) - moved(-1.0)) / (2.0 * h as f64);
        let analytic: f64 = grads
            .iter()
            .zip(&direction)
            .flat_map(|(g, d)| g.iter().zip(d).map(|(g, d)| f64::from(g * d)))
            .sum();
        assert!(
            (analytic - fd).abs() < 1e-3 * fd.abs().max(1.0),
            "params {analytic} vs {fd}"
        );
        let v = random(x.len(), &mut rng);
        let shifted = |sign: f32| {
            let x: Vec<f32> = x.iter().zip(&v).map(|(x, v)| x + sign * h * v).collect();
            objective(&host, &x)
        };
        let fd = (shifted(1.0) - shifted(-1.0)) / (2.0 * h as f64);
        let analytic: f64 = d_input.iter().zip(&v).map(|(g, v)| f64::from(g * v)).sum();
        assert!(
            (analytic - fd).abs() < 1e-3 * fd.abs().max(1.0),
            "input {analytic} vs {fd}"
        );
    }

    /// A backward pass from selected rows equals the full pass with a zero output gradient
    /// on the other rows.
    #[test]
    fn selected_rows_carry_the_whole_gradient() {
        let device = device_from_name("cpu").unwrap();
        let mut rng = ChaCha8Rng::seed_from_u64(13);
        let net = Mlp::new(&[3, 6, 1], &mut rng, &device).to_host();
        let rows = 5;
        let x = random(rows * 3, &mut rng);
        let chosen = [1, 3, 4];
        let mut w = vec![0.0; rows];
        for &r in &chosen {
            w[r] = rng.random_range(-1.0..1.0);
        }
        let (_, full_grads, full_input) = passes(&net, &x, rows, &w);
        let mut tape = Tape::default();
        net.forward(&x, rows, &mut tape);
        let mut selected = Tape::default();
        tape.select_rows(&chosen, &mut selected);
        let (mut grads, mut d_input) = (net.zeros_like(), Vec::new());
        let w_chosen: Vec<f32> = chosen.iter().map(|&r| w[r]).collect();
        let wanted = Wanted {
            params: Some(&mut grads),
            input: Some(&mut d_input),
        };
        net.backward(&mut selected, &w_chosen, wanted);
        for (g, f) in grads.iter().zip(&full_grads) {
            assert!(max_diff(g, f) < 1e-6);
        }
        for (k, &r) in chosen.iter().enumerate() {
            assert!(max_diff(&d_input[k * 3..k * 3 + 3], &full_input[r * 3..r * 3 + 3]) < 1e-6);
        }
        assert!(
            full_input[..3].iter().all(|&g| g == 0.0),
            "row 0 had no gradient"
        );
    }
}
