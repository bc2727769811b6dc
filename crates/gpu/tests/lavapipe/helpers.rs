//! The shared device, test series, the real samples and the tolerance check.

use std::path::PathBuf;
use std::sync::OnceLock;

use waveplot_gpu::{DevicePolicy, GpuContext};
use waveplot_wavelet::{Mode, Mra, MraKind, MraPlan, Wavelet};

/// Agreement with the f64 reference, relative to the price scale.
pub const TOLERANCE: f64 = 1e-5;

/// One context for the whole binary, as a service makes one per process; lavapipe
/// is allowed so the tests run on machines without a GPU. Without any device the tests
/// fail rather than skip; the device found goes to stderr (`--no-capture` shows it).
pub fn gpu() -> &'static GpuContext {
    static GPU: OnceLock<GpuContext> = OnceLock::new();
    GPU.get_or_init(|| {
        let gpu = GpuContext::new(DevicePolicy::AllowCpu)
            .unwrap_or_else(|e| panic!("the tests need a Vulkan device (lavapipe will do): {e}"));
        eprintln!("device: {}", gpu.device());
        gpu
    })
}

/// A seeded random walk around 60 000 with cent-sized steps and dollar-sized swings.
pub fn walk(n: usize, seed: u64) -> Vec<f64> {
    let mut rng = fastrand::Rng::with_seed(seed);
    let mut price = 60_000.0;
    (0..n)
        .map(|_| {
            price += f64::from(rng.i32(-2000..=2000)) / 100.0;
            price
        })
        .collect()
}

/// Largest magnitude of `x`: the price scale the tolerance is relative to.
pub fn scale(x: &[f64]) -> f64 {
    x.iter().fold(1.0f64, |m, v| m.max(v.abs()))
}

/// Runs the CPU reference and the device on `x` and asserts every detail and smooth
/// agree within [`TOLERANCE`] of the price scale.
pub fn assert_agrees(x: &[f64], wavelet: &str, kind: MraKind, mode: Mode, levels: usize) {
    let w = Wavelet::new(wavelet).unwrap();
    let mut plan = MraPlan::new(x.len(), &w, kind, mode, levels).unwrap();
    let cpu = plan.process(x);
    let gpu = gpu()
        .mra(x, &w, kind, mode, plan.levels_used())
        .unwrap_or_else(|e| panic!("{wavelet} {kind} {mode} n={}: {e}", x.len()))
        .mra;
    let what = format!(
        "{wavelet} {kind} {mode} n={} J={}",
        x.len(),
        cpu.levels_used
    );
    compare(&gpu, &cpu, scale(x), &what);
}

fn compare(gpu: &Mra, cpu: &Mra, scale: f64, what: &str) {
    assert_eq!(gpu.details.len(), cpu.details.len(), "{what}: levels");
    let bands = [
        ("D", &gpu.details, &cpu.details),
        ("S", &gpu.smooths, &cpu.smooths),
    ];
    for (name, got, want) in bands {
        for (j, (g, w)) in got.iter().zip(want.iter()).enumerate() {
            assert_eq!(g.len(), w.len(), "{what}: {name}{} length", j + 1);
            let (i, err) = g
                .iter()
                .zip(w)
                .map(|(a, b)| (a - b).abs())
                .enumerate()
                .fold((0, 0.0), |m, (i, e)| if e > m.1 { (i, e) } else { m });
            assert!(
                err <= TOLERANCE * scale,
                "{what}: {name}{} differs by {err:e} at {i} (gpu {}, cpu {}); allowed {:e}",
                j + 1,
                g[i],
                w[i],
                TOLERANCE * scale
            );
        }
    }
}

/// The closes of a klines file in the repository's `data/` directory.
pub fn sample_closes(file: &str) -> Vec<f64> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../data")
        .join(file);
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    text.lines()
        .filter_map(|line| line.split(',').nth(4)?.parse::<f64>().ok())
        .collect()
}
