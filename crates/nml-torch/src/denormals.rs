//! Subnormal ("denormal") floats on the CPU: flush them to zero, or keep them.
//!
//! x86 CPUs compute with subnormal operands through a microcode assist that
//! costs on the order of a hundred cycles per operation. Small heads trained
//! for many epochs reach them: the weight decay and Adam's second moments of
//! rarely active units decay towards zero, and products with them land below
//! `f32::MIN_POSITIVE` (1.2e-38). On the PACS two-view MLP heads of the
//! `real-models` study one epoch took 9.0 s with subnormals kept and 4.0 s
//! flushed (PyTorch 2.11, one thread), with the same accuracy.
//!
//! [`set`] sets the MXCSR's flush-to-zero and denormals-are-zero bits, as
//! PyTorch's `torch.set_flush_denormal(True)` does. The register is per
//! thread: call it on the computing thread before libtorch starts its
//! intra-op pool, whose threads inherit the floating-point environment of
//! the thread that creates them (glibc `pthread_create`).

pub use nml_spec::Denormals;

/// Applies `mode` to the calling thread; returns whether the CPU supports it
/// (x86-64 with SSE: always; elsewhere `Keep` only).
pub fn set(mode: Denormals) -> bool {
    imp::set(mode)
}

/// The calling thread's current mode.
pub fn current() -> Denormals {
    imp::current()
}

#[cfg(target_arch = "x86_64")]
#[allow(unsafe_code)] // two instructions on the MXCSR, which Rust's std only offers deprecated
mod imp {
    use super::Denormals;

    /// MXCSR bit 15: results below the normal range become zero.
    const FTZ: u32 = 1 << 15;
    /// MXCSR bit 6: subnormal inputs are read as zero.
    const DAZ: u32 = 1 << 6;

    fn read() -> u32 {
        let mut csr: u32 = 0;
        // SAFETY: stmxcsr stores the 32-bit MXCSR into the pointed-to u32.
        unsafe {
            std::arch::asm!("stmxcsr [{}]", in(reg) &mut csr, options(nostack, preserves_flags));
        }
        csr
    }

    fn write(csr: u32) {
        // SAFETY: ldmxcsr loads a value read from MXCSR with only the FTZ and
        // DAZ bits changed; both are defined on every x86-64 CPU with SSE2.
        unsafe {
            std::arch::asm!("ldmxcsr [{}]", in(reg) &csr, options(nostack, preserves_flags));
        }
    }

    pub fn set(mode: Denormals) -> bool {
        let csr = read();
        write(match mode {
            Denormals::Flush => csr | FTZ | DAZ,
            Denormals::Keep => csr & !(FTZ | DAZ),
        });
        true
    }

    pub fn current() -> Denormals {
        if read() & (FTZ | DAZ) == FTZ | DAZ {
            Denormals::Flush
        } else {
            Denormals::Keep
        }
    }
}

#[cfg(not(target_arch = "x86_64"))]
mod imp {
    use super::Denormals;

    pub fn set(mode: Denormals) -> bool {
        mode == Denormals::Keep
    }

    pub fn current() -> Denormals {
        Denormals::Keep
    }
}
