//! Elementwise loops compiled for the widest vectors the CPU has.
//!
//! The crate is compiled for the baseline x86-64 (SSE2), so the loops of Adam and of the fused
//! MLP passes vectorise four floats wide; on a CPU with AVX-512 the same loop body compiled for
//! it runs sixteen wide. The choice is made at run time, as the GEMM kernels' is.

/// `f()`, compiled with AVX-512 enabled when the CPU has it (the closure is inlined into a
/// function with that target feature).
#[inline(always)]
pub(crate) fn vectors<R>(f: impl FnOnce() -> R) -> R {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx512f") {
        #[target_feature(enable = "avx512f")]
        unsafe fn avx512<R>(f: impl FnOnce() -> R) -> R {
            f()
        }
        // SAFETY: the CPU has AVX-512F (checked just above), the only requirement of a
        // `target_feature` function.
        return unsafe { avx512(f) };
    }
    f()
}
