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
//! `auto` looks for a hardware GPU in a child process (the same executable run with
//! the hidden `--gpu-probe` flag, which prints its [`Verdict`] as one JSON line) and
//! opens Vulkan in the service only when one is there. Loading
//! the Vulkan driver maps it into the process for good: lavapipe brings LLVM, about
//! 50 MB of resident memory that a service which then stays on the CPU would carry
//! for nothing (prepare measured 63 MB idle with it, 13 MB without). The child also
//! keeps a driver that crashes while probing from taking the service down.
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

use std::fmt::Write as _;
use std::process::{Command, Stdio};
use std::sync::Arc;

use anyhow::Result;
use clap::{Args, ValueEnum};
use serde::{Deserialize, Serialize};
use waveplot_gpu::{DeviceInfo, DevicePolicy, GpuContext};

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
    /// List the Vulkan devices this machine offers and what `auto` would take, then exit.
    #[arg(long)]
    pub list_gpus: bool,
    /// Print what `auto` would take as one JSON line, then exit: the child process that
    /// `auto` starts runs this (see the module docs).
    #[arg(long, hide = true)]
    pub gpu_probe: bool,
}

/// Answers `--list-gpus` (a report for a person) or `--gpu-probe` (the verdict for the
/// parent process) on stdout; true when it did, and the program should exit. Every
/// binary that starts a [`Backend`] calls it first thing, as `auto` re-runs the binary.
pub fn answer_probe(args: &BackendArgs) -> bool {
    if args.list_gpus {
        print!("{}", gpu_report(waveplot_gpu::devices()));
    } else if args.gpu_probe {
        let verdict = Verdict::of(&waveplot_gpu::devices());
        println!(
            "{}",
            serde_json::to_string(&verdict).expect("a verdict always serializes")
        );
    }
    args.list_gpus || args.gpu_probe
}

/// What `auto` would take on this machine.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "verdict", rename_all = "snake_case")]
pub enum Verdict {
    /// A hardware GPU: the device.
    Hardware {
        /// The device, as listed.
        device: String,
    },
    /// No hardware GPU, and why (what was found instead, or why Vulkan failed).
    Cpu {
        /// Why the CPU.
        reason: String,
    },
}

impl Verdict {
    /// The verdict over the devices Vulkan lists.
    fn of(devices: &waveplot_gpu::Result<Vec<DeviceInfo>>) -> Verdict {
        match devices {
            Ok(devices) => match waveplot_gpu::choose(devices, DevicePolicy::HardwareOnly) {
                Some(i) => Verdict::Hardware {
                    device: devices[i].to_string(),
                },
                None => Verdict::Cpu {
                    reason: format!("no hardware GPU; found: {}", waveplot_gpu::list(devices)),
                },
            },
            Err(e) => Verdict::Cpu {
                reason: anyhow::Chain::new(e)
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join(": "),
            },
        }
    }
}

impl std::fmt::Display for Verdict {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Verdict::Hardware { device } => write!(f, "vulkan on {device}"),
            Verdict::Cpu { reason } => write!(f, "cpu, {reason}"),
        }
    }
}

/// `--list-gpus`: every Vulkan device with a compute queue, one per line, then what
/// `auto` takes.
fn gpu_report(devices: waveplot_gpu::Result<Vec<DeviceInfo>>) -> String {
    let mut out = String::new();
    for d in devices.iter().flatten() {
        let _ = writeln!(out, "{d}");
    }
    let _ = writeln!(out, "auto: {}", Verdict::of(&devices));
    out
}

/// What the `--gpu-probe` child said.
#[derive(Debug, PartialEq, Eq)]
enum Probe {
    /// The child's verdict.
    Said(Verdict),
    /// The child could not say (it failed to start, crashed or printed no verdict).
    Failed(String),
}

impl Probe {
    /// Runs this executable with `--gpu-probe` and reads its verdict.
    fn in_child() -> Probe {
        let exe = match std::env::current_exe() {
            Ok(exe) => exe,
            Err(e) => return Probe::Failed(format!("cannot find this executable: {e}")),
        };
        let output = Command::new(&exe)
            .arg("--gpu-probe")
            .env("RUST_LOG", "error")
            .stdin(Stdio::null())
            .output();
        match output {
            Err(e) => Probe::Failed(format!("cannot run {} --gpu-probe: {e}", exe.display())),
            Ok(out) => Probe::of_output(&out.stdout)
                .filter(|_| out.status.success())
                .unwrap_or_else(|| {
                    Probe::Failed(format!(
                        "{} --gpu-probe ended with {}: {}",
                        exe.display(),
                        out.status,
                        String::from_utf8_lossy(&out.stderr).trim()
                    ))
                }),
        }
    }

    /// The verdict in a `--gpu-probe` child's stdout (its last line), if there is one.
    fn of_output(stdout: &[u8]) -> Option<Probe> {
        let text = String::from_utf8_lossy(stdout);
        let line = text.lines().rev().find(|l| !l.trim().is_empty())?;
        serde_json::from_str(line).ok().map(Probe::Said)
    }
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
    /// Opens the GPU the flags ask for and logs the choice and why; `auto` first asks
    /// a child process whether there is a hardware GPU at all.
    ///
    /// The executable must answer `--gpu-probe` (through [`answer_probe`]).
    pub fn start(args: &BackendArgs) -> Result<Backend> {
        Backend::select(args, Probe::in_child, GpuContext::new)
    }

    /// The CPU reference only.
    pub fn cpu() -> Backend {
        Backend {
            gpu: None,
            min_candles: usize::MAX,
            strict: false,
        }
    }

