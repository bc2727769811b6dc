//! The Vulkan pass on a real device (Mesa's lavapipe where there is no GPU) against
//! the f64 reference: every wavelet, both MRA kinds, every extension mode, lengths
//! from the shortest allowed to a million, and the statistics on the real samples.

mod helpers;

use helpers::{TOLERANCE, assert_agrees, gpu, sample_closes, scale, walk};
use waveplot_gpu::{DeviceKind, DevicePolicy, Error, GpuContext};
use waveplot_wavelet::{AnalysisParams, AnalysisPlan, Mode, MraKind, Wavelet};

const KINDS: [MraKind; 2] = [MraKind::Modwt, MraKind::Dwt];

#[test]
fn every_wavelet_agrees_with_the_reference_for_both_kinds() {
    let x = walk(509, 1);
    for name in Wavelet::names() {
        for kind in KINDS {
            assert_agrees(&x, &name, kind, Mode::Symmetric, 8);
        }
    }
}

#[test]
fn every_extension_mode_agrees_at_odd_and_prime_lengths() {
    for (n, seed) in [(97, 2), (255, 3), (1_009, 4)] {
        let x = walk(n, seed);
        for mode in Mode::ALL {
            for (name, kind) in [
                ("haar", KINDS[0]),
                ("db4", KINDS[0]),
                ("haar", KINDS[1]),
                ("sym5", KINDS[1]),
            ] {
                assert_agrees(&x, name, kind, mode, 8);
            }
        }
    }
}

#[test]
fn the_shortest_series_each_wavelet_allows_agree() {
    for name in ["haar", "db2", "db4", "coif1"] {
        let min = 2 * (Wavelet::new(name).unwrap().filter_len() - 1);
        for n in [min, min + 1, min + 3] {
            let x = walk(n.max(2), n as u64);
            for kind in KINDS {
                assert_agrees(&x, name, kind, Mode::Symmetric, 8);
                assert_agrees(&x, name, kind, Mode::Periodization, 8);
            }
        }
    }
}

/// A million samples agree, and their buffers (140 MB) are given back after
/// the pass; a shorter series' are kept for the next. (nextest runs each test in a
/// process of its own, so no other test's pass comes in between.)
#[test]
fn a_million_samples_agree_and_only_a_shorter_series_buffers_are_kept() {
    let x = walk(1_000_000, 5);
    assert_agrees(&x, "haar", MraKind::Modwt, Mode::Symmetric, 8);
    assert_eq!(gpu().kept_bytes(), 0, "a million samples' buffers are kept");
    assert_agrees(&x, "db4", MraKind::Dwt, Mode::Symmetric, 8);
    let prime = walk(100_003, 6);
    assert_agrees(&prime, "db4", MraKind::Modwt, Mode::Periodization, 6);
    let kept = gpu().kept_bytes();
    assert!(
        (1..=64 << 20).contains(&kept),
        "{kept} bytes kept after 100 003 samples"
    );
    assert_agrees(&walk(864, 7), "haar", MraKind::Modwt, Mode::Symmetric, 8);
    assert_eq!(gpu().kept_bytes(), kept, "the larger buffers are reused");
}

