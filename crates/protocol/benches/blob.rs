//! Encoding and decoding a blob of 100 000 candles at 8 levels (about 26 MB): what
//! prepare does with every window it stores (a million candles: ten times this) and
//! what a reader of the whole blob does.
//!
//! `cargo bench -p waveplot-protocol --bench blob -- --warm-up-time 1 --measurement-time 3`

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_main};
use waveplot_protocol::blob::{
    Analysis, Anomalies, Backend, BandStats, Blob, Candles, Header, Signal, Signals, WindowSummary,
};
use waveplot_protocol::{AnalysisParams, Interval, Source, Symbol};

const CANDLES: usize = 100_000;
const LEVELS: usize = 8;

/// A window of `n` one-minute candles of a random walk, and series of full-mantissa
/// values where the analysis's would be (their bytes cost what real ones cost).
fn blob(n: usize) -> Blob {
    let mut state = 0x9e37_79b9_7f4a_7c15_u64;
    let mut noise = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        (state >> 11) as f64 / (1u64 << 53) as f64 - 0.5
    };
    let mut price = 30_000.0;
    let close: Vec<f64> = (0..n)
        .map(|_| {
            price += noise() * 20.0;
            price
        })
        .collect();
    let mut values =
        |len: usize, scale: f64| (0..len).map(|_| noise() * scale).collect::<Vec<f64>>();
    let mut series = |scale: f64| values(n, scale);
    let open_time_ms: Vec<i64> = (0..n as i64)
        .map(|i| 1_600_000_000_000 + i * 60_000)
        .collect();
    let candles = Candles {
        close_time_ms: open_time_ms.iter().map(|t| t + 59_999).collect(),
        open_time_ms,
        open: close.iter().map(|c| c - 1.5).collect(),
        high: close.iter().map(|c| c + 4.25).collect(),
        low: close.iter().map(|c| c - 4.75).collect(),
        volume: series(40.0),
        quote_volume: series(1e6),
        trades: (0..n as u64).map(|i| i % 5_000).collect(),
        taker_buy_base: series(20.0),
        taker_buy_quote: series(5e5),
        close,
    };
    let analysis = Analysis {
        // cA_J, cD_J, ..., cD_1: about n values in all.
        coeffs: std::iter::once(LEVELS)
            .chain((1..=LEVELS).rev())
            .map(|j| series(1.0)[..n >> j].to_vec())
            .collect(),
        details: (0..LEVELS).map(|_| series(10.0)).collect(),
        smooths: (0..LEVELS).map(|_| series(30_000.0)).collect(),
        anomalies: Anomalies::default(),
        signals: Signals {
            signal: (0..n)
                .map(|i| [Signal::Buy, Signal::Hold, Signal::Sell][i % 3])
                .collect(),
            ..Signals::default()
        },
        bands: (1..=LEVELS as u32)
            .map(|level| BandStats {
                level,
                ..BandStats::default()
            })
            .collect(),
    };
    let summary = WindowSummary::of(candles.columns(), &analysis);
    let times = &candles.open_time_ms;
    Blob {
        header: Header {
            symbol: Symbol::parse("BTCUSDT").unwrap(),
            interval: Interval::M1,
            source: Source::Sample,
            source_label: "synthetic".into(),
            first_open_ms: times[0],
            last_open_ms: times[n - 1],
            last_close_ms: candles.close_time_ms[n - 1],
            candles: n as u32,
            missing_candles: 0,
            params: AnalysisParams::default(),
            levels_requested: LEVELS as u32,
            levels_used: LEVELS as u32,
            level_note: None,
            backend: Backend::Cpu,
            device: "bench".into(),
            created_ms: 0,
            load_ms: 0.0,
            analysis_ms: 0.0,
            summary: Some(summary),
        },
        candles,
        analysis,
    }
}

/// Encoding into a buffered writer (as prepare streams a blob to the store) and
/// decoding the whole blob.
fn codec(c: &mut Criterion) {
    let blob = blob(CANDLES);
    let bytes = blob.encode().expect("encodes");
    let mut group = c.benchmark_group("blob");
    group.sample_size(10);
    group.throughput(Throughput::Bytes(bytes.len() as u64));
    group.bench_function("encode_n100000", |b| {
        b.iter(|| {
            let out = std::io::BufWriter::with_capacity(64 << 10, std::io::sink());
            black_box(&blob).view().encode_to(out).expect("encodes");
        });
    });
    group.bench_function("decode_n100000", |b| {
        b.iter(|| Blob::decode(black_box(&bytes)).expect("decodes"));
    });
    group.finish();
}

// The macro defines an undocumented public function.
#[allow(missing_docs)]
mod group {
    criterion::criterion_group!(benches, super::codec);
}
criterion_main!(group::benches);