    /// [`Backend::start`] with the probe and the device opener passed in, so tests can
    /// stand in for a machine without a GPU.
    fn select(
        args: &BackendArgs,
        probe: impl FnOnce() -> Probe,
        open: impl FnOnce(DevicePolicy) -> waveplot_gpu::Result<GpuContext>,
    ) -> Result<Backend> {
        let (policy, strict, min_candles) = match args.backend {
            BackendChoice::Cpu => {
                tracing::info!("backend: cpu, as configured");
                return Ok(Backend::cpu());
            }
            BackendChoice::Vulkan => (DevicePolicy::AllowCpu, true, 0),
            BackendChoice::Auto => match probe() {
                Probe::Said(Verdict::Hardware { .. }) => {
                    (DevicePolicy::HardwareOnly, false, args.gpu_min_candles)
                }
                Probe::Said(Verdict::Cpu { reason }) => {
                    tracing::info!(%reason, "backend: cpu (auto)");
                    return Ok(Backend::cpu());
                }
                Probe::Failed(reason) => {
                    tracing::warn!(%reason, "backend: cpu, because the GPU probe failed");
                    return Ok(Backend::cpu());
                }
            },
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
            Err(e) if strict => Err(anyhow::Error::new(e).context("--backend vulkan")),
            Err(e) => {
                tracing::info!(
                    reason = &e as &dyn std::error::Error,
                    "backend: cpu, because auto found no usable hardware GPU"
                );
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
    use waveplot_gpu::DeviceKind;

    use super::*;

    fn args(backend: BackendChoice) -> BackendArgs {
        BackendArgs {
            backend,
            gpu_min_candles: DEFAULT_GPU_MIN_CANDLES,
            list_gpus: false,
            gpu_probe: false,
        }
    }

    fn no_gpu(policy: DevicePolicy) -> waveplot_gpu::Result<GpuContext> {
        Err(waveplot_gpu::Error::NoDevice {
            policy,
            found: "llvmpipe (CPU device, Vulkan)".to_owned(),
        })
    }

    fn device(name: &str, kind: DeviceKind) -> DeviceInfo {
        DeviceInfo {
            name: name.to_owned(),
            kind,
        }
    }

    #[test]
    fn auto_opens_no_device_when_the_probe_finds_no_hardware_gpu() {
        for probe in [
            Probe::Said(Verdict::Cpu {
                reason: "no hardware GPU; found: llvmpipe".into(),
            }),
            Probe::Failed("killed by signal 11".into()),
        ] {
            let backend =
                Backend::select(&args(BackendChoice::Auto), || probe, |_| panic!("opened"))
                    .unwrap();
            assert!(backend.gpu_for(1_000_000).is_none());
            assert!(!backend.strict());
        }
    }

    #[test]
    fn auto_falls_back_to_the_cpu_when_the_device_found_cannot_be_opened() {
        let backend =
            Backend::select(&args(BackendChoice::Auto), || Probe::Said(mali()), no_gpu).unwrap();
        assert!(backend.gpu_for(1_000_000).is_none());
    }

    fn mali() -> Verdict {
        Verdict::Hardware {
            device: "Mali-G610 (integrated GPU, Vulkan)".into(),
        }
    }

    #[test]
    fn the_report_says_what_auto_takes() {
        let report = gpu_report(Ok(vec![
            device("llvmpipe (LLVM 15.0.6, 128 bits)", DeviceKind::Cpu),
            device("Mali-G610", DeviceKind::Integrated),
        ]));
        assert!(report.starts_with("llvmpipe (LLVM 15.0.6, 128 bits) (CPU device, Vulkan)\n"));
        assert!(
            report.ends_with("auto: vulkan on Mali-G610 (integrated GPU, Vulkan)\n"),
            "{report}"
        );
        let no_loader = gpu_report(Err(waveplot_gpu::Error::NoLoader {
            source: "libvulkan.so.1 not found".into(),
        }));
        assert!(no_loader.starts_with("auto: cpu, "), "{no_loader}");
        assert!(
            no_loader.contains("libvulkan.so.1 not found"),
            "{no_loader}"
        );
    }

    #[test]
    fn the_probe_verdict_reads_back_from_the_child_output() {
        let found = Verdict::of(&Ok(vec![
            device("llvmpipe", DeviceKind::Cpu),
            device("Mali-G610", DeviceKind::Integrated),
        ]));
        assert_eq!(found, mali());
        let lavapipe = Verdict::of(&Ok(vec![device("llvmpipe", DeviceKind::Cpu)]));
        assert_eq!(
            lavapipe,
            Verdict::Cpu {
                reason: "no hardware GPU; found: llvmpipe (CPU device, Vulkan)".into()
            }
        );
        for verdict in [found, lavapipe] {
            let line = serde_json::to_string(&verdict).unwrap();
            let output = format!("a warning a driver printed\n{line}\n");
            assert_eq!(
                Probe::of_output(output.as_bytes()),
                Some(Probe::Said(verdict))
            );
        }
        assert_eq!(
            Probe::of_output(b"error: unexpected argument '--gpu-probe'"),
            None
        );
    }

    #[test]
    fn vulkan_without_a_device_fails_naming_what_was_found() {
        let err =
            Backend::select(&args(BackendChoice::Vulkan), || panic!("probed"), no_gpu).unwrap_err();
        assert!(format!("{err:#}").contains("llvmpipe"), "{err:#}");
    }

    #[test]
    fn cpu_opens_no_device() {
        let backend = Backend::select(
            &args(BackendChoice::Cpu),
            || panic!("probed"),
            |_| panic!("opened"),
        )
        .unwrap();
        assert!(backend.gpu_for(usize::MAX).is_none());
    }
}
