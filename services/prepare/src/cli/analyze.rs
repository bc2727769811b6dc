//! `prepare analyze`: one analysis of candles from Binance, the bundled sample or a
//! klines file, written as a blob (and a JSON export), without the bus. What it noticed (a window larger than the file, gaps, a
//! level cap) is logged, never silently "fixed".

use std::path::Path;
use std::time::Instant;

use anyhow::{Context, Result};
use waveplot_protocol::{AnalysisParams, Interval, Source, Symbol};

use crate::analysis::{self, Window};
use crate::backend::Backend;
use crate::cli::fetch;
use crate::config::{AnalyzeArgs, CliSource};
use crate::export::Export;
use crate::source::{Span, file};

/// Runs `prepare analyze`.
pub fn run(args: &AnalyzeArgs) -> Result<()> {
    if crate::backend::answer_probe(&args.backend) {
        return Ok(());
    }
    let backend = Backend::start(&args.backend)?;
    let window = match (&args.input, &args.pair, args.pair_interval) {
        (Some(input), _, _) => from_input(args, input)?,
        (None, Some(symbol), Some(interval)) => from_source(args, symbol, interval)?,
        _ => anyhow::bail!("give a symbol and an interval (e.g. BTC 5m) or --input FILE"),
    };
    let params = AnalysisParams {
        wavelet: args.wavelet.clone(),
        mode: args.mode,
        mra: args.mra,
        levels: args.levels,
        anomaly_k: args.anomaly_k,
        trend_level: args.trend_level,
    };
    let blob = analysis::analyse(window, &params, &backend)?.into_blob();
    report(&blob);
    let bytes = blob.encode().context("encode the blob")?;
    write(&args.out, &bytes)?;
    if let Some(json) = &args.json {
        let doc = serde_json::to_vec(&Export::new(&blob)).context("encode the JSON export")?;
        write(json, &doc)?;
    }
    Ok(())
}

fn from_source(args: &AnalyzeArgs, symbol: &Symbol, interval: Interval) -> Result<Window> {
    let started = Instant::now();
    let n = args
        .window
        .map_or(interval.default_window(), |w| w as usize);
    let span = Span::Last { n, end_ms: None };
    let (candles, source_label) = fetch::load(&args.source, symbol, interval, span)?;
    if candles.len() < n {
        tracing::warn!(
            window = n,
            candles = candles.len(),
            "fewer candles than the window"
        );
    }
    let source = match &args.source.source {
        CliSource::Binance => Source::Binance,
        CliSource::Sample => Source::Sample,
        CliSource::File(path) => file_source(path),
    };
    Ok(Window {
        symbol: symbol.clone(),
        interval,
        source,
        source_label,
        candles: candles.into(),
        load_ms: started.elapsed().as_secs_f64() * 1e3,
    })
}

fn from_input(args: &AnalyzeArgs, input: &Path) -> Result<Window> {
    let (symbol, interval) = names(args, input)?;
    let started = Instant::now();
    let want = args
        .window
        .map_or(interval.default_window(), |w| w as usize);
    let span = Span::Last {
        n: want,
        end_ms: None,
    };
    let loaded = file::read(input, interval, Some(span))?;
    let rows = loaded.candles.len();
    if want > rows {
        tracing::warn!(
            window = want,
            rows,
            "the window is larger than the file; analysing all {rows} candles"
        );
    }
    Ok(Window {
        source_label: label(input),
        source: file_source(input),
        symbol,
        interval,
        candles: loaded.candles.into(),
        load_ms: started.elapsed().as_secs_f64() * 1e3,
    })
}

/// The symbol and interval: from the flags, else from a Binance-style file name
/// (`BTCUSDT-5m-2024-01.csv`: an upper-case symbol, then the interval).
fn names(args: &AnalyzeArgs, input: &Path) -> Result<(Symbol, Interval)> {
    let stem = input.file_stem().and_then(|s| s.to_str()).unwrap_or("");
    let mut parts = stem.split('-');
    let from_name = match (parts.next(), parts.next().map(Interval::parse)) {
        (Some(s), Some(Ok(i)))
            if s.bytes()
                .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit()) =>
        {
            Symbol::parse(s).ok().map(|s| (s, i))
        }
        _ => None,
    };
    let interval = args.interval.or(from_name.as_ref().map(|(_, i)| *i)).with_context(|| {
        format!("cannot tell the interval from the file name '{stem}'; pass --interval (e.g. --interval 5m)")
    })?;
    let symbol = args.symbol.clone().or(from_name.map(|(s, _)| s)).with_context(|| {
        format!("cannot tell the symbol from the file name '{stem}'; pass --symbol (e.g. --symbol BTCUSDT)")
    })?;
    Ok((symbol, interval))
}

/// `file:NAME` for the input, with characters a source name may not hold replaced.
fn file_source(path: &Path) -> Source {
    let name: String = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-') {
                c
            } else {
                '_'
            }
        })
        .collect();
    Source::parse(&format!("file:{}", name.trim_start_matches('.')))
        .unwrap_or(Source::File("input".into()))
}

fn label(path: &Path) -> String {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    format!("file {name}")
}

fn report(blob: &waveplot_protocol::Blob) {
    let h = &blob.header;
    let a = &blob.analysis;
    if let Some(note) = &h.level_note {
        tracing::warn!("{note}");
    }
    if h.missing_candles > 0 {
        tracing::warn!(
            missing = h.missing_candles,
            "the window has gaps; they are kept as they are"
        );
    }
    tracing::info!(
        symbol = %h.symbol, interval = %h.interval, candles = h.candles, levels = h.levels_used,
        anomalies = a.anomalies.indices.len(), buy = a.signals.buy, sell = a.signals.sell,
        analysis_ms = format!("{:.2}", h.analysis_ms), backend = %h.backend, device = %h.device,
        "analysed {}", h.source_label
    );
}

fn write(path: &Path, bytes: &[u8]) -> Result<()> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).with_context(|| format!("create {}", dir.display()))?;
    }
    std::fs::write(path, bytes).with_context(|| format!("write {}", path.display()))
}
