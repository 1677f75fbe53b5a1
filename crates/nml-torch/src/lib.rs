//! libtorch runtime for nml: the one place that turns `--device` into a
//! `tch::Device`, seeds every generator, and tells whether CUDA is really linked.
//!
//! Crates that link libtorch (pretrain, features, tune) depend on this crate
//! and call [`resolve_device`] once, passing the result down.
//! Their `build.rs` calls `nml_build::link_libtorch()` so their binaries start
//! without `LD_LIBRARY_PATH` and keep `libtorch_cuda` loaded.

use std::collections::BTreeSet;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard, PoisonError};

mod adamw;
pub mod denormals;
mod layout;

pub use adamw::{fused_adamw_, AdamWStep};
pub use layout::{is_channels_last, Layout};
pub use nml_core::DeviceSpec;
pub use nml_spec::{cpu_bf16_flags, Compute, Denormals, Precision};
use tch::{Cuda, Device, Tensor};

/// Why a device request cannot be met.
#[derive(Debug, thiserror::Error)]
pub enum TorchError {
    /// CUDA was asked for explicitly but cannot be used.
    #[error("device cuda:{requested} requested but CUDA is unavailable: {reason}")]
    CudaUnavailable { requested: usize, reason: String },
    /// The CUDA ordinal is past the visible devices.
    #[error("device cuda:{requested} requested but only {count} CUDA device(s) are visible")]
    NoSuchDevice { requested: usize, count: usize },
}

/// Resolves a device request: `auto` picks `cuda:0` when CUDA works, else the CPU;
/// an explicit `cuda:N` that cannot be served is an error, never a silent CPU fallback.
pub fn resolve_device(spec: DeviceSpec) -> Result<Device, TorchError> {
    match spec {
        DeviceSpec::Cpu => Ok(Device::Cpu),
        DeviceSpec::Auto => Ok(if Cuda::is_available() {
            Device::Cuda(0)
        } else {
            Device::Cpu
        }),
        DeviceSpec::Cuda(n) => {
            if !Cuda::is_available() {
                let reason = if !cuda_shipped() {
                    "the libtorch in use has no CUDA build (no libtorch_cuda.so beside libtorch_cpu.so)".to_owned()
                } else if !cuda_linked() {
                    "libtorch_cuda.so was not loaded: the binary was linked without nml-build's link arguments".to_owned()
                } else {
                    "no CUDA driver or device is visible to this process".to_owned()
                };
                return Err(TorchError::CudaUnavailable {
                    requested: n,
                    reason,
                });
            }
            let count = usize::try_from(Cuda::device_count()).unwrap_or(0);
            if n >= count {
                return Err(TorchError::NoSuchDevice {
                    requested: n,
                    count,
                });
            }
            Ok(Device::Cuda(n))
        }
    }
}

/// Sets libtorch's intra-op thread count (default: the count libtorch picked)
/// and returns it.
///
/// Call it once at start-up in every process that trains or runs models.
/// A process that never calls `at::set_num_threads` leaves the BLAS and
/// oneDNN pools used by backward passes at one thread: on two cores ResNet-20
/// training then runs about 30% slower than under Python, which makes this
/// call on import.
///
/// It also tunes the C allocator once ([`tune_allocator`]).
pub fn configure_threads(requested: Option<i32>) -> i32 {
    tune_allocator();
    let n = requested
        .filter(|&n| n > 0)
        .unwrap_or_else(tch::get_num_threads);
    tch::set_num_threads(n);
    n
}

/// Keeps freed tensor memory in the process instead of returning it to the
/// kernel after every batch (glibc only; once per process).
///
/// libtorch's CPU tensors come from `malloc`. With glibc's defaults, blocks
/// above the dynamic mmap threshold are mapped and unmapped per allocation
/// and a freed heap top is trimmed, so each batch's activations are page-
/// faulted in afresh: feature extraction of ResNet-20 ran at 1,300 images/s
/// against PyTorch's 2,460 on the same libtorch, and at 2,800 with this
/// (`cargo bench -p nml-features`). It fixes the mmap threshold at 32 MiB
/// (glibc's maximum; larger blocks are still mapped) and trims only above
/// 1 GiB free. A `GLIBC_TUNABLES` naming `malloc` in the environment is the
/// user's choice and is left alone.
pub fn tune_allocator() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let user = std::env::var("GLIBC_TUNABLES").is_ok_and(|t| t.contains("malloc"));
        if !user {
            set_malloc_thresholds(32 << 20, 1 << 30);
        }
    });
}

