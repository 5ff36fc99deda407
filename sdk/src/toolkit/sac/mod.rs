//! The SAC core (ALGORITHMS.md section 3) with the correction hook.
//!
//! One implementation serves SAC, Res-SAC and Stack-SAC: a plugin builds a
//! [`SacCore`] with or without a [`crate::correction::Correction`]. The core
//! implements [`crate::agent::Agent`] itself.

mod config;
mod context;
mod core;

pub use config::SacConfig;
pub use core::SacCore;

#[cfg(test)]
mod tests;
