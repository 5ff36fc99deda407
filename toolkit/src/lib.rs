//! The plugin author's toolkit: networks, optimiser, policies, the SAC core and the on-policy
//! actor-critic core (`ac`).
//!
//! Every burn type of the project is confined to this folder, so a burn
//! upgrade touches only here. Networks keep their parameters as plain tensors;
//! a gradient step makes a *tracked* copy (autodiff leaves), runs forward and
//! backward, and hands the gradients to [`Adam`]. That keeps inference free of
//! autodiff overhead and makes flat parameter vectors, exact checkpoints and
//! forward-mode products (for Stackelberg corrections) straightforward.

pub mod ac;
mod ac_context;
mod adam;
mod categorical;
pub mod gram;
mod host_mlp;
pub mod implicit;
pub mod kernels;
mod mlp;
mod policy;
pub mod sac;
pub mod stac;
mod state;
mod tensor;
pub mod value;
mod wide;

pub use adam::Adam;
pub use categorical::Categorical;
pub use host_mlp::{HostMlp, Tape, Wanted};
pub use mlp::{Activation, Mlp};
pub use policy::SquashedGaussian;
pub use state::{StateReader, StateWriter};
pub use tensor::{
    Device, Tensor, cpu_threads, device_from_name, from_rows, from_vec, normal_noise, normal_vec,
    to_vec,
};
pub use wide::flush_subnormals;
