//! `prepare fetch` and the candle loading of the command line: candles from Binance,
//! the bundled sample or a file path (not limited to a candle directory, as requests
//! from the bus are), written as a klines CSV with a header. Long downloads show a
//! progress bar when stderr is a terminal.

use std::path::Path;

use anyhow::{Context, Result};
use indicatif::{ProgressBar, ProgressStyle};
use waveplot_protocol::blob::Candles;
use waveplot_protocol::{Interval, Source, Symbol};

use crate::config::{CliSource, FetchArgs, SourceArgs};
use crate::source::{self, Binance, Policy, Sources, Span, file, klines};

/// Runs `prepare fetch`.
pub fn run(args: &FetchArgs) -> Result<()> {
    let span = match (args.start, args.window) {
        (Some(start), _) => Span::Between {
            start_ms: start.as_millisecond(),
            end_ms: args
                .end
                .unwrap_or_else(jiff::Timestamp::now)
                .as_millisecond(),
        },
        (None, window) => Span::Last {
            n: window.map_or(args.interval.default_window(), |w| w as usize),
            end_ms: None,
        },
    };
    let (candles, label) = load(&args.source, &args.symbol, args.interval, span)?;
    if let Some(dir) = args.out.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).with_context(|| format!("create {}", dir.display()))?;
    }
    std::fs::write(&args.out, source::write::csv(&candles))
        .with_context(|| format!("write {}", args.out.display()))?;
    let missing = klines::missing_candles(&candles.open_time_ms, args.interval);
    if missing > 0 {
        tracing::warn!(missing, "the candles have gaps; they are kept as they are");
    }
    tracing::info!(candles = candles.len(), out = %args.out.display(), "wrote {label}");
    Ok(())
}

/// The candles of a span from a command-line source, and their label.
pub(crate) fn load(
    args: &SourceArgs,
    symbol: &Symbol,
    interval: Interval,
    span: Span,
) -> Result<(Candles, String)> {
    if let CliSource::File(path) = &args.source {
        return from_path(path, interval, span);
    }
    let (sources, source) = match &args.source {
        CliSource::Sample => (Sources::default(), Source::Sample),
        _ => {
            let binance = Binance::new(&args.binance.binance_url, Policy::default())?;
            let sources = Sources {
                binance: Some(binance),
                ..Sources::default()
            };
            (sources, Source::Binance)
        }
    };
    let bar = progress_bar(span, interval);
    let mut progress = |reached: i64| bar.set_position(position(span, interval, reached));
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("start the async runtime")?;
    let loaded = runtime.block_on(sources.candles(&source, symbol, interval, span, &mut progress));
    bar.finish_and_clear();
    let (candles, label) = loaded?;
    Ok((candles.into_candles(), label))
}

fn from_path(path: &Path, interval: Interval, span: Span) -> Result<(Candles, String)> {
    let all = file::read(path, interval, Some(span))?.candles;
    let candles = span.cut(&all)?;
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned());
    Ok((candles, format!("file {}", name.unwrap_or_default())))
}

/// A bar over the span's candles; hidden when stderr is not a terminal.
fn progress_bar(span: Span, interval: Interval) -> ProgressBar {
    let total = match span {
        Span::Last { n, .. } => n as u64,
        Span::Between { start_ms, end_ms } => {
            ((end_ms - start_ms) / interval.millis()).max(1) as u64
        }
    };
    let bar = ProgressBar::new(total);
    if let Ok(style) = ProgressStyle::with_template("{bar:40} {pos}/{len} candles {eta}") {
        bar.set_style(style);
    }
    bar
}

/// Candles reached so far, from the open time the download has got to.
fn position(span: Span, interval: Interval, reached_ms: i64) -> u64 {
    let (start, total) = match span {
        Span::Last { n, .. } => {
            let now = jiff::Timestamp::now().as_millisecond();
            (now - n as i64 * interval.millis(), n as i64)
        }
        Span::Between { start_ms, end_ms } => (start_ms, (end_ms - start_ms) / interval.millis()),
    };
    ((reached_ms - start) / interval.millis()).clamp(0, total.max(0)) as u64
}
