//! The Vulkan wavelet pass: the multiresolution analysis of `waveplot-wavelet`
//! (MODWT, plain or over an extended window, and the decimated DWT; every wavelet
//! and extension mode) computed in f32 compute shaders through vulkano.
//!
//! The f64 CPU library is the reference; results agree with it within 1e-5 of the
//! price scale. Prices are shifted by a reference level (the first close) before
//! they are narrowed to f32, and the shift is added back to the smooths, so a
//! 60 000 price keeps its cents.
//!
//! Layout:
//! - [`error`] — the [`Error`] type; a missing loader or device has its own variant.
//! - [`device`] — [`DevicePolicy`], [`DeviceInfo`] and the ranking of devices.
//! - `plan` — the host side of one pass: input preparation, buffer layout, dispatches.
//! - `pipelines` — the shared pipeline layout and the three compute pipelines
//!   (`shaders/analysis.comp`, `synthesis.comp`, `combine.comp`).
//! - `workspace` — device buffers reused and grown between requests.
//! - [`context`] — [`GpuContext`]: made once per process; [`GpuContext::mra`].
//! - [`analysis`](mod@analysis) — [`GpuContext::analyse`]: the full `Analysis`, with
//!   the statistics computed by the reference library on the device's MRA.
//!
//! ```no_run
//! use waveplot_gpu::{DevicePolicy, GpuContext};
//! use waveplot_wavelet::AnalysisParams;
//!
//! let gpu = GpuContext::new(DevicePolicy::AllowCpu)?;
//! let closes: Vec<f64> = (0..864).map(|t| 60_000.0 + (t as f64 / 40.0).sin() * 150.0).collect();
//! let (analysis, timings) = gpu.analyse(&closes, &AnalysisParams::default(), 300.0)?;
//! println!("{} on {}: {:.2} ms", analysis.levels_used, gpu.device(), timings.dispatch_ms);
//! # Ok::<(), waveplot_gpu::Error>(())
//! ```

pub mod analysis;
pub mod context;
pub mod device;
pub mod error;
mod pipelines;
mod plan;
mod workspace;

pub use analysis::levels_used;
pub use context::{GpuContext, GpuMra, Timings, devices};
pub use device::{DeviceInfo, DeviceKind, DevicePolicy, choose, list};
pub use error::{Error, Result};
