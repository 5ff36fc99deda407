//! Commands besides training: throughput benchmarks (`bench`), the exact dynamic-programming
//! experiments (`exact_dp`), the gap-estimator scorecard (`score`) and `inspect`.

pub mod bench;
pub mod exact_dp;
pub mod inspect;
pub mod score;
