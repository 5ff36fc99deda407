//! Diagnostics a run logs besides its returns: the Monte-Carlo gap between the critic and the
//! returns (`gap`) and, on tabular envs, every table against the exact quantities (`exact`).

pub mod exact;
pub mod gap;
