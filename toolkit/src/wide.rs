//! The CPU's vector unit: elementwise loops compiled for wider vectors than the crate's
//! baseline, and the floating-point mode the networks' steps run in.
//!
//! The crate is compiled for the baseline x86-64 (SSE2), so the loops of Adam and of the fused
//! MLP passes vectorise four floats wide; the same loop body compiled for AVX2 runs eight wide,
//! for AVX-512 sixteen. Which of these runs is the process's kernel choice
//! ([`crate::kernels`]), made by measuring on the CPU: on this project's AMD machine the
//! AVX-512 build made a one-thread 2 x 256 update no faster and a `--threads 2` one 15% slower
//! (docs/performance.md), so no width is right for every CPU.

use crate::kernels::Vectors;

/// `f()`, compiled for the vector width of this process's kernel choice (the closure is
/// inlined into a function with that target feature).
#[inline(always)]
pub(crate) fn vectors<R>(f: impl FnOnce() -> R) -> R {
    vectors_with(crate::kernels::current().vectors, f)
}

/// `f()` compiled for `width` (as the crate is compiled if the CPU lacks it, which no choice
/// hands in: every one is checked with [`Vectors::available`]).
#[inline(always)]
pub(crate) fn vectors_with<R>(width: Vectors, f: impl FnOnce() -> R) -> R {
    #[cfg(target_arch = "x86_64")]
    {
        #[target_feature(enable = "avx2")]
        unsafe fn avx2<R>(f: impl FnOnce() -> R) -> R {
            f()
        }
        #[target_feature(enable = "avx512f,avx512vl")]
        unsafe fn avx512<R>(f: impl FnOnce() -> R) -> R {
            f()
        }
        // SAFETY: the CPU has the instructions (checked in the guard; a cached atomic load),
        // the only requirement of a `target_feature` function.
        match width {
            Vectors::Avx2 if width.available() => return unsafe { avx2(f) },
            Vectors::Avx512 if width.available() => return unsafe { avx512(f) },
            _ => {}
        }
    }
    f()
}

/// `f()` with subnormal floats flushed to zero on this thread: MXCSR's flush-to-zero (bit 15:
/// a subnormal result becomes 0) and denormals-are-zero (bit 6: a subnormal operand reads as
/// 0), as XLA (hence SBX) and most deep-learning runtimes train. Intel cores take a microcode
/// assist of ~100 cycles for every subnormal an SSE/AVX instruction meets, and a network's
/// steps meet many (Adam's second moments of rarely-active weights, tiny gradients): issue
/// 30's profile put 31% of a 2 x 256 SAC run in the elementwise loops on such a core, and this
/// mode made the run 1.38x faster there. What it changes: only values below 1.18e-38 in
/// magnitude, which become 0 (docs/design.md, "Subnormals"). The caller's mode is restored on
/// return, and on unwinding, so a plugin never leaks it into the host; every thread that
/// runs a step's work (the `--threads` lanes) enters it itself, as MXCSR is per thread.
#[inline]
pub fn flush_subnormals<R>(f: impl FnOnce() -> R) -> R {
    #[cfg(target_arch = "x86_64")]
    {
        /// MXCSR's FTZ and DAZ bits.
        const FLUSH: u32 = (1 << 15) | (1 << 6);
        struct Restore(u32);
        impl Drop for Restore {
            fn drop(&mut self) {
                set_mxcsr(self.0);
            }
        }
        let before = mxcsr();
        if before & FLUSH == FLUSH {
            return f();
        }
        let _restore = Restore(before);
        set_mxcsr(before | FLUSH);
        f()
    }
    #[cfg(not(target_arch = "x86_64"))]
    f()
}

#[cfg(target_arch = "x86_64")]
fn mxcsr() -> u32 {
    let mut value = 0u32;
    // SAFETY: `stmxcsr` stores the 32-bit control register into the given, valid address.
    unsafe {
        std::arch::asm!("stmxcsr [{}]", in(reg) &mut value, options(nostack, preserves_flags));
    }
    value
}

#[cfg(target_arch = "x86_64")]
fn set_mxcsr(value: u32) {
    // SAFETY: `ldmxcsr` loads a value read by `stmxcsr` with only the FTZ/DAZ mode bits
    // changed (no reserved bit set, so no fault); it changes how later SSE/AVX code on this
    // thread treats subnormals, which is the point. Not marked `readonly`: as an asm block that
    // may write memory it stays ordered with the loads and stores around it (with `readonly`,
    // LLVM moved the test's arithmetic in front of it).
    unsafe {
        std::arch::asm!("ldmxcsr [{}]", in(reg) &value, options(nostack, preserves_flags));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `x * 0.5` computed from memory at run time (volatile reads and writes stay in their
    /// place around the mode switch, as a network's loads and stores do).
    fn halve(x: f32) -> f32 {
        let mut cell = x;
        // SAFETY: a valid, aligned local.
        unsafe {
            let v = std::ptr::read_volatile(&cell) * 0.5;
            std::ptr::write_volatile(&mut cell, v);
            std::ptr::read_volatile(&cell)
        }
    }

    #[test]
    fn subnormals_are_flushed_inside_and_the_mode_is_restored_after() {
        let tiny = f32::MIN_POSITIVE; // the smallest normal float
        assert!(
            halve(tiny) > 0.0,
            "a subnormal result under the default mode"
        );
        let inside = flush_subnormals(|| {
            // A subnormal operand reads as zero, and a subnormal result is zero.
            // Twice the smallest subnormal: 0 when the operand reads as 0.
            let double = |x: f32| halve(x) * 4.0;
            (halve(tiny), double(f32::from_bits(2)), halve(1.0))
        });
        assert_eq!(inside, (0.0, 0.0, 0.5), "normal numbers are untouched");
        assert!(halve(tiny) > 0.0, "the caller's mode is back");
        // Restored on unwinding too.
        let _ = std::panic::catch_unwind(|| flush_subnormals(|| panic!("inside")));
        assert!(halve(tiny) > 0.0, "restored after a panic");
        // Nested: the inner call leaves the outer mode in place.
        flush_subnormals(|| {
            flush_subnormals(|| ());
            assert_eq!(halve(tiny), 0.0);
        });
    }
}
