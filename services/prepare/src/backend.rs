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
//! The default threshold, 20 000 candles: on lavapipe the pass only overtakes the
//! CPU beyond about a million samples (both run on the same cores, and the f32
//! filter loops are no faster there than the f64 ones), so lavapipe is never chosen
//! by `auto`. On a Mali-G610 (about 450 GFLOP/s f32, 15 GB/s, with submission and
//! fence costs of roughly 0.2–0.5 ms per pass) the 8-level padded MODWT does about
//! 45 bands × 2 taps × 2 flops ≈ 180 flops and moves about 200 bytes per sample:
//! memory bound, ~13 ns per sample on the GPU against ~25–40 ns per sample for
//! the f64 CPU path on the RK3588's Cortex-A76 cores. The GPU therefore wins once
//! its fixed cost is amortised, from roughly 10 000–30 000 samples; 20 000 is the
//! middle of that range until it is measured on a board.

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
