//! # acgap-sdk
//!
//! What a plugin author needs to add an actor-critic algorithm or a gap
//! estimator to acgap:
//! - [`agent::Agent`] and the correction hook ([`correction`]): one [`Correction`] value of one
//!   of three families — [`SacCorrection`], [`OnPolicyCorrection`], [`TabularCorrection`] —
//!   returning one [`Term`] under one convention: the plain-Rust traits to implement;
//! - [`export_plugin!`]: the one macro that makes a library loadable by `host`
//!   (the stable ABI behind it lives in [`plugin`] and is never seen by authors);
//! - [`testing`]: each family's context in closed form, to unit-test a correction in seconds.
//!
//! Not here: networks and the algorithm cores (`acgap-toolkit`: MLPs, Adam, the squashed
//! Gaussian policy, the SAC, on-policy and STAC cores with their hooks), environments
//! (`acgap-envs`), replay buffers, the training loop, logging (all in `host`). This crate has
//! no networks library, so a correction builds against it in under a minute.

pub mod agent;
pub mod batch;
pub mod correction;
pub mod memory;
pub mod plugin;
pub mod result;
pub mod seeds;
pub mod spec;
pub mod testing;

/// The families' modules under their old paths (`acgap_sdk::onpolicy`, `acgap_sdk::tabular`).
pub use correction::{onpolicy, tabular};

/// The exact `rand` and `rand_chacha` the SDK's signatures use (e.g. `impl rand::Rng`), so a
/// plugin needs no version of its own.
pub use {rand, rand_chacha};

pub use agent::{Agent, AgentInit, Metrics, PluginResult, SoftSample, TabularView, Training};
pub use batch::{Batch, BatchKind, UpdateStep};
pub use correction::{
    ContextInfo, Correction, CorrectionInit, Family, OnPolicyContext, OnPolicyCorrection,
    RolloutInfo, SacContext, SacCorrection, Sampled, TabularContext, TabularCorrection,
    TabularUpdate, Term,
};
pub use plugin::{AgentEntry, CorrectionEntry};
