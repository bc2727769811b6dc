//! Render time of every chart, PNG encoding included: at 1280×720 for 864 candles (3
//! days of 5-minute candles) and 4 320 candles (3 days of 1-minute candles), and at
//! 4800×3600 (the original's 16×12 in at 300 dpi) for comparison; and the recording of
//! every chart's scene (what prepare does for windows of 16 384 candles and more) at
//! 100 000 candles, at each chart's default size.
//!
//! `cargo bench -p waveplot-plotter --bench charts -- --warm-up-time 1 --measurement-time 3`

use std::hint::black_box;

use criterion::{BenchmarkId, Criterion, criterion_main};
use waveplot_plotter::{RenderOptions, render, scene};
use waveplot_protocol::{PlotId, TimeZone};

#[path = "../tests/charts/helpers.rs"]
mod helpers;

/// Every chart at every size.
fn charts(c: &mut Criterion) {
    let cases = [(864, 1280, 720), (4_320, 1280, 720), (864, 4800, 3600)];
    let mut group = c.benchmark_group("render");
    group.sample_size(10);
    for (n, width, height) in cases {
        let blob = helpers::Synth::new(n).blob(helpers::btc_like);
        let options = RenderOptions {
            width,
            height,
            ..RenderOptions::for_plot(PlotId::Overview)
        };
        for plot in PlotId::ALL {
            let id = BenchmarkId::new(plot.as_str(), format!("n{n}_{width}x{height}"));
            group.bench_with_input(id, &blob, |b, blob| {
                b.iter(|| render(black_box(blob), plot, &options).expect("renders"));
            });
        }
    }
    group.finish();
}

/// Every chart's scene of a 100 000-candle window, recorded at its default size.
fn scenes(c: &mut Criterion) {
    let mut group = c.benchmark_group("scene");
    group.sample_size(10);
    let blob = helpers::Synth::new(100_000).blob(helpers::btc_like);
    for plot in PlotId::ALL {
        let size = plot.default_size();
        let id = BenchmarkId::new(plot.as_str(), format!("n100000_{}x{}", size.0, size.1));
        group.bench_with_input(id, &blob, |b, blob| {
            b.iter(|| {
                scene(black_box(blob.view()), plot, size, &TimeZone::default()).expect("records")
            });
        });
    }
    group.finish();
}

// The macro defines an undocumented public function.
#[allow(missing_docs)]
mod group {
    criterion::criterion_group!(benches, super::charts, super::scenes);
}
criterion_main!(group::benches);
