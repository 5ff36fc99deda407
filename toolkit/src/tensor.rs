//! Tensors, devices and conversions to and from `f32` slices.

use burn::tensor::TensorData;
pub use burn::tensor::{Device, Tensor};
use rand::Rng;
use rand_distr::StandardNormal;

/// The compute device for a device name from the host: `cpu` (or `cpu:N`, N compute threads
/// for the SAC core's fused steps, see [`cpu_threads`]); `wgpu` (the best adapter wgpu
/// finds: Vulkan, Metal or DX12) with the `wgpu` feature; `cuda:N` with the `cuda` feature.
/// burn dispatches every tensor operation on the device at run time, so the networks, the SAC
/// core and the corrections need nothing else to run there.
pub fn device_from_name(name: &str) -> Result<Device, String> {
    if name.starts_with("cpu") {
        return match cpu_threads(name) {
            // The fused path's kernels are chosen here, so a bad `ACGAP_KERNELS` is an error
            // where the agent is built (a run records the choice: `kernels::choice`).
            Some(_) => crate::kernels::choice()
                .map(|_| Device::flex())
                .map_err(|e| format!("device `{name}`: {e}")),
            None => Err(format!(
                "device `{name}`: expected cpu or cpu:<threads> with at least one thread"
            )),
        };
    }
    match name {
        #[cfg(feature = "cuda")]
        other if other.starts_with("cuda:") => other[5..]
            .parse::<usize>()
            .map(Device::cuda)
            .map_err(|_| format!("device `{other}`: expected cuda:<index>")),
        other if other.starts_with("cuda") => Err(format!(
            "device `{other}` needs a build with the `cuda` feature; this build has `cpu` only"
        )),
        #[cfg(feature = "wgpu")]
        "wgpu" => Ok(Device::wgpu(burn::tensor::DeviceKind::DefaultDevice)),
        #[cfg(not(feature = "wgpu"))]
        "wgpu" => Err(
            "device `wgpu` needs a plugin built with the toolkit's `wgpu` feature; this build has `cpu` only"
                .into(),
        ),
        other => Err(format!("unknown device `{other}`; valid devices: cpu")),
    }
}

/// The compute threads of a CPU device name: `cpu` is one, `cpu:N` is N (from the host's
/// `--threads N`); `None` for other devices and malformed names.
pub fn cpu_threads(name: &str) -> Option<usize> {
    match name.strip_prefix("cpu") {
        Some("") => Some(1),
        Some(rest) => rest
            .strip_prefix(':')
            .and_then(|n| n.parse::<usize>().ok())
            .filter(|&n| n >= 1),
        None => None,
    }
}

/// A `rows x cols` tensor from row-major data.
pub fn from_rows(data: &[f32], rows: usize, cols: usize, device: &Device) -> Tensor<2> {
    debug_assert_eq!(data.len(), rows * cols);
    Tensor::from_data(TensorData::new(data.to_vec(), [rows, cols]), device)
}

/// A `rows x cols` tensor taking ownership of row-major data.
pub fn from_vec(data: Vec<f32>, rows: usize, cols: usize, device: &Device) -> Tensor<2> {
    Tensor::from_data(TensorData::new(data, [rows, cols]), device)
}

/// The elements of a tensor, row-major.
pub fn to_vec<const D: usize>(t: Tensor<D>) -> Vec<f32> {
    t.into_data().try_to_vec::<f32>().expect("f32 tensor")
}

/// Standard normal noise drawn from the caller's RNG (so the stream is part of its checkpoint).
pub fn normal_noise(rng: &mut impl Rng, rows: usize, cols: usize, device: &Device) -> Tensor<2> {
    from_vec(normal_vec(rng, rows * cols), rows, cols, device)
}

/// `n` standard normal draws from the caller's RNG (the values of [`normal_noise`]).
pub fn normal_vec(rng: &mut impl Rng, n: usize) -> Vec<f32> {
    (0..n).map(|_| rng.sample(StandardNormal)).collect()
}

/// A 2-D tensor in f64, row-major, with a trailing column of ones if `ones_column` (for the
/// f64 linear algebra of implicit gradients, which views it with `MatRef::from_row_major_slice`).
/// Returns the data and its number of columns.
pub(crate) fn to_f64_rows(t: &Tensor<2>, ones_column: bool) -> (Vec<f64>, usize) {
    let [rows, cols] = t.dims();
    let width = cols + usize::from(ones_column);
    let mut out = Vec::with_capacity(rows * width);
    for row in to_vec(t.clone()).chunks_exact(cols) {
        out.extend(row.iter().map(|&v| f64::from(v)));
        if ones_column {
            out.push(1.0);
        }
    }
    (out, width)
}
