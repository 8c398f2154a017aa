//! Denormal (subnormal) floats flushed to zero on the calling thread.
//!
//! A decaying signal or model state drifts through the subnormal range, where every arithmetic
//! operation can cost a hundred times more on x86: a worker computing a fading tail would spike
//! the CPU. Audio gains nothing from subnormals (below -750 dBFS), so the worker turns them off
//! for itself when it starts. nice-plug does the same for the audio thread around `process`,
//! but its guard is private to its wrappers, hence these few lines.

/// Flushes subnormal results and inputs to zero for the rest of this thread's life: FTZ and
/// DAZ in MXCSR on x86-64 (SSE/AVX arithmetic), FZ in FPCR on AArch64. Elsewhere it does
/// nothing.
pub(super) fn flush_to_zero_on_this_thread() {
    #[cfg(target_arch = "x86_64")]
    {
        /// MXCSR: flush-to-zero (bit 15) and denormals-are-zero (bit 6).
        const FTZ_DAZ: u32 = (1 << 15) | (1 << 6);
        let mut mxcsr = 0u32;
        // SAFETY: stmxcsr/ldmxcsr read and write this thread's SSE control register, present on
        // every x86-64 CPU; only the two flush bits change.
        unsafe {
            std::arch::asm!("stmxcsr [{}]", in(reg) &mut mxcsr, options(nostack));
            mxcsr |= FTZ_DAZ;
            std::arch::asm!("ldmxcsr [{}]", in(reg) &mxcsr, options(nostack));
        }
    }
    #[cfg(target_arch = "aarch64")]
    {
        /// FPCR: flush-to-zero (bit 24), which on AArch64 covers inputs and outputs.
        const FZ: u64 = 1 << 24;
        let mut fpcr: u64;
        // SAFETY: reads and writes this thread's floating-point control register; only the FZ
        // bit changes.
        unsafe {
            std::arch::asm!("mrs {}, fpcr", out(reg) fpcr, options(nomem, nostack));
            fpcr |= FZ;
            std::arch::asm!("msr fpcr, {}", in(reg) fpcr, options(nomem, nostack));
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    #[cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]
    fn subnormal_results_become_zero_on_the_thread_only() {
        let product = |a: f32| std::hint::black_box(a) * std::hint::black_box(1e-10f32);
        std::thread::spawn(move || {
            assert!(product(1e-30).is_subnormal(), "before");
            super::flush_to_zero_on_this_thread();
            assert_eq!(product(1e-30), 0.0, "after");
            assert_eq!(product(1.0), 1e-10, "normal numbers unchanged");
        })
        .join()
        .unwrap();
        assert!(
            product(1e-30).is_subnormal(),
            "other threads keep subnormals"
        );
    }
}