#[test]
fn anomaly_and_signal_counts_match_on_the_real_samples() {
    let files = [
        ("BTCUSDT-1h-2021-Q1.csv", 3600.0),
        ("BTCUSDT-5m-2022-07-14_2022-08-16.csv", 300.0),
        ("ETHUSDT-5m-2026-01-02_2026-01-06.csv", 300.0),
    ];
    for (file, bar) in files {
        let closes = sample_closes(file);
        assert!(closes.len() > 1_000, "{file}: {} closes", closes.len());
        for (name, kind) in [
            ("haar", MraKind::Modwt),
            ("db4", MraKind::Modwt),
            ("sym4", MraKind::Dwt),
        ] {
            let params = AnalysisParams {
                wavelet: Wavelet::new(name).unwrap(),
                mra: kind,
                ..AnalysisParams::default()
            };
            let cpu = AnalysisPlan::new(closes.len(), &params)
                .unwrap()
                .run(&closes, bar)
                .unwrap();
            let (gpu, _) = gpu().analyse(&closes, &params, bar).unwrap();
            let what = format!("{file} {name} {kind}");
            let tol = TOLERANCE * scale(&closes);
            let threshold = cpu.anomalies.threshold;
            let margin: Vec<f64> = cpu.mra.details[0]
                .iter()
                .map(|d| d.abs() - threshold)
                .collect();
            let index = |a: &waveplot_wavelet::Anomalies| -> Vec<usize> {
                a.points.iter().map(|p| p.index).collect()
            };
            let (ties, unexplained) =
                disagreements(&margin, &index(&cpu.anomalies), &index(&gpu.anomalies), tol);
            assert_eq!(
                unexplained, 0,
                "{what}: anomalies differ away from the threshold"
            );
            let count = |a: &waveplot_wavelet::Anomalies| a.points.len();
            assert!(
                count(&cpu.anomalies).abs_diff(count(&gpu.anomalies)) <= ties,
                "{what}: anomaly count"
            );
            let buffer = cpu.signals.buffer;
            let margin: Vec<f64> = cpu
                .signals
                .deviation
                .iter()
                .map(|d| d.abs() - buffer)
                .collect();
            let flips: Vec<usize> = (0..closes.len())
                .filter(|&t| cpu.signals.per_index[t] != gpu.signals.per_index[t])
                .collect();
            let (ties, unexplained) = disagreements(&margin, &flips, &[], tol);
            assert_eq!(unexplained, 0, "{what}: signals differ away from ±buffer");
            assert!(
                cpu.signals.buy.abs_diff(gpu.signals.buy) <= ties,
                "{what}: buy count"
            );
            assert!(
                cpu.signals.sell.abs_diff(gpu.signals.sell) <= ties,
                "{what}: sell count"
            );
        }
    }
}

/// Indices in exactly one of `a` and `b`, split into near-ties (`|margin[i]| ≤ tol`:
/// the reference value lies within the f32 error of the threshold) and the rest.
fn disagreements(margin: &[f64], a: &[usize], b: &[usize], tol: f64) -> (usize, usize) {
    let only_a = a.iter().filter(|i| !b.contains(i));
    let only_b = b.iter().filter(|i| !a.contains(i));
    let (ties, rest): (Vec<usize>, Vec<usize>) =
        only_a.chain(only_b).partition(|&&i| margin[i].abs() <= tol);
    (ties.len(), rest.len())
}

#[test]
fn a_near_tie_is_the_only_accepted_difference() {
    let margin = [0.5, -3.0, 1e-7, 2.0];
    assert_eq!(disagreements(&margin, &[0, 2], &[0], 1e-3), (1, 0));
    assert_eq!(disagreements(&margin, &[0], &[0, 3], 1e-3), (0, 1));
    assert_eq!(disagreements(&margin, &[1], &[1], 1e-3), (0, 0));
}

#[test]
fn hardware_only_refuses_a_cpu_device_and_names_what_it_found() {
    if gpu().device().kind != DeviceKind::Cpu {
        return; // a machine with a real GPU: nothing to fall back from
    }
    match GpuContext::new(DevicePolicy::HardwareOnly) {
        Err(Error::NoDevice { found, .. }) => assert!(found.contains("CPU device"), "{found}"),
        other => panic!("expected NoDevice, got {other:?}"),
    }
}

#[test]
fn the_analysis_reports_the_reference_errors() {
    let mut x = walk(300, 8);
    x[7] = f64::NAN;
    let err = gpu()
        .analyse(&x, &AnalysisParams::default(), 60.0)
        .unwrap_err();
    assert!(err.to_string().contains("sample 7"), "{err}");
    let short = gpu()
        .analyse(&[1.0], &AnalysisParams::default(), 60.0)
        .unwrap_err();
    assert!(short.to_string().contains("at least 2 samples"), "{short}");
}