#[cfg(all(target_os = "linux", target_env = "gnu"))]
#[allow(unsafe_code)] // mallopt is a C call with plain integer arguments and no memory handed over
fn set_malloc_thresholds(mmap: i32, trim: i32) {
    // SAFETY: mallopt only reads its two integers; it returns 0 on a rejected value, which
    // leaves glibc's defaults in place.
    let ok = unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, mmap) == 1
            && libc::mallopt(libc::M_TRIM_THRESHOLD, trim) == 1
    };
    if !ok {
        tracing::debug!("mallopt refused the thresholds; glibc defaults stay");
    }
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn set_malloc_thresholds(_mmap: i32, _trim: i32) {}

/// Seeds libtorch's CPU generator and, when CUDA is usable, every CUDA generator.
///
/// These generators are process-global: code that seeds and then draws while
/// other threads may draw too (tests run in parallel) must hold [`rng_lock`].
pub fn seed(seed: u64) {
    // manual_seed takes i64; the bit pattern is what matters.
    tch::manual_seed(seed as i64);
    if Cuda::is_available() {
        Cuda::manual_seed_all(seed);
    }
}

/// Serialises seed-then-draw sequences on libtorch's process-global generators.
pub fn rng_lock() -> MutexGuard<'static, ()> {
    static LOCK: Mutex<()> = Mutex::new(());
    // A panic while holding the lock leaves no state to repair: the guard only orders access.
    LOCK.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Singular value decomposition `a = u diag(s) vh` (thin), on any device.
///
/// `tch`'s `linalg_svd` always passes a `driver` argument, which libtorch
/// rejects on the CPU, so this goes through `torch.svd` (the same kernels).
///
/// # Shapes
/// `a`: `[.., m, n]` → `u`: `[.., m, k]`, `s`: `[.., k]`, `vh`: `[.., k, n]` with `k = min(m, n)`.
pub fn svd(a: &Tensor) -> (Tensor, Tensor, Tensor) {
    let (u, s, v) = a.svd(true, true);
    (u, s, v.transpose(-2, -1))
}

/// [`svd`], with libtorch's failure (no convergence on a non-finite or
/// degenerate input) as an error holding the first line of its message.
pub fn try_svd(a: &Tensor) -> Result<(Tensor, Tensor, Tensor), String> {
    let (u, s, v) = a
        .f_svd(true, true)
        .map_err(|e| first_line(&e.to_string()))?;
    Ok((u, s, v.transpose(-2, -1)))
}

/// The first line of a libtorch error (its C++ backtrace follows).
pub fn first_line(message: &str) -> String {
    message.lines().next().unwrap_or_default().trim().to_owned()
}

/// Singular values of `a`, in descending order (see [`svd`] for why not `linalg_svdvals`).
///
/// # Shapes
/// `a`: `[.., m, n]` → `[.., min(m, n)]`.
pub fn svdvals(a: &Tensor) -> Tensor {
    a.svd(true, false).1
}

/// Runs `f` under CUDA autocast in bfloat16 when `enabled` (and CUDA is usable);
/// otherwise runs it as is.
///
/// `tch::autocast` selects libtorch's default autocast type, float16, which
/// needs loss scaling, and calls deprecated libtorch functions that warn on
/// every use; bfloat16 keeps float32's range and needs no scaling.
pub fn autocast<T>(enabled: bool, f: impl FnOnce() -> T) -> T {
    if enabled && Cuda::is_available() {
        let _scope = autocast_ffi::Bf16Scope::enter(autocast_ffi::CUDA);
        f()
    } else {
        f()
    }
}

