//! Full analysis (MRA + anomalies + signals + bands + wavedec coefficients) on
//! a seeded random walk around 20000, for the lengths the charts use and two
//! stress sizes, haar and db4, 8 levels, both MRA kinds.

// criterion_group! defines public functions that cannot carry doc comments.
#![allow(missing_docs)]

use std::hint::black_box;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use waveplot_wavelet::{Analysis, AnalysisParams, AnalysisPlan, MraKind, Wavelet};

/// A seeded random walk: steps uniform in [-10, 10], starting at 20000.
fn random_walk(n: usize, seed: u64) -> Vec<f64> {
    let mut rng = fastrand::Rng::with_seed(seed);
    let mut price = 20_000.0;
    (0..n)
        .map(|_| {
            price += rng.f64() * 20.0 - 10.0;
            price
        })
        .collect()
}

fn full_analysis(c: &mut Criterion) {
    let mut group = c.benchmark_group("analysis");
    for n in [864, 4320, 100_000, 1_000_000] {
        let closes = random_walk(n, 0x9e37_79b9_7f4a_7c15);
        group.throughput(Throughput::Elements(n as u64));
        if n >= 100_000 {
            group.sample_size(10);
        }
        for wavelet in ["haar", "db4"] {
            for kind in [MraKind::Modwt, MraKind::Dwt] {
                let params = AnalysisParams {
                    wavelet: Wavelet::new(wavelet).expect("known wavelet"),
                    mra: kind,
                    ..AnalysisParams::default()
                };
                let mut plan = AnalysisPlan::new(n, &params).expect("valid plan");
                let mut out = Analysis::default();
                let id = BenchmarkId::new(format!("{wavelet}/{kind}"), n);
                group.bench_function(id, |b| {
                    b.iter(|| {
                        plan.run_into(black_box(&closes), 300.0, &mut out)
                            .expect("finite")
                    })
                });
            }
        }
    }
    group.finish();
}

criterion_group!(benches, full_analysis);
criterion_main!(benches);
