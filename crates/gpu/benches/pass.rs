//! The Vulkan pass against the f64 reference for the MRA of N closes (padded
//! MODWT, symmetric, 8 levels), with the device time split into upload, dispatch
//! and readback. On lavapipe this is a regression baseline, not a GPU's speed.
//!
//! `cargo bench -p waveplot-gpu -- --warm-up-time 1 --measurement-time 3`
//!
//! Medians on the 2-core development VM (lavapipe `llvmpipe (LLVM 15.0.6, 256 bits)`,
//! other builds sharing the cores, so ±30 %). `gpu` is the whole pass; the three
//! parts are measured from separate runs of it.
//!
//! | wavelet | N | cpu | gpu | upload | dispatch | readback |
//! |---|---|---|---|---|---|---|
//! | haar | 864 | 38.1 µs | 2.81 ms | 6.0 µs | 3.05 ms | 12.2 µs |
//! | haar | 4 320 | 147 µs | 9.01 ms | 14.7 µs | 10.1 ms | 103 µs |
//! | haar | 100 000 | 24.7 ms | 176 ms | 528 µs | 180 ms | 5.9 ms |
//! | haar | 1 000 000 | 233 ms | 1.08 s | 7.7 ms | 1.09 s | 68.6 ms |
//! | db4 | 864 | 120 µs | 6.85 ms | 6.1 µs | 6.0 ms | 14.4 µs |
//! | db4 | 4 320 | 693 µs | 47.4 ms | 33.8 µs | 43.2 ms | 89.3 µs |
//! | db4 | 100 000 | 27.3 ms | 563 ms | 232 µs | 446 ms | 2.1 ms |
//! | db4 | 1 000 000 | 267 ms (802 ms¹) | 18.9 s¹ | 19.2 ms¹ | 17.6 s¹ | 180 ms¹ |
//!
//! ¹ A shorter, busier run: `-- 'mra-db4/.*/1000000$' --quick --warm-up-time 1
//! --measurement-time 20`, so each estimate comes from three passes after one warm-up
//! pass instead of ten samples, with a load average near 7 from other builds. The CPU
//! path took 802 ms in that run against 267 ms in the quieter one, so the device
//! times are upper bounds; a quieter run that was cut short saw about 4 s per pass.
//!
//! lavapipe runs every invocation on the same two cores as the CPU path and is
//! 5–75× slower than it, so it never pays off here; see `services/prepare/src/backend.rs`
//! for the `auto` threshold on a real GPU.

// criterion_group! defines public functions that cannot carry doc comments.
#![allow(missing_docs)]

use std::hint::black_box;
use std::time::Duration;

use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use waveplot_gpu::{DevicePolicy, GpuContext, Timings, levels_used};
use waveplot_wavelet::{Mode, MraKind, MraPlan, Wavelet};

const SIZES: [usize; 4] = [864, 4_320, 100_000, 1_000_000];

/// Picks one part of a pass's timings, in ms.
type Part = fn(&Timings) -> f64;

fn closes(n: usize) -> Vec<f64> {
    (0..n)
        .map(|t| 60_000.0 + 900.0 * (t as f64 / 500.0).sin() + 40.0 * (t as f64 * 0.37).cos())
        .collect()
}

/// Sums one part of the device timings over `iters` passes.
fn device_part(gpu: &GpuContext, x: &[f64], w: &Wavelet, iters: u64, part: Part) -> Duration {
    let levels = levels_used(x.len(), w, 8).expect("long enough");
    let total_ms: f64 = (0..iters)
        .map(|_| {
            let pass = gpu
                .mra(x, w, MraKind::Modwt, Mode::Symmetric, levels)
                .expect("pass");
            part(&black_box(pass).timings)
        })
        .sum();
    Duration::from_secs_f64(total_ms / 1e3)
}

fn bench(c: &mut Criterion) {
    let gpu = GpuContext::new(DevicePolicy::AllowCpu).expect("a Vulkan device (lavapipe will do)");
    eprintln!("device: {}", gpu.device());
    let parts: [(&str, Part); 4] = [
        ("gpu", |t| t.upload_ms + t.dispatch_ms + t.readback_ms),
        ("gpu-upload", |t| t.upload_ms),
        ("gpu-dispatch", |t| t.dispatch_ms),
        ("gpu-readback", |t| t.readback_ms),
    ];
    for name in ["haar", "db4"] {
        let w = Wavelet::new(name).expect("known wavelet");
        let mut group = c.benchmark_group(format!("mra-{name}"));
        group.sample_size(10);
        for n in SIZES {
            let x = closes(n);
            group.bench_with_input(BenchmarkId::new("cpu", n), &x, |b, x| {
                b.iter(|| {
                    let mut plan = MraPlan::new(x.len(), &w, MraKind::Modwt, Mode::Symmetric, 8)
                        .expect("long enough");
                    black_box(plan.process(x))
                })
            });
            for (label, part) in parts {
                group.bench_with_input(BenchmarkId::new(label, n), &x, |b, x| {
                    b.iter_custom(|iters| device_part(&gpu, x, &w, iters, part))
                });
            }
        }
        group.finish();
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