/// Runs `f` under bfloat16 autocast of `device`'s type when `compute` is
/// [`Compute::Bf16`]: matrix products and convolutions in bfloat16 (oneDNN's
/// AMX / AVX-512 BF16 kernels on the CPU), weights, reductions and losses kept
/// in float32 by libtorch's autocast lists. [`Compute::Fp32`] runs `f` as is.
pub fn autocast_on<T>(device: Device, compute: Compute, f: impl FnOnce() -> T) -> T {
    match compute {
        Compute::Fp32 => f(),
        Compute::Bf16 => {
            let kind = match device {
                Device::Cpu => autocast_ffi::CPU,
                Device::Cuda(_) | Device::Mps | Device::Vulkan => autocast_ffi::CUDA,
            };
            let _scope = autocast_ffi::Bf16Scope::enter(kind);
            f()
        }
    }
}

/// True while CPU autocast is on in this thread.
pub fn cpu_autocast_enabled() -> bool {
    autocast_ffi::enabled(autocast_ffi::CPU)
}

/// What `precision` computes in on `device`: `auto` is bfloat16 on CUDA and
/// on CPUs with AMX or AVX-512 BF16 ([`cpu_bf16_flags`]), float32 elsewhere.
pub fn resolve_precision(precision: Precision, device: Device) -> Compute {
    precision.resolve(device.is_cuda(), !cpu_bf16_flags().is_empty())
}

/// libtorch's per-device autocast controls, which torch-sys does not wrap;
/// declared with their C++ symbols. `c10::DeviceType` and `c10::ScalarType`
/// are `int8_t` enums.
#[allow(unsafe_code)] // FFI to libtorch functions tch does not expose (also `adamw`)
mod autocast_ffi {
    pub(super) const CPU: i8 = 0;
    pub(super) const CUDA: i8 = 1;
    const BFLOAT16: i8 = 15;

    extern "C" {
        #[link_name = "_ZN2at8autocast18set_autocast_dtypeEN3c1010DeviceTypeENS1_10ScalarTypeE"]
        fn set_autocast_dtype(device: i8, dtype: i8);
        #[link_name = "_ZN2at8autocast18get_autocast_dtypeEN3c1010DeviceTypeE"]
        fn get_autocast_dtype(device: i8) -> i8;
        #[link_name = "_ZN2at8autocast20set_autocast_enabledEN3c1010DeviceTypeEb"]
        fn set_autocast_enabled(device: i8, enabled: bool);
        #[link_name = "_ZN2at8autocast19is_autocast_enabledEN3c1010DeviceTypeE"]
        fn is_autocast_enabled(device: i8) -> bool;
    }

    /// Autocast of one device type (`CPU` or `CUDA`) in bfloat16 until
    /// dropped, then the previous state.
    pub(super) struct Bf16Scope {
        device: i8,
        was_enabled: bool,
        was_dtype: i8,
    }

    impl Bf16Scope {
        pub(super) fn enter(device: i8) -> Bf16Scope {
            // SAFETY: plain value arguments; libtorch keeps these settings per thread.
            unsafe {
                let was_dtype = get_autocast_dtype(device);
                set_autocast_dtype(device, BFLOAT16);
                let was_enabled = is_autocast_enabled(device);
                set_autocast_enabled(device, true);
                torch_sys::at_autocast_increment_nesting();
                Bf16Scope {
                    device,
                    was_enabled,
                    was_dtype,
                }
            }
        }
    }

    pub(super) fn enabled(device: i8) -> bool {
        // SAFETY: a plain read.
        unsafe { is_autocast_enabled(device) }
    }

    impl Drop for Bf16Scope {
        fn drop(&mut self) {
            // SAFETY: as above; the cache of casted weights is freed when the outermost scope ends.
            unsafe {
                if torch_sys::at_autocast_decrement_nesting() == 0 {
                    torch_sys::at_autocast_clear_cache();
                }
                set_autocast_enabled(self.device, self.was_enabled);
                if self.device != CUDA {
                    // CUDA's type stays bfloat16, as `set_cuda_autocast_bf16` promises.
                    set_autocast_dtype(self.device, self.was_dtype);
                }
            }
        }
    }

    pub(super) fn set_cuda_bf16() {
        // SAFETY: plain value arguments.
        unsafe { set_autocast_dtype(CUDA, BFLOAT16) }
    }

    pub(super) fn cuda_is_bf16() -> bool {
        // SAFETY: a plain read of the same setting.
        unsafe { get_autocast_dtype(CUDA) == BFLOAT16 }
    }

