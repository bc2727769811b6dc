//! Which compute backend analyses a window: the Vulkan pass or the CPU reference.
//! The choice is made once at start-up (`--backend`, `WAVEPLOT_BACKEND`) and logged
//! with its reason; the GPU context it opens lives as long as the process.
//!
//! `auto` takes a hardware GPU (never lavapipe, which would only compete with the
//! CPU path for the same cores) and sends it windows of at least
//! `--gpu-min-candles`; shorter windows and machines without a usable GPU stay on
//! the CPU, and a GPU failure during a request falls back to the CPU as well.
//! `vulkan` accepts any device, lavapipe included, for every window, and fails
//! clearly when there is none. `cpu` never touches Vulkan.
//!
//! The default threshold, 20 000 candles. On lavapipe the pass never overtakes the
//! CPU (5× slower at a million samples, 75× at 864; the table is in
//! `crates/gpu/benches/pass.rs`): it runs on the same cores, so `auto` never takes
//! it. For a Mali-G610 (about 450 GFLOP/s f32, 15 GB/s), on paper: the 8-level
//! padded MODWT does 8 analysis levels and 44 band-steps of synthesis, about 240
//! flops per sample with haar and 1 000 with db4 (0.5–2 ns at 450 GFLOP/s), but it
//! moves about 600 bytes per sample (each band-step reads and writes a float, plus
//! the 16 result bands), about 40 ns at 15 GB/s: memory bound. Add about 20 ns per
//! sample on the host (the f32 input, the f64 widening of 16 bands) and a fixed
//! 0.3–0.5 ms for 17 dispatches, submission and the fence. The CPU path costs
//! 35–45 ns per sample while a window fits in cache (measured here: 38 µs for 864,
//! 147 µs for 4 320 with haar), about 250 ns once it does not (233 ms for a
//! million), and the RK3588's Cortex-A76 cores are somewhat slower. The GPU
//! (about 60 ns per sample plus the fixed cost) so breaks even somewhere between
//! 10 000 and 30 000 samples; 20 000 sits in the middle until it is measured on a
//! board. The default windows (720–4 320 candles) stay on the CPU.

use std::sync::Arc;

use anyhow::{Result, bail};
use clap::{Args, ValueEnum};
use waveplot_gpu::{DevicePolicy, GpuContext};

/// Default of `--gpu-min-candles` (see the module docs for the reasoning).
pub const DEFAULT_GPU_MIN_CANDLES: usize = 20_000;

/// The `--backend` values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, ValueEnum)]
pub enum BackendChoice {
    /// A hardware GPU for large windows, otherwise the CPU.
    #[default]
    Auto,
    /// The Vulkan pass on any device (lavapipe included); fails without one.
    Vulkan,
    /// The f64 CPU reference only.
    Cpu,
}

/// Backend flags shared by the service and `prepare analyze`.
#[derive(Debug, Clone, Args)]
pub struct BackendArgs {
    /// Compute backend: auto, vulkan or cpu.
    #[arg(long, env = "WAVEPLOT_BACKEND", value_enum, default_value_t = BackendChoice::Auto)]
    pub backend: BackendChoice,
    /// Under `auto`, windows with fewer candles stay on the CPU.
    #[arg(long, env = "WAVEPLOT_GPU_MIN_CANDLES", default_value_t = DEFAULT_GPU_MIN_CANDLES)]
    pub gpu_min_candles: usize,
}

/// The backend chosen at start-up.
#[derive(Debug)]
pub struct Backend {
    gpu: Option<Arc<GpuContext>>,
    /// Windows shorter than this go to the CPU.
    min_candles: usize,
    /// Whether a GPU failure fails the request (`vulkan`) or falls back (`auto`).
    strict: bool,
}

impl Backend {
    /// Opens the GPU the flags ask for and logs the choice and why.
    pub fn start(args: &BackendArgs) -> Result<Backend> {
        Backend::select(args, GpuContext::new)
    }

    /// The CPU reference only.
    pub fn cpu() -> Backend {
        Backend {
            gpu: None,
            min_candles: usize::MAX,
            strict: false,
        }
    }

    /// [`Backend::start`] with the device opener passed in, so tests can stand in
    /// for a machine without a GPU.
    fn select(
        args: &BackendArgs,
        open: impl FnOnce(DevicePolicy) -> waveplot_gpu::Result<GpuContext>,
    ) -> Result<Backend> {
        let (policy, strict, min_candles) = match args.backend {
            BackendChoice::Cpu => {
                tracing::info!("backend: cpu, as configured");
                return Ok(Backend::cpu());
            }
            BackendChoice::Vulkan => (DevicePolicy::AllowCpu, true, 0),
            BackendChoice::Auto => (DevicePolicy::HardwareOnly, false, args.gpu_min_candles),
        };
        match open(policy) {
            Ok(gpu) => {
                let device = gpu.device().to_string();
                tracing::info!(%device, min_candles, "backend: vulkan ({:?} asked)", args.backend);
                Ok(Backend {
                    gpu: Some(Arc::new(gpu)),
                    min_candles,
                    strict,
                })
            }
            Err(e) if strict => bail!("--backend vulkan: {e}"),
            Err(e) => {
                tracing::info!(reason = %e, "backend: cpu, because auto found no usable hardware GPU");
                Ok(Backend::cpu())
            }
        }
    }

    /// The GPU to analyse `candles` candles on, if any.
    pub(crate) fn gpu_for(&self, candles: usize) -> Option<&GpuContext> {
        self.gpu.as_deref().filter(|_| candles >= self.min_candles)
    }

    /// Whether a GPU failure must fail the request instead of falling back.
    pub(crate) fn strict(&self) -> bool {
        self.strict
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(backend: BackendChoice) -> BackendArgs {
        BackendArgs {
            backend,
            gpu_min_candles: DEFAULT_GPU_MIN_CANDLES,
        }
    }

    fn no_gpu(policy: DevicePolicy) -> waveplot_gpu::Result<GpuContext> {
        Err(waveplot_gpu::Error::NoDevice {
            policy,
            found: "llvmpipe (CPU device, Vulkan)".to_owned(),
        })
    }

    #[test]
    fn auto_falls_back_to_the_cpu_when_no_hardware_gpu_exists() {
        let backend = Backend::select(&args(BackendChoice::Auto), no_gpu).unwrap();
        assert!(backend.gpu_for(1_000_000).is_none());
        assert!(!backend.strict());
    }

    #[test]
    fn auto_on_this_machine_never_fails_and_never_takes_lavapipe() {
        let backend = Backend::start(&args(BackendChoice::Auto)).unwrap();
        if let Some(gpu) = backend.gpu_for(usize::MAX) {
            assert_ne!(gpu.device().kind, waveplot_gpu::DeviceKind::Cpu);
        }
    }

    #[test]
    fn vulkan_without_a_device_fails_naming_what_was_found() {
        let err = Backend::select(&args(BackendChoice::Vulkan), no_gpu).unwrap_err();
        assert!(err.to_string().contains("llvmpipe"), "{err}");
    }

    #[test]
    fn cpu_opens_no_device() {
        let backend = Backend::select(&args(BackendChoice::Cpu), |_| panic!("opened")).unwrap();
        assert!(backend.gpu_for(usize::MAX).is_none());
    }
}
