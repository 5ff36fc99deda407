//! Commands besides training: throughput benchmarks (`bench`), the exact dynamic-programming
//! experiments (`exact_dp`), the gap-estimator scorecard (`score`), evaluating and rendering a
//! checkpoint (`eval`) and `inspect`.

pub mod bench;
pub mod eval;
pub mod exact_dp;
pub mod inspect;
pub mod score;