    pub(super) fn cuda_enabled() -> bool {
        // SAFETY: a plain read.
        unsafe { is_autocast_enabled(CUDA) }
    }
}

/// Makes bfloat16 the CUDA autocast type of this thread.
pub fn set_cuda_autocast_bf16() {
    autocast_ffi::set_cuda_bf16();
}

/// True when bfloat16 is the CUDA autocast type of this thread.
pub fn cuda_autocast_is_bf16() -> bool {
    autocast_ffi::cuda_is_bf16()
}

/// True while CUDA autocast is on in this thread.
pub fn cuda_autocast_enabled() -> bool {
    autocast_ffi::cuda_enabled()
}

/// The libtorch `lib` folder this crate was built against.
pub fn build_libtorch_dir() -> &'static Path {
    Path::new(env!("NML_LIBTORCH_LIB"))
}

/// Shared libraries mapped into this process (Linux; empty elsewhere).
pub fn loaded_libraries() -> Vec<PathBuf> {
    let Ok(maps) = std::fs::read_to_string("/proc/self/maps") else {
        return Vec::new();
    };
    let set: BTreeSet<PathBuf> = maps
        .lines()
        .filter_map(|line| line.split_whitespace().nth(5))
        .filter(|p| p.starts_with('/') && p.contains(".so"))
        .map(PathBuf::from)
        .collect();
    set.into_iter().collect()
}

fn loaded(name: &str) -> Option<PathBuf> {
    // Any libtorch call guarantees the libraries are mapped before we look.
    let _ = tch::get_num_threads();
    loaded_libraries().into_iter().find(|p| {
        p.file_name()
            .is_some_and(|f| f.to_string_lossy().starts_with(name))
    })
}

/// The folder of the `libtorch_cpu.so` this process actually loaded.
pub fn loaded_libtorch_dir() -> Option<PathBuf> {
    loaded("libtorch_cpu.so").and_then(|p| p.parent().map(Path::to_path_buf))
}

/// True when the loaded libtorch comes with a CUDA library.
pub fn cuda_shipped() -> bool {
    loaded_libtorch_dir().is_some_and(|d| d.join("libtorch_cuda.so").exists())
}

/// True when `libtorch_cuda.so` is mapped into this process.
pub fn cuda_linked() -> bool {
    loaded("libtorch_cuda.so").is_some()
}

/// What the libtorch runtime of this process can do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuntimeInfo {
    pub build_libtorch_dir: PathBuf,
    pub loaded_libtorch_dir: Option<PathBuf>,
    pub cuda_shipped: bool,
    pub cuda_linked: bool,
    pub cuda_available: bool,
    pub cuda_devices: i64,
    pub cudnn_available: bool,
    pub cpu_threads: i32,
}

/// Collects [`RuntimeInfo`] for this process.
pub fn runtime_info() -> RuntimeInfo {
    RuntimeInfo {
        build_libtorch_dir: build_libtorch_dir().to_path_buf(),
        loaded_libtorch_dir: loaded_libtorch_dir(),
        cuda_shipped: cuda_shipped(),
        cuda_linked: cuda_linked(),
        cuda_available: Cuda::is_available(),
        cuda_devices: Cuda::device_count(),
        cudnn_available: Cuda::cudnn_is_available(),
        cpu_threads: tch::get_num_threads(),
    }
}

impl fmt::Display for RuntimeInfo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let loaded = self
            .loaded_libtorch_dir
            .as_deref()
            .map_or_else(|| "(none)".to_owned(), |p| p.display().to_string());
        writeln!(
            f,
            "libtorch (build)   {}",
            self.build_libtorch_dir.display()
        )?;
        writeln!(f, "libtorch (loaded)  {loaded}")?;
        writeln!(f, "cuda shipped       {}", self.cuda_shipped)?;
        writeln!(f, "cuda linked        {}", self.cuda_linked)?;
        writeln!(f, "cuda available     {}", self.cuda_available)?;
        writeln!(f, "cuda devices       {}", self.cuda_devices)?;
        writeln!(f, "cudnn available    {}", self.cudnn_available)?;
        write!(f, "cpu threads        {}", self.cpu_threads)
    }
}
