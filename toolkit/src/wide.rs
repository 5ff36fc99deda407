//! Elementwise loops compiled for wider vectors than the crate's baseline.
//!
//! The crate is compiled for the baseline x86-64 (SSE2), so the loops of Adam and of the fused
//! MLP passes vectorise four floats wide; on a CPU with AVX2 the same loop body compiled for it
//! runs eight wide. The choice is made at run time, as the GEMM kernels' is. AVX2 rather than
//! AVX-512: on this project's machine the AVX-512 build of these loops made a one-thread 2 x 256
//! update no faster and a `--threads 2` one 15% slower (docs/performance.md).

/// `f()`, compiled with AVX2 enabled when the CPU has it (the closure is inlined into a
/// function with that target feature).
#[inline(always)]
pub(crate) fn vectors<R>(f: impl FnOnce() -> R) -> R {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx2") {
        #[target_feature(enable = "avx2")]
        unsafe fn avx2<R>(f: impl FnOnce() -> R) -> R {
            f()
        }
        // SAFETY: the CPU has AVX2 (checked just above), the only requirement of a
        // `target_feature` function.
        return unsafe { avx2(f) };
    }
    f()
}
